"""Receptive fields of a Keras network's layers, walked through its flat graph (the arithmetic, framework-free,
is :mod:`catsel.network.receptive`'s)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..receptive import GLOBAL, ReceptiveField

if TYPE_CHECKING:
    import keras

__all__ = ["receptive_fields", "graph_fields", "global_layers", "walk_tensors"]


def _spatial(layer, attr, default, k: int = 0):
    value = getattr(layer, attr, default)
    if isinstance(value, int):
        return value
    return value[k] if value is not None else default




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
    """The field of every tensor of a flat :class:`catsel.network.keras.graph.Graph` whose input has field ``start``.

    Parameters
    ----------
    graph : catsel.network.keras.graph.Graph
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
    graph : catsel.network.keras.graph.Graph

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
