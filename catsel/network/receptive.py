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

if TYPE_CHECKING:  # Keras is imported where a network is walked, so `catsel.apps.widgets` stays light
    import keras

__all__ = ["ReceptiveField", "receptive_fields", "graph_fields", "global_layers", "receptive_box", "GLOBAL"]


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a layer's units, in input pixels.

    Attributes
    ----------
    size : float
        Side of the input pixels that can affect one unit (its height, when
        the field is not square).
    jump : float
        Distance in input pixels between two neighbouring units (rows).
    start : float
        Centre, in input pixel coordinates, of the first unit's field (rows).
    global_context : bool
        The unit is also scaled by a global summary of the image (a
        squeeze-excite block upstream): its field is where it looks, but the
        whole image changes its value.
    size_x, jump_x, start_x : float or None
        The same along the columns, where they differ from the rows (a
        1 x 7 kernel, "same" padding on a non-square input); ``None``: as the rows.
    measured : bool
        Measured (the input pixels a unit's gradient reaches, inside the image) rather than computed from
        the layers' kernels: a PyTorch module whose maps pass through an operation that is no module.

    Parameters
    ----------
    size, jump, start : float
    global_context : bool, default False
    size_x, jump_x, start_x : float, optional
    measured : bool, default False
    """
    size: float
    jump: float
    start: float
    global_context: bool = False
    size_x: float | None = None
    jump_x: float | None = None
    start_x: float | None = None
    measured: bool = False

    def axis(self, k: int) -> tuple[float, float, float]:
        """``(size, jump, start)`` along the rows (``k=0``) or the columns (``k=1``).

        Parameters
        ----------
        k : {0, 1}

        Returns
        -------
        tuple of float
        """
        if k == 0 or self.size_x is None:
            return self.size, self.jump, self.start
        return self.size_x, self.jump_x, self.start_x

    @classmethod
    def of_axes(cls, rows: tuple, cols: tuple, global_context: bool = False) -> "ReceptiveField":
        """The field from ``(size, jump, start)`` per axis (the column values kept only where they differ).

        Parameters
        ----------
        rows, cols : tuple of float
        global_context : bool, default False

        Returns
        -------
        ReceptiveField
        """
        if all(abs(a - b) < 1e-9 for a, b in zip(rows, cols)):
            return cls(*rows, global_context)
        return cls(*rows, global_context, *cols)

    def to_json(self) -> dict:
        """``{"size", "jump", "start"}``, with ``global_context`` and the column values only when set.

        Returns
        -------
        dict
            What the store's ``meta.json`` records for a layer.
        """
        data = {"size": self.size, "jump": self.jump, "start": self.start}
        if self.global_context:  # only when set: a store's key stays as it was for the networks without
            data["global_context"] = True
        if self.size_x is not None:
            data.update(size_x=self.size_x, jump_x=self.jump_x, start_x=self.start_x)
        if self.measured:  # only when set, as global_context
            data["measured"] = True
        return data

    def box(self, row: int, col: int, image_size=None) -> tuple[int, int, int, int]:
        """The input pixels seen by the unit at ``(row, col)`` of the map.

        Parameters
        ----------
        row, col : int
        image_size : int or (int, int), optional
            Clip the box to an image of this side, or of this height and width.

        Returns
        -------
        tuple of int
            ``(top, left, bottom, right)``; bottom and right exclusive.
        """
        (sy, jy, y0), (sx, jx, x0) = self.axis(0), self.axis(1)
        cy, cx = y0 + row * jy, x0 + col * jx
        top, left = math.ceil(cy - (sy - 1) / 2 - 1e-9), math.ceil(cx - (sx - 1) / 2 - 1e-9)
        bottom, right = math.floor(cy + (sy - 1) / 2 + 1e-9) + 1, math.floor(cx + (sx - 1) / 2 + 1e-9) + 1
        if image_size is not None:
            from ..options import hw

            height, width = hw(image_size)
            top, left = max(top, 0), max(left, 0)
            bottom, right = min(bottom, height), min(right, width)
        return top, left, bottom, right


def _spatial(layer, attr, default, k: int = 0):
    value = getattr(layer, attr, default)
    if isinstance(value, int):
        return value
    return value[k] if value is not None else default


#: The field of an output that depends on the whole image (after a global pooling, a flatten, tokens).
GLOBAL = "global"


def _step(layer, field: ReceptiveField, in_shape, out_shape):
    """The field of ``layer``'s output from the field of its input: a ReceptiveField, GLOBAL, or None (unknown)."""
    import keras

    layers = keras.layers
    if isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)) or len(out_shape) != 4:
        return GLOBAL
    if isinstance(layer, (layers.ZeroPadding2D, layers.Cropping2D)):
        (top, _), (left, _) = layer.padding if isinstance(layer, layers.ZeroPadding2D) else layer.cropping
        sign = -1 if isinstance(layer, layers.ZeroPadding2D) else 1
        (sy, jy, y0), (sx, jx, x0) = field.axis(0), field.axis(1)
        return ReceptiveField.of_axes((sy, jy, y0 + sign * top * jy), (sx, jx, x0 + sign * left * jx),
                                      field.global_context)
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if kernel is None:
        if len(in_shape) == 4 and tuple(in_shape[1:3]) == tuple(out_shape[1:3]):
            return field  # the grid is kept: activations, norms, a Dense at every position, scales
        return None
    axes = []
    for k in (0, 1):  # rows, then columns
        size, jump, start = field.axis(k)
        side = kernel if isinstance(kernel, int) else kernel[k]
        stride = _spatial(layer, "strides", 1, k) or side
        dilation = _spatial(layer, "dilation_rate", 1, k)
        k_eff = dilation * (side - 1) + 1
        pad = 0
        in_size = int(in_shape[1 + k]) if len(in_shape) == 4 and in_shape[1 + k] is not None else None
        if getattr(layer, "padding", "valid") == "same" and in_size is not None:
            out = math.ceil(in_size / stride)
            pad = max((out - 1) * stride + k_eff - in_size, 0) // 2
        axes.append((size + (k_eff - 1) * jump, jump * stride, start + ((k_eff - 1) / 2 - pad) * jump))
    return ReceptiveField.of_axes(*axes, field.global_context)


def _union(fields: list):
    """The field where branches meet: the union of the local ones, flagged when a global branch joins them."""
    if any(f is None for f in fields):
        return None
    local = [f for f in fields if isinstance(f, ReceptiveField)]
    if not local:
        return GLOBAL
    context = len(local) < len(fields) or any(f.global_context for f in local)
    axes = []
    for k in (0, 1):
        each = [f.axis(k) for f in local]
        if len(each) == 1 or any(abs(a[1] - each[0][1]) > 1e-9 for a in each):
            axes.append(max(each, key=lambda a: a[0]))
            continue
        low = min(start - (size - 1) / 2 for size, _, start in each)
        high = max(start + (size - 1) / 2 for size, _, start in each)
        axes.append((high - low + 1, each[0][1], (low + high) / 2))
    return ReceptiveField.of_axes(*axes, context)


def walk_tensors(graph, start) -> dict:
    """The field of every tensor of a flat :class:`catsel.network.graph.Graph` whose input has field ``start``.

    Parameters
    ----------
    graph : catsel.network.graph.Graph
    start : ReceptiveField

    Returns
    -------
    dict
        ``id(tensor)`` → ReceptiveField, ``GLOBAL`` or ``None`` (unknown).
    """
    from keras import tree

    fields: dict[int, object] = {id(t): start for t in graph.inputs}
    for node in graph.nodes.values():
        if node.model:  # its output is its last layer's, already walked
            continue
        ins = [t for t in node.inputs if id(t) in fields]
        if not ins:
            continue
        known = [fields[id(t)] for t in ins]
        merged = _union(known) if len(known) > 1 else known[0]
        outs = tree.flatten(node.output)
        if merged is None or merged == GLOBAL:
            out = merged
        else:
            out = _step(node.layer, merged, tuple(ins[0].shape), tuple(outs[0].shape))
        for t in outs:
            fields[id(t)] = out
    return fields


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


def graph_fields(graph) -> dict:
    """Each node's receptive field, by name, computed once per graph.

    Parameters
    ----------
    graph : catsel.network.graph.Graph

    Returns
    -------
    dict
        Name → :class:`ReceptiveField`, ``GLOBAL`` (the whole image) or
        ``None`` (unknown).
    """
    if "fields" not in graph.derived:
        by_tensor = walk_tensors(graph, ReceptiveField(1.0, 1.0, 0.0))
        fields = {}
        for name, node in graph.nodes.items():
            out = node.output[0] if isinstance(node.output, (list, tuple)) else node.output
            fields[name] = by_tensor.get(id(out))
        graph.derived["fields"] = fields
    return graph.derived["fields"]


def _fields(network: "keras.Model") -> dict:
    """Layer name → ReceptiveField, GLOBAL, or None (unknown), through nested models (catsel's names)."""
    from .graph import Graph, graph_of

    return graph_fields(network if isinstance(network, Graph) else graph_of(network))


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
