"""Receptive fields of a PyTorch module's maps, from the dry run of :mod:`catsel.network.pytorch`.

The dry run records each module call's input and output tensors by identity. A field is carried from the
image along those calls with the rules :mod:`catsel.network.receptive` applies to a Keras graph: a conv or
pooling module widens it by its kernel, dilation, stride and padding; a module that keeps the grid (batch
norm, activation, dropout) keeps it; an in-place operation keeps the tensor and its field (torchvision's
``out += identity`` keeps the main branch's, which holds the shortcut's). Where a tensor comes from an
operation that is no module (``torch.cat``, a reshape), its field is unknown and no field is given to what
follows: the pictures then show whole images, as for a token layer.
"""

from __future__ import annotations

from .receptive import ReceptiveField

__all__ = ["module_fields"]


def _pair(value, k: int) -> int:
    return int(value[k] if isinstance(value, (tuple, list)) else value)


def _step(module, field: ReceptiveField, in_shape, out_shape) -> ReceptiveField | None:
    """The field of a module's 4-D output from its 4-D input's; None where it cannot be told."""
    kernel = getattr(module, "kernel_size", None)
    if kernel is None:
        return field if tuple(in_shape[2:]) == tuple(out_shape[2:]) else None
    axes = []
    for k in (0, 1):
        size, jump, start = field.axis(k)
        side = _pair(kernel, k)
        stride = _pair(getattr(module, "stride", None) or side, k)
        dilation = _pair(getattr(module, "dilation", 1), k)
        k_eff = dilation * (side - 1) + 1
        padding = getattr(module, "padding", 0)
        if padding == "valid":
            pad = 0
        elif padding == "same":
            pad = (k_eff - 1) // 2
        else:
            pad = _pair(padding, k)
        axes.append((size + (k_eff - 1) * jump, jump * stride, start + ((k_eff - 1) / 2 - pad) * jump))
    return ReceptiveField.of_axes(*axes)


def module_fields(calls) -> dict[str, ReceptiveField]:
    """Each module's output field (4-D outputs only), by module name.

    Parameters
    ----------
    calls : list of catsel.network.torch_trace.Call
        The dry run, in the order the calls end.

    Returns
    -------
    dict of str to ReceptiveField
    """
    import torch

    fields: dict[int, ReceptiveField] = {}
    image = None
    for c in calls:  # the module's input is the first leaf's input of the image's shape
        if c.leaf and c.inputs and c.inputs[0].ndim == 4 and c.inputs[0].shape[1] == 3:
            image = c.inputs[0]
            break
    if image is None:
        return {}
    fields[id(image)] = ReceptiveField(1.0, 1.0, 0.0)
    found: dict[str, ReceptiveField] = {}
    for c in calls:
        out = c.output
        if not isinstance(out, torch.Tensor) or out.ndim != 4:
            continue
        if not c.leaf:  # a container's output is one of its calls' tensors, already given its field
            if id(out) in fields and c.name not in found:
                found[c.name] = fields[id(out)]
            continue
        ins = [t for t in c.inputs if isinstance(t, torch.Tensor) and t.ndim == 4]
        if not ins or id(ins[0]) not in fields:
            if out is not (ins[0] if ins else None):
                fields.pop(id(out), None)
            continue
        field = _step(c.module, fields[id(ins[0])], tuple(ins[0].shape), tuple(out.shape))
        if field is None:
            fields.pop(id(out), None)
            continue
        if out is ins[0] and id(out) in fields:  # in place: the tensor keeps the wider of the two
            field = field if field.size >= fields[id(out)].size else fields[id(out)]
        fields[id(out)] = field
        found.setdefault(c.name, field)
    return found
