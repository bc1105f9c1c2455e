"""catsel: which filters of a pretrained CNN are selective for the categories you care about?

The pipeline flows one way::

    ImageFolder  →  activation_model  →  capture (store on disk)  →  selectivity table  →  figures
                                         load_activations(path)      layer_summary

and :func:`catsel.run` does all of it, as ``catsel run`` does:

>>> import catsel
>>> result = catsel.run("sample_data", "runs/sample", image_size=64)
>>> result.summary                               # proportion of selective filters per layer
>>> result.figure()                              # the paper's Figure 1

or step by step:

>>> folder = catsel.ImageFolder("sample_data", image_size=224)
>>> amodel = catsel.activation_model("vgg16", weights="imagenet")
>>> acts = catsel.capture(amodel, folder, out="runs/sample")
>>> table = catsel.selectivity(acts)            # eq. 1-2, one row per layer × filter × category
>>> summary = catsel.layer_summary(table)       # proportion of selective filters per layer
>>> catsel.layer_proportions(summary)           # the paper's Figure 1
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

try:  # the version is the installed package's (pyproject.toml), written in one place
    from importlib.metadata import PackageNotFoundError, version as _installed_version

    __version__ = _installed_version("catsel")
except PackageNotFoundError:  # a checkout used without installing it
    __version__ = "0+unknown"

# Public names → the module defining them, imported on first use: `import catsel`
# stays light (no Keras, no backend), so the command's input checks answer at once
# and image-decoding worker processes start without TensorFlow.
_EXPORTS = {
    "ImageFolder": "data", "Skipped": "data", "load_image": "data", "notebook_paths": "data",
    "ActivationModel": "models", "activation_model": "models", "layers": "models",
    "capture": "capturing",
    "Activations": "store", "StoreMeta": "store", "load_activations": "store",
    "selectivity": "selection", "selectivity_matrix": "selection", "normalise": "selection",
    "layer_summary": "selection", "representative_units": "selection", "best_layers": "selection",
    "INDICES": "selection", "register_index": "selection",
    "run": "pipeline", "Settings": "pipeline", "RunResult": "pipeline", "load_run": "pipeline", "RunRecord": "record",
    "write_report": "report",
    "compare": "comparison",
    "lesion": "lesions",
    "layer_proportions": "plots", "compare_layer_proportions": "plots",
    "CatselError": "errors", "DatasetError": "errors", "ImageError": "errors", "ModelError": "errors",
    "StoreError": "errors", "WeightsUnavailableError": "errors",
}
_SUBMODULES = {"applications", "backends", "capturing", "cli", "comparison", "course", "data", "engine", "errors", "graph", "startup",
               "lesions", "maximise", "models", "paths", "paper", "pipeline", "plots", "receptive", "record", "report", "selection", "stats", "store", "tables",
               "visualise", "visualize", "widgets"}


#: Former names kept for one release (not in ``__all__``): each call says the name to use.
_RENAMED = {"representative_filters": "selection"}


def __getattr__(name: str):
    if name in _EXPORTS or name in _RENAMED:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS.get(name) or _RENAMED[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'catsel' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)


if TYPE_CHECKING:  # for type checkers and IDEs
    from .data import ImageFolder, Skipped, load_image, notebook_paths
    from .capturing import capture
    from .errors import CatselError, DatasetError, ImageError, ModelError, StoreError, WeightsUnavailableError
    from .models import ActivationModel, activation_model, layers
    from .pipeline import RunResult, Settings, load_run, run
    from .record import RunRecord
    from .report import write_report
    from .comparison import compare
    from .lesions import lesion
    from .plots import compare_layer_proportions, layer_proportions
    from .selection import (INDICES, best_layers, layer_summary, normalise, register_index, representative_units,
                            selectivity, selectivity_matrix)
    from .store import Activations, StoreMeta, load_activations

#: The public modules besides the top level: the statistics, the explorers and the figures, the course's checks
#: and the study's findings. The other modules are internal: their names may change between versions.
PUBLIC_MODULES = ("stats", "widgets", "visualize", "plots", "comparison", "lesions", "maximise", "course", "paper")

#: The public names: one list, the keys of the map above (the imports for type checkers repeat them, and
#: tests/test_structure.py holds the three together).
__all__ = list(_EXPORTS)
