"""The PyTorch source: torchvision and timm networks by name, and any ``torch.nn.Module``, read by forward hooks
(:class:`catsel.network.torch.network.TorchNetwork`). Its modules import torch, torchvision and timm only,
never Keras or TensorFlow; this one imports none of them: it says which ``--model`` values are PyTorch networks.

Its modules: the network read by hooks (``network``), building by name with weights (``build``), the dry run
and the default rule (``trace``), receptive fields (``fields``) and activation maximisation by autograd
(``maximise``).
"""

from __future__ import annotations

import sys

from ..sources import Source

__all__ = ["TORCHVISION", "TIMM", "is_torch_name", "is_torch_module", "is_torch", "SOURCE"]


TORCHVISION = "torchvision:"


TIMM = "timm:"


def is_torch_name(model) -> bool:
    """Whether ``model`` names a torchvision or timm network (``"torchvision:vgg16"``, ``"timm:vit_small..."``).

    Parameters
    ----------
    model : object

    Returns
    -------
    bool
    """
    return isinstance(model, str) and model.startswith((TORCHVISION, TIMM))


def is_torch_module(model) -> bool:
    """Whether ``model`` is a ``torch.nn.Module`` that is no Keras model (without importing torch when nothing
    has).

    Parameters
    ----------
    model : object

    Returns
    -------
    bool
    """
    torch, keras = sys.modules.get("torch"), sys.modules.get("keras")
    if torch is None or not isinstance(model, torch.nn.Module):
        return False
    # on Keras' PyTorch backend a Keras layer or model is a torch.nn.Module too: it stays a Keras network
    return keras is None or not isinstance(model, keras.layers.Layer)


def is_torch(model) -> bool:
    """Whether the PyTorch source opens ``model``: a torchvision or timm name, or a module.

    Parameters
    ----------
    model : object

    Returns
    -------
    bool
    """
    return is_torch_name(model) or is_torch_module(model)


#: The source in the registry (:mod:`catsel.network.sources`).
SOURCE = Source("pytorch", is_torch, "catsel.network.torch.build:torch_network", "pytorch", ("torchvision", "timm"))
