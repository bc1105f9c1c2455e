"""A batch's results as one buffer of 16-bit words, each kind in its smallest lossless type: the plan and the
split on the host, framework-free (:class:`Piece`, :func:`plan_packing`, :func:`unpack`). The Keras source packs
on the device with :class:`catsel.network.keras.packing.Pack`; one transfer per batch instead of one per layer
and kind, bitwise the same arrays on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Piece", "SHORT_POSITIONS", "plan_packing", "unpack"]


@dataclass(frozen=True)
class Piece:
    """One layer's results of one kind inside the batch's single buffer of 16-bit words.

    Parameters
    ----------
    kind : str
        ``"maxima"``, ``"positions"``, ``"means"`` or ``"minima"``.
    layer : str
    units : int
    dtype : str
        How the values travel: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (the layer's own precision,
        in which its maxima and minima are exact), ``"int32"``, or ``"offset16"`` (a position minus 32,768,
        for maps of at most 65,536 positions).
    start : int
        Its first word in the buffer's rows.
    """

    kind: str
    layer: str
    units: int
    dtype: str
    start: int

    @property
    def words(self) -> int:
        """16-bit words per image."""
        return self.units * (2 if self.dtype in ("float32", "int32") else 1)


#: Positions of maps up to this size travel as 16-bit words (a position minus 32,768).
SHORT_POSITIONS = 65536


def plan_packing(pieces: list[tuple[str, str, int, str, int | None]]) -> tuple[Piece, ...]:
    """Where each (kind, layer, units, layer dtype, map size) goes in the buffer: the smallest lossless types.

    Maxima and minima travel in the layer's own precision (exact: they are its values), positions as 16-bit
    offsets when the map is small enough, means as float32 (computed in float32). The 32-bit pieces come
    first, so that every float32 and int32 view of the buffer on the host is aligned.

    Parameters
    ----------
    pieces : list of tuple

    Returns
    -------
    tuple of Piece
    """
    planned = []
    for kind, layer, units, dtype, size in pieces:
        if kind == "positions":
            travel = "offset16" if size is not None and size <= SHORT_POSITIONS else "int32"
        elif kind == "means":
            travel = "float32"
        else:
            travel = dtype if dtype in ("bfloat16", "float16") else "float32"
        planned.append((kind, layer, units, travel))
    ordered = sorted(planned, key=lambda p: p[3] not in ("float32", "int32"))  # stable: 32-bit pieces first
    out, start = [], 0
    for kind, layer, units, travel in ordered:
        piece = Piece(kind, layer, units, travel, start)
        out.append(piece)
        start += piece.words
    return tuple(out)


def unpack(buffer: np.ndarray, packing: tuple) -> dict[str, dict[str, np.ndarray]]:
    """The store's arrays from a batch's buffer of 16-bit words: views where the type allows, else one cast.

    Parameters
    ----------
    buffer : ndarray of int16, shape (batch, words)
    packing : tuple of Piece

    Returns
    -------
    dict
        As :meth:`ActivationModel.split_all`.
    """
    from .kinds import ARRAYS

    arrays: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in ARRAYS}
    for piece in packing:
        words = buffer[:, piece.start : piece.start + piece.words]
        if piece.dtype == "float32":
            values = words.view(np.float32)
        elif piece.dtype == "int32":
            values = words.view(np.int32)
        elif piece.dtype == "bfloat16":  # a bfloat16 is the upper half of the float32 of the same value
            values = (words.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif piece.dtype == "float16":
            values = words.view(np.float16).astype(np.float32)
        else:  # offset16
            values = words.astype(np.int32) + 32768
        arrays[piece.kind][piece.layer] = values
    return arrays
