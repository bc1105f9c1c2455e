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

from .capture import capture
from .data import ImageFolder, Skipped, load_image
from .errors import CatselError, DatasetError, ImageError, ModelError, StoreError, WeightsUnavailableError
from .models import ActivationModel, activation_model
from .plots import compare_layer_proportions, layer_proportions
from .selectivity import best_layers, layer_summary, normalise, representative_filters, selectivity, selectivity_matrix
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
