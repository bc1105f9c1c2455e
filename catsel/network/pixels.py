"""Preprocessing as words and values, framework-free: the mode strings the store's key, ``run.json`` and the
printout carry (``caffe``, ``tf``, ``torch``, ``raw``, an image converter's ``converter(scale=..., offset=...)``),
what each says in words, and how catsel turns RGB into a grayscale network's input. Each source applies them on
its own device (:class:`catsel.network.keras.preprocess.Preprocess`, :func:`catsel.network.torch.trace.preprocess_torch`).
"""

from __future__ import annotations

from ..errors import ModelError
from ..options import converter_values

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CAFFE_MEAN_BGR", "converter_mode", "GRAYSCALE", "PREPROCESS_WORDS", "preprocess_words"]


#: ImageNet's channel mean and standard deviation (RGB, on 0..1), as torchvision's and Keras' ``torch`` mode use
#: them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)

#: ImageNet's channel mean (BGR, on 0..255) that the ``caffe`` mode subtracts after swapping RGB to BGR.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def converter_mode(scale, offset) -> str:
    """The preprocessing of a keras-hub image converter, ``x * scale + offset`` per channel, as one mode string.

    The string is what the store's key, ``run.json`` and the printout carry, and what :class:`Preprocess` is
    built from: ``"converter(scale=[a, b, c], offset=[d, e, f])"``, each number written so that it reads back
    to the same float.

    Parameters
    ----------
    scale, offset : float, sequence of 3 floats or None
        The converter's (``None``: 1 and 0).

    Returns
    -------
    str
    """
    def three(value, default):
        value = default if value is None else value
        values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value] * 3)]
        if len(values) != 3:
            raise ModelError(f"an image converter's scale and offset have one value or three (RGB), not {value!r}")
        return "[" + ", ".join(repr(v) for v in values) + "]"

    return f"converter(scale={three(scale, 1.0)}, offset={three(offset, 0.0)})"


#: How catsel turns its RGB images into a grayscale network's input, in the store key and run.json.
GRAYSCALE = "grayscale: ITU-R 601-2 luma, L = (19595 R + 38470 G + 7471 B + 32768) >> 16, as Pillow's convert('L')"


PREPROCESS_WORDS = {
    "caffe": "caffe (RGB to BGR, the ImageNet mean subtracted)",
    "tf": "tf (pixels scaled to -1..1)",
    "torch": "torch (pixels scaled to 0..1, then the ImageNet mean and standard deviation)",
    "raw": "raw (pixel values 0-255 as they are)",
}


def preprocess_words(mode: str) -> str:
    """A preprocessing mode in words, for the record and the printout.

    Parameters
    ----------
    mode : str

    Returns
    -------
    str
    """
    values = converter_values(mode, ModelError)
    if values is None:
        return PREPROCESS_WORDS.get(mode, mode)
    scale, offset = values
    return (f"the preset's image converter: pixels (0-255) times scale {scale} plus offset {offset}, per RGB "
            "channel")
