"""catsel: which filters of a pretrained CNN are selective for the categories you care about?

The pipeline flows one way::

    ImageFolder  →  activation_model  →  capture (store on disk)  →  selectivity table  →  figures
                                         load_activations(path)      layer_summary

Example
-------
>>> import catsel
>>> folder = catsel.ImageFolder("sample_data", image_size=224)
>>> amodel = catsel.activation_model("vgg16", weights="imagenet")
>>> acts = catsel.capture(amodel, folder, out="runs/sample")
>>> table = catsel.selectivity(acts)            # eq. 1-2, one row per layer × filter × category
>>> summary = catsel.layer_summary(table)       # proportion of selective filters per layer
>>> catsel.layer_proportions(summary)           # the paper's Figure 1
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

# Public names → the module defining them, imported on first use: `import catsel`
# stays light (no Keras, no backend), so the command's input checks answer at once
# and image-decoding worker processes start without TensorFlow.
_EXPORTS = {
    "ImageFolder": "data", "Skipped": "data", "load_image": "data",
    "ActivationModel": "models", "activation_model": "models",
    "capture": "capture",
    "Activations": "store", "load_activations": "store",
    "selectivity": "selectivity", "selectivity_matrix": "selectivity", "normalise": "selectivity",
    "layer_summary": "selectivity", "representative_filters": "selectivity", "best_layers": "selectivity",
    "layer_proportions": "plots", "compare_layer_proportions": "plots",
    "CatselError": "errors", "DatasetError": "errors", "ImageError": "errors", "ModelError": "errors",
    "StoreError": "errors", "WeightsUnavailableError": "errors",
}
_SUBMODULES = {"capture", "cli", "course", "data", "errors", "maximise", "models", "plots", "receptive",
               "selectivity", "stats", "store", "visualise", "widgets"}


class _Package(types.ModuleType):
    def __getattr__(self, name: str):
        if name in _EXPORTS:
            value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        elif name in _SUBMODULES:
            value = importlib.import_module(f"{__name__}.{name}")
        else:
            raise AttributeError(f"module 'catsel' has no attribute {name!r}")
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name: str, value) -> None:
        # Importing a submodule binds it on the package. Where a function shares the
        # submodule's name (catsel.capture, catsel.selectivity), the function wins.
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(_EXPORTS) | _SUBMODULES)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # for type checkers and IDEs
    from .capture import capture
    from .data import ImageFolder, Skipped, load_image
    from .errors import CatselError, DatasetError, ImageError, ModelError, StoreError, WeightsUnavailableError
    from .models import ActivationModel, activation_model
    from .plots import compare_layer_proportions, layer_proportions
    from .selectivity import (best_layers, layer_summary, normalise, representative_filters, selectivity,
                              selectivity_matrix)
    from .store import Activations, load_activations

__version__ = "0.1.0"

__all__ = [
    "ImageFolder",
    "Skipped",
    "load_image",
    "ActivationModel",
    "activation_model",
    "capture",
    "Activations",
    "load_activations",
    "selectivity",
    "selectivity_matrix",
    "normalise",
    "layer_summary",
    "representative_filters",
    "best_layers",
    "layer_proportions",
    "compare_layer_proportions",
    "CatselError",
    "DatasetError",
    "ImageError",
    "ModelError",
    "StoreError",
    "WeightsUnavailableError",
]
