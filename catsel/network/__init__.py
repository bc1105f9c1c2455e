"""Networks: building and loading them, their layers, and the forward pass that gives one number per unit.

Takes a network (a ``keras.applications`` name, a saved model, a ``keras.Model``, a keras-hub preset, a
torchvision or timm name, a ``torch.nn.Module``) and gives a :class:`~catsel.network.interface.Network`, the
one protocol the stages above use (its Keras implementation is :class:`~catsel.network.models.ActivationModel`,
its PyTorch one :class:`~catsel.network.pytorch.TorchNetwork`): the capturable layers with their kind, shape and default,
its identity for the store's key, the forward pass to packed results, the cut for lesions, and the gradient
of a unit for activation maximisation (``maximise``). Its parts, one job a module:
networks by name and their weights (``applications``), the layer graph through nested models and the default
layers (``graph``), which tensor a layer's units come from (``units``), preprocessing on the device
(``preprocess``), the reduction of each map (``reduce``), the one-buffer transfer (``packing``), the device
runtime (``backends``), receptive fields (``receptive``), the kinds of result (``kinds``) and the cut at a
layer for lesions (``silence``); keras-hub presets (``hub``); PyTorch modules read by hooks (``pytorch``),
their dry run and default rule (``torch_trace``), building them by name (``torch_build``), their
receptive fields (``torch_fields``) and activation maximisation by autograd (``torch_maximise``).
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['applications', 'backends', 'graph', 'hub', 'interface', 'kinds', 'maximise',
                                             'models', 'packing', 'preprocess', 'pytorch', 'receptive', 'reduce',
                                             'silence', 'torch_build', 'torch_fields', 'torch_maximise', 'torch_trace',
                                             'units'])
