"""The networks catsel can build by name, and their weights.

The registry of ``keras.applications`` constructors with the preprocessing
each was trained with, ImageNet weights from Keras' cache (or a clear error
saying where to put them when offline), weights files, saved ``.keras``
models, and the loud banner when the untrained network stands in.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import keras

from ...errors import ModelError, WeightsUnavailableError
from ...options import hw

__all__ = ["check_weights_file", "check_finite_weights", "APPLICATIONS", "NATIVE_SIZE", "keras_cache_dir", "application", "build_application", "load_saved",
           "native_size", "check_top_layers"]

# keras.applications constructors catsel knows, with the preprocessing
# Keras' own ``preprocess_input`` applies for them ("raw": the model
# rescales inside its graph).
APPLICATIONS: dict[str, tuple[str, str]] = {
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
NATIVE_SIZE = {"inceptionv3": 299, "inceptionresnetv2": 299, "xception": 299, "nasnetlarge": 331}


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (``$KERAS_HOME/models``).

    Returns
    -------
    Path
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def application(name: str) -> tuple[str, object, str]:
    """Look up a ``keras.applications`` model by a forgiving name (``"VGG16"``, ``"resnet-50"``).

    Parameters
    ----------
    name : str

    Returns
    -------
    key : str
        The registry's name for it (lower case, no separators).
    constructor : callable
        The ``keras.applications`` function.
    preprocess : str
        The preprocessing it was trained with.

    Raises
    ------
    ModelError
        Listing the known names, when ``name`` is not one.
    """
    key = name.lower().replace("_", "").replace("-", "")
    if key not in APPLICATIONS:
        from ...options import did_you_mean

        raise ModelError(f"unknown model {name!r}{did_you_mean(key, sorted(APPLICATIONS))}; or give a path to a "
                         "saved .keras model, torchvision:NAME, timm:NAME or hub:PRESET")
    ctor_name, mode = APPLICATIONS[key]
    return key, getattr(keras.applications, ctor_name), mode


def check_weights_file(path: Path, network: keras.Model, source: str, made_by: str = "the preset's configuration") -> None:
    """Refuse a Keras weights file that does not belong to ``network``'s configuration, before it is loaded.

    Keras reads a ``.weights.h5`` layer by layer in the order the layers were made (``layers/conv2d``,
    ``layers/conv2d_1``, ...), so the file of a deeper network of the same widths would load without a word,
    its first blocks in place of these. The file must hold exactly the arrays the configuration makes: as many,
    of the same shapes.

    Parameters
    ----------
    path : Path
        The ``.weights.h5`` file.
    network : keras.Model
        Built from the configuration, without weights.
    source : str
        How the user named it, for the message.
    made_by : str, default "the preset's configuration"
        What built ``network``, in the message.

    Raises
    ------
    ModelError
        One line naming the file, what it holds against what the configuration makes, and the fix.
    """
    from collections import Counter

    import h5py

    try:
        with h5py.File(path, "r") as f:
            held: list[tuple] = []
            f.visititems(lambda name, obj: held.append(tuple(obj.shape))
                         if isinstance(obj, h5py.Dataset) and "/vars/" in f"/{name}" else None)
    except OSError as exc:
        raise ModelError(f"{path} is damaged: h5py cannot read it ({' '.join(str(exc).split())[:120]}); "
                         "restore the preset's weights file") from None
    made = [tuple(int(d) for d in v.shape) for v in network.weights]
    if Counter(held) == Counter(made):
        return
    fix = ("it belongs to another configuration (another depth or width): put the config.json saved with it "
           "beside it, or this configuration's own weights file" if "preset" in made_by else
           "it belongs to another network (another depth or width): give the weights file saved for this one")
    if len(held) != len(made):
        raise ModelError(f"{source}: {path.name} holds {len(held)} arrays and {made_by} makes {len(made)}; {fix}")
    extra = sorted((Counter(held) - Counter(made)).items())[:2]
    missing = sorted((Counter(made) - Counter(held)).items())[:2]
    raise ModelError(f"{source}: {path.name} holds arrays of shapes {made_by} does not make "
                     f"({', '.join(f'{n} of {s}' for s, n in extra)} in the file; "
                     f"{', '.join(f'{n} of {s}' for s, n in missing)} made); {fix}")


def check_finite_weights(network: keras.Model, source: str) -> None:
    """Refuse weights holding NaN or infinite values once loaded, before any capture, naming the variable: every
    image would give NaN maps, read later as a damaged store that no rerun repairs.

    Parameters
    ----------
    network : keras.Model
    source : str
        The file the weights came from, for the message.

    Raises
    ------
    ModelError
    """
    import numpy as np

    broken = [v for v in network.weights
              if np.issubdtype(np.dtype(v.dtype), np.floating) and not np.isfinite(keras.ops.convert_to_numpy(v)).all()]
    if broken:
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        raise ModelError(f"{source}: the weights {broken[0].path!r}{more} hold NaN or infinite values; these "
                         "weights cannot give a capture: restore the file, or save the network again")


def _load_weights_file(network: keras.Model, path: Path) -> None:
    """Load a weights file, refusing a partial load (Keras only warns about one), and a ``.weights.h5`` whose
    arrays are not the ones the network makes before it is read (:func:`check_weights_file`)."""
    if path.name.endswith(".weights.h5"):
        check_weights_file(path, network, f"weights file {path} does not fit {network.name}", "its architecture")
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
            f"weights file {path} does not fit {network.name}: {' '.join(problem.split())[:200]} "
            "Give the weights file saved for this architecture (the full model, top included)"
        )
    check_finite_weights(network, f"weights file {path}")


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


def build_application(name: str, weights: str | None, image_size: int | None,
                       need_top: bool, seed: int) -> tuple[keras.Model, str, str, int]:
    """Build a ``keras.applications`` network with the asked weights.

    Parameters
    ----------
    name : str
        A name :func:`application` knows.
    weights : str or None
        ``"imagenet"``, a weights-file path, or ``None`` for the untrained network.
    image_size : int or None
        Input side for a network without its dense top.
    need_top : bool
        Build the full network (its own input size, dense top included).
    seed : int
        Seed of the random init when untrained.

    Returns
    -------
    network : keras.Model
    weights_label : str
        What weights it has, in words.
    preprocess : str
    key : str
    """
    try:
        return _build_application(name, weights, image_size, need_top, seed)
    except ValueError as exc:  # Keras' own check of an application's smallest input, as a raw traceback
        smallest = re.search(r"at least (\d+)x(\d+)", str(exc))
        if smallest is None:
            raise
        side = max(int(smallest.group(1)), int(smallest.group(2)))
        raise ModelError(f"{name} needs images of at least {side}x{side} pixels, not {'x'.join(map(str, hw(image_size)))}: "
                         f"use --image-size {side} or more (image_size={side} from Python)") from None


def _build_application(name: str, weights: str | None, image_size: int | None, need_top: bool,
                       seed: int) -> tuple[keras.Model, str, str, str]:
    key, ctor, mode = application(name)
    if weights is None:
        keras.utils.set_random_seed(seed)
        label = f"untrained (random init, seed {seed})"
        if need_top:
            net = ctor(weights=None)
        else:
            net = ctor(weights=None, include_top=False, input_shape=(*hw(image_size), 3) if image_size else None)
        return net, label, mode, key
    if weights == "imagenet":
        if need_top:
            net = _imagenet(ctor, key)
        else:
            shape = (*hw(image_size), 3) if image_size else None
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
    shape = (*hw(image_size), 3) if image_size else None
    net = ctor(weights=None, include_top=False, input_shape=shape)
    _transplant(full, net)
    return net, f"weights file {path.name}", mode, key


def native_size(network: keras.Model) -> int | None:
    """The square input size a network was built for.

    Parameters
    ----------
    network : keras.Model

    Returns
    -------
    int or None
        ``None`` when its input is not square or has no fixed size.
    """
    shape = network.inputs[0].shape
    if len(shape) == 4 and shape[1] is not None and shape[1] == shape[2]:
        return int(shape[1])
    return None


def check_top_layers(ctor, key, layers, network, native, image_size) -> None:
    """Explain why a layer of the dense top (fc1, fc2, ...) is missing at another input size.

    Parameters
    ----------
    ctor : callable
        The ``keras.applications`` constructor.
    key : str
    layers : sequence of str
        The layers asked for.
    network : keras.Model
        The network built without its top.
    native : int
        Its own input size.
    image_size : int
        The size asked for.

    Raises
    ------
    ModelError
        When an asked layer belongs to the top.
    """
    have = {l.name for l in network.layers}
    missing = [n for n in layers if n not in have]
    if not missing:
        return
    full_names = {l.name for l in ctor(weights=None).layers}
    top = [n for n in missing if n in full_names]
    if top:
        raise ModelError(
            f"layers {', '.join(top)} belong to {key}'s dense top, which only exists at its own input "
            f"size {native}x{native}, not {'x'.join(map(str, hw(image_size)))}. Use image size {native}, "
            "or ask for conv layers only"
        )


def load_saved(path: Path) -> keras.Model:
    """Load a saved model in Keras' safe mode (no arbitrary code): ``.keras``, or legacy HDF5 (``.h5``, ``.hdf5``).

    A legacy HDF5 file (Keras 2, ``tf.keras``) goes through Keras' own
    loader, inside a safe-mode scope, so a ``Lambda`` layer's pickled code is
    refused there as in a ``.keras`` file. A TensorFlow SavedModel folder
    holds a graph, not Keras layers, and is refused with the line that
    converts it.

    Parameters
    ----------
    path : Path

    Returns
    -------
    keras.Model

    Raises
    ------
    ModelError
        Naming the file, when it is missing or is not a Keras model.
    """
    from keras.src.saving.serialization_lib import SafeModeScope

    if (path / "saved_model.pb").is_file():
        raise ModelError(
            f"{path} is a TensorFlow SavedModel, which holds a graph without its Keras layers; convert it where it "
            "was made: `tf.keras.models.load_model(PATH).save('model.h5')` (TensorFlow 2.15 or tf_keras), then "
            "give catsel model.h5"
        )
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; give a keras.applications name, or a .keras or .h5 file")
    try:
        with SafeModeScope(True):
            model = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        raise ModelError(f"cannot load {path} as a Keras model ({type(exc).__name__}: {text}); save it with "
                         "model.save('name.keras')") from None
    if not isinstance(model, keras.Model):
        raise ModelError(f"{path} holds a {type(model).__name__}, not a Keras model")
    check_finite_weights(model, str(path))
    return model
