"""Networks: where they come from, their layers, and the forward pass that gives one number per unit.

Takes a network (a ``keras.applications`` name, a saved model, a ``keras.Model``, a keras-hub preset, a
torchvision or timm name, a ``torch.nn.Module``, or a lab's own ``PREFIX:NAME``) and gives a
:class:`~catsel.network.interface.Network`, the one protocol the stages above use: the capturable layers with
their kind, shape and default, its identity for the store's key, the forward pass to packed results, the cut
for lesions, and pictures of units.

The framework-free modules, which the stages above may use: the protocol (``interface``), the registry of
sources (``sources``), networks from any source (``models``: ``activation_model``, ``layers``, the untrained
twin, the rebuild from a store), activation maximisation's picture (``maximise``), receptive-field arithmetic
(``receptive``), the kinds of result (``kinds``), the one-buffer plan (``packing``), token layers' names
(``tokens``), preprocessing in words (``pixels``) and what a source says offline (``online``).

One package a source, each importing its own framework only: ``keras`` (applications, saved models, models
in memory, on TensorFlow, JAX or PyTorch), ``torch`` (PyTorch modules read by forward hooks; never Keras or
TensorFlow), ``hub`` (keras-hub presets, a Keras source).
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['hub', 'interface', 'keras', 'kinds', 'maximise', 'models', 'online',
                                             'packing', 'pixels', 'receptive', 'sources', 'tokens', 'torch'])
