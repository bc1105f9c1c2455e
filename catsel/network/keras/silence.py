"""Silencing units: a network cut at a layer, so that a lesion can set that layer's units before the rest runs."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from ...errors import CatselError
from ..interface import Network, as_stored, rows_per_pass
from .preprocess import Preprocess

__all__ = ["cut_at"]


def cut_at(amodel: Network, layer: str, readout: str, *,
           batch_size: int = 32) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The network in two parts: the images to ``layer``'s maps, and those maps (edited or not) on to ``readout``.

    Parameters
    ----------
    amodel : Network
        Its Keras implementation (it needs the layer graph).
    layer : str
        The layer whose units are silenced; every path to ``readout`` must go through it.
    readout : str
        A later layer, whose units are read out.
    batch_size : int, default 32
        Images per pass at most; fewer where a layer's output is large
        (:func:`~catsel.network.interface.rows_per_pass`).

    Returns
    -------
    maps_of : callable
        uint8 images (N, H, W, C) → ``layer``'s output (N, ..., units), float32.
    readout_of : callable
        ``layer``'s output → ``readout``'s units as the store keeps them (:func:`as_stored`).

    Raises
    ------
    CatselError
        When ``readout`` is also reached from before ``layer`` (a skip connection).
    """
    graph = amodel.graph
    source, target = graph.node(layer).output, graph.node(readout).output
    to_layer = graph.model([source])
    try:  # the lesioned passes start at the lesioned layer
        onward = keras.Model(source, target)
    except ValueError:
        raise CatselError(f"{readout} is also reached from before {layer} (a skip connection): lesion a layer "
                          "whose output is the only way to the read-out, or read out nearer to it") from None
    prepare = Preprocess(amodel.preprocess, int(graph.inputs[0].shape[-1]))
    nodes = list(graph.nodes.values())
    cut = next(i for i, n in enumerate(nodes) if n is graph.node(layer))
    end = next(i for i, n in enumerate(nodes) if n is graph.node(readout))
    before = rows_per_pass(max(_bytes_per_image(n.output) for n in nodes[:cut + 1]), batch_size)
    after = rows_per_pass(max(_bytes_per_image(n.output) for n in nodes[cut:end + 1]), batch_size)

    def maps_of(images: np.ndarray) -> np.ndarray:
        out = [np.asarray(keras.ops.convert_to_numpy(to_layer(prepare(keras.ops.convert_to_tensor(
            images[i:i + before].astype("float32"))), training=False))) for i in range(0, len(images), before)]
        return np.concatenate(out)

    def readout_of(maps: np.ndarray) -> np.ndarray:
        out = [as_stored(np.asarray(keras.ops.convert_to_numpy(onward(keras.ops.convert_to_tensor(
            maps[i:i + after]), training=False)))) for i in range(0, len(maps), after)]
        return np.concatenate(out)

    return maps_of, readout_of


def _bytes_per_image(output) -> int:
    """Bytes one image's ``output`` (a graph tensor, or a list of them) takes in float32."""
    tensors = output if isinstance(output, (list, tuple)) else [output]
    return sum(4 * int(np.prod([d or 1 for d in t.shape[1:]])) for t in tensors if hasattr(t, "shape"))
