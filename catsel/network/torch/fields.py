"""Receptive fields of a PyTorch module's maps, from the dry run of :mod:`catsel.network.torch.network`.

The dry run records each module call's input and output tensors by identity. A field is carried from the
image along those calls with the rules :mod:`catsel.network.receptive` applies to a Keras graph: a conv or
pooling module widens it by its kernel, dilation, stride and padding; a module that keeps the grid (batch
norm, activation, dropout) keeps it; an in-place operation keeps the tensor and its field (torchvision's
``out += identity`` keeps the main branch's, which holds the shortcut's). Where a tensor comes from an
operation that is no module (``torch.cat``, a reshape), its field cannot be computed: it is measured instead
(:func:`measured_fields`), from the input pixels the gradient of a unit's output reaches, and marked so.
"""

from __future__ import annotations

from ..receptive import ReceptiveField

__all__ = ["module_fields", "measured_fields"]


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
        if tuple(in_shape[2:]) and (in_shape[2 + k] + 2 * pad - k_eff) // stride + 1 != out_shape[2 + k]:
            # padded by a child module (a conv subclass's static "same" padding): the padding the shapes imply,
            # the extra pixel after, as TensorFlow's "same" pads
            pad = max(0, (out_shape[2 + k] - 1) * stride + k_eff - in_shape[2 + k]) // 2
        axes.append((size + (k_eff - 1) * jump, jump * stride, start + ((k_eff - 1) / 2 - pad) * jump))
    return ReceptiveField.of_axes(*axes)


def _through(op, fields) -> ReceptiveField | None:
    """The field of a function's 4-D output (an activation, ``out + identity``, a squeeze-excitation's product,
    a concatenation of channels): its inputs on the same grid, the widest of their fields; an input of one
    pixel (a pooled, excited scale) drives the whole image: the field is flagged global. None where an input
    on another grid, or one without a field, makes it."""
    import dataclasses

    import torch

    out = op.output
    grid = tuple(out.shape[2:])
    found, whole = [], False
    for t in op.inputs:
        if not isinstance(t, torch.Tensor) or t.ndim == 0:
            continue
        if t.ndim != 4:
            return None
        if tuple(t.shape[2:]) == (1, 1) and grid != (1, 1):
            whole = True
            continue
        if tuple(t.shape[2:]) != grid or id(t) not in fields:
            return None
        found.append(fields[id(t)])
    if not found:
        return None
    field = max(found, key=lambda f: f.size)
    return dataclasses.replace(field, global_context=True) if whole else field


def module_fields(calls, ops=()) -> dict[str, ReceptiveField]:
    """Each module's output field (4-D outputs only), by module name.

    Parameters
    ----------
    calls : list of catsel.network.torch.trace.Call
        The dry run, in the order the calls end.
    ops : list of catsel.network.torch.trace.Op
        The functions called between them (an elementwise function, an addition, a channel concatenation
        carries the fields; any other operation ends them).

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
    for c in sorted([*calls, *ops], key=lambda n: n.index):
        out = c.output
        if not hasattr(c, "module"):  # a function
            if isinstance(out, torch.Tensor) and out.ndim == 4 and _carries(c):
                field = _through(c, fields)
                if field is not None:
                    fields[id(out)] = field
                    continue
            if isinstance(out, torch.Tensor):
                fields.pop(id(out), None)
            continue
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


#: Functions whose 4-D output's every pixel comes from the same pixel of their inputs.
_POINTWISE = {"add", "add_", "__add__", "__iadd__", "__radd__", "sub", "__sub__", "mul", "mul_", "__mul__",
              "__imul__", "__rmul__", "div", "__truediv__", "cat", "clone", "contiguous", "sigmoid", "tanh"}


def _carries(op) -> bool:
    from .trace import ACTIVATIONS

    name = op.name
    if name == "cat":
        return op.kwargs.get("dim", op.args[0] if op.args else 0) in (1, -3)
    return name in _POINTWISE or name.rstrip("_") in ACTIVATIONS


def measured_fields(module, names, image_size, device, seeds: int = 2, last=()) -> dict[str, ReceptiveField]:
    """Receptive fields measured: the input pixels that the gradient of a unit's output reaches.

    For each module of ``names`` (4-D outputs), the unit at the centre of its map: the gradient of its value,
    summed over the channels, with respect to random images (``seeds`` of them), and the box of the pixels
    it reaches. The step is the image's side over the map's; a box cut by the image's edge is as large as
    the image lets it be. Marked ``measured``.

    Parameters
    ----------
    module : torch.nn.Module
    names : sequence of str
    image_size : int or (int, int)
    device : torch.device
    seeds : int, default 2
    last : collection of str
        The modules whose 4-D outputs hold their channels on the last axis.

    Returns
    -------
    dict of str to ReceptiveField
    """
    import torch

    from ...options import hw

    height, width = hw(image_size)
    modules = dict(module.named_modules())
    reached: dict[str, object] = {}
    centres: dict[str, tuple] = {}
    for seed in range(seeds):
        x = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(seed)).to(device)
        x.requires_grad_(True)
        outs: dict[str, object] = {}
        hooks = [modules[name].register_forward_hook(lambda m, a, o, name=name: outs.__setitem__(name, o))
                 for name in names]
        try:
            with torch.enable_grad():
                module(x)
                for name in names:
                    out = outs.get(name)
                    if out is None or out.ndim != 4 or not out.requires_grad:
                        continue
                    if name in last:
                        out = out.permute(0, 3, 1, 2)
                    row, col = out.shape[2] // 2, out.shape[3] // 2
                    centres[name] = (row, col, out.shape[2], out.shape[3])
                    grad, = torch.autograd.grad(out[0, :, row, col].sum(), x, retain_graph=True, allow_unused=True)
                    if grad is None:  # the image does not reach this unit's value (XCiT's 384 px variants): none
                        continue
                    hit = (grad.abs().sum(1)[0] > 0).cpu().numpy()
                    reached[name] = hit if name not in reached else (reached[name] | hit)
        finally:
            for h in hooks:
                h.remove()
    found = {}
    for name, hit in reached.items():
        rows, cols = hit.nonzero()
        if not len(rows):
            continue
        row, col, map_h, map_w = centres[name]
        axes = []
        for k, (low, high, at, side, cells) in enumerate(((rows.min(), rows.max(), row, height, map_h),
                                                          (cols.min(), cols.max(), col, width, map_w))):
            jump = side / cells
            axes.append((float(high - low + 1), jump, (low + high) / 2 - at * jump))
        field = ReceptiveField.of_axes(*axes)
        found[name] = ReceptiveField(field.size, field.jump, field.start, False, field.size_x, field.jump_x,
                                     field.start_x, measured=True)
    return found
