"""The block engine: the indices' sums over a store larger than memory, read block by block of images.

Memory follows the block (:data:`BLOCK_BYTES`), not the number of images; the result equals the whole
computation's to float rounding (``tests/test_blockwise.py``).
"""

from __future__ import annotations

import numpy as np

from ..errors import StoreError
from ..store import Activations
from .indices import EPS, INDICES, Sums, normalise_between

__all__ = ["BLOCKWISE_ABOVE", "BLOCK_BYTES", "block_rows", "use_blockwise", "blockwise_sums"]


#: Above this size (bytes) of the images × units matrix in float64, :func:`selectivity` and the shuffled-label
#: null read the store block by block of images instead of whole.
BLOCKWISE_ABOVE = 2 * 2**30


#: The size (bytes, float64) of one block of images × units read at a time by the block-wise statistics.
BLOCK_BYTES = 64 * 2**20


def block_rows(acts: Activations, layers=None) -> int:
    """How many images the block-wise statistics read at a time: :data:`BLOCK_BYTES` of them.

    Parameters
    ----------
    acts : Activations
    layers : list of str, optional

    Returns
    -------
    int
    """
    units = sum(acts.units[l] for l in (layers if layers is not None else acts.layers))
    return max(1, BLOCK_BYTES // (8 * max(units, 1)))


def use_blockwise(acts: Activations, layers: list[str], index: str, blockwise: bool | None = None) -> bool:
    """Whether statistics read the store block by block: as asked, else when it is large (:data:`BLOCKWISE_ABOVE`).

    Parameters
    ----------
    acts : Activations
    layers : list of str
    index : str
    blockwise : bool, optional
        What the caller asked for.

    Returns
    -------
    bool
    """
    if blockwise is None:
        return INDICES[index].blockwise and len(acts) * sum(acts.units[l] for l in layers) * 8 > BLOCKWISE_ABOVE
    return bool(blockwise)


def _blocks(acts: Activations, layers: list[str], rows: int):
    """(start, stop, images × units in float64) for each block of ``rows`` images."""
    for start in range(0, len(acts), rows):
        stop = min(start + rows, len(acts))
        yield start, stop, np.concatenate([np.asarray(acts.rows(l, start, stop), dtype=np.float64) for l in layers],
                                          axis=1)


def blockwise_sums(acts: Activations, layers: list[str], index: str, labelings: np.ndarray, n_categories: int, *,
                   rows: int | None = None, eps: float = EPS, images: np.ndarray | None = None,
                   units: np.ndarray | None = None, bounds: dict | None = None) -> tuple[Sums, dict]:
    """An index's sums (:class:`Sums`) over all images, reading them block by block: memory follows the block.

    Two passes over the store: each unit's minimum and maximum (eq. 1 needs
    them before anything else), then the sums of the prepared values per
    category, for one or several labelings of the images at once (the labels,
    and shuffles of them for the null or a permutation test).

    Parameters
    ----------
    acts : Activations
        Best read with ``load_activations(..., mmap=True)``: a block is then
        all that is read into memory.
    layers : list of str
    index : str
        An index with ``from_sums`` (:attr:`Index.blockwise`).
    labelings : ndarray of int, shape (n_labelings, n_images)
        Category of each image under each labeling; row ``k * n_categories + c``
        of the sums is category ``c`` under labeling ``k``.
    n_categories : int
    rows : int, optional
        Images per block (default: :func:`block_rows`).
    eps : float, default :data:`EPS`
    images : ndarray of bool, shape (n_images,), optional
        Only these images (a split half): minimum, maximum and sums over them.
    units : ndarray of int, optional
        Only these columns of the layers' units side by side.
    bounds : dict, optional
        ``low`` and ``high`` of an earlier call with the same images and units
        (``units`` of its result): the first pass is skipped.

    Returns
    -------
    sums : Sums
    units : dict
        Per unit, shape (n_units,): ``low`` and ``high`` (minimum and maximum),
        ``n_active`` (images above the minimum) and ``all_zero``.
    """
    from scipy import sparse

    spec = INDICES[index]
    if not spec.blockwise:
        raise ValueError(f"the {index!r} index is not computed block by block; use one of "
                         f"{', '.join(n for n, i in INDICES.items() if i.blockwise)}")
    rows = rows or block_rows(acts, layers)
    labelings = np.atleast_2d(np.asarray(labelings))

    widths = np.cumsum([acts.units[l] for l in layers])

    def finite(a: np.ndarray, start: int, stop: int) -> None:
        """A NaN or infinite value is damage, found in the pass that reads its block (a NaN maximum would count
        as a unit that is never selective, with exit 0)."""
        bad = ~np.isfinite(a)
        if bad.any():
            image, column = np.argwhere(bad)[0]
            column = int(column if units is None else units[column])
            layer = layers[int(np.searchsorted(widths, column, side="right"))]
            raise StoreError(f"{layer} holds {int(bad.sum())} NaN or infinite values in images {start}-{stop - 1} "
                             f"(first: image {start + int(image)}): the store is damaged; rerun the capture to "
                             "repair it")

    def chosen(check: bool):
        for start, stop, a in _blocks(acts, layers, rows):
            keep = slice(None) if images is None else images[start:stop]
            a = a[keep] if units is None else a[keep][:, units]
            if len(a):
                if check:
                    finite(a, start, stop)
                yield (np.arange(start, stop) if images is None else np.flatnonzero(images[start:stop]) + start), a

    if bounds is None:
        low = high = None
        for _, a in chosen(True):  # pass 1: eq. 1's minimum and maximum, each block checked as it is read
            low = a.min(axis=0, keepdims=True) if low is None else np.minimum(low, a.min(axis=0, keepdims=True))
            high = a.max(axis=0, keepdims=True) if high is None else np.maximum(high, a.max(axis=0, keepdims=True))
    else:
        low, high = bounds["low"][None, :], bounds["high"][None, :]
    total, active = None, np.zeros(low.shape[1], dtype=np.int64)
    n_rows = labelings.shape[0] * n_categories
    for which, a in chosen(bounds is not None):  # pass 2: the sums (checked here when pass 1 was skipped)
        x = normalise_between(a, low, high, eps) if spec.normalised else spec.prepare(a, eps)
        cells = (np.arange(labelings.shape[0])[:, None] * n_categories
                 + labelings[:, which].astype(np.int64)).ravel()
        columns = np.tile(np.arange(len(which)), labelings.shape[0])
        members = sparse.csr_matrix((np.ones(len(cells)), (cells, columns)), shape=(n_rows, len(which)))
        block = Sums.of(x, members, spec.squares)
        total = block if total is None else total + block
        active += (a > low).sum(axis=0)
    stats = {"low": low[0], "high": high[0], "n_active": active, "all_zero": (low[0] == 0) & (high[0] == 0)}
    return total, stats
