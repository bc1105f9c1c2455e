"""Networks: building and loading them, their layers, and the forward pass that gives one number per unit.

Takes a network (a ``keras.applications`` name, a saved model, a ``keras.Model``) and gives an
:class:`~catsel.network.models.ActivationModel`: the capturable layers with their kind, shape and default,
its identity for the store's key, and the forward pass to packed results. Its parts, one job a module:
networks by name and their weights (``applications``), the layer graph through nested models and the default
layers (``graph``), which tensor a layer's units come from (``units``), preprocessing on the device
(``preprocess``), the reduction of each map (``reduce``), the one-buffer transfer (``packing``), the device
runtime (``backends``), receptive fields (``receptive``) and the kinds of result (``kinds``).
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['applications', 'backends', 'graph', 'kinds', 'models', 'packing', 'preprocess', 'receptive',
                                                   'reduce', 'units'])
