"""PyTorch modules as catsel networks: torchvision and timm models by name, and any ``torch.nn.Module``.

:class:`TorchNetwork` is the :class:`~catsel.network.interface.Network` of a module that is not a Keras model.
It reads the module by forward hooks, as THINGSvision, Net2Brain and TorchLens do, and the stages above see the
same units, store and results as for Keras:

- **Layers** are named modules (``features.28``, ``layer4.1``, ``blocks.11``). A dry run on one image records
  every module's call, its input and output tensors, in the order they run; the default rule reads that
  record as :mod:`catsel.network.keras.graph` reads a Keras graph (:func:`default_modules`).
- **The reduction runs inside the hooks**, on the device: each captured module's output is reduced to its
  units' maxima and positions (and the spatial means and minima when asked) as soon as it is computed, and
  no hook keeps the map. The results of a batch are laid side by side in one float32 buffer (positions are
  exact in float32 below 2**24 positions) that leaves the device in one transfer; the forward pass stops
  after the last captured module.
- **Preprocessing** runs on the device too: the uint8 batch is cast, moved to channels first and scaled as
  catsel's ``caffe``, ``tf``, ``torch``, ``raw`` or an image converter's ``x * scale + offset``.

torch, torchvision and timm are imported only when a PyTorch network is asked for; a missing one is one line
naming the extra that installs it.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Sequence

import numpy as np

from ...errors import CatselError, ModelError
from ...options import hw, image_shape
from ..interface import as_stored, network_record, rows_per_pass
from ..tokens import CLASS_TOKEN
from . import is_torch_name
from .trace import (AFTER, batched, channels_last, default_modules, is_block, leading_tokens, module_of, per_unit,
                    post_function, preprocess_torch, reduce_output, sequence_first, trace)

__all__ = ["without_triton", "import_or_say", "TorchNetwork"]


def without_triton() -> None:
    """Keep Triton out of a process that has loaded TensorFlow; call it before importing torchvision or timm.

    Triton (a CUDA build of torch brings it; torchvision's import loads it through ``torch._dynamo``) and
    TensorFlow each carry their own LLVM: loading Triton's after TensorFlow's kills the process with a
    segmentation fault (seen with torch 2.14.1 and TensorFlow 2.21). catsel compiles nothing with
    ``torch.compile``, Triton's one user, so under the TensorFlow backend torch is told Triton is absent.
    """
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None


def import_or_say(name: str, extra: str):
    """Import ``name`` (torch, torchvision, timm), or one line naming the extra that installs it.

    Parameters
    ----------
    name, extra : str

    Returns
    -------
    module
    """
    without_triton()
    try:
        return __import__(name)
    except ImportError:
        raise ModelError(f"PyTorch networks need {name}, which is not installed: pip install 'catsel[{extra}]'"
                         ) from None


class TorchNetwork:
    """A ``torch.nn.Module`` as catsel captures it (the :class:`~catsel.network.interface.Network` protocol).

    Build one with :func:`catsel.network.torch.build.torch_network` (or ``catsel.activation_model`` with a
    module or a ``torchvision:``/``timm:`` name).

    Parameters
    ----------
    module : torch.nn.Module
        In eval mode; moved to the device catsel runs on.
    layers : sequence of str
        The captured modules (``"NAME[class]"`` for a token layer's class token).
    image_size : int or (int, int)
    preprocess : str
    source, weights_label : str
    trained : bool
    fallback_reason : str, optional
    rebuild : dict, optional
    arrays : tuple of str
        The kinds of result computed (default: maxima and positions).
    calls, counts, output, taken
        The dry run (:func:`catsel.network.torch.trace.trace`) and the default rule's record, shared by the
        variants of one network (:meth:`for_arrays`).
    constructor : callable, optional
        ``constructor(seed, layers)``: the same architecture built again by its library, untrained (a torchvision or
        timm name, :func:`catsel.network.torch.build.torch_network`); ``None``: re-initialised module by module.
    """

    reduction = "hooks"
    precision = "float32"

    def __init__(self, module, layers, image_size, preprocess, source, weights_label, trained, *,
                 fallback_reason=None, rebuild=None, arrays=("maxima", "positions"), calls=None, counts=None,
                 output=None, taken=None, constructor=None, ops=None):
        import torch

        from ..kinds import ARRAYS

        self.module = module.eval()
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        # channels last: the uint8 batch is already laid out so (prepare), and VGG16's forward pass at 224 px
        # ran 5.6 images/s so on this project's CPU against 4.3 in the default layout (docs/performance.md)
        try:
            self.module.to(self.device, memory_format=torch.channels_last)
        except RuntimeError:  # a parameter of another rank than 4 (a lambda layer's positions): the plain layout
            self.module.to(self.device)
        self.image_size = image_shape(image_size)
        self.preprocess = preprocess
        self.source, self.weights_label, self.trained = source, weights_label, trained
        self.fallback_reason, self.rebuild = fallback_reason, rebuild
        self.constructor = constructor
        self.arrays = tuple(k for k in ARRAYS if k in arrays)
        if calls is None:
            calls, counts, output, ops = trace(self.module, self._example())
        self._calls, self._counts, self._output, self._ops = calls, counts, output, list(ops or ())
        self._modules = dict(self.module.named_modules())
        self._taken = taken if taken is not None else self._defaults()[1]
        self._first = {}
        for c in calls:
            self._first.setdefault(c.name, c)
        self.layers = tuple(self._resolve(layers))
        self.units, self.map_shapes, self._lead, self._last, self._post = {}, {}, {}, {}, {}
        self._seq: set[str] = set()
        for name in self.layers:
            call = self._first[module_of(name)]
            shape = call.shape
            self._post[name] = post_function(name, self._calls, self._ops, self._modules)
            if name.endswith(CLASS_TOKEN):
                self.units[name], self.map_shapes[name], self._lead[name] = int(shape[-1]), None, (0, 0)
            elif len(shape) == 4 and channels_last(call, calls):
                self._last[name] = True
                self.units[name], self.map_shapes[name], self._lead[name] = int(shape[3]), tuple(shape[1:3]), (0, 0)
            elif len(shape) == 4:
                self.units[name], self.map_shapes[name], self._lead[name] = int(shape[1]), tuple(shape[2:]), (0, 0)
            elif len(shape) == 3:
                if sequence_first(shape):  # (tokens, batch, channels): read as (batch, tokens, channels)
                    self._seq.add(module_of(name))
                    shape = (shape[1], shape[0], shape[2])
                lead = leading_tokens(self.module, shape)
                self.units[name], self._lead[name] = int(shape[-1]), lead
                self.map_shapes[name] = (int(shape[1]) - sum(lead),)
                if int(shape[1]) <= sum(lead):  # the class token alone (CaiT's class-attention blocks): a vector
                    self._lead[name], self.map_shapes[name] = (0, 0), None
            else:
                self.units[name], self.map_shapes[name], self._lead[name] = int(shape[-1]), None, (0, 0)
        self._plan = self._packing()
        self._digest = None
        self._fields = None

    # --- identity -------------------------------------------------------------------------------------------

    @property
    def channels(self) -> int:
        """3: catsel feeds RGB images to a PyTorch module."""
        return 3

    @property
    def label(self) -> str:
        """Short description for figure titles."""
        return f"{self.source}, {self.weights_label}"

    @property
    def conv_layers(self) -> tuple[str, ...]:
        """The captured layers with a map."""
        return tuple(l for l in self.layers if self.map_shapes[l] is not None)

    def digest(self) -> str:
        """A hash of the module's architecture and weights (part of the store key).

        Returns
        -------
        str
        """
        if self._digest is None:
            h = hashlib.sha256(b"torch;")
            for name, sub in self.module.named_modules():
                h.update(f"{name}:{type(sub).__name__};".encode())
            for key, tensor in sorted(self.module.state_dict().items()):
                arr = np.ascontiguousarray(tensor.detach().cpu().numpy())
                h.update(f"{key}{arr.shape}{arr.dtype}".encode())
                h.update(arr.reshape(-1).view(np.uint8))  # the bytes without a copy
            self._digest = h.hexdigest()
        return self._digest

    def describe(self) -> dict:
        """What built this network, as plain JSON-able values (the store's ``meta.json`` takes them).

        Returns
        -------
        dict
        """
        return network_record(self, self._field, framework="pytorch")

    # --- units ----------------------------------------------------------------------------------------------

    def _defaults(self) -> tuple[list[str], dict[str, str]]:
        return default_modules(self._calls, self._counts, self._output, self._ops)

    def _candidates(self) -> list[str]:
        """The modules that could be captured (one output of 2 to 4 dimensions, run once), in the order they run."""
        return [c.name for c in self._first.values() if self._counts[c.name] == 1 and c.shape is not None
                and len(c.shape) in (3, 4)] or [c.name for c in self._first.values() if c.shape is not None]

    def _resolve(self, layers) -> list[str]:
        if layers is None:
            layers = self._defaults()[0]
            if not layers:
                shown = self._candidates()
                more = f" and {len(shown) - 12} more" if len(shown) > 12 else ""
                raise ModelError(f"{self.source}: catsel's rule finds no conv, linear or transformer-block module "
                                 "run once whose units it can take (every one runs more than once, or gives no "
                                 f"one tensor); pass layers= (--layers) from its modules: "
                                 f"{', '.join(shown[:12])}{more} (`catsel layers` lists them with their shapes)")
        unknown, repeated, shapeless = [], [], []
        for name in layers:
            base = module_of(name)
            if base not in self._first:
                unknown.append(name)
            elif not batched(self._first[base].shape):
                raise ModelError(f"{name}: its output does not hold one row per image (on one image it is "
                                 f"{tuple(self._first[base].shape)}: windows or pieces of the image, folded into the "
                                 "batch); capture the module that gives the image's tokens or map back (its block)")
            elif self._counts[base] != 1:
                repeated.append(f"{name} (runs {self._counts[base]} times in one forward pass)")
            elif self._first[base].shape is None or len(self._first[base].shape) not in (2, 3, 4):
                shapeless.append(name)
            elif name.endswith(CLASS_TOKEN) and not leading_tokens(self.module, self._first[base].shape)[0]:
                raise ModelError(f"{base} has no class token (its output is {self._first[base].shape[1:]}); "
                                 f"capture {base} itself")
            elif AFTER in name:
                post_function(name, self._calls, self._ops, self._modules)  # an activation catsel knows, or one line
        if unknown:
            from ...options import did_you_mean

            names = [c.name for c in self._first.values()]
            raise ModelError(f"no module named {', '.join(map(repr, unknown))} in {self.source}"
                             f"{did_you_mean(module_of(unknown[0]), names)} (`catsel layers MODEL` lists them with "
                             "their shapes)")
        if repeated:
            raise ModelError(f"{', '.join(repeated)}: a module called more than once has no one output to "
                             "capture; capture the module that holds it (its block)")
        if shapeless:
            raise ModelError(f"{', '.join(shapeless)}: not one tensor of 2 to 4 dimensions (units, tokens or a "
                             "map); choose another module")
        order = {c.name: c.index for c in self._first.values()}
        return sorted(dict.fromkeys(layers), key=lambda l: (order[module_of(l)], l != module_of(l)))

    def post(self, layer: str):
        """The activation a captured ``"MODULE+AFTER"`` applies to the module's output (``None`` for any other
        layer; :func:`catsel.network.torch.trace.post_function`).

        Parameters
        ----------
        layer : str

        Returns
        -------
        callable or None
        """
        if layer in self._post:
            return self._post[layer]
        return post_function(layer, self._calls, self._ops, self._modules)

    def channels_last(self, layer: str) -> bool:
        """Whether a 4-D layer holds its units on the last axis (a linear module on a grid, ConvNeXt's and
        Swin's; :func:`catsel.network.torch.trace.channels_last`).

        Parameters
        ----------
        layer : str

        Returns
        -------
        bool
        """
        if layer in self._last:
            return True
        call = self._first.get(module_of(layer))
        return call is not None and channels_last(call, self._calls)

    def batch_first(self, layer: str, out):
        """A layer's output with the batch first: a sequence-first token output (tokens, batch, channels; an
        ``nn.MultiheadAttention`` stack without ``batch_first``) transposed, any other as it is.

        Parameters
        ----------
        layer : str
        out : torch.Tensor

        Returns
        -------
        torch.Tensor
        """
        return out.transpose(0, 1) if module_of(layer) in self._seq else out

    def leading_tokens(self, layer: str) -> tuple[int, int]:
        """The class and register tokens before a token layer's patch tokens (``(0, 0)`` for any other layer).

        Parameters
        ----------
        layer : str

        Returns
        -------
        tuple of int
        """
        return self._lead.get(layer, (0, 0))

    def relative_depth(self) -> dict[str, float]:
        """Where each captured layer sits: its place among the module calls (leaves), 0 the input, 1 the last.

        Returns
        -------
        dict of str to float
        """
        place, k = {}, 0
        for c in self._calls:
            k += c.leaf
            place.setdefault(c.name, k)
        last = max(k, 1)
        return {name: round(place[module_of(name)] / last, 6) for name in self.layers}

    def _field(self, layer: str) -> dict | None:
        if self.map_shapes[layer] is None or len(self.map_shapes[layer]) != 2:
            return None
        if self._fields is None:
            from .fields import measured_fields, module_fields

            self._fields = module_fields(self._calls, self._ops)
            unknown = [module_of(l) for l in self.layers if self.map_shapes[l] is not None
                       and len(self.map_shapes[l]) == 2 and module_of(l) not in self._fields]
            last = {module_of(l) for l in self._last}
            if unknown:  # through an operation that is no module: measured instead, and marked so
                self._fields.update(measured_fields(self.module, unknown, self.image_size, self.device, last=last))
        field = self._fields.get(module_of(layer))
        return None if field is None else field.to_json()

    def layer_table(self):
        """The captured layers: kind, output shape, units, receptive field.

        Returns
        -------
        DataFrame
        """
        import pandas as pd

        rows = []
        for name in self.layers:
            call = self._first[module_of(name)]
            field = self._field(name)
            kind = ("class token" if name.endswith(CLASS_TOKEN) else f"{type(call.module).__name__} + "
                    f"{name.split(AFTER, 1)[1]}" if AFTER in name else type(call.module).__name__)
            rows.append({"layer": name, "kind": kind,
                         "output shape": tuple(call.shape[1:]), "units": self.units[name],
                         "receptive field": int(field["size"]) if field else "whole image",
                         "step": int(field["jump"]) if field else None})
        return pd.DataFrame(rows)

    def all_layers(self):
        """Every module catsel can capture, with its kind, shape, units, and whether it is a default.

        Returns
        -------
        DataFrame
            As :func:`catsel.layers` gives it, with ``calls``: how many times the module runs in
            one forward pass (a module that runs more than once cannot be captured).
        """
        import pandas as pd

        defaults = set(self._defaults()[0])
        rows = []
        for c in self._first.values():
            if c.shape is None or len(c.shape) not in (2, 3, 4):
                continue
            field = None
            last = len(c.shape) == 4 and channels_last(c, self._calls)
            if len(c.shape) == 4 and not last:
                if self._fields is None:
                    from .fields import module_fields

                    self._fields = module_fields(self._calls, self._ops)
                field = self._fields.get(c.name)
            rows.append({"layer": c.name, "path": c.name, "kind": type(c.module).__name__,
                         "output shape": tuple(c.shape[1:]),
                         "units": int(c.shape[-1] if last or len(c.shape) != 4 else c.shape[1]),
                         "default": c.name in defaults and self._counts[c.name] == 1,
                         "unit taken from": self._taken.get(c.name, ""),
                         "receptive field": "" if field is None else int(field.size),
                         "step": None if field is None else int(field.jump),
                         "calls": self._counts[c.name]})
            for after in sorted(d for d in defaults if AFTER in d and module_of(d) == c.name):
                rows.append({**rows[-1], "layer": after, "kind": f"{type(c.module).__name__} + "
                             f"{after.split(AFTER, 1)[1]} (a function in forward)", "default": True})
            if len(c.shape) == 3 and leading_tokens(self.module, c.shape)[0] and is_block(c):
                rows.append({**rows[-1], "layer": c.name + CLASS_TOKEN, "kind": "class token",
                             "output shape": (int(c.shape[-1]),), "default": False})
        return pd.DataFrame(rows)

    def layers_note(self) -> str:
        """One sentence on what the captured layers hold.

        Returns
        -------
        str
        """
        blocks = [l for l in self.layers if is_block(self._first[module_of(l)]) and l == module_of(l)]
        merged = sorted({(n, e) for n, e in self._taken.items() if e != n and e in self.layers and AFTER not in e
                         and not per_unit(self._first[e].module)})
        after = sorted(e for e in self.layers if AFTER in e)
        text = f"{len(self.layers)} modules captured (PyTorch, by forward hooks)"
        if blocks:
            text += (f"; {len(blocks)} are transformer blocks, each unit the maximum of a channel over the patch "
                     f"tokens (the class token is a layer of its own, {blocks[0]}[class], captured when asked for)")
        if merged:
            text += (f"; {len(merged)} conv or linear modules feed the merge of a residual block and are captured as "
                     f"the block's output (e.g. {merged[0][0]} as {merged[0][1]})")
        if after:
            text += (f"; {len(after)} are a module's output with the activation its forward applies after it, "
                     f"computed by the capture (e.g. {after[0]})")
        registers = max((self._lead[l][1] for l in self.layers), default=0)
        if registers:
            text += (f"; the {registers} register tokens after the class token are left out of every token "
                     "layer's maximum")
        return text + " (`catsel layers MODEL` lists every module)"

    def preprocessing_note(self) -> str:
        """What the module receives, in one sentence, when nobody asked for a preprocessing.

        Returns
        -------
        str
        """
        from ..pixels import preprocess_words

        words = preprocess_words(self.preprocess)
        if self.rebuild is not None and is_torch_name(self.rebuild.get("model")):
            return f"{words}, what {self.source}'s library gives its pretrained weights"
        return (f"{words}, as nothing says otherwise for a module held in memory: if it was trained on scaled "
                "inputs, give its preprocessing (preprocess='torch', 'tf', 'caffe' or 'raw')")

    def on_accelerator(self) -> bool:
        """Whether the module runs on a GPU.

        Returns
        -------
        bool
        """
        return self.device.type != "cpu"

    def runtime(self) -> dict[str, str]:
        """PyTorch's version and the device the module runs on, for the record (``keras``: the version installed,
        read without importing it, as the record has always named it).

        Returns
        -------
        dict
            ``keras``, ``backend`` (``"pytorch X.Y.Z"``) and ``device``.
        """
        import torch
        from importlib.metadata import PackageNotFoundError, version

        try:
            keras_version = version("keras")
        except PackageNotFoundError:
            keras_version = "not installed"
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
        return {"keras": keras_version, "backend": f"pytorch {torch.__version__.split('+')[0]}", "device": device}

    def split_over(self, devices) -> None:
        """The devices a capture splits each batch over: none, a module runs on one device.

        Parameters
        ----------
        devices : None or 1

        Returns
        -------
        None

        Raises
        ------
        ModelError
            For any other value.
        """
        if devices not in (None, 1, "1"):
            raise ModelError("a PyTorch module runs on one device in catsel (CUDA where there is one, else the "
                             "CPU): leave --devices out")
        return None

    def maximise_batch(self, units, **options):
        """Activation maximisation of several units in one batch, by autograd
        (:func:`catsel.network.maximise.maximise_many` calls it).

        Parameters
        ----------
        units : list of (str, int)
        **options
            As :func:`.maximise.maximise_batch` takes them.

        Returns
        -------
        list of Maximised
        """
        from .maximise import maximise_batch

        return maximise_batch(self, units, **options)

    # --- forward pass ---------------------------------------------------------------------------------------

    def _example(self):
        import torch

        from .trace import DRY_BATCH

        height, width = hw(self.image_size)
        return torch.zeros((DRY_BATCH, 3, height, width), device=self.device)

    def _packing(self) -> list[tuple[str, str, int]]:
        """(kind, layer, units) in the order they lie in a batch's buffer."""
        plan = []
        for kind in self.arrays:
            for name in self.layers:
                if kind == "maxima" or self.map_shapes[name] is not None:
                    plan.append((kind, name, self.units[name]))
        if not plan:
            raise ModelError(f"none of the layers {', '.join(self.layers)} has {' or '.join(self.arrays)}")
        return plan

    def prepare(self, batch):
        """uint8 images (batch, height, width, 3) on the device → the module's float32 input (batch, 3, h, w).

        Parameters
        ----------
        batch : torch.Tensor

        Returns
        -------
        torch.Tensor
        """
        import torch

        x = batch.permute(0, 3, 1, 2).to(torch.float32)
        return preprocess_torch(x, self.preprocess)

    def put(self, images: np.ndarray):
        """Send a uint8 batch to the device.

        Parameters
        ----------
        images : ndarray of uint8, shape (batch, height, width, 3)

        Returns
        -------
        torch.Tensor
        """
        import torch

        return torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)

    def run(self, batch):
        """The forward pass with the reducing hooks: one float32 buffer (batch, values) on the device.

        Parameters
        ----------
        batch : torch.Tensor
            From :meth:`put`.

        Returns
        -------
        torch.Tensor
        """
        import torch

        results: dict[tuple[str, str], Any] = {}
        wanted: dict[str, list[str]] = {}
        for name in self.layers:
            wanted.setdefault(module_of(name), []).append(name)
        last = max(self._first[b].index for b in wanted)
        handles = []

        def reducing(base):
            def hook(mod, args, out):
                if base in self._seq:
                    out = out.transpose(0, 1)
                for name in wanted[base]:
                    post = self._post[name]
                    for kind, value in reduce_output(out if post is None else post(out), name, self._lead[name],
                                                     self.map_shapes[name], self.arrays,
                                                     self._last.get(name, False)).items():
                        results[kind, name] = value
                if self._first[base].index == last:
                    raise _Done
            return hook

        for base in wanted:
            handles.append(self._first[base].module.register_forward_hook(reducing(base)))
        try:
            with torch.inference_mode():
                try:
                    self.module(self.prepare(batch))
                except _Done:
                    pass
                return torch.cat([results[kind, name].to(torch.float32).reshape(len(batch), -1)
                                  for kind, name, _ in self._plan], dim=1)
        finally:
            for h in handles:
                h.remove()

    def runner(self, devices=None):
        """How to feed the device and the forward pass: :meth:`put` and :meth:`run`.

        Parameters
        ----------
        devices : None
            One device: CUDA where there is one, else the CPU. Several are not split over for a PyTorch module.

        Returns
        -------
        put, run : callable
        """
        self.split_over(devices)
        return self.put, self.run

    def predict(self, images: np.ndarray):
        """Per-unit maxima and positions for one batch of uint8 images.

        Parameters
        ----------
        images : ndarray of uint8, shape (batch, height, width, 3)

        Returns
        -------
        maxima, positions : dict of str to ndarray
        """
        return self.split(self.run(self.put(images)))

    def fetch_soon(self, out) -> None:
        """Nothing to start: :meth:`split_all` copies the one buffer.

        Parameters
        ----------
        out : torch.Tensor
        """

    def split(self, out):
        """The maxima and positions of a batch's buffer, per layer.

        Parameters
        ----------
        out : torch.Tensor

        Returns
        -------
        maxima, positions : dict of str to ndarray
        """
        arrays = self.split_all(out)
        return arrays["maxima"], arrays["positions"]

    def split_all(self, out) -> dict[str, dict[str, np.ndarray]]:
        """A batch's buffer to per-layer arrays of every kind the store keeps.

        Parameters
        ----------
        out : torch.Tensor

        Returns
        -------
        dict
        """
        from ..kinds import ARRAYS

        flat = out.detach().cpu().numpy()
        arrays: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in ARRAYS}
        start = 0
        for kind, name, units in self._plan:
            arrays[kind][name] = flat[:, start:start + units].astype(ARRAYS[kind][0])
            start += units
        return arrays

    def for_arrays(self, arrays: Sequence[str], *, reduction: str | None = None) -> "TorchNetwork":
        """The same module and layers computing only the kinds of result ``arrays`` names.

        Parameters
        ----------
        arrays : sequence of str
        reduction : str, optional
            Only ``None`` or ``"hooks"``: a PyTorch module's maps are reduced in its hooks.

        Returns
        -------
        TorchNetwork
        """
        from ..kinds import ARRAYS

        unknown = [k for k in arrays if k not in ARRAYS]
        if unknown:
            raise ValueError(f"no kind of result {unknown[0]!r}; the kinds are {', '.join(ARRAYS)}")
        if reduction not in (None, "hooks"):
            raise ModelError(f"a PyTorch module's maps are reduced in its forward hooks, not by {reduction!r}")
        if tuple(k for k in ARRAYS if k in arrays) == self.arrays:
            return self
        other = TorchNetwork(self.module, list(self.layers), self.image_size, self.preprocess, self.source,
                             self.weights_label, self.trained, fallback_reason=self.fallback_reason,
                             rebuild=self.rebuild, arrays=tuple(arrays), calls=self._calls, counts=self._counts,
                             output=self._output, taken=self._taken, constructor=self.constructor, ops=self._ops)
        other._digest, other._fields = self.digest(), self._fields
        return other

    def cut_at(self, layer: str, readout: str, *, batch_size: int = 32):
        """The module in two parts, for a lesion of ``layer``'s units read out at ``readout``.

        A module cannot be cut in two in general: the second part runs the module again, with a hook that puts
        the given maps (channels last, as the lesion edits them) in place of ``layer``'s output, and reads
        ``readout`` as the store keeps it. That is the lesion only when every path to ``readout`` goes through
        ``layer``, so the cut is first tried on two different images with the same maps in place: a read-out
        that changes has a path around ``layer`` (a skip connection), and is refused, as for Keras.

        Parameters
        ----------
        layer, readout : str
        batch_size : int, default 32
            Images per pass at most; fewer where a module's output is large (:func:`.interface.rows_per_pass`).

        Returns
        -------
        maps_of, readout_of : callable

        Raises
        ------
        CatselError
            When ``readout`` is also reached from before ``layer``.
        """
        import torch

        cut, read = module_of(layer), module_of(readout)
        if cut not in self._first or read not in self._first:
            raise CatselError(f"no module named {layer if cut not in self._first else readout!r}")
        if self._first[read].index <= self._first[cut].index:
            raise CatselError(f"{readout} runs before {layer}: read out at a later module")
        source, target = self._first[cut].module, self._first[read].module
        height, width = hw(self.image_size)
        # a layer taken after a function (``bn1+relu``) is edited before it: silenced units stay 0 after the
        # activations catsel applies (each gives 0 at 0, but the sigmoids)
        post = post_function(readout, self._calls, self._ops, self._modules) or (lambda t: t)
        last_in = channels_last(self._first[cut], self._calls)
        last_out = channels_last(self._first[read], self._calls)

        def channels_last_of(t, last=last_in):
            return t.permute(0, *range(2, t.ndim), 1) if t.ndim == 4 and not last else t

        def channels_first(t):
            return t.permute(0, t.ndim - 1, *range(1, t.ndim - 1)) if t.ndim == 4 and not last_in else t

        def stop(hook):  # the rest of the module is not run once what is asked is there
            def stopping(m, a, o):
                hook(m, a, o)
                raise _Done
            return stopping

        def run(images: np.ndarray, replaced=None):
            """The module on ``images``: ``layer``'s output, or with ``replaced`` in its place, ``readout``'s."""
            got = []
            if replaced is None:
                hooks = [source.register_forward_hook(stop(lambda m, a, o: got.append(channels_last_of(o).float()
                                                                                        .cpu())))]
            else:
                hooks = [target.register_forward_hook(stop(
                    lambda m, a, o: got.append(channels_last_of(post(o), last_out).float().cpu()))),
                         source.register_forward_hook(lambda m, a, o: replaced.to(o.dtype))]
            try:
                with torch.inference_mode():
                    self.module(self.prepare(self.put(images)))
            except _Done:
                pass
            finally:
                for h in hooks:
                    h.remove()
            return got[0].numpy()

        # both parts run the whole module: as many images a pass as its largest module output allows
        rows = rows_per_pass(max((4 * int(np.prod(c.shape[1:])) for c in self._calls if c.shape is not None),
                                 default=0), batch_size)

        def maps_of(images: np.ndarray) -> np.ndarray:
            return np.concatenate([run(images[i:i + rows]) for i in range(0, len(images), rows)])

        # every path to the read-out goes through the layer (checked below): the modules before it may run on any
        # image, and on one alone while the layer's output holds the batch, where the module allows it (checked
        # below too): a lesion's passes then cost the part of the network after the layer
        alone = [True]

        def readout_of(maps: np.ndarray) -> np.ndarray:
            out = []
            for i in range(0, len(maps), rows):
                part = maps[i:i + rows]
                replaced = channels_first(torch.from_numpy(np.ascontiguousarray(part)).to(self.device))
                images = np.zeros((1 if alone[0] else len(part), height, width, 3), np.uint8)
                out.append(as_stored(run(images, replaced)))
            return np.concatenate(out)

        rng = np.random.default_rng(0)
        two = [rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8) for _ in range(2)]
        fixed = channels_first(torch.from_numpy(np.ascontiguousarray(run(two[0]))).to(self.device))
        first, second = (run(images, fixed) for images in two)
        if not np.allclose(first, second, rtol=1e-5, atol=1e-6):
            raise CatselError(f"{readout} is also reached from before {layer} (a skip connection): lesion a layer "
                              "whose output is the only way to the read-out, or read out nearer to it")
        try:
            shortcut = run(two[0][:1], fixed)
            alone[0] = shortcut.shape == first.shape and np.allclose(shortcut, first, rtol=1e-5, atol=1e-6)
        except Exception:  # a module that needs its batch whole before the layer (a batch-wide statistic)
            alone[0] = False
        return maps_of, readout_of

    def untrained(self, seed: int = 0) -> "TorchNetwork":
        """The same architecture with fresh random weights, under a fixed seed.

        A torchvision or timm network is built again by its constructor. A module held in memory (or built by a
        lab's source) is copied and re-initialised by each of its modules' own ``reset_parameters``; a parameter
        no module resets (a class token, a position embedding) is drawn from N(0, 0.02), as transformers
        initialise them.

        Parameters
        ----------
        seed : int, default 0

        Returns
        -------
        TorchNetwork
        """
        import copy

        import torch

        if self.constructor is not None:
            return self.constructor(seed, list(self.layers)).for_arrays(self.arrays)
        torch.manual_seed(seed)
        module = copy.deepcopy(self.module).cpu()
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
            else:  # its own parameters, which nothing else resets
                with torch.no_grad():
                    for p in sub.parameters(recurse=False):
                        torch.nn.init.normal_(p, std=0.02)
        return TorchNetwork(module, list(self.layers), self.image_size, self.preprocess, self.source,
                            f"untrained (re-initialised, seed {seed})", False, arrays=self.arrays)


class _Done(Exception):
    """Raised by the last captured module's hook: nothing after it is needed."""

