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
        axes.append((size + (k_eff - 1) * jump, jump * stride, start + ((k_eff - 1) / 2 - pad) * jump))
    return ReceptiveField.of_axes(*axes)


def module_fields(calls) -> dict[str, ReceptiveField]:
    """Each module's output field (4-D outputs only), by module name.

    Parameters
    ----------
    calls : list of catsel.network.torch.trace.Call
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


def measured_fields(module, names, image_size, device, seeds: int = 2) -> dict[str, ReceptiveField]:
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
                    row, col = out.shape[2] // 2, out.shape[3] // 2
                    centres[name] = (row, col, out.shape[2], out.shape[3])
                    grad, = torch.autograd.grad(out[0, :, row, col].sum(), x, retain_graph=True)
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
