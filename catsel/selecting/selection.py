"""Category selectivity of every filter: eq. 1 and eq. 2 of the paper.

For one unit (a conv filter's map maximum, or a dense unit) with activations
``A`` over all N images:

* eq. 1, min-max normalisation over the images::

      AN = (A - min(A)) / (max(A) - min(A) + eps)

* eq. 2, selectivity for category c::

      S_c = sum(AN over c's images) / (sum(AN over all images) + eps)

``S_c`` is 1 when all of the unit's activity falls on category c. A unit
with no preference gets ``chance_c = N_c / N``, c's share of the images.
The paper calls a unit selective for c when ``S_c`` exceeds chance by more
than a threshold (0.01). Units that never vary (silent: always 0; constant:
always the same value) have ``AN = 0`` everywhere, so ``S_c = 0``: they are
never selective, and :func:`layer_summary` counts them.

``index="repo"`` is the index of the paper's public code as it computes it:
each layer's activations normalised once by their minimum and maximum over
all images, positions and filters, and the mean over c's images minus the
mean over the other images averaged over positions (chance level 0); it
needs each filter's spatial mean and minimum, which the capture keeps.
``index="unit_contrast"`` is its per-unit variant (AN of the map maxima, eq. 1).
Other indices are registered with :func:`register_index`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..store import Activations
from .tables import long_table, onehot, selective_rule, summary_frame

__all__ = ["selectivity", "layer_summary", "layer_category_codes", "representative_units", "best_layers", "normalise", "selectivity_matrix",
           "stack_units", "index_inputs", "is_constant", "n_active", "selective_units", "register_index", "Index", "INDICES", "EPS",
           "MIN_ACTIVE", "Sums", "register_sums_index", "normalise_between", "blockwise_sums", "block_rows", "use_blockwise",
           "BLOCKWISE_ABOVE", "BLOCK_BYTES"]

#: The epsilon of eq. 1 and eq. 2.
EPS = 1e-7

#: Units above their minimum on fewer than this share of the images are *near-silent*: eq. 2 rewards
#: sparsity, so a unit that fires on one image gets S_c = 1 for that image's category. Representative
#: filters and top-image panels leave them out, and the layer summary counts them apart.
MIN_ACTIVE = 0.05


@dataclass(frozen=True)
class Index:
    """A selectivity index: its name, what it measures, and how it is computed.

    Parameters
    ----------
    name : str
    description : str
    compute : callable
        ``compute(x, members, eps) -> (values, chance)``, see below.
    prepare : callable
        ``prepare(a, eps) -> x``: what of the activations the index uses,
        computed once (eq. 1's normalisation, ranks, ...).
    inputs : callable, optional
        ``inputs(acts, layers) -> a``: for an index computed from something
        else than the map maxima (shape ``(n_images, n_units)``, the layers'
        units side by side); default: the maxima.
    from_sums : callable, optional
        ``from_sums(sums, eps) -> (values, chance)`` from :class:`Sums`, for
        the indices defined on sums over images (:func:`register_sums_index`).
    squares : bool, default False
        ``from_sums`` needs sums of squares too.
    normalised : bool, default False
        ``prepare`` is eq. 1 (:func:`normalise`).
    summaries : bool, default False
        ``inputs`` reads the maps' spatial means and minima: a capture for this
        index keeps them (:func:`catsel.capture`'s ``summaries``).

    ``prepare`` takes the activations ``a`` (float64, shape ``(n_images,
    n_units)``). ``compute`` takes its result and a membership matrix
    ``members`` of shape ``(n_rows, n_images)`` whose every row is one
    category's 0/1 membership (from :func:`catsel.selecting.tables.onehot`, or a stack of
    them under shuffled labels), and returns ``(values, chance)``: the index
    of every unit for every row, shape ``(n_rows, n_units)``, and each row's
    chance level, shape ``(n_rows,)``. Rows must be computed independently of
    each other: the permutation test stacks many shuffles into one call.

    The built-in indices other than ``auroc`` and ``repo`` depend on the images
    only through sums over them (:class:`Sums`): they also have ``from_sums``,
    and can be computed block by block of images in bounded memory
    (``squares``: they need sums of squares too; ``normalised``: their
    preparation is eq. 1, which needs each unit's minimum and maximum first).
    """

    name: str
    description: str
    compute: Callable[[np.ndarray, np.ndarray, float], tuple[np.ndarray, np.ndarray]]
    prepare: Callable[[np.ndarray, float], np.ndarray]
    inputs: Callable[[Activations, list[str]], np.ndarray] | None = None
    from_sums: Callable[["Sums", float], tuple[np.ndarray, np.ndarray]] | None = None
    squares: bool = False
    normalised: bool = False
    summaries: bool = False

    @property
    def blockwise(self) -> bool:
        """Whether the index can be computed block by block of images (:func:`blockwise_sums`)."""
        return self.from_sums is not None and self.inputs is None


#: The registered selectivity indices, by name (see :func:`register_index`).
INDICES: dict[str, Index] = {}


def _as_is(a: np.ndarray, eps: float) -> np.ndarray:
    return a


def register_index(name: str, description: str, prepare: Callable[[np.ndarray, float], np.ndarray] | None = None,
                   inputs: Callable[[Activations, list[str]], np.ndarray] | None = None, summaries: bool = False):
    """Register a selectivity index: adding an index touches this one place.

    Use as a decorator on a function ``compute(x, members, eps) -> (values,
    chance)`` (see :class:`Index`). The index is then available to
    :func:`selectivity`, the permutation test, the statistics, the explorers
    and ``catsel run --index``.

    Parameters
    ----------
    name : str
        The name users pass as ``index=``.
    description : str
        One sentence: what it measures, and its chance level.
    prepare : callable, optional
        ``prepare(a, eps) -> x``, computed once per table (default: the activations as they are).
    inputs : callable, optional
        ``inputs(acts, layers) -> a`` when the index is not computed from the map maxima.
    summaries : bool, default False
        ``inputs`` reads the spatial means and minima (``acts.means``, ``acts.minima``).

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.
    """
    def decorate(compute):
        INDICES[name] = Index(name, description, compute, prepare or _as_is, inputs, summaries=summaries)
        return compute
    return decorate


def stack_units(acts: Activations, layers=None) -> tuple[list[str], np.ndarray, list[int]]:
    """All units of the chosen layers side by side.

    Parameters
    ----------
    acts : Activations
    layers : list of str, optional
        Default: every captured layer.

    Returns
    -------
    layers : list of str
    a : ndarray of float64, shape (n_images, n_units)
        The layers' units in network order.
    sizes : list of int
        Units per layer.
    """
    layers = list(layers) if layers is not None else list(acts.layers)
    blocks = [np.asarray(acts[l], dtype=np.float64) for l in layers]
    return layers, np.concatenate(blocks, axis=1), [b.shape[1] for b in blocks]


def n_active(a: np.ndarray) -> np.ndarray:
    """On how many images each unit is above its own minimum.

    Parameters
    ----------
    a : ndarray, shape (n_images, n_units)

    Returns
    -------
    ndarray of int, shape (n_units,)
        0 for a silent or constant unit.
    """
    return (a > a.min(axis=0, keepdims=True)).sum(axis=0)


def index_inputs(acts: Activations, layers=None, index: str = "paper") -> tuple[list[str], np.ndarray, list[int]]:
    """What an index is computed from, for the chosen layers: the map maxima, or the index's own inputs.

    Parameters
    ----------
    acts : Activations
    layers : list of str, optional
        Default: every captured layer.
    index : str, default "paper"

    Returns
    -------
    layers : list of str
    a : ndarray of float64, shape (n_images, n_units)
        The layers' units side by side, as the index's ``prepare`` takes them.
    sizes : list of int
    """
    if index not in INDICES:
        raise ValueError(f"unknown index {index!r}; use one of {', '.join(INDICES)}")
    layers, a, sizes = stack_units(acts, layers)
    spec = INDICES[index]
    if spec.inputs is not None:
        a = np.asarray(spec.inputs(acts, layers), dtype=np.float64)
    return layers, a, sizes


def is_constant(a: np.ndarray) -> np.ndarray:
    """Units that never vary over the images.

    Parameters
    ----------
    a : ndarray, shape (n_images, n_units)

    Returns
    -------
    ndarray of bool, shape (n_units,)
    """
    return a.max(axis=0) == a.min(axis=0)


def normalise(a: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Eq. 1: min-max normalise each unit over the images.

    Parameters
    ----------
    a : array-like, shape (n_images, n_units)
    eps : float, default :data:`EPS`

    Returns
    -------
    ndarray of float64, shape (n_images, n_units)
        ``(a - min) / (max - min + eps)`` per column.
    """
    a = np.asarray(a, dtype=np.float64)
    return normalise_between(a, a.min(axis=0, keepdims=True), a.max(axis=0, keepdims=True), eps)


def normalise_between(a: np.ndarray, lo: np.ndarray, hi: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Eq. 1 with each unit's minimum and maximum given (over all images, for a block of them).

    Parameters
    ----------
    a : ndarray, shape (n_images, n_units)
    lo, hi : ndarray, shape (1, n_units)
    eps : float, default :data:`EPS`

    Returns
    -------
    ndarray of float64
    """
    return (a - lo) / (hi - lo + eps)


@dataclass
class Sums:
    """What the built-in indices need of the prepared activations ``x``: sums over images.

    For each row of a membership matrix (a category, or a category under
    shuffled labels): the sum of ``x`` over its images, and over all images;
    with ``squares``, the same of ``x ** 2``. Sums of blocks of images add up
    (``+``), so an index defined on them is computed block by block in memory
    that follows the block, not the number of images.

    Parameters
    ----------
    inside : ndarray, shape (n_rows, n_units)
    total : ndarray, shape (1, n_units)
    counts : ndarray, shape (n_rows,)
        Images of each row.
    n : int
        Images in all.
    inside_squares, total_squares : ndarray, optional
    """

    inside: np.ndarray
    total: np.ndarray
    counts: np.ndarray
    n: int
    inside_squares: np.ndarray | None = None
    total_squares: np.ndarray | None = None

    @classmethod
    def of(cls, x: np.ndarray, members, squares: bool = False) -> "Sums":
        """The sums of ``x`` (images × units) for the rows of ``members`` (rows × images, dense or sparse).

        Parameters
        ----------
        x : ndarray, shape (n_images, n_units)
        members : ndarray or scipy sparse matrix, shape (n_rows, n_images)
        squares : bool, default False

        Returns
        -------
        Sums
        """
        counts = np.asarray(members.sum(axis=1)).reshape(-1)
        result = cls(np.asarray(members @ x), x.sum(axis=0, keepdims=True), counts, members.shape[1])
        if squares:
            result.inside_squares = np.asarray(members @ (x * x))
            result.total_squares = (x * x).sum(axis=0, keepdims=True)
        return result

    def __add__(self, other: "Sums") -> "Sums":
        both = lambda a, b: None if a is None else a + b
        return Sums(self.inside + other.inside, self.total + other.total, self.counts + other.counts,
                    self.n + other.n, both(self.inside_squares, other.inside_squares),
                    both(self.total_squares, other.total_squares))

    def in_and_out(self, squares: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per row: sums over its images and over the others, and both image counts (at least 1).

        Parameters
        ----------
        squares : bool, default False
            Of ``x ** 2`` instead of ``x``.

        Returns
        -------
        tuple of ndarray
            ``inside``, ``outside`` (rows × units), ``n_in``, ``n_out`` (rows × 1).
        """
        inside, total = (self.inside_squares, self.total_squares) if squares else (self.inside, self.total)
        return (inside, total - inside, np.maximum(self.counts, 1)[:, None],
                np.maximum(self.n - self.counts, 1)[:, None])


def register_sums_index(name: str, description: str, *, prepare: Callable[[np.ndarray, float], np.ndarray] | None = None,
                        squares: bool = False):
    """Register an index defined on sums over images (:class:`Sums`): computed whole or block by block.

    Use as a decorator on ``from_sums(sums, eps) -> (values, chance)``; the
    in-memory ``compute`` is derived from it, so both ways share one formula.

    Parameters
    ----------
    name, description : str
        As for :func:`register_index`.
    prepare : callable, optional
        ``prepare(a, eps) -> x``: :func:`normalise` (eq. 1), or a function
        of each value alone (default: the values as they are).
    squares : bool, default False
        The index needs sums of squares.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.
    """
    def decorate(from_sums):
        def compute(x, members, eps):
            return from_sums(Sums.of(x, members, squares), eps)

        INDICES[name] = Index(name, description, compute, prepare or _as_is, None, from_sums, squares,
                              prepare is normalise)
        return from_sums
    return decorate


@register_sums_index("paper", "eq. 2: share of the unit's normalised activity that falls on the category "
                              "(chance = category's share of images)", prepare=normalise)
def _paper(sums, eps):
    return sums.inside / (sums.total + eps), sums.counts / sums.n


@register_sums_index("unit_contrast", "mean normalised activity on the category minus on the other images (chance = "
                                      "0); a per-unit variant of the public code's index, which normalises per layer",
                     prepare=normalise)
def _contrast(sums, eps):
    inside, outside, n_in, n_out = sums.in_and_out()
    return inside / n_in - outside / n_out, np.zeros(len(sums.counts))


@register_sums_index("fsi", "selectivity index (R_c - R_o) / (R_c + R_o) of the mean responses (clipped at 0) on the "
                            "category and on the others, as the face selectivity index FSI (chance = 0; the "
                            "literature's criterion: > 1/3)", prepare=lambda a, eps: np.maximum(a, 0.0))
def _fsi(sums, eps):
    inside, outside, n_in, n_out = sums.in_and_out()
    mean_in, mean_out = inside / n_in, outside / n_out
    denominator = mean_in + mean_out
    return (np.divide(mean_in - mean_out, denominator, out=np.zeros_like(denominator), where=denominator > 0),
            np.zeros(len(sums.counts)))


@register_sums_index("dprime", "d' = (mean_c - mean_o) / sqrt((var_c + var_o) / 2) (chance = 0)", squares=True)
def _dprime(sums, eps):
    inside, outside, n_in, n_out = sums.in_and_out()
    squares_in, squares_out, _, _ = sums.in_and_out(squares=True)
    mean_in, mean_out = inside / n_in, outside / n_out
    var_in = np.maximum(squares_in / n_in - mean_in ** 2, 0.0)
    var_out = np.maximum(squares_out / n_out - mean_out ** 2, 0.0)
    spread = np.sqrt((var_in + var_out) / 2)
    difference = mean_in - mean_out
    # no spread: perfect separation (±inf) when the means differ, 0 for a constant unit
    separated = np.where(difference == 0, 0.0, np.copysign(np.inf, difference)).astype(difference.dtype)
    return np.divide(difference, spread, out=separated, where=spread > 0), np.zeros(len(sums.counts))


def _ranks(a: np.ndarray, eps: float) -> np.ndarray:
    # SciPy's rankdata over every unit at once (the Mann-Whitney form of the AUROC). scikit-learn's
    # roc_auc_score gives the same values (to 2e-16) but takes one unit at a time: for 12,416 units
    # x 4 categories x 1,200 images, 1.96 s here against about 104 s (measured on this project's CI machine).
    from scipy.stats import rankdata

    return rankdata(a, axis=0)  # ties get average ranks


@register_index("auroc", "area under the ROC curve of the unit's value for category vs the other images (chance = 0.5)",
                prepare=_ranks)
def _auroc(ranks, members, eps):
    n, n_in = members.shape[1], members.sum(axis=1)[:, None]
    auc = ((members @ ranks) - n_in * (n_in + 1) / 2) / np.maximum(n_in * (n - n_in), 1)
    return auc, np.full(len(members), 0.5)


def _per_layer_normalised_means(acts: Activations, layers: list[str]) -> np.ndarray:
    """Each unit's spatial mean, normalised once per layer by the layer's minimum and maximum over all images,
    positions and filters (``norm_values`` of the public code, whose epsilon is 1e-18)."""
    blocks = []
    for layer in layers:
        low = float(np.min(acts.minima(layer)))
        high = float(np.max(acts[layer]))
        blocks.append((np.asarray(acts.means(layer), dtype=np.float64) - low) / (high - low + 1e-18))
    return np.concatenate(blocks, axis=1)


def _in_and_out(values: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``members``: sums over its images and over the others, and both image counts."""
    return Sums.of(values, members).in_and_out()


@register_index("repo", "the paper's public code (norm_values, category_selectivity_index): the activation "
                        "normalised once per layer by its minimum and maximum over all images, positions and "
                        "filters; mean over the category's images minus over the others, averaged over positions "
                        "(chance = 0)", inputs=_per_layer_normalised_means, summaries=True)
def _repo(normalised_means, members, eps):
    inside, outside, n_in, n_out = _in_and_out(normalised_means, members)
    return inside / n_in - outside / n_out, np.zeros(len(members))


def selectivity_matrix(a: np.ndarray, labels: np.ndarray, n_categories: int, *,
                       index: str = "paper", eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """Selectivity of every unit for every category, and each category's chance level.

    Parameters
    ----------
    a : array-like, shape (n_images, n_units)
        Activations (map maxima, or dense units).
    labels : array-like of int, shape (n_images,)
        Category of each image.
    n_categories : int
        Number of categories.
    index : str, default "paper"
        A name in :data:`INDICES`: ``"paper"`` (eq. 2), ``"repo"``, ``"unit_contrast"``,
        ``"fsi"``, ``"dprime"`` or ``"auroc"``.
    eps : float, default :data:`EPS`

    Returns
    -------
    values : ndarray, shape (n_categories, n_units)
    chance : ndarray, shape (n_categories,)
    """
    if index not in INDICES:
        raise ValueError(f"unknown index {index!r}; use one of {', '.join(INDICES)}")
    spec = INDICES[index]
    return spec.compute(spec.prepare(np.asarray(a, dtype=np.float64), eps), onehot(labels, n_categories), eps)


def selective_units(a: np.ndarray, labels: np.ndarray, n_categories: int, *, index: str = "paper",
                    threshold: float = 0.01, eps: float = EPS) -> np.ndarray:
    """The paper's rule applied to an activation matrix.

    Parameters
    ----------
    a : array-like, shape (n_images, n_units)
    labels : array-like of int, shape (n_images,)
    n_categories : int
    index : str, default "paper"
    threshold : float, default 0.01
    eps : float, default :data:`EPS`

    Returns
    -------
    ndarray of bool, shape (n_categories, n_units)
        See :func:`catsel.selecting.tables.selective_rule`.
    """
    values, chance = selectivity_matrix(a, labels, n_categories, index=index, eps=eps)
    return selective_rule(values - chance[:, None], is_constant(np.asarray(a))[None, :], threshold)


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

    def chosen():
        for start, stop, a in _blocks(acts, layers, rows):
            keep = slice(None) if images is None else images[start:stop]
            a = a[keep] if units is None else a[keep][:, units]
            if len(a):
                yield (np.arange(start, stop) if images is None else np.flatnonzero(images[start:stop]) + start), a

    if bounds is None:
        low = high = None
        for _, a in chosen():  # pass 1: eq. 1's minimum and maximum
            low = a.min(axis=0, keepdims=True) if low is None else np.minimum(low, a.min(axis=0, keepdims=True))
            high = a.max(axis=0, keepdims=True) if high is None else np.maximum(high, a.max(axis=0, keepdims=True))
    else:
        low, high = bounds["low"][None, :], bounds["high"][None, :]
    total, active = None, np.zeros(low.shape[1], dtype=np.int64)
    n_rows = labelings.shape[0] * n_categories
    for which, a in chosen():  # pass 2: the sums
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


def selectivity(acts: Activations, *, index: str = "paper", threshold: float = 0.01,
                layers: list[str] | None = None, eps: float = EPS, blockwise: bool | None = None,
                select_from: Activations | None = None) -> pd.DataFrame:
    """Selectivity of every captured unit for every category, as a tidy table.

    Computed for all layers, units and categories at once (eq. 1 and eq. 2,
    see the module docstring).

    Parameters
    ----------
    acts
        From :func:`catsel.capture` or :func:`catsel.load_activations`.
    index
        ``"paper"`` (eq. 2, default), ``"repo"`` (the public code's), ``"unit_contrast"`` (its per-unit variant), or one of
        the indices of the neuroscience literature: ``"fsi"``, ``"dprime"``,
        ``"auroc"`` (see :data:`INDICES`), each compared with its own chance level.
    threshold
        A unit is ``selective`` for c when its index exceeds c's chance level
        by more than ``threshold`` (the paper: 0.01). A unit can be selective
        for more than one category.
    layers
        A subset of the captured layers (default: all).
    eps
        The epsilon of eq. 1 and eq. 2.
    blockwise
        Read the store block by block of images (:func:`blockwise_sums`),
        in memory that follows the block and not the number of images; the
        values equal the whole computation's to rounding (1e-12). Default:
        when the images × units matrix would take over
        :data:`BLOCKWISE_ABOVE` bytes and the index allows it.
    select_from
        The same network's capture of independent images (a localizer set):
        units are chosen on them (column ``chosen``: selective there) and
        counted on ``acts`` (``selective``: chosen, and selective on these
        images too), so that choosing and counting never use the same images
        (Kriegeskorte et al. 2009). The categories must be the same.

    Returns
    -------
    pandas.DataFrame
        One row per layer × unit × category, with columns ``layer``,
        ``filter`` (unit index), ``category``, ``selectivity``, ``chance``,
        ``above_chance``, ``selective``, ``silent`` (always 0), ``constant``
        (never varies, silent included), ``n_active`` (images on which the
        unit is above its minimum), ``index``, ``model``, ``weights``.
        ``layer`` and ``category`` are ordered categoricals (network order,
        label order).
    """
    if index not in INDICES:
        raise ValueError(f"unknown index {index!r}; use one of {', '.join(INDICES)}")
    layers = list(layers) if layers is not None else list(acts.layers)
    sizes = [acts.units[l] for l in layers]
    if use_blockwise(acts, layers, index, blockwise):
        sums, units = blockwise_sums(acts, layers, index, acts.labels, len(acts.categories), eps=eps)
        values, chance = INDICES[index].from_sums(sums, eps)
        silent, constant_units, active = units["all_zero"], units["low"] == units["high"], units["n_active"]
    else:
        _, x, _ = index_inputs(acts, layers, index)
        a = x if INDICES[index].inputs is None else stack_units(acts, layers)[1]  # the maxima, stacked once
        values, chance = selectivity_matrix(x, acts.labels, len(acts.categories), index=index, eps=eps)
        silent, constant_units, active = np.all(a == 0, axis=0), is_constant(a), n_active(a)
    constant = np.broadcast_to(constant_units, values.shape)
    above = values - chance[:, None]
    table = long_table(layers, sizes, acts.categories,
                       selectivity=values,
                       chance=np.broadcast_to(chance[:, None], values.shape),
                       above_chance=above,
                       silent=np.broadcast_to(silent, values.shape),
                       constant=constant,
                       selective=selective_rule(above, constant, threshold),
                       n_active=np.broadcast_to(active, values.shape))
    if select_from is not None:  # chosen on independent images, counted on these
        if tuple(select_from.categories) != tuple(acts.categories):
            raise ValueError(f"the localizer's categories ({', '.join(select_from.categories)}) are not the test "
                             f"images' ({', '.join(acts.categories)}): give both folders the same category folders")
        if tuple(select_from.layers) != tuple(acts.layers) or select_from.units != acts.units:
            raise ValueError("the localizer was captured with other layers: capture both with the same network")
        chosen = selectivity(select_from, index=index, threshold=threshold, layers=layers, eps=eps)["selective"]
        table["chosen"] = chosen.to_numpy()
        table["selective"] = table["selective"].to_numpy() & table["chosen"].to_numpy()
        table.attrs["select_from"] = str(select_from.path) if select_from.path is not None else "given"
    table["index"] = index
    table["model"] = acts.meta.model
    table["weights"] = acts.meta.weights
    table.attrs.update({"threshold": threshold, "index": index, "eps": eps, "n_images": len(acts),
                        "images_per_category": acts.counts,
                        "model_label": acts.model_label, "trained": acts.meta.trained})
    return table


def layer_category_codes(table: pd.DataFrame) -> np.ndarray:
    """Each row's layer × category cell, numbered ``layer_code * n_categories + category_code``.

    In int64: pandas keeps category codes in int8 below 128 categories, and
    the product overflowed past 127 cells (51 layers × 4 categories).

    Parameters
    ----------
    table : DataFrame
        With categorical ``layer`` and ``category`` columns.

    Returns
    -------
    ndarray of int64
    """
    n_categories = len(table["category"].cat.categories)
    return (table["layer"].cat.codes.to_numpy().astype(np.int64) * n_categories
            + table["category"].cat.codes.to_numpy().astype(np.int64))


def layer_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per layer and category: units, selective units, and their proportion.

    The paper's Figure 1 plots ``proportion``. ``n_silent`` and
    ``n_constant`` count the units that cannot be selective for anything
    (silent units are also constant). ``n_selective_near_silent`` counts the
    selective units that are active on fewer than :data:`MIN_ACTIVE` of the
    images: eq. 2 rewards sparsity, and such units are selective on a
    handful of images.

    Parameters
    ----------
    table : DataFrame
        From :func:`selectivity` (one row per layer × unit × category).

    Returns
    -------
    DataFrame
        One row per layer × category present in ``table``, with the columns of
        :data:`catsel.selecting.tables.SUMMARY_COLUMNS` (then ``index``, ``model``,
        ``weights``); ``table``'s attrs (threshold, index, model label) kept.
    """
    layers = list(table["layer"].cat.categories)
    categories = list(table["category"].cat.categories)
    codes = layer_category_codes(table)
    size = len(layers) * len(categories)

    def count(column=None):
        weights = None if column is None else table[column].to_numpy(dtype=np.float64)
        return np.bincount(codes, weights=weights, minlength=size)

    summary = summary_frame(layers, categories, n_units=count(), n_selective=count("selective"),
                            n_silent=count("silent"), n_constant=count("constant"))
    present = count() > 0  # layers or categories of the categoricals that the table has no rows for
    if "n_active" in table and table.attrs.get("n_images"):
        near_silent = table["selective"].to_numpy() & (
            table["n_active"].to_numpy() < MIN_ACTIVE * table.attrs["n_images"])
        summary["n_selective_near_silent"] = np.bincount(codes, weights=near_silent, minlength=size).astype(int)
    summary = summary[present].reset_index(drop=True)
    for col in ("index", "model", "weights"):
        if col in table:
            summary[col] = table[col].iloc[0] if len(table) else ""
    summary.attrs.update(table.attrs)
    return summary


def representative_units(table: pd.DataFrame, category: str, *, per_layer: int = 1,
                           layers: list[str] | None = None, min_active: float = MIN_ACTIVE) -> pd.DataFrame:
    """The most selective units for ``category`` in each layer (the paper's Figure 3 choice).

    Units are ranked by how far their index lies above chance; only units
    marked ``selective`` are returned, so a layer may give fewer than
    ``per_layer`` (or none).

    Parameters
    ----------
    table : DataFrame
        From :func:`selectivity`.
    category : str
    per_layer : int, default 1
        Units per layer, at most.
    layers : list of str, optional
        Only these layers (default: all in ``table``).
    min_active : float, default :data:`MIN_ACTIVE`
        Leave out units above their minimum on fewer than this share of the
        images (near-silent units, whose eq. 2 selectivity rests on a few images).

    Returns
    -------
    DataFrame
        Rows of ``table``, by layer in network order, most selective first.
    """
    if category not in set(table["category"].astype(str)):
        raise KeyError(f"no category {category!r}; categories: {', '.join(map(str, table['category'].cat.categories))}")
    rows = table[(table["category"] == category) & table["selective"]]
    if "n_active" in rows and table.attrs.get("n_images"):
        rows = rows[rows["n_active"] >= min_active * table.attrs["n_images"]]
    if layers is not None:
        rows = rows[rows["layer"].isin(layers)]
    rows = rows.sort_values(["layer", "above_chance"], ascending=[True, False], kind="stable")
    return rows.groupby("layer", observed=True, sort=True).head(per_layer).reset_index(drop=True)


def best_layers(summary: pd.DataFrame, *, by: str = "proportion") -> pd.DataFrame:
    """Per category, the layer holding the largest proportion of selective units (or the largest excess over
    the shuffled-label null).

    The paper proposes this layer for extracting features of that category.
    Its rule is the raw proportion (``by="proportion"``); a layer whose count
    the null accounts for is not evidence, so :func:`catsel.compare` chooses
    by ``"excess"`` (the proportion minus the null's, column ``excess`` of a
    summary with baselines). Ties go to the deeper layer.

    Parameters
    ----------
    summary : DataFrame
        From :func:`layer_summary` (with ``excess`` for ``by="excess"``, see
        :func:`catsel.stats.with_baselines`).
    by : {"proportion", "excess"}, default "proportion"

    Returns
    -------
    DataFrame
        One row per category: ``category``, ``layer``, ``proportion``,
        ``n_selective``, ``n_units`` (and ``excess`` where the summary has it).
    """
    from ..options import check_choice

    check_choice("by", by, ("proportion", "excess"))
    if by not in summary:
        raise ValueError(f"the summary has no {by!r} column: add the shuffled-label null "
                         "(catsel.stats.with_baselines(..., shuffled=True)) or choose by proportion")
    rows = []
    for category, group in summary.groupby("category", observed=True, sort=True):
        group = group.sort_values("layer")
        best = group.iloc[len(group) - 1 - int(np.argmax(group[by].to_numpy()[::-1]))]
        row = {"category": category, "layer": best["layer"], "proportion": best["proportion"],
               "n_selective": best["n_selective"], "n_units": best["n_units"]}
        if "excess" in group:
            row["excess"] = best["excess"]
        rows.append(row)
    return pd.DataFrame(rows)


