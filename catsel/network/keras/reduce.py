"""The reduction of each map, in the graph: a unit's maximum over its map and where it was, and its summaries.

Three methods (:data:`REDUCTIONS`), bitwise equal in their maxima and positions: two max-poolings, the
position by argmax and the maximum read at it, and one variadic reduction (JAX). Only ``[batch, units]``
arrays leave the device.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = ["reduce_maps", "REDUCTIONS", "fused_reductions", "spatial_summaries", "on_jax_accelerator", "Reduce"]


def reduce_maps(tensor, *, method: str | None = None):
    """(B, ..., C) → per-channel maximum (B, C) and where it was (B, C), or (tensor, None) for dense.

    For 2-D maps the position comes from a max-pooling to row maxima (B, H, C),
    the first row holding the maximum, and an argmax over that row alone
    ((B, W, C), by a mask): ``row * W + col``, the map's first maximum in
    row-major order, ties included. On TensorFlow's CPU path, for a map of
    (16, 112, 112, 128), this took 206 ms where an ``argmax`` over the whole
    map took 497 ms and a 3x3 conv of that size 561 ms (this project's 2-core
    machine, loaded: ``/tmp`` micro-benchmark of the change). The two poolings
    it replaces, to row and to column maxima, took 124 ms, and met at a
    position without the maximum when it was tied across rows and columns (a
    ReLU6 saturated at 6, a constant border).

    On JAX with a GPU, the position is an ``argmax`` over the flattened map
    (the first maximum in row-major order): on an H100, the maximum and this
    position added 3.4 ms to the 15.2 ms of VGG16's forward pass for a batch of
    256 images in bfloat16, the maximum and the two poolings 11.1 ms
    (``benchmarks/capture_profile.py``); on CPUs the poolings are the faster.

    Parameters
    ----------
    tensor : KerasTensor, shape (batch, ..., channels)
        A layer's output inside a functional model.
    method : {"pooling", "argmax"}, optional
        How a 2-D map's position is found; by default ``"argmax"`` on JAX with
        a GPU, else ``"pooling"``.

    Returns
    -------
    maxima : KerasTensor of float32, shape (batch, channels)
    positions : KerasTensor of int32, shape (batch, channels), or None
        Flat index of each maximum into the map; ``None`` for a dense output.
    """
    shape = tensor.shape
    if len(shape) == 2:
        return ops.cast(tensor, "float32"), None
    if method is None:
        method = "argmax" if on_jax_accelerator() else "pooling"
    if len(shape) == 4 and method == "pooling":
        w = int(shape[2])
        rows = ops.max_pool(tensor, (1, w), strides=(1, w), data_format="channels_last")[:, :, 0]
        maxima = ops.max(rows, axis=1)
        # the first row holding the maximum, then the first column of that row holding it: the first maximum
        # in row-major order, ties and all (a ReLU6 saturated at 6 across rows and columns: the first row and
        # first column that each hold it need not meet at a maximum)
        h = int(shape[1])
        row = ops.cast(ops.argmax(rows, axis=1), "int32")
        # that row of each channel, by a mask and a max over the rows (a gather by index builds int64 indices,
        # which TensorFlow's oneDNN path logs an error line for on CPUs without AVX-512)
        chosen = ops.expand_dims(ops.equal(ops.expand_dims(ops.arange(h, dtype="int32"), -1),
                                           ops.expand_dims(row, 1)), 2)  # (B, H, 1, C)
        that_row = ops.max(ops.where(chosen, tensor, ops.cast(float("-inf"), tensor.dtype)), axis=1)
        position = row * w + ops.cast(ops.argmax(that_row, axis=1), "int32")
        return ops.cast(maxima, "float32"), ops.cast(position, "int32")
    spatial = int(np.prod(shape[1:-1]))
    flat = ops.reshape(tensor, (-1, spatial, shape[-1]))
    # one pass over the map: the maximum is read at its position (C values per image) rather than found by a
    # second reduction over the whole map; the same value, bit for bit
    position = ops.argmax(flat, axis=1)
    maxima = ops.take_along_axis(flat, ops.expand_dims(position, 1), axis=1)[:, 0]
    return ops.cast(maxima, "float32"), ops.cast(position, "int32")


#: How a map can be reduced to its maximum and position (and, when asked, mean and minimum): two max-poolings
#: (``"pooling"``), the position by argmax and the maximum read at it (``"argmax"``), or every kind asked for
#: in one variadic reduction, one pass over the map (``"fused"``, JAX only, :func:`fused_reductions`). An
#: activation model's ``reduction=`` chooses; ``benchmarks/capture_profile.py`` times each against the network.
REDUCTIONS = ("pooling", "argmax", "fused")


def fused_reductions(tensor, kinds) -> dict:
    """Every kind of ``kinds`` of a map (B, ..., C), per channel, from one variadic reduction over its positions.

    JAX only (``jax.lax.reduce`` with several operands, which XLA computes in one pass over the map): the
    maximum and the first position that holds it in row-major order, the minimum, and the sum in float32 for
    the mean. The maximum, position and minimum are those of the separate reductions, bit for bit; the mean
    is the same sum in another order (within float32 rounding). A map holding NaN: its position is that of
    the first maximum among the other values.

    Parameters
    ----------
    tensor : tensor, shape (batch, ..., channels)
    kinds : sequence of str
        Of ``"maxima"``, ``"positions"``, ``"means"``, ``"minima"``.

    Returns
    -------
    dict of str to tensor, shape (batch, channels)
        ``maxima``, ``means`` and ``minima`` in float32, ``positions`` in int32, those asked for.
    """
    import jax
    import jax.numpy as jnp

    x = jnp.reshape(tensor, (-1, math.prod(tensor.shape[1:-1]), tensor.shape[-1]))
    where = jax.lax.broadcasted_iota(jnp.int32, x.shape, 1)
    # XLA's variadic reduction takes one floating precision: float32, which holds a bfloat16 or float16 value
    # exactly (the maximum and minimum are those of the map as it was)
    x = x.astype(jnp.float32)
    low, high = jnp.float32(-jnp.inf), jnp.float32(jnp.inf)

    def pick(a, b):
        (m1, i1, n1, s1), (m2, i2, n2, s2) = a, b
        second = (m2 > m1) | ((m2 == m1) & (i2 < i1))  # the larger value; on a tie, the first position
        return (jnp.where(second, m2, m1), jnp.where(second, i2, i1), jnp.minimum(n1, n2), s1 + s2)

    m, i, n, total = jax.lax.reduce((x, where, x, x), (low, jnp.int32(2**31 - 1), high, jnp.float32(0)), pick,
                                    (1,))
    found = {"maxima": m, "positions": i, "minima": n, "means": total / jnp.float32(x.shape[1])}
    return {k: found[k] for k in kinds}


def on_jax_accelerator() -> bool:
    from .backends import on_accelerator

    return keras.backend.backend() == "jax" and on_accelerator()


def spatial_summaries(tensor):
    """(B, ..., C) → each channel's spatial mean and minimum (B, C), or None for a dense output.

    What the index of the paper's public code needs besides the maximum: it
    normalises a layer by its minimum and maximum over all images, positions
    and filters, and averages over positions. Two reductions in the graph,
    computed in float32 (a bfloat16 mean over a large map loses digits).

    Parameters
    ----------
    tensor : KerasTensor, shape (batch, ..., channels)

    Returns
    -------
    tuple of KerasTensor of float32, shape (batch, channels), or None
        ``(means, minima)``; ``None`` for a dense output (rank 2).
    """
    if len(tensor.shape) == 2:
        return None
    x = tensor if tensor.dtype == "float32" else ops.cast(tensor, "float32")
    axes = tuple(range(1, len(tensor.shape) - 1))
    return ops.mean(x, axis=axes), ops.min(x, axis=axes)


class Reduce(keras.layers.Layer):
    """One captured layer's output reduced per channel, as a single layer of catsel's own.

    Maximum and position (:func:`reduce_maps`), and for maps the spatial mean
    and minimum (:func:`spatial_summaries`), those of ``kinds`` only, in that
    order. A layer, not loose operations: Keras names loose operations
    (``add``, ``max_pooling2d``) by a counter that starts again in each
    session, and they clashed with the layers of a saved model that carry
    the same default names.
    """

    def __init__(self, method: str, skip: int = 0, kinds: tuple = ("maxima", "positions"), **kwargs):
        super().__init__(autocast=False, **kwargs)  # reduced in the network's own precision
        self.method, self.skip = method, skip  # skip: leading class tokens, kept apart from the patch tokens
        self.kinds = tuple(kinds)

    def call(self, x):
        if self.skip:
            x = x[:, self.skip:]
        found = {}
        if self.method == "fused" and len(x.shape) > 2:  # one pass over the map for every kind (JAX)
            return list(fused_reductions(x, self.kinds).values())
        if "maxima" in self.kinds or "positions" in self.kinds:
            found["maxima"], found["positions"] = reduce_maps(x, method=self.method)
        if len(x.shape) > 2 and ("means" in self.kinds or "minima" in self.kinds):
            found["means"], found["minima"] = spatial_summaries(x)
        return [found[k] for k in self.kinds if found.get(k) is not None]
