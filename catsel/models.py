"""The activation model: a network whose outputs are one number per filter.

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

import hashlib
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import keras
import numpy as np
from keras import ops

from .errors import ModelError, WeightsUnavailableError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ActivationModel", "activation_model", "backend_info", "from_store", "untrained_control", "resolve_devices",
    "PREPROCESS_MODES", "keras_cache_dir",
]

#: Preprocessing modes: what the network expects its 0-255 RGB input to become.
PREPROCESS_MODES = ("caffe", "tf", "torch", "raw")

#: Computation precisions (``mixed_<precision>`` Keras policies besides float32).
PRECISIONS = ("float32", "bfloat16", "float16")

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)

# keras.applications constructors catsel knows, with the preprocessing
# Keras' own ``preprocess_input`` applies for them ("raw": the model
# rescales inside its graph).
_APPLICATIONS: dict[str, tuple[str, str]] = {
    "vgg16": ("VGG16", "caffe"),
    "vgg19": ("VGG19", "caffe"),
    "resnet50": ("ResNet50", "caffe"),
    "resnet101": ("ResNet101", "caffe"),
    "resnet152": ("ResNet152", "caffe"),
    "resnet50v2": ("ResNet50V2", "tf"),
    "resnet101v2": ("ResNet101V2", "tf"),
    "resnet152v2": ("ResNet152V2", "tf"),
    "inceptionv3": ("InceptionV3", "tf"),
    "inceptionresnetv2": ("InceptionResNetV2", "tf"),
    "xception": ("Xception", "tf"),
    "mobilenet": ("MobileNet", "tf"),
    "mobilenetv2": ("MobileNetV2", "tf"),
    "nasnetmobile": ("NASNetMobile", "tf"),
    "nasnetlarge": ("NASNetLarge", "tf"),
    "densenet121": ("DenseNet121", "torch"),
    "densenet169": ("DenseNet169", "torch"),
    "densenet201": ("DenseNet201", "torch"),
    "efficientnetb0": ("EfficientNetB0", "raw"),
    "efficientnetb1": ("EfficientNetB1", "raw"),
    "efficientnetb2": ("EfficientNetB2", "raw"),
    "efficientnetb3": ("EfficientNetB3", "raw"),
    "convnexttiny": ("ConvNeXtTiny", "raw"),
    "convnextsmall": ("ConvNeXtSmall", "raw"),
}

# Input sizes of the applications whose own size is not 224.
_NATIVE_SIZE = {"inceptionv3": 299, "inceptionresnetv2": 299, "xception": 299, "nasnetlarge": 331}


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


@keras.saving.register_keras_serializable(package="catsel")
class Preprocess(keras.layers.Layer):
    """uint8 RGB in [0, 255] → the input the network was trained on.

    ``caffe``: RGB→BGR and ImageNet mean subtracted (VGG, ResNet v1);
    ``tf``: scaled to [-1, 1]; ``torch``: scaled to [0, 1] then normalised by
    the ImageNet mean and standard deviation; ``raw``: 0-255 floats as they
    are (models that rescale inside, such as EfficientNet).
    """

    def __init__(self, mode: str = "caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise ModelError(f"unknown preprocessing {mode!r}; use one of {', '.join(PREPROCESS_MODES)}")
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, "float32")
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype="float32")
        elif self.mode == "tf":
            x = x / 127.5 - 1.0
        elif self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype="float32")
            std = ops.convert_to_tensor(_TORCH_STD, dtype="float32")
            x = (x / 255.0 - mean) / std
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@dataclass
class ActivationModel:
    """A network that maps uint8 images to per-unit maxima and their positions.

    Build one with :func:`activation_model`. Calling :meth:`predict` on a
    batch gives ``(maxima, positions)``: ``maxima[layer]`` is a float32 array
    ``(batch, units)``; ``positions[layer]`` (conv layers only) an int32
    array ``(batch, units)`` of flat indices into the layer's map.
    """

    network: keras.Model
    model: keras.Model
    layers: tuple[str, ...]
    units: dict[str, int]
    map_shapes: dict[str, tuple[int, ...] | None]
    image_size: int
    preprocess: str
    source: str
    weights: str
    trained: bool
    fallback_reason: str | None = None
    rebuild: dict | None = None
    precision: str = "float32"
    _runners: dict = field(default_factory=dict, repr=False)
    _digest: str | None = field(default=None, repr=False)
    _fields: dict | None = field(default=None, repr=False)

    @property
    def conv_layers(self) -> tuple[str, ...]:
        return tuple(l for l in self.layers if self.map_shapes[l] is not None)

    @property
    def label(self) -> str:
        """Short description for figure titles: ``"vgg16, ImageNet weights"``."""
        return f"{self.source}, {self.weights}"

    def put(self, images: np.ndarray):
        """Send a uint8 batch to the device (asynchronously where the backend can)."""
        return self.runner()[0](images)

    def run(self, batch):
        """The compiled forward pass on a batch already on the device (see :meth:`put`)."""
        return self.runner()[1](batch)

    def predict(self, images: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per-unit maxima and positions for one batch of uint8 images."""
        return self.split(self.run(self.put(images)))

    def runner(self, devices: str | int | Sequence[str] | None = None):
        """``(put, run)``: send a uint8 batch to the device(s), and the compiled forward pass on it.

        jit on JAX, tf.function on TensorFlow, no_grad on PyTorch. With
        ``devices`` (see :func:`resolve_devices`) the batch is split across
        several devices by Keras' distribution API (data parallel, JAX only);
        the batch size must then be a multiple of the number of devices.
        """
        chosen = resolve_devices(devices)
        key = tuple(chosen) if chosen else None
        if key not in self._runners:
            self._runners[key] = _compile(self.model, chosen)
        return self._runners[key]

    def split(self, out) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Split the model's two concatenated outputs into per-layer arrays."""
        out = [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
        maxima_all = np.asarray(out[0], dtype=np.float32)
        pos_all = np.asarray(out[1], dtype=np.int32) if len(out) > 1 else None
        maxima, positions = {}, {}
        a = p = 0
        for layer in self.layers:
            n = self.units[layer]
            maxima[layer] = maxima_all[:, a : a + n]
            a += n
            if self.map_shapes[layer] is not None:
                positions[layer] = pos_all[:, p : p + n]
                p += n
        return maxima, positions

    def digest(self) -> str:
        """A hash of the network's architecture and weights (for the store key)."""
        if self._digest is None:
            h = hashlib.blake2b(digest_size=16)
            for layer in self.network.layers:
                # class and weights, not names: Keras numbers unnamed layers per session
                h.update(f"{type(layer).__name__};".encode())
                for w in layer.weights:
                    arr = np.ascontiguousarray(w.numpy())
                    h.update(str(arr.shape).encode())
                    h.update(arr.tobytes())
            self._digest = h.hexdigest()
        return self._digest

    def _field(self, layer: str) -> dict | None:
        """Receptive field of a conv layer as {size, jump, start} in input pixels."""
        if self.map_shapes[layer] is None or len(self.map_shapes[layer]) != 2:
            return None
        from .receptive import receptive_fields

        if self._fields is None:
            self._fields = receptive_fields(self.network)
        f = self._fields.get(layer)
        return {"size": f.size, "jump": f.jump, "start": f.start} if f else None

    def layer_table(self) -> "pd.DataFrame":
        """The captured layers: output shape, units, receptive field (size and step, in input pixels)."""
        import pandas as pd

        by_name = {l.name: l for l in self.network.layers}
        rows = []
        for name in self.layers:
            shape = tuple(by_name[name].output.shape[1:])
            field = self._field(name)
            rows.append({"layer": name, "kind": type(by_name[name]).__name__, "output shape": shape,
                         "units": self.units[name],
                         "receptive field": int(field["size"]) if field else "whole image",
                         "step": int(field["jump"]) if field else None})
        return pd.DataFrame(rows)

    def describe(self) -> dict:
        """What built this model, as plain JSON-able values."""
        return {
            "model": self.source,
            "weights": self.weights,
            "trained": self.trained,
            "image_size": self.image_size,
            "preprocess": self.preprocess,
            "precision": self.precision,
            "rebuild": self.rebuild,
            "layers": [
                {"name": l, "units": self.units[l],
                 "map_shape": list(self.map_shapes[l]) if self.map_shapes[l] else None,
                 "receptive_field": self._field(l)}
                for l in self.layers
            ],
            "network_digest": self.digest(),
        }


def backend_info() -> dict[str, str]:
    """Keras version, its backend, and the device it will run on."""
    backend = keras.backend.backend()
    device = "unknown"
    try:
        if backend == "tensorflow":
            import tensorflow as tf
            gpus = tf.config.list_logical_devices("GPU")
            device = gpus[0].name if gpus else "CPU"
        elif backend == "jax":
            import jax
            device = str(jax.devices()[0])
        elif backend == "torch":
            import torch
            device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    except Exception:  # device names are informative only
        pass
    return {"keras": keras.__version__, "backend": backend, "device": device}


def resolve_devices(devices: str | int | Sequence[str] | None) -> list[str] | None:
    """The devices a capture runs on, as Keras names them (``"gpu:0"``, ``"cpu:0"``).

    ``None``: the backend's default device, nothing to split. ``"all"``: every
    accelerator of the machine (or the CPU when there is none). An integer
    ``n``: the first ``n`` of those. A list of names: those devices.

    Splitting a batch over several devices is Keras' data parallelism
    (:class:`keras.distribution.DataParallel`), which catsel runs on the JAX
    backend only. On TensorFlow and PyTorch, a request for more than one
    device raises :class:`ModelError`; run one capture per GPU there
    (``CUDA_VISIBLE_DEVICES=k``).
    """
    if devices is None:
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        available = keras.distribution.list_devices()
    else:
        available = _other_backend_devices(backend)
    if isinstance(devices, str) and devices == "all":
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            choices = "1" if len(available) == 1 else f"a number from 1 to {len(available)}"
            raise ModelError(f"devices={devices}, but this machine has {len(available)} "
                             f"({', '.join(available)}); use {choices}, or 'all'")
        chosen = available[: int(devices)]
    elif isinstance(devices, (list, tuple)) and devices and all(isinstance(d, str) for d in devices):
        unknown = [d for d in devices if d.lower() not in available]
        if unknown:
            raise ModelError(f"no device {unknown[0]!r} on this machine; it has {', '.join(available)}")
        chosen = [d.lower() for d in devices]
    else:
        raise ModelError(f"devices must be None, 'all', a number or a list of device names, not {devices!r}")
    if backend == "jax":
        return chosen
    if len(chosen) > 1:
        raise ModelError(
            f"splitting a capture over {len(chosen)} devices runs on the JAX backend only (Keras' "
            f"DataParallel); set KERAS_BACKEND=jax, or run one capture per GPU with CUDA_VISIBLE_DEVICES=k"
        )
    if chosen[0] != available[0]:
        raise ModelError(f"on {backend}, catsel runs on the default device ({available[0]}); to use "
                         f"{chosen[0]}, make it the only visible one (CUDA_VISIBLE_DEVICES={chosen[0].split(':')[-1]})")
    return None


def _other_backend_devices(backend: str) -> list[str]:
    """Accelerators seen by TensorFlow or PyTorch, named like Keras' JAX backend names them."""
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [f"gpu:{i}" for i in range(len(gpus))] or ["cpu:0"]
    if backend == "torch":
        import torch

        return [f"gpu:{i}" for i in range(torch.cuda.device_count())] or ["cpu:0"]
    return ["cpu:0"]


def _compile(model: keras.Model, devices: list[str] | None = None):
    """The model's compiled forward pass on the current backend, and how to feed it.

    ``devices`` (from :func:`resolve_devices`): on JAX, the weights are
    replicated and each batch split along its first axis over these devices
    (Keras' ``DataParallel`` layouts); the jitted call then runs on all of
    them. On the other backends at most one device is named, and it is
    the default one.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        groups = (model.trainable_variables, model.non_trainable_variables)
        forward = jax.jit(lambda trainable, other, x: model.stateless_call(trainable, other, x, training=False)[0])
        if not devices:
            # the variables' current values at each call: Keras' own jitted steps (predict, fit) donate
            # the arrays they are given, so values kept from an earlier call may have been deleted since
            return jax.device_put, lambda x: forward(*([v.value for v in group] for group in groups), x)
        from keras.distribution import DataParallel, distribute_tensor

        plan = DataParallel(devices=list(devices))
        kept: dict = {"source": None, "state": None}

        def state():
            """The weights replicated on every device, copied again only when a variable has a new value."""
            values = [v.value for group in groups for v in group]
            if kept["source"] is None or any(a is not b for a, b in zip(values, kept["source"])):
                kept["state"] = tuple([distribute_tensor(v.value, plan.get_variable_layout(v)) for v in group]
                                      for group in groups)
                kept["source"] = values
            return kept["state"]

        def put(x):
            return distribute_tensor(x, plan.get_data_layout(x.shape))

        return put, lambda x: forward(*state(), x)
    if backend == "tensorflow":
        import tensorflow as tf

        forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return tf.convert_to_tensor, forward
    if backend == "torch":
        import torch

        device = next((v.value.device for v in model.weights), torch.device("cpu"))

        def run(x):
            with torch.no_grad():
                return model(x, training=False)

        return lambda x: torch.as_tensor(x).to(device, non_blocking=True), run
    return (lambda x: x), model.predict_on_batch


def announce_untrained(reason: str) -> None:
    """Say loudly, on standard error, that the untrained network replaces ImageNet weights."""
    bar = "!" * 78
    print(f"\n{bar}\n  ImageNet weights are not available: {reason}\n"
          "  RUNNING THE UNTRAINED NETWORK (random weights, fixed seed) INSTEAD.\n"
          "  Every output is labelled 'untrained'. These are NOT the study's results.\n"
          f"{bar}\n", file=sys.stderr, flush=True)


def untrained_control(amodel: ActivationModel, seed: int = 0) -> ActivationModel:
    """The same architecture with fresh random weights: the control for any network.

    The network is cloned layer by layer from its configuration (which
    re-initialises every weight) with the random seed set, and wrapped with the
    same layers, image size and preprocessing.
    """
    keras.utils.set_random_seed(seed)
    network = keras.models.clone_model(amodel.network)
    control = _wrap(network, list(amodel.layers), amodel.image_size, amodel.preprocess, amodel.source,
                    f"untrained (re-initialised, seed {seed})", False)
    control.precision = amodel.precision
    return control


def from_store(acts) -> "ActivationModel":
    """Rebuild the network an activations store was captured with (for pictures of its filters).

    Uses the recipe recorded in the store (model, weights, seed, size,
    preprocessing) and checks the rebuilt weights against the store's digest.
    """
    meta = acts.meta
    recipe = meta.get("rebuild")
    if not recipe:
        raise ModelError("this store was captured from a model held in memory; pass that model instead")
    amodel = activation_model(recipe["model"], recipe["weights"], list(acts.layers), image_size=meta["image_size"],
                              preprocess=meta["preprocess"], seed=recipe["seed"],
                              precision=meta.get("precision", "float32"))
    if amodel.digest() != meta.get("network_digest"):
        raise ModelError(
            f"the network rebuilt from {recipe['model']} ({amodel.weights}) is not the one captured in {acts.path}: "
            "its weights changed since; capture again, or restore the weights file"
        )
    return amodel


def _application(name: str) -> tuple[str, object, str]:
    key = name.lower().replace("_", "").replace("-", "")
    if key not in _APPLICATIONS:
        known = ", ".join(sorted(_APPLICATIONS))
        raise ModelError(
            f"unknown model {name!r}; use one of {known}, or a path to a saved .keras model"
        )
    ctor_name, mode = _APPLICATIONS[key]
    return key, getattr(keras.applications, ctor_name), mode


def _default_layers(network: keras.Model) -> list[str]:
    """All Conv2D layers, and every Dense layer but the classifier."""
    conv_types = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    names = []
    dense = [l for l in network.layers if isinstance(l, keras.layers.Dense)]
    output_layers = {t._keras_history.operation.name for t in network.outputs if hasattr(t, "_keras_history")}
    for layer in network.layers:
        if isinstance(layer, conv_types):
            names.append(layer.name)
        elif isinstance(layer, keras.layers.Dense) and layer.name not in output_layers:
            names.append(layer.name)
    if not names and dense:
        names = [l.name for l in dense]
    return names


def _load_weights_file(network: keras.Model, path: Path) -> None:
    """Load a weights file, refusing a partial load (Keras only warns about one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            network.load_weights(str(path))
            problem = next((str(w.message) for w in caught if "weights" in str(w.message).lower()
                            or "skipping" in str(w.message).lower()), None)
        except Exception as exc:  # Keras raises many kinds here
            problem = str(exc)
    if problem:
        raise ModelError(
            f"weights file {path} does not fit {network.name}: {problem.splitlines()[0]} "
            "Give the weights file saved for this architecture (the full model, top included)"
        )


def _transplant(source: keras.Model, target: keras.Model) -> None:
    """Copy weights layer by layer (by name) from ``source`` into ``target``."""
    by_name = {l.name: l for l in source.layers}
    for layer in target.layers:
        if layer.weights and layer.name in by_name:
            for target_w, source_w in zip(layer.weights, by_name[layer.name].weights):
                target_w.assign(source_w.numpy())


def _imagenet(ctor, key: str, **kwargs) -> keras.Model:
    try:
        return ctor(weights="imagenet", **kwargs)
    except Exception as exc:
        text = str(exc)
        if "URL fetch failure" not in text and "fetch" not in text.lower():
            raise
        url = re.search(r"https?://\S+?\.h5", text)
        filename = url.group(0).rsplit("/", 1)[-1] if url else "the weights file"
        args = "include_top=False" if kwargs.get("include_top") is False else ""
        raise WeightsUnavailableError(
            f"ImageNet weights for {key} are not in Keras' cache and could not be downloaded "
            f"({text}). Put {filename} into {keras_cache_dir()} (on a machine with internet, "
            f"`python -c \"import keras; keras.applications.{ctor.__name__}({args})\"` downloads it "
            "there), or pass the path of a weights file, or weights 'none' for the untrained network"
        ) from None


def _build_application(name: str, weights: str | None, image_size: int | None,
                       need_top: bool, seed: int) -> tuple[keras.Model, str, str, int]:
    key, ctor, mode = _application(name)
    if weights is None:
        keras.utils.set_random_seed(seed)
        label = f"untrained (random init, seed {seed})"
        if need_top:
            net = ctor(weights=None)
        else:
            net = ctor(weights=None, include_top=False, input_shape=(image_size, image_size, 3) if image_size else None)
        return net, label, mode, key
    if weights == "imagenet":
        if need_top:
            net = _imagenet(ctor, key)
        else:
            shape = (image_size, image_size, 3) if image_size else None
            net = _imagenet(ctor, key, include_top=False, input_shape=shape)
        return net, "ImageNet", mode, key
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ModelError(
            f"weights file {path} does not exist; give 'imagenet', 'none', or the path of a weights file"
        )
    full = ctor(weights=None)
    _load_weights_file(full, path)
    if need_top:
        return full, f"weights file {path.name}", mode, key
    shape = (image_size, image_size, 3) if image_size else None
    net = ctor(weights=None, include_top=False, input_shape=shape)
    _transplant(full, net)
    return net, f"weights file {path.name}", mode, key


def _native_size(network: keras.Model) -> int | None:
    shape = network.inputs[0].shape
    if len(shape) == 4 and shape[1] is not None and shape[1] == shape[2]:
        return int(shape[1])
    return None


def _reduce(tensor):
    """(B, ..., C) → per-channel maximum (B, C) and where it was (B, C), or (tensor, None) for dense.

    For 2-D maps the position comes from two max-poolings, to row maxima (B, H, C)
    and column maxima (B, W, C), and an argmax over each of these small tensors:
    ``row * W + col``. Pooling runs at the speed of the framework's own kernels
    (on TensorFlow's CPU path an ``argmax`` over the full map costs a quarter of
    VGG16's forward pass; the two poolings cost about 4%). The position is the
    map's first maximum in row-major order whenever the maximum lies in a single
    row or a single column (always so for real-valued maps without exact ties,
    and for all-zero maps); with ties across several rows and columns it is the
    first row and the first column holding the maximum.
    """
    shape = tensor.shape
    if len(shape) == 2:
        return ops.cast(tensor, "float32"), None
    if len(shape) == 4:
        h, w = int(shape[1]), int(shape[2])
        rows = keras.layers.MaxPooling2D((1, w), data_format="channels_last")(tensor)[:, :, 0]
        cols = keras.layers.MaxPooling2D((h, 1), data_format="channels_last")(tensor)[:, 0]
        maxima = ops.max(rows, axis=1)
        position = ops.argmax(rows, axis=1) * w + ops.argmax(cols, axis=1)
        return ops.cast(maxima, "float32"), ops.cast(position, "int32")
    spatial = int(np.prod(shape[1:-1]))
    flat = ops.reshape(tensor, (-1, spatial, shape[-1]))
    return ops.cast(ops.max(flat, axis=1), "float32"), ops.cast(ops.argmax(flat, axis=1), "int32")


def activation_model(
    model: str | os.PathLike | keras.Model = "vgg16",
    weights: str | os.PathLike | None = "imagenet",
    layers: Sequence[str] | None = None,
    *,
    image_size: int | None = None,
    preprocess: str | None = None,
    seed: int = 0,
    precision: str = "float32",
) -> ActivationModel:
    """Build the model that turns images into one value per filter or unit.

    Parameters
    ----------
    model
        A ``keras.applications`` name (``"vgg16"``, ``"vgg19"``, ``"resnet50"``,
        ...), the path of a saved ``.keras`` model (loaded in Keras' safe
        mode), or a ``keras.Model`` already in memory.
    weights
        For an application name: ``"auto"`` (ImageNet weights when they can be
        had, else the untrained network, announced in a banner and recorded in
        ``fallback_reason``), ``"imagenet"`` (Keras' cache, downloaded
        when online; offline and not cached raises
        :class:`WeightsUnavailableError` saying where to put the file), the
        path of a weights file, or ``None``/``"none"`` for the untrained
        network (random init with ``seed``, labelled "untrained" everywhere).
        Ignored for a saved or in-memory model, which carries its weights.
    layers
        Layer names, in any order (kept in network order). Default: every
        conv layer and every dense layer but the classifier; for VGG16 the
        13 conv layers plus ``fc1`` and ``fc2``.
    image_size
        Side of the square input. Default: the model's own (224 for VGG16).
        Another size works for conv layers only: the network is rebuilt
        without its top. Asking for dense layers at another size is an error.
    preprocess
        ``"caffe"``, ``"tf"``, ``"torch"`` or ``"raw"``; default: what Keras
        uses for that application (``"caffe"`` for VGG), ``"raw"`` for a
        saved model.
    seed
        Seed of the random init when ``weights`` is ``None``.
    precision
        ``"float32"`` (default), or ``"bfloat16"`` / ``"float16"``: the network
        is built under Keras' mixed-precision policy (weights in float32,
        computation in the lower precision); maxima are stored as float32.
        Its effect on selectivity is measured in ``docs/performance.md``.

    Returns
    -------
    ActivationModel
    """
    if isinstance(weights, str) and weights.lower() in ("none", "untrained", "random"):
        weights = None
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if isinstance(weights, str) and weights == "auto":
        options = dict(image_size=image_size, preprocess=preprocess, seed=seed, precision=precision)
        try:
            return activation_model(model, "imagenet", layers, **options)
        except WeightsUnavailableError as exc:
            announce_untrained(str(exc))
            amodel = activation_model(model, None, layers, **options)
            amodel.fallback_reason = str(exc)
            return amodel
    if precision != "float32":
        if isinstance(model, keras.Model):
            raise ModelError("a model held in memory keeps its own precision; build it under "
                             "keras.config.set_dtype_policy('mixed_bfloat16') instead")
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(f"mixed_{precision}")
        try:
            amodel = activation_model(model, weights, layers, image_size=image_size, preprocess=preprocess, seed=seed)
        finally:
            keras.config.set_dtype_policy(previous)
        amodel.precision = precision
        return amodel
    if preprocess is not None and preprocess not in PREPROCESS_MODES:
        raise ModelError(f"unknown preprocessing {preprocess!r}; use one of {', '.join(PREPROCESS_MODES)}")

    if isinstance(model, keras.Model):
        network, source, default_mode = model, model.name, "raw"
        weights_label, trained = "as given", True
    elif str(model).endswith(".keras") or Path(str(model)).is_file():
        network, source = _load_saved(Path(model)), Path(model).name
        default_mode, weights_label, trained = "raw", "saved with the model", True
    else:
        key, ctor, default_mode = _application(str(model))
        native = _NATIVE_SIZE.get(key, 224)
        need_top = image_size is None or int(image_size) == native
        network, weights_label, default_mode, source = _build_application(
            str(model), None if weights is None else str(weights), image_size, need_top, seed
        )
        trained = weights is not None
        if not need_top and layers is not None:
            _check_top_layers(ctor, key, layers, network, native, int(image_size))

    native = _native_size(network)
    if image_size is None:
        if native is None:
            raise ModelError(f"{source} has no fixed square input size; pass image_size")
        image_size = native
    elif native is not None and native != image_size:
        raise ModelError(
            f"{source} takes {native}x{native} images, not {image_size}x{image_size}; "
            "use its own size, or save the model with a flexible input shape"
        )

    names = [l.name for l in network.layers]
    if layers is None:
        layers = _default_layers(network)
    unknown = [l for l in layers if l not in names]
    if unknown:
        raise ModelError(
            f"no layer named {', '.join(map(repr, unknown))} in {source}; valid names: {', '.join(names)}"
        )
    if not layers:
        raise ModelError(f"{source} has no conv or dense layer to capture; pass layers=")
    ordered = [n for n in names if n in set(layers)]

    mode = preprocess or default_mode
    amodel = _wrap(network, ordered, image_size, mode, source, weights_label, trained)
    if not isinstance(model, keras.Model):
        saved = str(model).endswith(".keras") or Path(str(model)).is_file()
        amodel.rebuild = {
            "model": str(Path(model).resolve()) if saved else str(model),
            "weights": None if saved or weights is None else str(Path(weights).resolve())
            if str(weights) != "imagenet" else "imagenet",
            "seed": seed,
        }
    return amodel


def _check_top_layers(ctor, key, layers, network, native, image_size) -> None:
    """Explain why a layer of the top (fc1, fc2, ...) is missing at another size."""
    have = {l.name for l in network.layers}
    missing = [n for n in layers if n not in have]
    if not missing:
        return
    full_names = {l.name for l in ctor(weights=None).layers}
    top = [n for n in missing if n in full_names]
    if top:
        raise ModelError(
            f"layers {', '.join(top)} belong to {key}'s dense top, which only exists at its own input "
            f"size {native}x{native}, not {image_size}x{image_size}. Use image size {native}, "
            "or ask for conv layers only"
        )


def _load_saved(path: Path) -> keras.Model:
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; give a keras.applications name or a .keras file")
    try:
        return keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as exc:
        raise ModelError(f"cannot load {path} as a Keras model ({exc}); save it with model.save('name.keras')") from None


def _wrap(network, layers, image_size, mode, source, weights_label, trained) -> ActivationModel:
    by_name = {l.name: l for l in network.layers}
    maxima, positions = [], []
    units, map_shapes = {}, {}
    for name in layers:
        out = by_name[name].output
        if isinstance(out, (list, tuple)):
            raise ModelError(f"layer {name} has several outputs; choose a layer with one")
        m, p = _reduce(out)
        maxima.append(m)
        units[name] = int(out.shape[-1])
        if p is None:
            map_shapes[name] = None
        else:
            positions.append(p)
            map_shapes[name] = tuple(int(d) for d in out.shape[1:-1])
    outputs = [ops.concatenate(maxima, axis=-1) if len(maxima) > 1 else maxima[0]]
    if positions:
        outputs.append(ops.concatenate(positions, axis=-1) if len(positions) > 1 else positions[0])
    inner = keras.Model(network.inputs, outputs, name=f"{network.name}_maxima")
    images = keras.Input((image_size, image_size, 3), dtype="uint8", name="images")
    result = inner(Preprocess(mode, name="preprocess")(images))
    model = keras.Model(images, result if isinstance(result, list) else [result], name="catsel_activations")
    return ActivationModel(
        network=network,
        model=model,
        layers=tuple(layers),
        units=units,
        map_shapes=map_shapes,
        image_size=int(image_size),
        preprocess=mode,
        source=source,
        weights=weights_label,
        trained=trained,
    )
