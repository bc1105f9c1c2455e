"""Preprocessing on the device: uint8 pixels to the input each network was trained on, and the input it takes.

:class:`Preprocess` is a Keras layer at the front of every activation model (``caffe``, ``tf``, ``torch``,
``raw``; grayscale models get Pillow's luma); :func:`fitted_input` says which input size and channels a
network takes; :data:`PREPROCESS_WORDS` words each mode for the record and the printout.
"""

from __future__ import annotations

import keras
from keras import ops

from ...errors import CatselError, ModelError
from ...options import check_preprocess, converter_values, hw, image_shape
from ..pixels import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["Preprocess", "fitted_input", "own_preprocessing"]


@keras.saving.register_keras_serializable(package="catsel")
class Preprocess(keras.layers.Layer):
    """uint8 RGB in [0, 255] → the input the network was trained on.

    ``caffe``: RGB→BGR and ImageNet mean subtracted (VGG, ResNet v1);
    ``tf``: scaled to [-1, 1]; ``torch``: scaled to [0, 1] then normalised by
    the ImageNet mean and standard deviation; ``raw``: 0-255 floats as they
    are (models that rescale inside, such as EfficientNet); an image converter's mode
    (:func:`catsel.network.pixels.converter_mode`): ``x * scale + offset`` per channel in float32, the
    order and types of keras-hub's ``ImageConverter``.

    A network with a one-channel input gets grayscale images: each RGB pixel
    becomes its ITU-R 601-2 luma, ``L = (19595 R + 38470 G + 7471 B + 2**15)
    >> 16``, in integers, exactly as Pillow's ``convert("L")`` and
    ``ImageOps.grayscale`` compute it (a gray image's pixels are kept as
    they are), before the scaling of ``raw`` or ``tf``.

    Parameters
    ----------
    mode : {"caffe", "tf", "torch", "raw"} or str
        Or a :func:`catsel.network.pixels.converter_mode` string.
    channels : {3, 1}, default 3
        The network's input channels.
    **kwargs
        Keras layer arguments (``name``, ...).
    """

    def __init__(self, mode: str = "caffe", channels: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_preprocess(mode, ModelError)
        self.affine = converter_values(mode, ModelError)
        self.channels = int(channels)
        if self.channels not in (1, 3):
            raise ModelError(f"catsel feeds RGB (3 channels) or grayscale (1 channel) images, not {channels} channels")
        if self.channels == 1 and (self.mode in ("caffe", "torch") or self.affine is not None):
            raise ModelError(f"the {self.mode!r} preprocessing is defined for RGB images; a grayscale network takes "
                             "'raw' (0-255) or 'tf' (-1..1): pass one of these")

    def call(self, images):
        """Preprocess a batch.

        Parameters
        ----------
        images : tensor, shape (batch, height, width, 3)
            RGB values in [0, 255]: uint8 (captures), or float (pictures being optimised).

        Returns
        -------
        tensor of float32, shape (batch, height, width, channels)
        """
        if self.channels == 1 and "int" in str(images.dtype):  # Pillow's integer luma, to the bit
            rgb = ops.cast(images, "int32")
            luma = rgb[..., 0:1] * 19595 + rgb[..., 1:2] * 38470 + rgb[..., 2:3] * 7471 + 32768
            x = ops.cast(ops.right_shift(luma, 16), "float32")
        elif self.channels == 1:  # float pictures (activation maximisation): the same weights, differentiable
            rgb = ops.cast(images, "float32")
            x = (rgb[..., 0:1] * 19595 + rgb[..., 1:2] * 38470 + rgb[..., 2:3] * 7471) / 65536.0
        else:
            x = ops.cast(images, "float32")
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype="float32")
        elif self.mode == "tf":
            x = x / 127.5 - 1.0
        elif self.affine is not None:  # as keras-hub's ImageConverter: the product, then the sum, in float32
            scale, offset = (ops.convert_to_tensor(v, dtype="float32") for v in self.affine)
            x = x * scale + offset
        elif self.mode == "torch":
            mean = ops.convert_to_tensor(IMAGENET_MEAN, dtype="float32")
            std = ops.convert_to_tensor(IMAGENET_STD, dtype="float32")
            x = (x / 255.0 - mean) / std
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "channels": self.channels}


def fitted_input(network: keras.Model, source: str, image_size=None) -> tuple:
    """The image size a network is fed at, and its channels (3: RGB, 1: grayscale).

    A fixed input takes its own height and width (``image_size``, when given,
    must match them); a free dimension (a fully convolutional network) takes
    ``image_size``. What catsel cannot feed is refused here, before any work,
    in one line that says what the model wants.

    Parameters
    ----------
    network : keras.Model
    source : str
        The model's name, for the messages.
    image_size : int, (int, int), str or None

    Returns
    -------
    image_size : int or (int, int)
        ``N`` for a square, else ``(height, width)``.
    channels : int

    Raises
    ------
    ModelError
    """
    inputs = network.inputs
    if len(inputs) != 1:
        raise ModelError(f"{source} takes {len(inputs)} inputs ({', '.join(str(tuple(t.shape[1:])) for t in inputs)});"
                         " catsel feeds one image input: capture a model with that input alone")
    shape = tuple(inputs[0].shape[1:])
    if len(shape) != 3:
        raise ModelError(f"{source} takes inputs of shape {shape}, not images (height, width, channels): catsel "
                         "feeds 2-D images to image networks; sequences and volumes are not supported")
    channels = shape[2]
    if channels not in (1, 3):
        raise ModelError(f"{source} takes images with {channels} channels; catsel feeds RGB (3) or grayscale (1) "
                         "images: save the model with a 3- or 1-channel input")
    try:
        asked = image_shape(image_size)
    except CatselError as exc:
        raise ModelError(str(exc)) from None
    declared = shape[:2]
    if asked is None:
        if None in declared:
            raise ModelError(f"{source} takes images of any {'size' if declared == (None, None) else 'height' if declared[0] is None else 'width'}"
                             f" (input {shape}); give the size to feed: --image-size 224 or 192x256 "
                             "(image_size=224 or (192, 256) from Python)")
        return image_shape(tuple(int(d) for d in declared)), channels
    want = hw(asked)
    for k, (d, a) in enumerate(zip(declared, want)):
        if d is not None and int(d) != a:
            wanted = "x".join("any" if v is None else str(v) for v in declared)
            raise ModelError(f"{source} takes {wanted} images (height x width), not {want[0]}x{want[1]}; use its own "
                             "size, or save the model with a flexible input shape")
    return asked, channels


def own_preprocessing(network: keras.Model):
    """The model's own preprocessing layer at its input (a ``Rescaling`` or ``Normalization``), if it has one.

    Parameters
    ----------
    network : keras.Model

    Returns
    -------
    keras.layers.Layer or None
        Among the first few layers, before any conv or dense layer.
    """
    for layer in network.layers[:6]:
        if isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization)):
            return layer
        if getattr(layer, "kernel", None) is not None or isinstance(layer, keras.Model):
            return None
    return None
