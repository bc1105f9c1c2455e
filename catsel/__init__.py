"""catsel: which units of a pretrained network are selective for the categories you care about?

Data flows one way, and the package's folders are its stages, each using only those before it::

    images/     image folders, decoding                       → batches of pixels
    network/    networks, layers, the forward pass            → one number per unit and image
    store/      the activations on disk                       → Activations
    capturing/  images through a network into a store         (one protocol, two runners)
    selecting/  eq. 1-2, the selective rule                   → the selectivity table, the layer summary
    stats/      nulls, permutations, reliability, controls    → evidence beside every count
    figures/    Figure 1, units' top images, maximisation     → Axes, Figures, Displays
    brain/      layers and selective units against brain data → RSA, encoding, noise ceilings
    study/      the pipeline, its record, report, comparison, lesions, the paper's findings
    apps/       the command line, the explorers, the course

Beside them: ``errors``, ``options`` (validation in one place), ``paths`` (the one checked join),
``startup`` and ``former`` (0.1.0's names). :func:`catsel.run` does all of it, as ``catsel run`` does:

>>> import catsel
>>> result = catsel.run("sample_data", "runs/sample", image_size=64)
>>> result.summary                               # proportion of selective units per layer
>>> result.figure()                              # the paper's Figure 1

or step by step:

>>> folder = catsel.ImageFolder("sample_data", image_size=224)
>>> amodel = catsel.activation_model("vgg16", weights="imagenet")
>>> acts = catsel.capture(amodel, folder, out="runs/sample")
>>> table = catsel.selectivity(acts)            # eq. 1-2, one row per layer × unit × category
>>> summary = catsel.layer_summary(table)       # proportion of selective units per layer
>>> catsel.layer_proportions(summary)           # the paper's Figure 1
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import former
from .startup import prefer_system_allocator

prefer_system_allocator()  # before TensorFlow starts, wherever catsel is imported first

try:  # the version is the installed package's (pyproject.toml), written in one place
    from importlib.metadata import PackageNotFoundError, version as _installed_version

    __version__ = _installed_version("catsel")
except PackageNotFoundError:  # a checkout used without installing it
    __version__ = "0+unknown"

# Public names → the module defining them, imported on first use: `import catsel`
# stays light (no Keras, no backend), so the command's input checks answer at once
# and image-decoding worker processes start without TensorFlow.
_EXPORTS = {
    "ImageFolder": "images.folder", "Skipped": "images.folder", "load_image": "images.folder",
    "notebook_paths": "images.folder",
    "ActivationModel": "network.keras.model", "activation_model": "network.models", "layers": "network.models",
    "register_source": "network.sources",
    "capture": "capturing",
    "Activations": "store", "StoreMeta": "store", "load_activations": "store",
    "selectivity": "selecting.selection", "selectivity_matrix": "selecting.indices",
    "normalise": "selecting.indices", "layer_summary": "selecting.selection",
    "representative_units": "selecting.selection", "best_layers": "selecting.selection",
    "INDICES": "selecting.indices", "register_index": "selecting.indices",
    "run": "study.pipeline", "Settings": "study.settings", "RunResult": "study.pipeline", "load_run": "study.pipeline",
    "RunRecord": "study.record",
    "write_report": "study.report",
    "compare": "study.comparison",
    "lesion": "study.lesions",
    "layer_proportions": "figures.plots", "compare_layer_proportions": "figures.plots",
    "CatselError": "errors", "DatasetError": "errors", "ImageError": "errors", "ModelError": "errors",
    "StoreError": "errors", "WeightsUnavailableError": "errors",
}
#: The stages, in the order data flows through them, and the modules every stage may use.
STAGES = ("images", "network", "store", "capturing", "selecting", "stats", "figures", "brain", "study", "apps")
_SUBMODULES = set(STAGES) | {"errors", "former", "options", "paths", "startup"}

former.install()  # catsel 0.1.0's modules, found where they are now (catsel.former)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif name in former.NAMES:
        return former.former_name(name)  # warns at each use: not kept
    elif name in former.MODULES:
        return former.module(name)
    else:
        raise AttributeError(f"module 'catsel' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)


if TYPE_CHECKING:  # for type checkers and IDEs
    from .images.folder import ImageFolder, Skipped, load_image, notebook_paths
    from .capturing import capture
    from .errors import CatselError, DatasetError, ImageError, ModelError, StoreError, WeightsUnavailableError
    from .network.keras.model import ActivationModel
    from .network.models import activation_model, layers
    from .network.sources import register_source
    from .study.pipeline import RunResult, load_run, run
    from .study.settings import Settings
    from .study.record import RunRecord
    from .study.report import write_report
    from .study.comparison import compare
    from .study.lesions import lesion
    from .figures.plots import compare_layer_proportions, layer_proportions
    from .selecting.indices import INDICES, normalise, register_index, selectivity_matrix
    from .selecting.selection import best_layers, layer_summary, representative_units, selectivity
    from .store import Activations, StoreMeta, load_activations

#: The public modules besides the top level: the statistics, the figures, the study's comparisons, lesions and
#: findings, the explorers and the course's checks. The other modules are internal: their names may change
#: between versions.
PUBLIC_MODULES = ("stats", "brain", "figures.plots", "figures.visualize", "network.maximise", "study.comparison",
                  "study.lesions", "study.paper", "apps.widgets", "apps.course")

#: The public names: one list, the keys of the map above (the imports for type checkers repeat them, and
#: tests/test_structure.py holds the three together).
__all__ = list(_EXPORTS)
