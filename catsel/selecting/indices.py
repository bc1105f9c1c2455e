"""The selectivity indices: eq. 1 and eq. 2 of the paper, the others registered beside them, and the units that never vary.

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

from ..errors import StoreError
from ..options import INDEX, THRESHOLD
from ..store import Activations
from .tables import onehot, selective_rule

__all__ = ["EPS", "MIN_ACTIVE", "Index", "INDICES", "register_index", "stack_units", "n_active", "index_inputs",
           "is_constant", "normalise", "normalise_between", "Sums", "register_sums_index", "selectivity_matrix",
           "above_chance", "selective", "selective_units"]


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
    for layer, block in zip(layers, blocks):
        if not np.isfinite(block).all():  # a NaN unit would count as never selective, without a word
            where = f"{acts.path}/maxima/{layer}.npy" if getattr(acts, "path", None) is not None else f"layer {layer}"
            raise StoreError(f"{where} holds values that are not finite (NaN or infinite): the store is damaged "
                             "(rerun the capture to repair it), or the network's values overflow (with --precision "
                             "float16 or bfloat16, capture in float32)")
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


def index_inputs(acts: Activations, layers=None, index: str = INDEX) -> tuple[list[str], np.ndarray, list[int]]:
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


def is_constant(a) -> np.ndarray:
    """Units that never vary over the images: the one test, for units in memory and units read block by block.

    Parameters
    ----------
    a : ndarray, shape (n_images, n_units), or mapping
        The activations, or the block-wise reading's per-unit summary (:func:`catsel.selecting.blocks.blockwise_sums`:
        its ``"low"`` and ``"high"``, each unit's minimum and maximum over the images).

    Returns
    -------
    ndarray of bool, shape (n_units,)
    """
    if hasattr(a, "keys"):
        return np.asarray(a["low"]) == np.asarray(a["high"])
    a = np.asarray(a)
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
                       index: str = INDEX, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
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


def above_chance(values: np.ndarray, chance: np.ndarray) -> np.ndarray:
    """Each unit's index minus its category's chance level: what the selective rule compares with the threshold.

    The one place this margin is computed (the table's ``above_chance``, the nulls, the split halves, lesions
    and the course's checks).

    Parameters
    ----------
    values : ndarray, shape (..., n_categories, n_units)
        An index per category and unit (:func:`selectivity_matrix`).
    chance : ndarray, shape (..., n_categories)
        Each category's chance level.

    Returns
    -------
    ndarray, the shape of ``values``
    """
    return np.asarray(values) - np.asarray(chance)[..., None]


def selective(values: np.ndarray, chance: np.ndarray, constant, threshold: float = THRESHOLD) -> np.ndarray:
    """The paper's rule on an index: a unit is selective for a category when its index exceeds the category's
    chance level by more than ``threshold``, and never when it does not vary.

    The one composition of :func:`above_chance` and :func:`catsel.selecting.tables.selective_rule` that the
    library, the nulls, the split halves, the explorers and the course's checks call.

    Parameters
    ----------
    values : ndarray, shape (..., n_categories, n_units)
        An index per category and unit (:func:`selectivity_matrix`).
    chance : ndarray, shape (..., n_categories)
    constant : array-like of bool, broadcastable to ``values`` (``(n_units,)`` or ``(1, n_units)``)
        :func:`is_constant`.
    threshold : float, default 0.01

    Returns
    -------
    ndarray of bool, the shape of ``values``
    """
    return selective_rule(above_chance(values, chance), constant, threshold)


def selective_units(a: np.ndarray, labels: np.ndarray, n_categories: int, *, index: str = INDEX,
                    threshold: float = THRESHOLD, eps: float = EPS) -> np.ndarray:
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
    return selective(values, chance, is_constant(a)[None, :], threshold)
