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

Conv, depthwise and separable conv, max and average pooling, zero padding and
cropping are understood. Layers that keep the grid pass the field on:
activations, batch and layer normalisation, dropout, a ``Dense`` layer applied
at every position (a 1x1 conv), layer scales. Where branches meet (``Add``,
``Concatenate``, ``Multiply``) the field is the union of theirs. A global
pooling makes the field global (the whole image); where a global branch meets
a local one, as in a squeeze-excite block, the field stays local and is
flagged ``global_context``: the unit is driven by its local field and scaled
by the whole image. Tokens (a vision transformer) and dense layers have no
local field. A layer that changes the grid in a way not listed here gets no
field, and neither do the layers after it, rather than a wrong one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Keras is imported where a network is walked, so `catsel.widgets` stays light
    import keras

__all__ = ["ReceptiveField", "receptive_fields", "global_layers", "receptive_box", "GLOBAL"]


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
    global_context : bool
        The unit is also scaled by a global summary of the image (a
        squeeze-excite block upstream): its field is where it looks, but the
        whole image changes its value.

    Parameters
    ----------
    size, jump, start : float
    global_context : bool, default False
    """
    size: float
    jump: float
    start: float
    global_context: bool = False

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


#: The field of an output that depends on the whole image (after a global pooling, a flatten, tokens).
GLOBAL = "global"


def _step(layer, field: ReceptiveField, in_shape, out_shape):
    """The field of ``layer``'s output from the field of its input: a ReceptiveField, GLOBAL, or None (unknown)."""
    import keras

    layers = keras.layers
    if isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)) or len(out_shape) != 4:
        return GLOBAL
    if isinstance(layer, layers.ZeroPadding2D):
        (top, _), _ = layer.padding
        return ReceptiveField(field.size, field.jump, field.start - top * field.jump, field.global_context)
    if isinstance(layer, layers.Cropping2D):
        (top, _), _ = layer.cropping
        return ReceptiveField(field.size, field.jump, field.start + top * field.jump, field.global_context)
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if kernel is None:
        if len(in_shape) == 4 and tuple(in_shape[1:3]) == tuple(out_shape[1:3]):
            return field  # the grid is kept: activations, norms, a Dense at every position, scales
        return None
    k = kernel if isinstance(kernel, int) else kernel[0]
    stride = _spatial(layer, "strides", 1) or k
    dilation = _spatial(layer, "dilation_rate", 1)
    k_eff = dilation * (k - 1) + 1
    pad = 0
    in_size = int(in_shape[1]) if len(in_shape) == 4 and in_shape[1] is not None else None
    if getattr(layer, "padding", "valid") == "same" and in_size is not None:
        out = math.ceil(in_size / stride)
        pad = max((out - 1) * stride + k_eff - in_size, 0) // 2
    return ReceptiveField(field.size + (k_eff - 1) * field.jump, field.jump * stride,
                          field.start + ((k_eff - 1) / 2 - pad) * field.jump, field.global_context)


def _union(fields: list):
    """The field where branches meet: the union of the local ones, flagged when a global branch joins them."""
    if any(f is None for f in fields):
        return None
    local = [f for f in fields if isinstance(f, ReceptiveField)]
    if not local:
        return GLOBAL
    context = len(local) < len(fields) or any(f.global_context for f in local)
    if len(local) == 1 or any(abs(f.jump - local[0].jump) > 1e-9 for f in local):
        widest = max(local, key=lambda f: f.size)
        return ReceptiveField(widest.size, widest.jump, widest.start, context)
    low = min(f.start - (f.size - 1) / 2 for f in local)
    high = max(f.start + (f.size - 1) / 2 for f in local)
    return ReceptiveField(high - low + 1, local[0].jump, (low + high) / 2, context)


def _operations(network: "keras.Model") -> list:
    """The network's layers and operations in topological order (a Sequential model's through its graph)."""
    graph = getattr(network, "_functional", None) or network  # a Sequential model keeps a functional graph
    return list(getattr(graph, "operations", None) or graph.layers)


def receptive_fields(network: "keras.Model") -> dict[str, ReceptiveField]:
    """Receptive field of every layer of a Keras model with a 2-D image input.

    Parameters
    ----------
    network : keras.Model
        A functional or Sequential model, built in this session or loaded
        from a ``.keras`` file.

    Returns
    -------
    dict of str to ReceptiveField
        Layer name → the field of its output, in input pixels. A layer whose
        output depends on the whole image (after a global pooling, a dense
        layer on a vector, tokens) or whose field is not known is absent;
        :func:`global_layers` lists the former.
    """
    return {name: f for name, f in _fields(network).items() if isinstance(f, ReceptiveField)}


def global_layers(network: "keras.Model") -> list[str]:
    """The layers whose every unit depends on the whole image.

    Parameters
    ----------
    network : keras.Model

    Returns
    -------
    list of str
        In network order.
    """
    return [name for name, f in _fields(network).items() if f == GLOBAL]


def _fields(network: "keras.Model") -> dict:
    """Layer name → ReceptiveField, GLOBAL, or None (unknown)."""
    return _walk(network, ReceptiveField(1.0, 1.0, 0.0))[0]


def _walk(network: "keras.Model", start) -> tuple[dict, object]:
    """Each layer's field when the network's input has field ``start``, and the field of its output.

    Every node of the layer graph that hangs from the network's inputs is
    followed (a layer of a loaded Sequential model has one node per build),
    and a model used as a layer (ConvNeXt's stem) is walked inside.
    """
    import keras

    fields: dict[int, object] = {id(t): start for t in network.inputs}
    result: dict[str, object] = {}
    for op in _operations(network):
        if isinstance(op, keras.layers.InputLayer):
            result[op.name] = start
            for node in op._inbound_nodes:
                for t in node.output_tensors:
                    fields.setdefault(id(t), start)
            continue
        for node in getattr(op, "_inbound_nodes", []):
            ins = [t for t in node.input_tensors if id(t) in fields]
            if not ins:
                continue
            known = [fields[id(t)] for t in ins]
            merged = _union(known) if len(known) > 1 else known[0]
            outs = list(node.output_tensors)
            if merged is None or merged == GLOBAL:
                out = merged
            elif isinstance(op, keras.Model):
                out = _walk(op, merged)[1]
            else:
                out = _step(op, merged, tuple(ins[0].shape), tuple(outs[0].shape))
            result[op.name] = out
            for t in outs:
                fields[id(t)] = out
    ends = [fields.get(id(t)) for t in network.outputs]
    return result, (_union(ends) if len(ends) > 1 else ends[0])


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
