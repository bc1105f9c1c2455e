"""The activation model: a network whose outputs are one number per unit, and how it is built and rebuilt.

For every requested layer the model returns, per image,

* conv layers (any output of rank >= 3, channels last): each filter's
  **maximum over its activation map**, and **where it was** (the flat index
  ``row * width + col`` into the map, so the receptive-field code can find
  the image region that drove it);
* dense layers: each unit's activation as it is.

The reduction is part of the model graph, so only ``[batch, units]`` arrays
ever leave the device: memory is O(images x units) whatever the map sizes.
The input is a batch of uint8 RGB images; the model's own preprocessing runs
on the device too. Everything is written with ``keras`` and ``keras.ops``,
so it runs on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import gc
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import keras
import numpy as np

from ...errors import CatselError, ModelError, PixelScaleUnknownError, WeightsUnavailableError
from ...options import (PRECISIONS, check_choice, check_preprocess, check_weights, converter_values, hw, image_shape,
                        is_saved_model)
from ...paths import file_digest
from ..interface import network_record
from ..online import announce_untrained
from ..packing import plan_packing, unpack
from ..pixels import GRAYSCALE, preprocess_words
from ..tokens import CLASS_TOKEN, base_layer
from .applications import NATIVE_SIZE, application, build_application, check_top_layers, load_saved
from .backends import backend_info, compile_forward, on_accelerator, resolve_devices
from .graph import CONV_TYPES, Graph, default_layers, defaults_note, graph_of, is_block, passes_on
from .packing import Pack, can_pack
from .preprocess import Preprocess, fitted_input, own_preprocessing
from .reduce import REDUCTIONS, Reduce, on_jax_accelerator
from .units import captured_output, leading_tokens

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ActivationModel", "keras_network", "Loaded", "is_hub_network", "untrained_copy"]


@dataclass
class ActivationModel:
    """A network that maps uint8 images to per-unit maxima and their positions.

    Build one with :func:`activation_model` (or :func:`untrained_control`,
    :func:`from_store`). Calling :meth:`predict` on a batch gives
    ``(maxima, positions)``: ``maxima[layer]`` is a float32 array
    ``(batch, units)``; ``positions[layer]`` (conv layers only) an int32
    array ``(batch, units)`` of flat indices into the layer's map.

    Parameters
    ----------
    network : keras.Model
        The network itself (preprocessed images in, its own outputs out).
    keras_model : keras.Model
        What catsel compiles and runs: uint8 images in, the captured layers'
        maxima (and positions) out, preprocessing and reduction in the graph.
    layers : tuple of str
        The captured layers, in network order.
    units : dict of str to int
    map_shapes : dict of str to tuple or None
        Spatial map shape of each conv layer; ``None`` for dense layers.
    image_size : int or (int, int)
        Side of the square input, or its ``(height, width)``.
    preprocess : str
    source : str
        The model's name or file name.
    weights_label : str
        What weights it has, in words (``"ImageNet"``, ``"untrained (random init, seed 0)"``).
    trained : bool
    fallback_reason : str or None
        Why the untrained network stands in for ImageNet weights (``weights="auto"``).
    rebuild : dict or None
        How to build the same network again (``None`` for a model held in memory).
    precision : str
    graph : Graph
        The network's layers as one flat graph, through its nested models (:mod:`catsel.network.keras.graph`).
    packing : tuple, optional
        Where each layer's results lie in the one buffer ``keras_model`` returns per batch (a
        ``catsel.network.packing.Piece`` each); ``None``: one output per kind of result, as float32.
    arrays : tuple of str
        The kinds of result ``keras_model`` computes, of ``maxima``, ``positions``, ``means`` and
        ``minima`` (default: the first two; see :meth:`for_arrays`).
    reduction : str
        How its maps are reduced: ``"pooling"``, ``"argmax"`` or ``"fused"`` (:data:`REDUCTIONS`).
    """

    network: keras.Model
    keras_model: keras.Model
    layers: tuple[str, ...]
    units: dict[str, int]
    map_shapes: dict[str, tuple[int, ...] | None]
    image_size: int | tuple[int, int]
    preprocess: str
    source: str
    weights_label: str
    trained: bool
    fallback_reason: str | None = None
    rebuild: dict | None = None
    precision: str = "float32"
    graph: Graph | None = field(default=None, repr=False)
    packing: tuple | None = field(default=None, repr=False)
    arrays: tuple[str, ...] = ("maxima", "positions")
    reduction: str = "pooling"
    _runners: dict = field(default_factory=dict, repr=False, init=False)
    _variants: dict = field(default_factory=dict, repr=False, init=False)
    _digest: str | None = field(default=None, repr=False, init=False)
    _fields: dict | None = field(default=None, repr=False, init=False)

    @property
    def conv_layers(self) -> tuple[str, ...]:
        """The captured conv layers (those with a map), in network order."""
        return tuple(l for l in self.layers if self.map_shapes[l] is not None)

    @property
    def label(self) -> str:
        """Short description for figure titles: ``"vgg16, ImageNet"``."""
        return f"{self.source}, {self.weights_label}"

    def put(self, images: np.ndarray):
        """Send a uint8 batch to the device (asynchronously where the backend can).

        Parameters
        ----------
        images : ndarray of uint8, shape (batch, height, width, 3)

        Returns
        -------
        tensor
            The batch on the device, for :meth:`run`.
        """
        return self.runner()[0](images)

    def run(self, batch):
        """The compiled forward pass on a batch already on the device (see :meth:`put`).

        Parameters
        ----------
        batch : tensor
            From :meth:`put`.

        Returns
        -------
        list of tensor
            The concatenated maxima and positions, for :meth:`split`.
        """
        return self.runner()[1](batch)

    def predict(self, images: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per-unit maxima and positions for one batch of uint8 images.

        Parameters
        ----------
        images : ndarray of uint8, shape (batch, height, width, 3)

        Returns
        -------
        maxima : dict of str to ndarray of float32, shape (batch, units)
        positions : dict of str to ndarray of int32, shape (batch, units)
            Conv layers only: flat index ``row * width + col`` of each maximum.
        """
        return self.split(self.run(self.put(images)))

    def runner(self, devices: str | int | Sequence[str] | None = None):
        """How to feed the device(s) and the compiled forward pass, made once per device set.

        jit on JAX, tf.function on TensorFlow, no_grad on PyTorch. With
        ``devices`` (see :func:`catsel.network.keras.backends.resolve_devices`) the batch is split
        across several devices by Keras' distribution API (data parallel, JAX only);
        the batch size must then be a multiple of the number of devices.

        Parameters
        ----------
        devices : None, "all", int or sequence of str

        Returns
        -------
        put, run : callable
            See :func:`catsel.network.keras.backends.compile_forward`.
        """
        chosen = resolve_devices(devices)
        key = tuple(chosen) if chosen else None
        if key not in self._runners:
            self._runners[key] = compile_forward(self.keras_model, chosen)
        return self._runners[key]

    def for_arrays(self, arrays: Sequence[str], *, reduction: str | None = None) -> "ActivationModel":
        """The same network and layers computing only the kinds of result ``arrays`` names.

        What a capture asks of the device: the spatial means and minima cost a pass over every map and
        a third or more of the bytes a batch sends back, and only some indices need them (see
        :func:`catsel.capture`'s ``summaries``). Made once per set of kinds; the network is shared.

        Parameters
        ----------
        arrays : sequence of str
            Of ``"maxima"``, ``"positions"``, ``"means"``, ``"minima"``.
        reduction : str, optional
            How the maps are reduced (one of :data:`REDUCTIONS`); default: as this model's.

        Returns
        -------
        ActivationModel
        """
        from ..kinds import ARRAYS

        unknown = [k for k in arrays if k not in ARRAYS]
        if unknown:
            raise ValueError(f"no kind of result {unknown[0]!r}; the kinds are {', '.join(ARRAYS)}")
        wanted = (tuple(k for k in ARRAYS if k in arrays), reduction or self.reduction)
        if wanted == (self.arrays, self.reduction):
            return self
        if wanted not in self._variants:
            self._variants[wanted] = _wrap(
                self.network, list(self.layers), self.image_size, self.preprocess, self.source, self.weights_label,
                self.trained, precision=self.precision, fallback_reason=self.fallback_reason, rebuild=self.rebuild,
                graph=self.graph, pack=self.packing is not None, arrays=wanted[0], reduction=wanted[1])
            self._variants[wanted]._digest = self.digest()  # the same network: its digest is computed once
        return self._variants[wanted]

    def fetch_soon(self, out) -> None:
        """Start copying a batch's results to the host as soon as they are computed (JAX arrays can), so that
        :meth:`split_all` later finds them there.

        Parameters
        ----------
        out : tensor or list of tensor
            From :meth:`run`.
        """
        for result in out if isinstance(out, (list, tuple)) else [out]:
            copy = getattr(result, "copy_to_host_async", None)
            if copy is not None:
                copy()

    def split(self, out) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The maxima and positions of the model's outputs, per layer (see :meth:`split_all`).

        Parameters
        ----------
        out : tensor or list of tensor
            From :meth:`run`.

        Returns
        -------
        maxima, positions : dict of str to ndarray
            As :meth:`predict` returns them.
        """
        arrays = self.split_all(out)
        return arrays["maxima"], arrays["positions"]

    def split_all(self, out) -> dict[str, dict[str, np.ndarray]]:
        """Split the model's concatenated outputs into per-layer arrays of every kind the store keeps.

        Parameters
        ----------
        out : tensor or list of tensor
            From :meth:`run`.

        Returns
        -------
        dict
            Each kind of ``self.arrays`` (``maxima`` for every layer; ``positions``,
            ``means`` and ``minima`` for conv layers), a dict of layer → ndarray of
            shape (batch, units); the other kinds, empty dicts.
        """
        from ..kinds import ARRAYS

        out = [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
        if self.packing is not None:
            return unpack(out[0], self.packing)
        arrays: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in ARRAYS}
        outputs = iter(out)
        for kind in self.arrays:
            dtype, dense_too = ARRAYS[kind]
            chosen = [l for l in self.layers if dense_too or self.map_shapes[l] is not None]
            if not chosen:
                continue
            flat = np.asarray(next(outputs), dtype=dtype)
            start = 0
            for layer in chosen:
                arrays[kind][layer] = flat[:, start : start + self.units[layer]]
                start += self.units[layer]
        return arrays

    def digest(self) -> str:
        """A hash of the network's architecture and weights (part of the store key).

        Returns
        -------
        str
        """
        if self._digest is None:
            h = hashlib.blake2b(digest_size=16)
            for layer in self.network.layers:
                # class and weights, not names: Keras numbers unnamed layers per session
                h.update(f"{type(layer).__name__};".encode())
                for w in layer.weights:
                    arr = np.ascontiguousarray(w.numpy())
                    h.update(str(arr.shape).encode())
                    h.update(arr.reshape(-1).view(np.uint8))  # the bytes without a copy (VGG16's fc1: 0.4 GB)
            self._digest = h.hexdigest()
        return self._digest

    def _field(self, layer: str) -> dict | None:
        """Receptive field of a conv layer as {size, jump, start} in input pixels."""
        if self.map_shapes[layer] is None or len(self.map_shapes[layer]) != 2:
            return None
        from .fields import receptive_fields

        if self._fields is None:
            self._fields = receptive_fields(self.graph)
        f = self._fields.get(layer)
        return None if f is None else f.to_json()

    def relative_depth(self) -> dict[str, float]:
        """Where each captured layer sits in the network: 0 at the input, 1 at the output.

        Its position among the network's layers and operations in graph
        order, the input first, over their number less one: comparable across
        networks of different depths.

        Returns
        -------
        dict of str to float
        """
        place, k = {}, 0  # the input is depth 0, then each layer of the flat graph
        for name, node in self.graph.nodes.items():
            k += not node.model  # a nested model stands where its last layer does
            place[name] = k
        last = max(k, 1)
        return {name: round(place[self.graph.node(base_layer(name)).name] / last, 6) for name in self.layers}

    def layer_table(self) -> "pd.DataFrame":
        """The captured layers: output shape, units, receptive field (size and step, in input pixels).

        Returns
        -------
        DataFrame
            One row per layer: ``layer``, ``kind``, ``output shape``, ``units``,
            ``receptive field``, ``step``.
        """
        import pandas as pd

        rows = []
        for name in self.layers:
            node = self.graph.node(base_layer(name))
            shape = tuple(node.output.shape[1:])
            field = self._field(name)
            rows.append({"layer": name, "kind": node.kind, "output shape": shape,
                         "units": self.units[name],
                         "receptive field": int(field["size"]) if field else "whole image",
                         "step": int(field["jump"]) if field else None})
        return pd.DataFrame(rows)

    def describe(self) -> dict:
        """What built this model, as plain JSON-able values (the store's ``meta.json`` takes them).

        Returns
        -------
        dict
        """
        return network_record(
            self, self._field,
            # only for a grayscale network: an RGB network's key stays as it was
            **({"colour": GRAYSCALE} if self.channels == 1 else {}),
            # only the one-pass reduction: its means may differ from the others' in the last bits
            **({"reduction": "fused"} if self.reduction == "fused" else {}),
        )

    def cut_at(self, layer: str, readout: str, *, batch_size: int = 32):
        """The network in two parts, for a lesion of ``layer``'s units read out at ``readout``.

        Parameters
        ----------
        layer : str
            The layer whose units are silenced.
        readout : str
            A later layer, every path to which goes through ``layer``.
        batch_size : int, default 32
            Images per pass at most; fewer where a layer's output is large (:func:`.interface.rows_per_pass`).

        Returns
        -------
        maps_of, readout_of : callable
            Images to ``layer``'s maps, and maps on to ``readout``'s units (``catsel.network.keras.silence.cut_at``).
        """
        from .silence import cut_at

        return cut_at(self, layer, readout, batch_size=batch_size)

    def layers_note(self) -> str:
        """One sentence on what the captured layers hold and which conv and dense layers they leave out.

        Returns
        -------
        str
            As ``run.json``'s ``layers_note`` records it (``catsel.network.keras.graph.defaults_note``).
        """
        note = defaults_note(self.graph, self.layers)
        registers = max((leading_tokens(self.graph, self.graph.node(base_layer(l)).output.shape)[1]
                         for l in self.layers if not isinstance(self.graph.node(base_layer(l)).output, (list, tuple))),
                        default=0)
        if registers:
            note += (f"; the {registers} register tokens after the class token are neither patch nor class tokens: "
                     "they are left out of every token layer's maximum")
        return note

    @property
    def channels(self) -> int:
        """The network's input channels: 3 (RGB) or 1 (grayscale, see :class:`Preprocess`)."""
        return int(self.graph.inputs[0].shape[-1]) if self.graph is not None else 3

    def untrained(self, seed: int = 0) -> "ActivationModel":
        """The same architecture with fresh random weights: the control for any network.

        The network is cloned layer by layer from its configuration (which re-initialises every weight; a
        keras-hub backbone by its own ``from_config``) with the random seed set, and wrapped with the same
        layers, image size, preprocessing and precision.

        Parameters
        ----------
        seed : int, default 0

        Returns
        -------
        ActivationModel
            Labelled untrained (``trained=False``).
        """
        keras.utils.set_random_seed(seed)
        network = (untrained_copy(self.network) if is_hub_network(self.network)
                   else keras.models.clone_model(self.network))
        return _wrap(network, list(self.layers), self.image_size, self.preprocess, self.source,
                     f"untrained (re-initialised, seed {seed})", False, precision=self.precision,
                     reduction=self.reduction)

    def all_layers(self) -> "pd.DataFrame":
        """Every layer catsel can capture in the network, and which ones it captures by default.

        Returns
        -------
        DataFrame
            As :func:`catsel.layers` gives it.
        """
        import pandas as pd

        from ..receptive import GLOBAL
        from .fields import graph_fields

        graph = self.graph
        defaults = set(self.layers)
        fields = graph_fields(graph)
        rows = []
        for name, node in graph.nodes.items():
            out = node.output
            if isinstance(out, (list, tuple)) or len(out.shape) < 2:
                continue
            field = fields.get(name)
            unit = isinstance(node.layer, CONV_TYPES + (keras.layers.Dense,))
            rows.append({
                "layer": name, "path": "/".join(node.path), "kind": node.kind,
                "output shape": tuple(out.shape[1:]), "units": int(out.shape[-1]), "default": name in defaults,
                "unit taken from": passes_on(graph, name) if unit else "",
                "receptive field": ("whole image" if field == GLOBAL or (len(out.shape) == 2 and field is not None)
                                    else "" if field is None
                                    else "x".join(str(int(field.axis(k)[0]))
                                                  for k in ((0,) if field.size_x is None else (0, 1)))),
                "step": int(field.jump) if hasattr(field, "jump") and len(out.shape) > 2 else None,
            })
            if is_block(node) and leading_tokens(graph, out.shape)[0]:  # its class token, a layer of its own
                rows.append({**rows[-1], "layer": name + CLASS_TOKEN, "kind": "class token",
                             "output shape": (int(out.shape[-1]),), "default": name + CLASS_TOKEN in defaults,
                             "receptive field": "whole image", "step": None})
        return pd.DataFrame(rows)

    def preprocessing_note(self) -> str:
        """What the network receives, in one sentence, when nobody asked for a preprocessing.

        Returns
        -------
        str
        """
        words = preprocess_words(self.preprocess)
        if converter_values(self.preprocess) is not None:
            return (f"{words}, as {self.source}'s image converter asks; the resize is catsel's, as for every "
                    "network (Pillow's anti-aliased bicubic, --fit; keras-hub's converter resizes bilinearly, most "
                    "presets after cropping to the aspect ratio: --fit crop)")
        if self.rebuild is not None and not is_saved_model(self.rebuild.get("model", "")) \
                and self.preprocess != "raw":
            return f"{words}, what Keras uses for {self.source}"
        own = own_preprocessing(self.network)
        if own is not None:
            return f"{words}, into the model's own {type(own).__name__} layer {own.name!r}"
        if self.preprocess == "raw":
            return (f"{words}, as nothing in the model says otherwise: if it was trained on scaled inputs, "
                    "give its preprocessing (--preprocess tf, torch or caffe)")
        return words

    def on_accelerator(self) -> bool:
        """Whether Keras computes on a GPU or another accelerator (:func:`.backends.on_accelerator`).

        Returns
        -------
        bool
        """
        return on_accelerator()

    def runtime(self) -> dict[str, str]:
        """Keras' version, its backend and the device it runs on (:func:`.backends.backend_info`).

        Returns
        -------
        dict
        """
        return backend_info()

    def split_over(self, devices) -> list[str] | None:
        """The devices a capture splits each batch over (:func:`.backends.resolve_devices`).

        Parameters
        ----------
        devices : None, "all", int or sequence of str

        Returns
        -------
        list of str or None
        """
        return resolve_devices(devices)

    def maximise_batch(self, units, **options):
        """Activation maximisation of several units in one batch (:func:`catsel.network.maximise.maximise_many`
        calls it).

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


def keras_network(
    model: str | os.PathLike | keras.Model = "vgg16",
    weights: str | os.PathLike | None = "auto",
    layers: Sequence[str] | None = None,
    *,
    image_size: int | None = None,
    preprocess: str | None = None,
    seed: int = 0,
    precision: str = "float32",
    reduction: str | None = None,
    load: Callable | None = None,
) -> ActivationModel:
    """A Keras network as catsel captures it: the Keras source's builder (:func:`catsel.activation_model` takes
    the same arguments and says what each means).

    Parameters
    ----------
    model : str, path or keras.Model
        A ``keras.applications`` name, a saved model's path, or a ``keras.Model``.
    weights, layers, image_size, preprocess, seed, precision, reduction
        As :func:`catsel.activation_model` takes them.
    load : callable, optional
        ``load(model, weights, layers, image_size, seed) -> Loaded``: where the network comes from, for a
        source of Keras networks of its own (keras-hub presets, :mod:`catsel.network.hub.preset`); default:
        applications, saved files and models in memory.

    Returns
    -------
    ActivationModel
    """
    _network = load or _load
    check_weights(model, weights, ModelError)  # a saved or in-memory model carries its own: never silently ignored
    if isinstance(weights, str) and weights.lower() in ("none", "untrained", "random"):
        weights = None
    check_choice("precision", precision, PRECISIONS, ModelError)
    if reduction is not None:  # before the network is built
        check_choice("reduction", reduction, REDUCTIONS, ModelError)
    if preprocess is not None:
        check_preprocess(preprocess, ModelError)
    try:
        image_size = image_shape(image_size)
    except CatselError as exc:
        raise ModelError(str(exc)) from None
    if precision != "float32" and isinstance(model, keras.Model):
        raise ModelError("a model held in memory keeps its own precision; build it under "
                         "keras.config.set_dtype_policy('mixed_bfloat16') instead")
    with _dtype_policy(precision):
        fallback = None
        if isinstance(weights, str) and weights == "auto":
            try:
                built = _network(model, "imagenet", layers, image_size, seed)
            except WeightsUnavailableError as exc:
                fallback = str(exc)
            if fallback is not None:
                announce_untrained(fallback)
                # Keras built the network before it looked for the weights: free it (a Keras model is a reference
                # cycle, gone only when the collector runs) before building the untrained one (VGG16: 0.55 GB)
                gc.collect()
                built = _network(model, None, layers, image_size, seed)
        else:
            built = _network(model, weights, layers, image_size, seed)
        network = built.network
        if built.preprocess is None and preprocess is None:
            raise PixelScaleUnknownError(f"{built.source} comes without an image converter, so catsel cannot know how its "
                             "pixels were scaled in training: give its preprocessing (--preprocess tf, torch, caffe "
                             "or raw)")
        image_size, channels = fitted_input(network, built.source, image_size or built.image_size)
        if channels == 1 and preprocess is None and built.preprocess in ("caffe", "torch"):
            raise ModelError(f"{built.source} takes grayscale images; give its preprocessing: 'raw' or 'tf'")
        own = own_preprocessing(network)
        if own is not None and preprocess not in (None, "raw"):
            raise ModelError(
                f"{built.source} scales its input itself (its {type(own).__name__} layer {own.name!r}): preprocessing "
                f"{preprocess!r} before it would scale the pixels twice; leave the preprocessing out (the model gets "
                "0-255 pixels, as it expects) or save the model without that layer"
            )
        graph = graph_of(network, (*hw(image_size), channels))
        if layers is None:
            layers = default_layers(graph)
        resolved, unknown = [], []
        for name in layers:  # a full outer/inner path is taken for the layer's own name
            if base_layer(name) in graph or "/" in base_layer(name):
                try:
                    resolved.append(graph.node(base_layer(name)).name + name[len(base_layer(name)):])
                    continue
                except ModelError:
                    pass
            unknown.append(name)
        if unknown:
            from ...options import did_you_mean

            raise ModelError(f"no layer named {', '.join(map(repr, unknown))} in {built.source}"
                             f"{did_you_mean(base_layer(unknown[0]), list(graph.nodes))} (`catsel layers MODEL` "
                             "lists them with their shapes)")
        if not resolved:
            raise ModelError(f"{built.source} has no conv or dense layer to capture; pass layers=")
        position = {n: i for i, n in enumerate(graph.nodes)}  # network order; a class token after its layer
        ordered = sorted(set(resolved), key=lambda l: (position[base_layer(l)], l != base_layer(l)))
        return _wrap(network, ordered, image_size, preprocess or built.preprocess, built.source, built.weights_label,
                     built.trained, precision=precision, fallback_reason=fallback, rebuild=built.rebuild, graph=graph,
                     reduction=reduction)


@contextmanager
def _dtype_policy(precision: str):
    """Build under Keras' ``mixed_<precision>`` policy (weights float32, computation lower), then restore it."""
    if precision == "float32":
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(f"mixed_{precision}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@dataclass(frozen=True)
class Loaded:
    """A Keras network as built or loaded, with what the activation model needs to know of it (what a
    ``load`` function of :func:`keras_network` returns)."""

    network: keras.Model
    source: str
    preprocess: str
    weights_label: str
    trained: bool
    rebuild: dict | None
    image_size: tuple | None = None  # the size its preprocessing names, for a network that takes any


def _load(model, weights, layers, image_size, seed) -> Loaded:
    """The network named by ``model`` with ``weights`` (``None``: untrained), and its recipe."""
    if isinstance(model, keras.Model):
        return Loaded(model, model.name, "raw", "as given", True, None)
    if is_saved_model(model):
        path = Path(model)
        # the file by its identity: what rebuilds the network later must be these bytes, not whatever a path
        # read back from a record names then
        return Loaded(load_saved(path), path.name, "raw", "saved with the model", True,
                        {"model": str(path.resolve()), "weights": None, "seed": seed, "sha256": file_digest(path)})
    key, ctor, _ = application(str(model))
    native = NATIVE_SIZE.get(key, 224)
    need_top = image_size is None or int(image_size) == native
    network, weights_label, mode, source = build_application(
        str(model), None if weights is None else str(weights), image_size, need_top, seed
    )
    if not need_top and layers is not None:
        check_top_layers(ctor, key, layers, network, native, image_size)
    recipe_weights = None if weights is None else "imagenet" if str(weights) == "imagenet" else str(
        Path(weights).resolve())
    recipe = {"model": str(model), "weights": recipe_weights, "seed": seed}
    if recipe_weights not in (None, "imagenet"):  # a weights file, by its identity too
        recipe["weights_sha256"] = file_digest(recipe_weights)
    return Loaded(network, source, mode, weights_label, weights is not None, recipe)


def _wrap(network, layers, image_size, mode, source, weights_label, trained, *, precision="float32",
          fallback_reason=None, rebuild=None, graph: Graph | None = None, pack: bool | None = None,
          arrays: tuple = ("maxima", "positions"), reduction: str | None = None) -> ActivationModel:
    """The activation model around ``network``: uint8 images in, each layer's results of the kinds ``arrays``
    names out (a dense layer has maxima only).

    catsel's own layers are named ``catsel_...``: no network's layer can take those names by default.
    ``pack`` (default: where Keras can): one buffer per batch (:class:`Piece`), else one float32 output per kind.
    ``reduction`` (one of :data:`REDUCTIONS`; default: chosen for the backend and device): how maps are reduced.
    """
    from ..kinds import ARRAYS

    arrays = tuple(k for k in ARRAYS if k in arrays)
    graph = graph or graph_of(network, (*hw(image_size), int(network.inputs[0].shape[-1])))
    groups: dict[str, list] = {kind: [] for kind in arrays}
    units, map_shapes = {}, {}
    pieces, tensors = [], {}
    method = reduction or ("argmax" if on_jax_accelerator() else "pooling")
    check_choice("reduction", method, REDUCTIONS, ModelError)
    if method == "fused" and keras.backend.backend() != "jax":
        raise ModelError(f"reduction 'fused' needs the JAX backend (this one is {keras.backend.backend()}); "
                         "leave it None")
    for k, name in enumerate(layers):
        out = captured_output(graph, name, k)
        skip = sum(leading_tokens(graph, out.shape))  # a token layer's maximum is over its patch tokens
        units[name] = int(out.shape[-1])
        dense = len(out.shape) == 2
        map_shapes[name] = None if dense else (int(out.shape[1]) - skip, *(int(d) for d in out.shape[2:-1]))
        kinds = tuple(kind for kind in arrays if kind == "maxima" or not dense)
        if not kinds:  # a dense layer has only its values, and these are not asked for
            continue
        reduced = Reduce(method, skip, kinds, name=f"catsel_reduce_{k}")(out)
        dtype = keras.backend.standardize_dtype(out.dtype)
        size = None if dense else int(np.prod(map_shapes[name]))
        for kind, tensor in zip(kinds, reduced):
            groups[kind].append(tensor)
            pieces.append((kind, name, units[name], dtype, None if kind == "maxima" else size))
            tensors[kind, name] = tensor
    if not pieces:
        raise ModelError(f"none of the layers {', '.join(layers)} has {' or '.join(arrays)} (dense layers keep "
                         "their values only)")
    packing = None
    if pack if pack is not None else can_pack():
        # one buffer per batch: the device's results leave it in one transfer, each in its smallest lossless
        # type (docs/performance.md: the per-kind float32 outputs took longer to fetch than the network to run)
        packing = plan_packing(pieces)
        outputs = [Pack(packing, name="catsel_results")([tensors[p.kind, p.layer] for p in packing])]
    else:
        # one output per kind, every layer's units side by side: maxima, then (conv layers) positions, means,
        # minima; float32 for the concatenation, so that a mixed-precision policy does not cast the maxima down
        outputs = [keras.layers.Concatenate(axis=-1, dtype="float32", name=f"catsel_{kind}")(group)
                   if len(group) > 1 else group[0]
                   for kind, group in groups.items() if group]
    inner = graph.model(outputs, name=f"catsel_{network.name}")
    images = keras.Input((*hw(image_size), 3), dtype="uint8", name="catsel_images")
    channels = int(graph.inputs[0].shape[-1])
    result = inner(Preprocess(mode, channels, name="catsel_preprocess")(images))
    model = keras.Model(images, result if isinstance(result, list) else [result], name="catsel_activations")
    return ActivationModel(
        network=network,
        keras_model=model,
        layers=tuple(layers),
        units=units,
        map_shapes=map_shapes,
        image_size=image_shape(image_size),
        preprocess=mode,
        source=source,
        weights_label=weights_label,
        trained=trained,
        fallback_reason=fallback_reason,
        rebuild=rebuild,
        precision=precision,
        graph=graph,
        packing=packing,
        arrays=arrays,
        reduction=method,
    )


def is_hub_network(network) -> bool:
    """Whether a Keras model is a keras-hub backbone (its untrained twin is built from its config, not cloned).

    Parameters
    ----------
    network : keras.Model

    Returns
    -------
    bool
    """
    return type(network).__module__.startswith("keras_hub.")


def untrained_copy(network: keras.Model) -> keras.Model:
    """A keras-hub network built again from its configuration: every weight re-initialised.

    ``keras.models.clone_model`` cannot rebuild keras-hub's layers from the configs it writes; the backbone's
    own ``from_config`` (what ``from_preset(load_weights=False)`` does) can. Seed first.

    Parameters
    ----------
    network : keras.Model

    Returns
    -------
    keras.Model
    """
    return type(network).from_config(network.get_config())
