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
from ..tokens import CLASS_TOKEN, base_layer

__all__ = ["Call", "Op", "ACTIVATIONS", "AFTER", "activation_function", "is_atom", "logits_of", "trace", "per_unit",
           "unit_layer", "DRY_BATCH", "sequence_first", "batched", "is_block", "norms_last", "channels_last", "default_modules", "elementwise", "relative",
           "module_of", "post_function",
           "leading_tokens", "reduce_output", "preprocess_torch", "CLASS_TOKEN"]


class Call:
    """One module call of the dry run: its name, module, input tensors (by identity), output and order.

    ``atom``: the call is a unit of the executed graph, a conv, linear, normalisation or activation module
    (subclasses included, whatever children they hold) or a module without children; calls made inside an
    atom (a conv subclass's padding module) are not recorded."""

    __slots__ = ("name", "module", "inputs", "output", "index", "atom")

    def __init__(self, name, module, inputs, output, index, atom=None):
        self.name, self.module, self.inputs, self.output, self.index = name, module, inputs, output, index
        self.atom = is_atom(module) if atom is None else atom

    @property
    def leaf(self) -> bool:
        """Whether the call is an atom of the graph (kept under its old name for the receptive fields)."""
        return self.atom

    @property
    def shape(self) -> tuple | None:
        import torch

        return tuple(self.output.shape) if isinstance(self.output, torch.Tensor) else None


class Op:
    """One call of a torch function outside any atom in the dry run (``F.relu``, ``x.relu()``, ``out + x``):
    its name, the non-tensor arguments, input tensors, output, order and the module that made it."""

    __slots__ = ("name", "inputs", "output", "index", "owner", "args", "kwargs")

    def __init__(self, name, inputs, output, index, owner, args, kwargs):
        self.name, self.inputs, self.output, self.index, self.owner = name, inputs, output, index, owner
        self.args, self.kwargs = args, kwargs

    @property
    def activation(self) -> bool:
        """Whether it is an elementwise activation of one tensor (its units stay its input's units)."""
        return self.name.rstrip("_") in ACTIVATIONS and len(self.inputs) == 1

    def within(self, container: str) -> bool:
        return self.owner == container or self.owner.startswith(container + ".")

    def replay(self):
        """The same activation as a function of one tensor, never in place (a hook applies it to a module's
        output)."""
        return activation_function(self.name, self.args, self.kwargs)


#: Elementwise activations a ``forward`` may call as functions (``F.relu``, ``torch.relu``, ``x.relu()``):
#: a conv's units are taken after them, applied to the module's output by the capture's hook.
ACTIVATIONS = ("relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "mish", "elu",
               "selu", "celu", "leaky_relu", "hardtanh", "softplus")

#: A captured ``"MODULE+relu"`` is the functional activation a ``forward`` applies to ``MODULE``'s output.
AFTER = "+"


def activation_function(name: str, args=(), kwargs=None):
    """``torch.nn.functional.NAME`` (or ``torch.NAME``) of one tensor, with the call's other arguments, never
    in place.

    Parameters
    ----------
    name : str
        ``"relu"``, ``"relu_"``, ``"leaky_relu"``, ...
    args : tuple
        The arguments after the tensor.
    kwargs : dict, optional

    Returns
    -------
    callable
    """
    import torch
    import torch.nn.functional as F

    base = name.rstrip("_")
    fn = getattr(torch, base) if base in ("sigmoid", "tanh") else getattr(F, base)
    args = tuple(a for a in args if not isinstance(a, bool))  # ``inplace`` is the only flag these take
    kwargs = {k: v for k, v in (kwargs or {}).items() if k != "inplace"}
    return lambda x: fn(x, *args, **kwargs)


def is_atom(module) -> bool:
    """Whether a module is one unit of the executed graph: a conv, linear, normalisation or activation module
    (its subclasses too, whatever children they hold), or a module without children."""
    return unit_layer(module) or per_unit(module) or not any(True for _ in module.children())


def logits_of(out):
    """A ``forward``'s result as one tensor: itself, the ``logits`` of a dict (a Hugging Face output), or the
    first tensor of a tuple or list (the logits before auxiliary heads)."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        if isinstance(out.get("logits"), torch.Tensor):
            return out["logits"]
        values = list(out.values())
    elif isinstance(out, (tuple, list)):
        values = list(out)
    else:
        values = []
    for v in values:
        if isinstance(v, torch.Tensor):
            return v
    return out


def trace(module, example) -> tuple[list[Call], dict[str, int], Any, list[Op]]:
    """Run ``module`` once on ``example`` and record its executed graph: every module call in the order they
    end, how many times each module ran, the module's output (its logits, :func:`logits_of`), and the torch
    functions called outside the atoms (:class:`Op`). Every tensor is kept until the end, so that no two
    tensors share an identity.

    A module's call is recorded by a forward hook; a function's by a ``TorchFunctionMode``, the way
    ``torch.overrides`` lets a tool see ``F.relu`` or ``out + identity``. A call made inside an atom (a conv
    subclass's padding module, ``F.conv2d`` inside ``Conv2d``) is part of that atom and not recorded.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    calls: list[Call] = []
    ops: list[Op] = []
    counts: dict[str, int] = {}
    active: list[tuple[str, bool]] = []  # the modules running now, outermost first, and whether each is an atom
    order = [0]
    handles = []
    atoms = {name: is_atom(sub) for name, sub in module.named_modules()}

    def opened(name):
        def hook(mod, args):
            active.append((name, atoms[name]))
        return hook

    def record(name):
        def hook(mod, args, out):
            if active and active[-1][0] == name:
                active.pop()
            if any(atom for _, atom in active):  # inside an atom: part of it
                return
            counts[name] = counts.get(name, 0) + 1
            inputs = [a for a in args if isinstance(a, torch.Tensor)]
            calls.append(Call(name, mod, inputs, out, order[0], atoms[name]))
            order[0] += 1
        return hook

    class Functions(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if isinstance(out, torch.Tensor) and not any(atom for _, atom in active):
                flat = [a for a in args if isinstance(a, torch.Tensor)]
                flat += [t for a in args if isinstance(a, (list, tuple)) for t in a if isinstance(t, torch.Tensor)]
                flat += [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
                if flat:
                    name = getattr(func, "__name__", str(func))
                    rest = tuple(a for a in args[1:] if not isinstance(a, torch.Tensor))
                    ops.append(Op(name, flat, out, order[0], active[-1][0] if active else "", rest,
                                  {k: v for k, v in kwargs.items() if not isinstance(v, torch.Tensor)}))
                    order[0] += 1
            return out

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_pre_hook(opened(name)))
            handles.append(sub.register_forward_hook(record(name)))
    try:
        with torch.no_grad(), Functions():
            out = module(example)
    except Exception as exc:  # the module's own error, on the input catsel would feed: one line
        text = " ".join(str(exc).split())[:240]
        raise ModelError(f"the module does not run on a batch of {tuple(example.shape)} images (batch, channels, "
                         f"height, width) ({type(exc).__name__}: {text}); give the size it takes with "
                         "--image-size (image_size=)") from None
    finally:
        for h in handles:
            h.remove()
    return calls, counts, logits_of(out), ops


def per_unit(module) -> bool:
    import torch.nn as nn

    return isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU,
                               nn.LeakyReLU, nn.ELU, nn.SELU, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Sigmoid,
                               nn.Tanh, nn.PReLU, nn.LayerNorm))


def unit_layer(module) -> bool:
    import torch.nn as nn

    return isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))


#: Images in the dry run: two, so that an output's batch axis is told from a folding of the image into it
#: (MobileViT's patches, (2 x 4, tokens, channels)) and from a sequence-first layout ((tokens, 2, channels)).
DRY_BATCH = 2


def sequence_first(shape) -> bool:
    """Whether a token output of the dry run is sequence-first, (tokens, batch, channels), as an
    ``nn.MultiheadAttention`` stack without ``batch_first`` gives it; batch-first is (batch, tokens, channels)."""
    return len(shape) == 3 and shape[0] != DRY_BATCH and shape[1] == DRY_BATCH


def batched(shape) -> bool:
    """Whether an output of the dry run holds one row per image: batch first, or sequence-first tokens; not
    windows or patches of the image folded into the batch, or any other folding."""
    return shape is not None and len(shape) >= 1 and (shape[0] == DRY_BATCH or sequence_first(shape))


def is_block(call: Call) -> bool:
    """A transformer block: a module holding an attention module, whose output is tokens (batch, tokens,
    channels) or a grid of them (batch, height, width, channels; Swin's windows)."""
    import torch.nn as nn

    if call.atom or call.shape is None or len(call.shape) not in (3, 4) or not batched(call.shape):
        return False
    if len(call.shape) == 4 and not norms_last(call):
        return False
    return any(isinstance(m, nn.MultiheadAttention) or "Attention" in type(m).__name__
               for m in call.module.modules() if m is not call.module)


def norms_last(call: Call) -> bool:
    """Whether a 4-D block output's channels are its last axis: its layer norms normalise that axis."""
    import torch.nn as nn

    return any(type(m) is nn.LayerNorm and tuple(m.normalized_shape) == (call.shape[-1],)
               for m in call.module.modules())


def channels_last(call: Call, calls: list[Call]) -> bool:
    """Whether a 4-D output holds its units on the last axis (batch, height, width, channels): a linear module
    or a layer norm applied to a grid (ConvNeXt's and Swin's), what an activation or a container passes on of
    such an output, a transformer block on a grid; a conv's and a batch norm's are channels first.

    Parameters
    ----------
    call : Call
    calls : list of Call
        The dry run.

    Returns
    -------
    bool
    """
    import torch.nn as nn

    seen = 0
    while call is not None and seen < 64:
        seen += 1
        if call.shape is None or len(call.shape) != 4:
            return False
        module = call.module
        if isinstance(module, nn.Linear):
            return True
        if isinstance(module, nn.LayerNorm):
            return tuple(module.normalized_shape) == (call.shape[-1],) and type(module) is nn.LayerNorm
        if unit_layer(module) or isinstance(module, nn.modules.batchnorm._BatchNorm):
            return False
        if not call.atom and is_block(call):
            return True
        source = call.inputs[0] if call.atom and call.inputs else call.output
        producers = [c for c in calls if c.output is source and c.atom and c.index < call.index + (not call.atom)
                     and c is not call]
        call = producers[-1] if producers else None
    return False


def default_modules(calls: list[Call], counts: dict[str, int], output, ops: list[Op] = ()
                    ) -> tuple[list[str], dict[str, str]]:
    """The layers captured by default, in the order they run; and where each conv or linear module's units are
    taken from.

    The rule catsel states for Keras (:func:`catsel.network.keras.graph.default_layers`), read from the
    executed graph of the dry run (module calls and torch functions alike, :func:`trace`):

    - a conv or linear module (subclasses included, whatever children they hold) has its units taken after
      the batch norms and activations that alone follow it (``features.0`` → its ReLU ``features.1``; an
      in-place activation counts as following); an activation the ``forward`` calls as a function
      (``F.relu(self.bn1(x))``) is captured as ``"bn1+relu"``: the module's output with that function applied;
    - where they go on into an addition or another operation (a residual block's ``out += identity``), or into
      an activation module the block calls more than once (torchvision's ``BasicBlock.relu``), the block's
      output is taken: the innermost enclosing module whose output is another tensor (``layer1.0``);
    - the classifier (a linear module whose output is the network's) is left out;
    - a network with transformer blocks (:func:`is_block`) has its blocks' outputs as its defaults.

    Parameters
    ----------
    calls : list of Call
    counts : dict of str to int
    output : tensor
        The module's output in the dry run (its logits).
    ops : list of Op
        The functions called outside the atoms.

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
    atoms = [c for c in calls if c.atom]
    containers = [c for c in calls if not c.atom and counts[c.name] == 1]
    nodes = sorted([*atoms, *ops], key=lambda n: n.index)

    def consumers(tensor, after: int) -> list:
        return [n for n in nodes if n.index > after and any(t is tensor for t in n.inputs)]

    def enclosing(call: Call) -> str:
        """The innermost module holding ``call`` that does more after it (its block); a container that only
        passes ``call``'s output on (a ``Sequential`` ending in it) is not the block."""
        for c in sorted(containers, key=lambda c: -len(c.name)):  # the innermost first
            if not call.name.startswith(c.name + ".") or c.index < call.index:
                continue
            more = any(call.index < d.index < c.index and (d.within(c.name) if isinstance(d, Op)
                                                          else d.name.startswith(c.name + ".")) for d in nodes)
            if more or c.output is not call.output:
                return c.name
        return call.name

    taken, classifier = {}, set()
    for call in first.values():
        if not call.atom or not unit_layer(call.module) or counts[call.name] != 1 or call.shape is None:
            continue
        cur, named, end = call, call, call.name  # the call followed; the one whose name the units take
        for _ in range(64):
            if cur.output is output:
                end = named.name
                if len(cur.shape or ()) == 2:
                    classifier.add(call.name)
                break
            after = consumers(cur.output, cur.index)
            if not after:  # its output leaves by a container's return: the block's output
                end = enclosing(cur)
                break
            nxt = after[0]
            in_place = nxt.output is cur.output
            if isinstance(nxt, Op):
                if nxt.activation and (in_place or len(after) == 1) and counts[named.name] == 1:
                    end = named.name + AFTER + nxt.name.rstrip("_")  # a functional activation
                else:  # into an addition or another operation: the block's output
                    end = enclosing(cur)
                break
            if not (per_unit(nxt.module) or elementwise(nxt)) or not (in_place or len(after) == 1):
                end = named.name
                break
            if counts[nxt.name] != 1:  # an activation module called again elsewhere: applied by the hook
                end = named.name + AFTER + relative(nxt.name, named.name) if elementwise(nxt) else enclosing(cur)
                break
            if not per_unit(nxt.module) and identity(nxt):  # a dropout, an Identity: the same values
                cur = nxt
                continue
            cur = named = nxt
        else:
            end = named.name
        taken[call.name] = end
    chosen = {end for name, end in taken.items() if name not in classifier}
    # a head that is a module of its own (a distilled network's, averaging two classifiers) is no layer
    chosen = {name for name in chosen if not (first[module_of(name)].output is output
                                              and len(first[module_of(name)].shape or ()) == 2)}
    chosen = {name for name in chosen if counts.get(module_of(name)) == 1 and batched(first[module_of(name)].shape)
              and len(first[module_of(name)].shape) in (2, 3, 4)}  # (a selective kernel's 5-D weights: no units)
    order = {c.name: c.index for c in first.values()}
    kept, seen = [], []
    for name in sorted(chosen, key=lambda n: order[module_of(n)]):  # one tensor, one layer: the innermost module
        if name == module_of(name) and any(first[name].output is first[other].output for other in seen):
            continue
        seen.append(module_of(name))
        kept.append(name)
    return kept, taken


def elementwise(call: Call) -> bool:
    """Whether a module call is an elementwise function of one tensor: an activation module catsel knows, or a
    module without parameters (a lab's ``Swish``, ``Identity``, ``Dropout``) whose output keeps its input's
    shape and changes at one element only when that element of its input changes (tried on a random tensor of
    its input's shape)."""
    import torch
    import torch.nn as nn

    module = call.module
    if per_unit(module):
        return not isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.PReLU))
    if not call.atom or any(True for _ in module.parameters()) or len(call.inputs) != 1 or call.shape is None:
        return False
    x = call.inputs[0]
    if tuple(x.shape) != call.shape or not x.is_floating_point() or x.numel() < 2:
        return False
    try:
        with torch.no_grad():  # on a random tensor of the input's shape: the dry run's image is blank
            poked = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(x.device, x.dtype)
            before = module(poked.clone())
            flat = poked.view(-1)
            at = flat.numel() // 2 + 1
            flat[at] += 1.0
            after = module(poked)
    except Exception:  # not callable on one tensor alone: not elementwise
        return False
    if not isinstance(after, torch.Tensor) or after.shape != before.shape:
        return False
    changed = (after != before).reshape(-1)
    return bool(changed.sum() <= 1) and not bool(changed[:at].any() or changed[at + 1:].any())


def identity(call: Call) -> bool:
    """Whether a module without parameters gives back its input's values (a dropout in eval, ``nn.Identity``),
    tried on a random tensor of its input's shape (an in-place activation returns its input, changed)."""
    import torch

    if len(call.inputs) != 1 or any(True for _ in call.module.parameters()) or not call.inputs[0].is_floating_point():
        return False
    shape, like = call.inputs[0].shape, call.inputs[0]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(like.device, like.dtype) * 3
    try:
        with torch.no_grad():  # on a random tensor of the input's shape: the dry run's image is blank
            out = call.module(x.clone())
    except Exception:
        return False
    return isinstance(out, torch.Tensor) and out.shape == x.shape and bool(torch.equal(out, x))


def relative(module: str, near: str) -> str:
    """The shortest name of ``module`` that resolves from ``near``'s place (``layer1.0.relu`` from
    ``layer1.0.bn1``: ``relu``), as :func:`post_function` reads it."""
    parts = near.split(".")[:-1]
    for k in range(len(parts), -1, -1):
        prefix = ".".join(parts[:k])
        if module.startswith(prefix + "." if prefix else ""):
            rest = module[len(prefix) + 1:] if prefix else module
            # the innermost match must be this one
            if all(".".join(parts[:j] + [rest]) != module for j in range(len(parts), k, -1)):
                return rest
    return module


def module_of(name: str) -> str:
    """The module behind a captured name: ``"bn1+relu"`` and ``"blocks.3[class]"`` → ``"bn1"``, ``"blocks.3"``.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    return base_layer(name).split(AFTER, 1)[0]


def post_function(name: str, calls: list[Call] = (), ops: list[Op] = (), modules: dict | None = None):
    """The function a captured ``"MODULE+AFTER"`` applies to the module's output; ``None`` for a module's own
    output.

    ``AFTER`` is an activation module called more than once (``layer1.0.bn1+relu``: torchvision's
    ``BasicBlock.relu``), named from ``MODULE``'s place outwards, or a function the ``forward`` calls
    (``bn1+relu``: ``F.relu(self.bn1(x))``), with the arguments it was called with there (a leaky ReLU's slope).

    Parameters
    ----------
    name : str
    calls, ops : list
        The dry run.
    modules : dict of str to module, optional
        The network's named modules.

    Returns
    -------
    callable or None
    """
    if AFTER not in name:
        return None
    base, after = module_of(name), name.split(AFTER, 1)[1]
    parts = base.split(".")[:-1]
    for k in range(len(parts), -1, -1):  # an activation module, the innermost of that name first
        full = ".".join(parts[:k] + [after])
        if modules and full in modules:
            module = modules[full]

            def apply(x, module=module):  # never in place: the output goes on through the network
                return module(x.clone() if getattr(module, "inplace", False) else x)
            return apply
    if after not in ACTIVATIONS:
        raise ModelError(f"{name}: {after!r} is neither a module of the network nor an activation catsel applies "
                         f"after one ({', '.join(ACTIVATIONS)})")
    made = [c.output for c in calls if c.name == base]
    for op in ops:
        if op.name.rstrip("_") == after and op.activation and made and op.inputs[0] is made[0]:
            return op.replay()
    return activation_function(after)


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


def reduce_output(out, name: str, lead: tuple[int, int], map_shape, arrays, last: bool = False) -> dict:
    """One captured output to its results, on the device: per channel, the maximum over the map (or patch
    tokens), its flat position, and the mean and minimum when asked; a class token or a vector as it is.

    Parameters
    ----------
    out : torch.Tensor
        (batch, channels, height, width), (batch, height, width, channels) with ``last``, (batch, tokens,
        channels) or (batch, units).
    name : str
        The captured layer (``"NAME[class]"``: the class token).
    lead : (int, int)
        The class and register tokens before the patch tokens.
    map_shape : tuple or None
    arrays : tuple of str
        The kinds of result wanted.
    last : bool, default False
        A 4-D output holds its channels on the last axis (:func:`channels_last`).

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
    if out.ndim == 3 and map_shape is None:  # tokens that are the class token alone: a vector
        return {"maxima": out[:, 0]}
    if out.ndim == 4 and last:  # (batch, height, width, channels) → (batch, positions, channels)
        flat = out.reshape(out.shape[0], -1, out.shape[3])
        axis = 1
    elif out.ndim == 4 and out.is_contiguous(memory_format=torch.channels_last):  # (batch, positions, channels)
        flat = out.permute(0, 2, 3, 1).reshape(out.shape[0], -1, out.shape[1])  # a view, in this layout
        axis = 1
    elif out.ndim == 4:  # (batch, channels, height, width) → (batch, channels, positions)
        flat = out.flatten(2)
        axis = 2
    else:  # tokens (batch, tokens, channels): the patch tokens
        flat = out[:, sum(lead):]
        axis = 1
    found = {}
    if ("maxima" in arrays or "positions" in arrays) and out.ndim == 4 and out.is_floating_point():
        # a grid's maxima and their positions in one pass of torch's adaptive max pooling, which has a kernel for
        # either layout: on channels-last maps max(dim) with its indices reads across the layout, 12 times
        # slower (docs/performance.md); both give the first maximum in row-major order, and NaN as the maximum
        grid = out.permute(0, 3, 1, 2) if last else out
        values, indices = torch.nn.functional.adaptive_max_pool2d(grid, 1, return_indices=True)
        found["maxima"], found["positions"] = values.flatten(1), indices.flatten(1)
    elif "maxima" in arrays or "positions" in arrays:
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
