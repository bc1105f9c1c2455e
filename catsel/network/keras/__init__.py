"""The Keras source: ``keras.applications`` names, saved ``.keras`` and HDF5 models, and any ``keras.Model``,
captured by one compiled Keras model that reduces every map on the device
(:class:`catsel.network.keras.model.ActivationModel`), on TensorFlow, JAX or PyTorch underneath. This module
imports no framework: it says which ``--model`` values are Keras networks.

Its modules: the activation model (``model``), networks by name and their weights (``applications``), the layer
graph through nested models and the default rule (``graph``), which tensor a layer's units come from
(``units``), preprocessing on the device (``preprocess``), the reduction of maps (``reduce``), the one-buffer
transfer (``packing``), the device runtime (``backends``), receptive fields through the graph (``fields``), the
cut for lesions (``silence``) and activation maximisation (``maximise``).
"""

from __future__ import annotations

import os
import sys

from ..sources import Source

__all__ = ["is_keras", "SOURCE"]


def is_keras(model) -> bool:
    """Whether the Keras source opens ``model``: a ``keras.Model`` (with Keras already imported), a saved model
    file, or any other name (a ``keras.applications`` name; an unknown one is refused there, with the names).

    Parameters
    ----------
    model : object

    Returns
    -------
    bool
    """
    if isinstance(model, (str, os.PathLike)):
        return True
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


#: The source in the registry (:mod:`catsel.network.sources`), asked last.
SOURCE = Source("keras", is_keras, "catsel.network.keras.model:keras_network", "keras")
