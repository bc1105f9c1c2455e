"""Networks: building and loading them, their layers, and the forward pass that gives one number per unit.

Takes a network (a ``keras.applications`` name, a saved model, a ``keras.Model``) and gives an
:class:`~catsel.network.models.ActivationModel`: the capturable layers with their kind, shape and default,
the preprocessing on the device, the reduction of each map to its maximum and position, the results of a batch
packed into one buffer, the device runtime (:mod:`~catsel.network.backends`), the layer graph through nested
models (:mod:`~catsel.network.graph`), receptive fields (:mod:`~catsel.network.receptive`) and the network's
identity for the store's key.
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['applications', 'backends', 'graph', 'kinds', 'models', 'receptive'])
