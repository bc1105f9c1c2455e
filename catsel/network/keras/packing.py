"""A batch's results packed on the device into the one buffer that :mod:`catsel.network.packing` plans and
splits on the host: bitwise the same arrays on TensorFlow, JAX and PyTorch."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["Pack", "can_pack"]


class Pack(keras.layers.Layer):
    """Every captured layer's results in one buffer of 16-bit words per image, so that a batch leaves the
    device in one transfer, in the smallest lossless types (see :func:`catsel.network.packing.plan_packing`)."""

    def __init__(self, packing: tuple, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.packing = packing

    def call(self, tensors):
        words = []
        for piece, x in zip(self.packing, tensors):
            if piece.dtype == "offset16":
                x = ops.cast(ops.cast(x, "int32") - 32768, "int16")
            else:
                x = ops.view(ops.cast(x, piece.dtype), "int16")
            words.append(ops.reshape(x, (-1, piece.words)))
        if sum(p.words for p in self.packing) % 2:  # rows of an even number of words keep 32-bit views aligned
            words.append(ops.zeros_like(words[-1][:, :1]))
        return words[0] if len(words) == 1 else ops.concatenate(words, axis=-1)


def can_pack() -> bool:
    """Keras 3.8 and later bitcast (``keras.ops.view``); earlier ones send float32 per kind."""
    return hasattr(ops, "view")
