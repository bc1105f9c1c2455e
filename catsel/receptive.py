"""Receptive fields of conv layers, computed from the model's own layers.

For every layer output the receptive field is described by three numbers, in
input pixels (the usual recurrence, e.g. Araujo et al., "Computing receptive
fields of convolutional neural networks", Distill 2019):

* ``size`` r: side of the square of input pixels that can affect one unit;
* ``jump`` j: distance in input pixels between two neighbouring units;
* ``start`` s: centre, in input pixel coordinates, of the first unit's field.

A layer with kernel k (dilation d: effective k' = d (k − 1) + 1), stride t
and left/top padding p maps (r, j, s) to::

    r' = r + (k' − 1) j        j' = j t        s' = s + ((k' − 1) / 2 − p) j

Conv, depthwise/separable conv, max and average pooling and zero padding are
understood; layers that keep the grid (activations, batch norm, additions,
concatenations) pass it on; where branches meet, the largest field wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Keras is imported where a network is walked, so `catsel.widgets` stays light
    import keras

__all__ = ["ReceptiveField", "receptive_fields", "receptive_box"]


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a layer's units, in input pixels.

    Attributes
    ----------
    size : float
        Side of the square of input pixels that can affect one unit.
    jump : float
        Distance in input pixels between two neighbouring units.
    start : float
        Centre, in input pixel coordinates, of the first unit's field.

    Parameters
    ----------
    size, jump, start : float
    """
    size: float
    jump: float
    start: float

    def box(self, row: int, col: int, image_size: int | None = None) -> tuple[int, int, int, int]:
        """The input pixels seen by the unit at ``(row, col)`` of the map.

        Parameters
        ----------
        row, col : int
        image_size : int, optional
            Clip the box to an image of this side.

        Returns
        -------
        tuple of int
            ``(top, left, bottom, right)``; bottom and right exclusive.
        """
        half = (self.size - 1) / 2
        cy, cx = self.start + row * self.jump, self.start + col * self.jump
        top, left = math.ceil(cy - half - 1e-9), math.ceil(cx - half - 1e-9)
        bottom, right = math.floor(cy + half + 1e-9) + 1, math.floor(cx + half + 1e-9) + 1
        if image_size is not None:
            top, left = max(top, 0), max(left, 0)
            bottom, right = min(bottom, image_size), min(right, image_size)
        return top, left, bottom, right


def _spatial(layer, attr, default):
    value = getattr(layer, attr, default)
    if isinstance(value, int):
        return value
    return value[0] if value is not None else default


def _step(layer, field: ReceptiveField, in_size: int | None) -> ReceptiveField:
    import keras

    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _), _ = layer.padding
        return ReceptiveField(field.size, field.jump, field.start - top * field.jump)
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if kernel is None:
        return field
    k = kernel if isinstance(kernel, int) else kernel[0]
    stride = _spatial(layer, "strides", 1) or k
    dilation = _spatial(layer, "dilation_rate", 1)
    k_eff = dilation * (k - 1) + 1
    pad = 0
    if getattr(layer, "padding", "valid") == "same" and in_size is not None:
        out = math.ceil(in_size / stride)
        pad = max((out - 1) * stride + k_eff - in_size, 0) // 2
    return ReceptiveField(field.size + (k_eff - 1) * field.jump, field.jump * stride,
                          field.start + ((k_eff - 1) / 2 - pad) * field.jump)


def receptive_fields(network: "keras.Model") -> dict[str, ReceptiveField]:
    """Receptive field of every layer of a functional Keras model with a 2-D image input.

    Parameters
    ----------
    network : keras.Model
        A functional model (layers in topological order).

    Returns
    -------
    dict of str to ReceptiveField
        Layer name → the field of its output, in input pixels.
    """
    import keras

    fields: dict[int, ReceptiveField] = {}
    for inp in network.inputs:
        fields[id(inp)] = ReceptiveField(1.0, 1.0, 0.0)
    result: dict[str, ReceptiveField] = {}
    for layer in network.layers:  # functional models list layers in topological order
        inbound = []
        for node in getattr(layer, "_inbound_nodes", []):
            inbound.extend(t for t in node.input_tensors if id(t) in fields)
        if not inbound:
            if isinstance(layer, keras.layers.InputLayer):
                result[layer.name] = ReceptiveField(1.0, 1.0, 0.0)
                fields[id(layer.output)] = result[layer.name]
            continue
        field = max((fields[id(t)] for t in inbound), key=lambda f: f.size)
        in_shape = inbound[0].shape
        in_size = int(in_shape[1]) if len(in_shape) == 4 and in_shape[1] is not None else None
        out = _step(layer, field, in_size)
        result[layer.name] = out
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for t in outputs:
            fields[id(t)] = out
    return result


def receptive_box(field: ReceptiveField, position: int, map_width: int, image_size: int) -> tuple[int, int, int, int]:
    """The image box seen by the unit at a flat position of a map.

    Parameters
    ----------
    field : ReceptiveField
    position : int
        ``row * map_width + col``, as the store keeps it.
    map_width : int
    image_size : int

    Returns
    -------
    tuple of int
        ``(top, left, bottom, right)``, clipped to the image.
    """
    row, col = divmod(int(position), int(map_width))
    return field.box(row, col, image_size)
