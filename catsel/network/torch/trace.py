"""What a PyTorch module does with one image: every module's call in the order they end, and the default rule.

:func:`trace` runs the module once with a forward hook on every named module, keeping each call's input and
output tensors (by identity: every tensor is kept to the end, so no two share one). :func:`default_modules`
reads that record as :mod:`catsel.network.keras.graph` reads a Keras graph: a conv or linear module's units after
the batch norms and activations that alone follow it, a residual block's output rather than its branches, the
classifier left out, transformer blocks as token layers. :func:`reduce_output` and :func:`preprocess_torch` are
what the capture's hooks compute on the device.
"""

from __future__ import annotations

from typing import Any

from ...errors import ModelError
from ...options import converter_values
from ..pixels import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD
from ..tokens import CLASS_TOKEN

__all__ = ["Call", "trace", "per_unit", "unit_layer", "is_block", "default_modules", "leading_tokens", "reduce_output",
           "preprocess_torch", "CLASS_TOKEN"]


class Call:
    """One module call of the dry run: its name, module, input tensors (by identity), output and order."""

    __slots__ = ("name", "module", "inputs", "output", "index")

    def __init__(self, name, module, inputs, output, index):
        self.name, self.module, self.inputs, self.output, self.index = name, module, inputs, output, index

    @property
    def leaf(self) -> bool:
        return not any(True for _ in self.module.children())

    @property
    def shape(self) -> tuple | None:
        import torch

        return tuple(self.output.shape) if isinstance(self.output, torch.Tensor) else None


def trace(module, example) -> tuple[list[Call], dict[str, int], Any]:
    """Run ``module`` once on ``example`` with a hook on every named module: the calls in the order they end,
    how many times each module ran, and the module's output. Every tensor is kept until the end, so that no
    two tensors share an identity."""
    import torch

    calls: list[Call] = []
    counts: dict[str, int] = {}
    handles = []

    def record(name):
        def hook(mod, args, out):
            counts[name] = counts.get(name, 0) + 1
            inputs = [a for a in args if isinstance(a, torch.Tensor)]
            calls.append(Call(name, mod, inputs, out, len(calls)))
        return hook

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(record(name)))
    try:
        with torch.no_grad():
            out = module(example)
    except Exception as exc:  # the module's own error, on the input catsel would feed: one line
        text = " ".join(str(exc).split())[:240]
        raise ModelError(f"the module does not run on a batch of {tuple(example.shape)} images (batch, channels, "
                         f"height, width) ({type(exc).__name__}: {text}); give the size it takes with "
                         "--image-size (image_size=)") from None
    finally:
        for h in handles:
            h.remove()
    return calls, counts, out


def per_unit(module) -> bool:
    import torch.nn as nn

    return isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU,
                               nn.LeakyReLU, nn.ELU, nn.SELU, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Sigmoid,
                               nn.Tanh, nn.PReLU, nn.LayerNorm))


def unit_layer(module) -> bool:
    import torch.nn as nn

    return isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))


def is_block(call: Call) -> bool:
    """A transformer block: a module holding an attention module, whose output is tokens (batch, tokens, channels)."""
    import torch.nn as nn

    if call.leaf or call.shape is None or len(call.shape) != 3:
        return False
    return any(isinstance(m, nn.MultiheadAttention) or "Attention" in type(m).__name__
               for m in call.module.modules() if m is not call.module)


def default_modules(calls: list[Call], counts: dict[str, int], output) -> tuple[list[str], dict[str, str]]:
    """The modules whose outputs are captured by default, in the order they run; and where each conv or linear
    module's units are taken from.

    The rule catsel states for Keras (:func:`catsel.network.keras.graph.default_layers`), read from the dry run:

    - a conv or linear module's units are taken after the batch norms and activations that alone follow it
      (``features.0`` → its ReLU ``features.1``; an in-place activation counts as following);
    - where they go on into an addition or another operation that is no module (a residual block's
      ``out += identity``), or into an activation module the block calls more than once (torchvision's
      ``BasicBlock.relu``), the block's output is taken: the innermost enclosing module whose output is
      another tensor (``layer1.0``);
    - the classifier (a linear module whose output is the network's) is left out;
    - a network with transformer blocks (:func:`is_block`) has its blocks' outputs as its defaults.

    Parameters
    ----------
    calls : list of Call
    counts : dict of str to int
    output : tensor
        The module's output in the dry run.

    Returns
    -------
    names : list of str
    taken_from : dict of str to str
    """
    first = {}
    for c in calls:
        first.setdefault(c.name, c)
    blocks = [c.name for c in first.values() if counts[c.name] == 1 and is_block(c)]
    blocks = [b for b in blocks if not any(o.startswith(b + ".") for o in blocks)]  # a stack of blocks is none
    if blocks:
        return blocks, {}
    leaves = [c for c in calls if c.leaf]
    containers = [c for c in calls if not c.leaf and counts[c.name] == 1]

    def consumers(tensor, after: int) -> list[Call]:
        return [c for c in leaves if c.index > after and any(t is tensor for t in c.inputs)]

    def enclosing(call: Call) -> str:
        """The innermost module holding ``call`` that does more after it (its block); a container that only
        passes ``call``'s output on (a ``Sequential`` ending in it) is not the block."""
        for c in sorted(containers, key=lambda c: -len(c.name)):  # the innermost first
            if not call.name.startswith(c.name + ".") or c.index < call.index:
                continue
            more = any(d.leaf and call.index < d.index < c.index and d.name.startswith(c.name + ".") for d in calls)
            if more or c.output is not call.output:
                return c.name
        return call.name

    taken = {}
    for call in first.values():
        if not call.leaf or not unit_layer(call.module) or counts[call.name] != 1 or call.shape is None:
            continue
        cur, end = call, call.name
        for _ in range(64):
            if cur.output is output:
                end = cur.name
                break
            after = consumers(cur.output, cur.index)
            if not after:  # into an operation that is no module: the block's output
                end = enclosing(cur)
                break
            nxt = after[0]
            in_place = nxt.output is cur.output
            if not per_unit(nxt.module) or not (in_place or len(after) == 1):
                end = cur.name
                break
            if counts[nxt.name] != 1:  # an activation the block calls again: the block's output
                end = enclosing(cur)
                break
            cur = nxt
        else:
            end = cur.name
        taken[call.name] = end
    classifier = {name for name, end in taken.items()
                  if first[end].output is output and first[end].shape is not None and len(first[end].shape) == 2}
    chosen = {end for name, end in taken.items() if name not in classifier}
    chosen = {name for name in chosen if counts.get(name) == 1 and first[name].shape is not None}
    order = {c.name: c.index for c in first.values()}
    kept, seen = [], []
    for name in sorted(chosen, key=order.__getitem__):  # one tensor, one layer: the innermost module that gives it
        if any(first[name].output is first[other].output for other in seen):
            continue
        seen.append(name)
        kept.append(name)
    return kept, taken


def leading_tokens(module, shape) -> tuple[int, int]:
    """The class and register tokens before the patch tokens of a token output.

    A timm model says how many (``num_prefix_tokens``, ``num_reg_tokens``); else the class token is told by
    the shape, as for Keras (:func:`catsel.network.tokens.class_tokens`).

    Parameters
    ----------
    module : torch.nn.Module
    shape : tuple

    Returns
    -------
    class_tokens, register_tokens : int
    """
    from ..tokens import class_tokens

    if len(shape) != 3:
        return 0, 0
    prefix = getattr(module, "num_prefix_tokens", None)
    if isinstance(prefix, int) and prefix > 0:
        registers = int(getattr(module, "num_reg_tokens", 0) or 0)
        return prefix - registers, registers
    return class_tokens(shape), 0


def reduce_output(out, name: str, lead: tuple[int, int], map_shape, arrays) -> dict:
    """One captured output to its results, on the device: per channel, the maximum over the map (or patch
    tokens), its flat position, and the mean and minimum when asked; a class token or a vector as it is.

    Parameters
    ----------
    out : torch.Tensor
        (batch, channels, height, width), (batch, tokens, channels) or (batch, units).
    name : str
        The captured layer (``"NAME[class]"``: the class token).
    lead : (int, int)
        The class and register tokens before the patch tokens.
    map_shape : tuple or None
    arrays : tuple of str
        The kinds of result wanted.

    Returns
    -------
    dict of str to torch.Tensor
    """
    import torch

    if not isinstance(out, torch.Tensor):
        raise ModelError(f"{name} gives a {type(out).__name__}, not one tensor; choose another module")
    if name.endswith(CLASS_TOKEN):
        return {"maxima": out[:, 0]}
    if out.ndim == 2:
        return {"maxima": out}
    if out.ndim == 4 and out.is_contiguous(memory_format=torch.channels_last):  # (batch, positions, channels)
        flat = out.permute(0, 2, 3, 1).reshape(out.shape[0], -1, out.shape[1])  # a view, in this layout
        axis = 1
    elif out.ndim == 4:  # (batch, channels, height, width) → (batch, channels, positions)
        flat = out.flatten(2)
        axis = 2
    else:  # tokens (batch, tokens, channels): the patch tokens
        flat = out[:, sum(lead):]
        axis = 1
    found = {}
    if "maxima" in arrays or "positions" in arrays:
        top = flat.max(dim=axis)
        found["maxima"], found["positions"] = top.values, top.indices
    if "means" in arrays:
        found["means"] = flat.mean(dim=axis)
    if "minima" in arrays:
        found["minima"] = flat.amin(dim=axis)
    return {k: v for k, v in found.items() if k in arrays}


def preprocess_torch(x, mode: str):
    """catsel's preprocessing of float RGB pixels (batch, 3, h, w) in [0, 255], in torch, as the Keras layer
    :class:`catsel.network.keras.preprocess.Preprocess` computes it.

    Parameters
    ----------
    x : torch.Tensor
    mode : str

    Returns
    -------
    torch.Tensor
    """
    import torch

    def per_channel(values):
        return torch.tensor(values, dtype=torch.float32, device=x.device).reshape(1, 3, 1, 1)

    affine = converter_values(mode, ModelError)
    if affine is not None:
        return x * per_channel(affine[0]) + per_channel(affine[1])
    if mode == "caffe":
        return x.flip(1) - per_channel(CAFFE_MEAN_BGR)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - per_channel(IMAGENET_MEAN)) / per_channel(IMAGENET_STD)
    if mode == "raw":
        return x
    raise ModelError(f"unknown preprocessing {mode!r}")
