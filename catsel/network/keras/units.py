"""Which tensor a layer's units come from: a layer's output after its activation, a block's output, tokens.

A conv or dense layer's units are taken after their activation (:func:`post_activation`); a token layer's
maximum is over its patch tokens, its class token a layer of its own (``name[class]``, :data:`CLASS_TOKEN`), its
register tokens (DINOv2 with registers) in neither (:func:`leading_tokens`).
"""

from __future__ import annotations

import keras

from ...errors import ModelError
from ..tokens import CLASS_TOKEN, base_layer, class_tokens
from .graph import Graph, graph_of, passes_on

__all__ = ["CLASS_TOKEN", "class_tokens", "leading_tokens", "base_layer", "captured_output", "post_activation"]


def _registers(graph: Graph) -> int:
    """The register tokens the network declares (``num_register_tokens`` of a keras-hub DINOv2 or DINOv3), kept
    with the graph."""
    if "registers" not in graph.derived:
        found = 0
        for layer in graph.network._flatten_layers(include_self=True, recursive=True):
            k = getattr(layer, "num_register_tokens", None)
            if isinstance(k, int) and k > 0:
                found = k
                break
        graph.derived["registers"] = found
    return graph.derived["registers"]


def leading_tokens(graph: Graph, shape) -> tuple[int, int]:
    """The class and register tokens that lead a token output of shape (batch, tokens, channels).

    Neither is a patch: a token layer's maximum is over the tokens after them. The class token comes first
    (:func:`class_tokens`); a network that declares register tokens (DINOv2 with registers: ``[class],
    registers, patches``) has them next, and they are left out of every unit's maximum, and are no layer of
    their own.

    Parameters
    ----------
    graph : Graph
    shape : tuple

    Returns
    -------
    class_tokens, register_tokens : int
    """
    if len(shape) != 3 or shape[1] is None:
        return 0, 0
    registers = _registers(graph)
    if registers and int(shape[1]) > registers + 1:
        first = class_tokens((shape[0], int(shape[1]) - registers, shape[2]))
        if first:
            return first, registers
    return class_tokens(shape), 0


class _TakeClassToken(keras.layers.Layer):
    """The class token of a token output, (B, T, C) → (B, C): a layer of catsel's own (see :class:`Reduce`)."""

    def call(self, x):
        return x[:, 0]


def captured_output(graph: Graph, name: str, index: int = 0):
    """The symbolic tensor a captured name stands for: a layer's output, or its class token.

    Parameters
    ----------
    graph : Graph
        The network's flat graph (:func:`catsel.network.keras.graph.graph_of`).
    name : str
        A layer's name, or ``"LAYER[class]"``.
    index : int, default 0
        Numbers catsel's own layer, whose name must be unique in the model.

    Returns
    -------
    KerasTensor

    Raises
    ------
    ModelError
        When ``"LAYER[class]"`` names a layer without a class token, or the layer has several outputs.
    """
    base = base_layer(name)
    out = graph.node(base).output
    if isinstance(out, (list, tuple)):
        raise ModelError(f"layer {base} has several outputs; choose a layer with one")
    if base == name:
        return out
    if not leading_tokens(graph, out.shape)[0]:
        raise ModelError(f"{base} has no class token (its output is {tuple(out.shape[1:])}, not 1 + a square grid "
                         f"of patch tokens); capture {base} itself")
    return _TakeClassToken(name=f"catsel_class_token_{index}")(out)


def post_activation(network: keras.Model, name: str) -> str:
    """The layer whose output is what ``name``'s units pass on to the rest of the network.

    Follows ``name`` through the normalisation and activation layers that
    alone consume it (conv → batch norm → ReLU gives the ReLU), and for a
    branch of a residual or multi-branch block, to the block's output (see
    :func:`catsel.network.keras.graph.passes_on`). VGG's convs, with their ReLU inside, are
    their own post-activation layers.

    Parameters
    ----------
    network : keras.Model
    name : str

    Returns
    -------
    str
    """
    return passes_on(graph_of(network), name)
