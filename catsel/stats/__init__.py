"""Statistics and controls: when is a selectivity index a finding?

An index above a threshold is not a test. This module offers what
neuroscience practice uses for single units, applied to filters:

* :func:`permutation_test` — per unit × category, a one-sided label-permutation
  test of any index (all permutations of a block as one matrix product,
  refined adaptively where the permutation floor binds), with :func:`fdr`
  (Benjamini–Hochberg or Benjamini–Yekutieli);
* :func:`must_beat` — the unit must respond more to c than to *every* other
  category (rank-sum or Welch t-tests; Baek et al. 2021 use rank-sum p < 0.001);
* :func:`bootstrap_proportions` — confidence intervals for the per-layer
  proportions (images resampled within each category);
* :func:`shuffled_baseline` — the same pipeline under shuffled labels (the
  untrained network is the other null, see ``catsel run --null``);
* :func:`split_half` — units chosen on one half of the images, measured on the other;
* :func:`image_statistics`, :func:`confound_audit`, :func:`phase_scramble` —
  how much low-level statistics explain each unit's preference, and a control
  set with the images' amplitude spectra but random phases;
* :func:`linear_probe` — a cross-validated linear read-out per layer, to test
  the paper's proposal that the layer with the most selective filters is the
  one to extract features from;
* :func:`complexity_profile` — where in depth each category's selective units sit.

:func:`permutation_test` tests whichever index it is given, recomputed under
every shuffle of the labels, and gives rare strong units the permutations
they need (see its docstring and ``docs/statistics.md``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..selecting.selection import EPS, index_inputs, normalise, selective_units, selectivity_matrix, stack_units
from ..selecting.tables import layer_frame, long_table, onehot, selective_rule
from ..store import Activations

__all__ = ["permutation_test", "fdr", "must_beat", "pairwise_selectivity", "PAIRWISE_TESTS", "bootstrap_proportions", "shuffled_baseline", "split_half",
           "image_statistics", "confound_audit", "phase_scramble", "linear_probe", "complexity_profile",
           "add_significance", "with_baselines", "reliability_summary", "null_sentence", "negative_excess_sentence",
           "significant_counts", "ShuffledMargins", "confound_check",
           "CONFOUND_D", "CONFOUND_GRAYSCALE", "CONFOUND_AT_LEAST", "CONFOUND_MIN_IMAGES",
           "CONFOUND_IMAGES"]


def permutation_test(acts: Activations, *, index: str = "paper", permutations: int = 1000,
                     max_permutations: int | None = None, alpha: float = 0.05, method: str = "bh", layers=None,
                     seed: int = 0, block: int = 50, warn: bool = True, blockwise: bool | None = None) -> pd.DataFrame:
    """One-sided label-permutation p-value of every unit's index for every category, with resolution for rare units.

    Under the null hypothesis the labels are exchangeable. For each shuffle of
    the labels the index (``index``, as :func:`catsel.selectivity` computes
    it) is recomputed for all units at once: a block of permutations is one
    (block × categories, images) @ (images, units) product.
    ``p = (1 + #{permuted ≥ observed}) / (1 + n)`` over the ``n`` permutations
    a test received. Constant units get p = 1.

    The smallest p-value ``n`` permutations can give is ``1 / (n + 1)``, and
    with thousands of tests the false-discovery correction needs smaller ones
    to find a rare unit. So the test is adaptive (a sequential Monte Carlo
    test in the manner of Besag & Clifford, 1991): every test gets
    ``permutations``; a test with fewer than 10 permuted values at or above
    its observed one, and not yet significant at ``alpha`` after the
    correction, gets ten times as many, and so on up to
    ``max_permutations``. Common units stop early, rare strong units get
    the resolution they need, and the cost grows with their number only.
    Where the floor still binds (a test with no permuted value above it is
    not significant), a warning says so.

    Parameters
    ----------
    acts : Activations
    index : str, default "paper"
        A name in :data:`catsel.INDICES`: the index that is tested.
    permutations : int, default 1000
        Permutations every test gets.
    max_permutations : int, optional
        Most permutations a test can get (default: 100 × ``permutations``).
    alpha : float, default 0.05
        Level of the false-discovery correction that decides which tests need more resolution.
    method : {"bh", "by"}
        The correction (see :func:`fdr`).
    layers : list of str, optional
    seed : int, default 0
    block : int, default 50
        Permutations per matrix product (memory: block × categories × images).
    warn : bool, default True
        Warn where the permutation floor still binds.
    blockwise : bool, optional
        Read the store block by block of images, one pass per ``block``
        permutations (see :func:`catsel.selecting.selection.blockwise_sums`), in float64;
        default: when the store is large. The same permutations either way.

    Returns
    -------
    DataFrame
        ``layer``, ``filter``, ``category``, ``p_value``, ``permutations``
        (how many the test received); the rows of :func:`catsel.selectivity`.
    """
    from ..selecting.selection import INDICES, blockwise_sums, use_blockwise

    layers = list(layers) if layers is not None else list(acts.layers)
    spec = INDICES[index]
    labels = np.asarray(acts.labels)
    n_cat = len(acts.categories)
    if use_blockwise(acts, layers, index, blockwise):
        sizes = [acts.units[l] for l in layers]
        sums, per_unit = blockwise_sums(acts, layers, index, labels, n_cat)
        observed = spec.from_sums(sums, EPS)[0]
        constant_units = per_unit["low"] == per_unit["high"]

        def permuted(units, shuffled):  # one pass over the store for the block of permutations
            bounds = {"low": per_unit["low"][units], "high": per_unit["high"][units]}
            return spec.from_sums(blockwise_sums(acts, layers, index, shuffled, n_cat, units=units,
                                                 bounds=bounds)[0], EPS)[0]
    else:
        layers, a, sizes = index_inputs(acts, layers, index)
        x = np.asarray(spec.prepare(a, EPS), dtype=np.float32)
        observed = spec.compute(x, onehot(labels, n_cat, np.float32), EPS)[0]  # (C, U)
        constant_units = a.max(axis=0) == a.min(axis=0)

        def permuted(units, shuffled):  # a block of permutations: one (block × categories, images) product
            b = len(shuffled)
            members = np.zeros((b * n_cat, len(labels)), dtype=np.float32)
            members[(np.arange(b)[:, None] * n_cat + shuffled).ravel(), np.tile(np.arange(len(labels)), b)] = 1
            return spec.compute(x[:, units], members, EPS)[0]
    tolerance = 1e-5 * (np.abs(np.where(np.isfinite(observed), observed, 0)) + 1.0)  # float32: near-ties count
    constant = constant_units[None, :] & np.ones((n_cat, 1), dtype=bool)
    most = max_permutations if max_permutations is not None else 100 * permutations
    rng = np.random.default_rng(seed)
    exceed = np.zeros(observed.shape, dtype=np.int64)
    done = np.zeros(observed.shape, dtype=np.int64)
    running = np.ones(observed.shape, dtype=bool) & ~constant  # tests that still take permutations
    target = permutations
    while True:
        units = np.flatnonzero(running.any(axis=0))
        if len(units):
            sub_obs, sub_tol = observed[:, units], tolerance[:, units]
            count = np.zeros((n_cat, len(units)), dtype=np.int64)
            have = int(done[running].min()) if running.any() else target
            todo = target - have
            while todo > 0:
                b = min(block, todo)
                shuffled = np.stack([rng.permutation(labels) for _ in range(b)])
                values = permuted(units, shuffled).reshape(b, n_cat, -1)
                count += (values >= sub_obs[None] - sub_tol[None]).sum(axis=0)
                todo -= b
            mask = running[:, units]
            exceed[:, units] += np.where(mask, count, 0)
            done[:, units] += np.where(mask, target - have, 0)
        p = np.where(constant, 1.0, (exceed + 1.0) / (done + 1.0))
        if target >= most:
            break
        q = fdr(p, method)
        running = (exceed < 10) & (q >= alpha) & ~constant
        if not running.any():
            break
        target = min(target * 10, most)
    floor = (exceed == 0) & ~constant & (fdr(p, method) >= alpha)
    if warn and floor.any():
        warnings.warn(f"{int(floor.sum())} tests sit at the permutation floor p = 1/{int(done[floor].max()) + 1} "
                      f"and are not significant at q < {alpha}: raise max_permutations (catsel run: "
                      "--permutations) to resolve them", stacklevel=2)
    return long_table(layers, sizes, acts.categories, p_value=p, permutations=np.where(constant, 0, done))


def fdr(p_values, method: str = "bh") -> np.ndarray:
    """False-discovery-rate adjusted p-values (q-values), step-up.

    Parameters
    ----------
    p_values : array-like, any shape
    method : {"bh", "by"}
        ``"bh"``: Benjamini–Hochberg (independent or positively dependent
        tests); ``"by"``: Benjamini–Yekutieli (any dependence).

    Returns
    -------
    ndarray, the shape of ``p_values``
        SciPy's :func:`scipy.stats.false_discovery_control` over all of them at once.
    """
    from scipy.stats import false_discovery_control

    if method not in ("bh", "by"):
        raise ValueError(f"method must be 'bh' or 'by', not {method!r}")
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    return false_discovery_control(p.ravel(), method=method).reshape(p.shape)


def add_significance(table: pd.DataFrame, acts: Activations, *, permutations: int = 1000, method: str = "bh",
                     alpha: float = 0.05, max_permutations: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The selectivity table with permutation p-values and FDR q-values of its own index added.

    Parameters
    ----------
    table : DataFrame
        From :func:`catsel.selectivity`; its layers are tested, on the index
        it was computed with (``table.attrs["index"]``).
    acts : Activations
        The activations the table was computed from.
    permutations : int, default 1000
        Permutations every test gets (see :func:`permutation_test` for the
        adaptive refinement of rare units).
    method : {"bh", "by"}
        False-discovery-rate correction over all rows (see :func:`fdr`).
    alpha : float, default 0.05
    max_permutations : int, optional
        Default: 100 × ``permutations``.
    seed : int, default 0

    Returns
    -------
    DataFrame
        A copy of ``table`` with ``p_value``, ``q_value`` and ``permutations``;
        attrs gain ``permutations`` and ``fdr``.
    """
    layers = list(table["layer"].cat.categories)
    index = table.attrs.get("index", str(table["index"].iloc[0]) if "index" in table and len(table) else "paper")
    tested = permutation_test(acts, index=index, permutations=permutations, max_permutations=max_permutations,
                              alpha=alpha, method=method, layers=layers, seed=seed)
    out = table.copy()
    out["p_value"] = tested["p_value"].to_numpy()
    out["q_value"] = fdr(out["p_value"].to_numpy(), method)
    out["permutations"] = tested["permutations"].to_numpy()
    out.attrs.update(table.attrs, permutations=permutations, fdr=method)
    return out


#: The tests of the pairwise rule: Welch's t-test (``"welch"``; ``"ttest"`` is the same) or the Mann–Whitney
#: rank-sum test (``"ranksum"``), each one-sided (c above d).
PAIRWISE_TESTS = ("welch", "ranksum", "ttest")


def _pairwise_p(a: np.ndarray, labels: np.ndarray, n_cat: int, test: str) -> np.ndarray:
    """One-sided p-values of "category c above category d", shape (C, C, units); NaN where c == d."""
    from scipy import stats as sps

    if test not in PAIRWISE_TESTS:
        raise ValueError(f"test must be one of {', '.join(PAIRWISE_TESTS)}, not {test!r}")
    p = np.full((n_cat, n_cat, a.shape[1]), np.nan)
    for c in range(n_cat):
        for d in range(n_cat):
            if d == c:
                continue
            x, y = a[labels == c], a[labels == d]
            if test == "ranksum":
                found = sps.mannwhitneyu(x, y, alternative="greater", axis=0, method="asymptotic").pvalue
            else:
                # constant units (silent ones included) have no variance: SciPy warns and returns NaN,
                # which becomes p = 1 (never a discovery)
                with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    found = sps.ttest_ind(x, y, equal_var=False, alternative="greater", axis=0).pvalue
            p[c, d] = np.nan_to_num(np.asarray(found, dtype=np.float64), nan=1.0)
    return p


def must_beat(acts: Activations, *, test: str = "ranksum", layers=None) -> pd.DataFrame:
    """Does the unit respond more to c than to every other category (each pair tested alone)?

    For each unit, category c and other category d, a one-sided test of
    c > d on the raw maxima (Mann–Whitney rank-sum, or Welch's t-test);
    ``p_beat`` is the largest of these p-values over d, so ``p_beat < alpha``
    means c beats every other category at level alpha, for that unit alone.
    The selection rule over many units is :func:`pairwise_selectivity`, which
    corrects all these p-values together.

    Parameters
    ----------
    acts : Activations
    test : {"ranksum", "welch", "ttest"}
    layers : list of str, optional

    Returns
    -------
    DataFrame
        ``layer``, ``filter``, ``category``, ``p_beat``.
    """
    layers, a, sizes = stack_units(acts, layers)
    p = _pairwise_p(a, np.asarray(acts.labels), len(acts.categories), test)
    return long_table(layers, sizes, acts.categories, p_beat=np.nanmax(p, axis=1))


def pairwise_selectivity(acts: Activations, *, test: str = "welch", method: str = "bh", layers=None) -> pd.DataFrame:
    """The pairwise rule: a unit is selective for c when it beats every other category, after FDR.

    Every one-sided pairwise test (c above d, for every unit and every
    ordered pair of categories; Welch's t-test or the rank-sum test on the
    raw maxima) is corrected together for the false-discovery rate (BH or
    BY); a unit is selective for c when each of its tests against the other
    categories has ``q < alpha``, that is when ``q_pairwise`` (the largest of
    them) is below alpha (:func:`catsel.selecting.tables.selective_rule` with
    ``select_by="pairwise"``). Prince, Alvarez & Konkle (2024) choose their
    units this way (a t-test against every other category, FDR-corrected).

    Parameters
    ----------
    acts : Activations
    test : {"welch", "ranksum"}, default "welch"
    method : {"bh", "by"}, default "bh"
    layers : list of str, optional

    Returns
    -------
    DataFrame
        ``layer``, ``filter``, ``category``, ``p_pairwise`` (the largest raw
        p-value over the other categories) and ``q_pairwise`` (the largest
        q-value).
    """
    layers, a, sizes = stack_units(acts, layers)
    p = _pairwise_p(a, np.asarray(acts.labels), len(acts.categories), test)
    pairs = ~np.isnan(p)
    q = np.full_like(p, np.nan)
    q[pairs] = fdr(p[pairs], method)  # all pairs of all units, together
    return long_table(layers, sizes, acts.categories, p_pairwise=np.nanmax(p, axis=1),
                      q_pairwise=np.nanmax(q, axis=1))


def _per_layer(selective: np.ndarray, sizes) -> np.ndarray:
    """(categories, units) selective → (layers, categories) proportion of selective units."""
    edges = np.cumsum([0, *sizes])
    return np.stack([selective[:, lo:hi].mean(axis=1) for lo, hi in zip(edges[:-1], edges[1:])])


def _proportions(a, labels, n_cat, sizes, index, threshold) -> np.ndarray:
    """(layers, categories) proportion of selective units."""
    return _per_layer(selective_units(a, labels, n_cat, index=index, threshold=threshold), sizes)


def _shuffled_proportions(a, labels, n_cat, sizes, index, threshold, shuffles, rng, among=None) -> np.ndarray:
    """(shuffles, layers, categories) proportions under shuffled labels; the index's preparation done once."""
    from ..selecting.selection import INDICES

    spec = INDICES[index]
    x = spec.prepare(a, EPS)
    constant = (a.max(axis=0) == a.min(axis=0))[None, :]
    draws = []
    for _ in range(shuffles):
        values, chance = spec.compute(x, onehot(rng.permutation(labels), n_cat), EPS)
        selective = selective_rule(values - chance[:, None], constant, threshold)
        draws.append(_per_layer(selective if among is None else selective & among, sizes))
    return np.stack(draws)


class ShuffledMargins:
    """The shuffled-label null of the threshold rule at any threshold: computed once, counted per threshold.

    The index under ``shuffles`` label shuffles, kept as each unit's margin
    above chance; a threshold then costs one comparison (what the threshold
    explorer redraws with its null band).

    Parameters
    ----------
    acts : Activations
    index : str, default "paper"
    shuffles : int, default 20
    layers : list of str, optional
    seed : int, default 0
    """

    def __init__(self, acts: Activations, *, index: str = "paper", shuffles: int = 20, layers=None, seed: int = 0):
        from ..selecting.selection import INDICES

        self.layers, a, self.sizes = index_inputs(acts, list(layers) if layers is not None else list(acts.layers),
                                                  index)
        self.categories = list(acts.categories)
        labels, n_cat = np.asarray(acts.labels), len(acts.categories)
        spec = INDICES[index]
        x = spec.prepare(a, EPS)
        self.constant = (a.max(axis=0) == a.min(axis=0))[None, :]
        rng = np.random.default_rng(seed)
        margins = []
        for _ in range(shuffles):
            values, chance = spec.compute(x, onehot(rng.permutation(labels), n_cat), EPS)
            margins.append((values - chance[:, None]).astype(np.float32))
        self.margins = np.stack(margins)  # (shuffles, categories, units)

    def summary(self, threshold: float) -> pd.DataFrame:
        """The null at ``threshold``: ``layer``, ``category``, ``null_proportion`` (mean), ``null_high`` (95th pct).

        Parameters
        ----------
        threshold : float

        Returns
        -------
        DataFrame
        """
        draws = np.stack([_per_layer(selective_rule(m, self.constant, threshold), self.sizes) for m in self.margins])
        return layer_frame(self.layers, self.categories, null_proportion=draws.mean(axis=0),
                           null_high=np.quantile(draws, 0.95, axis=0))


def bootstrap_proportions(acts: Activations, *, index: str = "paper", threshold: float = 0.01, n_boot: int = 200,
                          level: float = 0.95, method: str = "normal", layers=None, seed: int = 0) -> pd.DataFrame:
    """Bootstrap confidence intervals for the proportion of selective units per layer.

    Images are resampled with replacement within each category (category sizes,
    hence chance levels, stay fixed), and the whole computation (eq. 1, eq. 2,
    threshold) is redone on each resample. The default interval is the normal
    one, proportion ± z × the bootstrap standard error: resamples repeat images,
    which shifts the min-max normalisation and so the centre of the bootstrap
    distribution (in simulation the percentile interval covered the expected
    proportion 27% of the time at a nominal 95%), while its spread matches the
    spread over real samples. ``method="percentile"`` and ``"basic"`` are there
    for comparison.

    Parameters
    ----------
    acts : Activations
    index : str, default "paper"
    threshold : float, default 0.01
    n_boot : int, default 200
        Resamples.
    level : float, default 0.95
    method : {"normal", "percentile", "basic"}
    layers : list of str, optional
    seed : int, default 0

    Returns
    -------
    DataFrame
        ``layer``, ``category``, ``proportion`` (on all images), ``low``, ``high``.
    """
    layers, a, sizes = index_inputs(acts, layers, index)
    labels = np.asarray(acts.labels)
    n_cat = len(acts.categories)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in range(n_cat)]
    draws = np.empty((n_boot, len(layers), n_cat))
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        draws[b] = _proportions(a[idx], labels[idx], n_cat, sizes, index, threshold)
    tail = (1 - level) / 2
    q_low, q_high = np.quantile(draws, [tail, 1 - tail], axis=0)
    point = _proportions(a, labels, n_cat, sizes, index, threshold)
    if method == "normal":
        from scipy.stats import norm

        half = norm.ppf(1 - tail) * draws.std(axis=0, ddof=1)
        low, high = np.clip(point - half, 0, 1), np.clip(point + half, 0, 1)
    elif method == "basic":
        low, high = np.clip(2 * point - q_high, 0, 1), np.clip(2 * point - q_low, 0, 1)
    elif method == "percentile":
        low, high = q_low, q_high
    else:
        raise ValueError(f"method must be 'normal', 'basic' or 'percentile', not {method!r}")
    return layer_frame(layers, acts.categories, proportion=point, low=low, high=high)


def shuffled_baseline(acts: Activations, *, index: str = "paper", threshold: float = 0.01, shuffles: int = 20,
                      layers=None, seed: int = 0, blockwise: bool | None = None,
                      among: np.ndarray | None = None) -> pd.DataFrame:
    """Proportions of 'selective' units when the labels carry no information: the null of Figure 1.

    The labels are shuffled (category sizes, hence chance levels, kept) and the
    same index and threshold are applied to the same activations: no new
    capture. With few images per category the paper's 0.01 margin is far
    inside the chance spread of ``S_c - chance``, so this null is far from 0.

    Parameters
    ----------
    acts : Activations
    index : str, default "paper"
    threshold : float, default 0.01
    shuffles : int, default 20
        Label shuffles.
    layers : list of str, optional
    seed : int, default 0
    blockwise : bool, optional
        Read the store block by block of images, all shuffles in the same
        two passes (see :func:`catsel.selecting.selection.blockwise_sums`); default:
        when the store is large. The same shuffles either way.
    among : ndarray of bool, shape (categories, units), optional
        Count only these unit × category pairs (the units a localizer chose:
        the null of the count on the test images).

    Returns
    -------
    DataFrame
        ``layer``, ``category``, ``null_proportion`` (mean over shuffles)
        and ``null_high`` (its 95th percentile).
    """
    from ..selecting.selection import INDICES, blockwise_sums, use_blockwise

    layers = list(layers) if layers is not None else list(acts.layers)
    labels, n_cat = np.asarray(acts.labels), len(acts.categories)
    if use_blockwise(acts, layers, index, blockwise):
        rng = np.random.default_rng(seed)
        small = np.int16 if n_cat < 2**15 else np.int32  # the shuffles are held whole: 2 bytes an image each
        labelings = np.stack([rng.permutation(labels).astype(small) for _ in range(shuffles)])
        sums, units = blockwise_sums(acts, layers, index, labelings, n_cat)
        values, chance = INDICES[index].from_sums(sums, EPS)
        constant = (units["low"] == units["high"])[None, :]
        sizes = [acts.units[l] for l in layers]
        keep = True if among is None else among
        draws = np.stack([_per_layer(selective_rule(v - c[:, None], constant, threshold) & keep, sizes)
                          for v, c in zip(values.reshape(shuffles, n_cat, -1), chance.reshape(shuffles, n_cat))])
        return layer_frame(layers, acts.categories, null_proportion=draws.mean(axis=0),
                           null_high=np.quantile(draws, 0.95, axis=0))
    layers, a, sizes = index_inputs(acts, layers, index)
    draws = _shuffled_proportions(a, labels, n_cat, sizes, index, threshold, shuffles, np.random.default_rng(seed),
                                  among)
    return layer_frame(layers, acts.categories, null_proportion=draws.mean(axis=0),
                       null_high=np.quantile(draws, 0.95, axis=0))


def with_baselines(summary: pd.DataFrame, acts: Activations, *, bootstrap: int | None = None,
                   shuffled: bool = False, shuffles: int = 20, controls: dict[str, Activations] | None = None,
                   among: np.ndarray | None = None,
                   reliability: bool = False, seed: int = 0) -> pd.DataFrame:
    """The layer summary with its baselines beside it, as columns (the one place they are merged).

    The index and threshold are the summary's own (``summary.attrs``), so
    every baseline applies the same rule as the result it stands beside.

    Parameters
    ----------
    summary : DataFrame
        From :func:`catsel.layer_summary`.
    acts : Activations
        The activations the summary was computed from.
    bootstrap : int, optional
        Resamples for confidence intervals: adds ``low`` and ``high`` (see
        :func:`bootstrap_proportions`).
    shuffled : bool, default False
        Add the shuffled-label null: ``null_proportion`` and ``null_high``
        (see :func:`shuffled_baseline`), over ``shuffles`` shuffles, and
        ``excess`` = ``proportion`` − ``null_proportion``.
    shuffles : int, default 20
    controls : dict of str to Activations (or a list of them), optional
        Other captures of the same layers and categories (the untrained
        network, phase-scrambled images, ...): each adds
        ``proportion_<name>``, its proportion of selective units; for a list
        (the untrained network over several seeds), the mean, with
        ``<name>_low`` and ``<name>_high`` its range.
    among : ndarray of bool, shape (categories, units), optional
        The unit × category pairs a localizer chose: the null counts only them
        (see :func:`shuffled_baseline`).
    reliability : bool or DataFrame, default False
        Add split-half replication and reliability beside their shuffled-label
        null (see :func:`reliability_summary`); a :func:`split_half` table
        (of the same seed) is reused as the first split.
    seed : int, default 0

    Returns
    -------
    DataFrame
        ``summary``'s rows and columns, the baselines' columns added; its attrs kept.
    """
    from ..selecting.selection import layer_summary, selectivity

    index = summary.attrs.get("index", "paper")
    threshold = summary.attrs.get("threshold", 0.01)
    layers = list(summary["layer"].cat.categories)
    keys = ["layer", "category"]
    out = summary
    if bootstrap:
        ci = bootstrap_proportions(acts, index=index, threshold=threshold, n_boot=bootstrap, layers=layers, seed=seed)
        out = out.merge(ci[keys + ["low", "high"]], on=keys, how="left")
    if shuffled:
        out = out.merge(shuffled_baseline(acts, index=index, threshold=threshold, shuffles=shuffles, layers=layers,
                                          seed=seed, among=among), on=keys, how="left")
        out["excess"] = out["proportion"] - out["null_proportion"]
    if reliability is not False and reliability is not None:
        split = reliability_summary(acts, index=index, threshold=threshold, shuffles=shuffles, layers=layers,
                                    seed=seed, split=reliability if isinstance(reliability, pd.DataFrame) else None)
        out = out.merge(split, on=keys, how="left")
    for name, other in (controls or {}).items():
        runs = other if isinstance(other, (list, tuple)) else [other]
        found = [layer_summary(selectivity(run, index=index, threshold=threshold, layers=layers))[keys + ["proportion"]]
                 for run in runs]
        stacked = np.stack([f["proportion"].to_numpy() for f in found])
        control = found[0][keys].assign(**{f"proportion_{name}": stacked.mean(axis=0)})
        if len(runs) > 1:  # several networks of the control (untrained ones of several seeds): their range
            control[f"{name}_low"], control[f"{name}_high"] = stacked.min(axis=0), stacked.max(axis=0)
        out = out.merge(control, on=keys, how="left")
    out.attrs.update(summary.attrs)
    return out


def _halves(labels: np.ndarray, n_cat: int, rng) -> np.ndarray:
    """A random half of each category's images (True), the other half False."""
    half = np.zeros(len(labels), dtype=bool)
    for c in range(n_cat):
        members = rng.permutation(np.flatnonzero(labels == c))
        half[members[: len(members) // 2]] = True
    return half


def _half(data, labels, mask, n_cat, index) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """On the images of ``mask``: the index (C, U), chance (C,), constant units (U,) and each category's mean
    normalised activity (C, U). ``data``: the activations in memory, or ``(acts, layers)`` read block by block."""
    if isinstance(data, np.ndarray):
        part, lab = data[mask], labels[mask]
        values, chance = selectivity_matrix(part, lab, n_cat, index=index)
        an = normalise(part)
        profile = np.stack([an[lab == c].mean(axis=0) for c in range(n_cat)])
        return values, chance, part.max(axis=0) == part.min(axis=0), profile
    from ..selecting.selection import INDICES, blockwise_sums

    acts, layers = data
    sums, per_unit = blockwise_sums(acts, layers, index, labels, n_cat, images=mask)
    values, chance = INDICES[index].from_sums(sums, EPS)
    if not INDICES[index].normalised:  # the profile is of eq. 1's normalised activity whatever the index
        sums, _ = blockwise_sums(acts, layers, "paper", labels, n_cat, images=mask, bounds=per_unit)
    return values, chance, per_unit["low"] == per_unit["high"], sums.inside / np.maximum(sums.counts, 1)[:, None]


def _split_half(data, labels, n_cat, index, threshold, rng) -> tuple[dict, np.ndarray]:
    """Index and selective decision on each half, (C, U) each, and each unit's reliability (U,)."""
    half = _halves(labels, n_cat, rng)
    results = {}
    profiles = []
    for name, mask in (("a", half), ("b", ~half)):
        values, chance, constant, profile = _half(data, labels, mask, n_cat, index)
        results[f"selectivity_{name}"] = values
        results[f"selective_{name}"] = selective_rule(values - chance[:, None], constant[None, :], threshold)
        profiles.append(profile)
    pa, pb = profiles[0] - profiles[0].mean(axis=0), profiles[1] - profiles[1].mean(axis=0)
    denominator = np.sqrt((pa ** 2).sum(axis=0) * (pb ** 2).sum(axis=0))
    r = np.divide((pa * pb).sum(axis=0), denominator, out=np.zeros(pa.shape[1]), where=denominator > 0)
    # Spearman-Brown for the full set of images; a negative split-half correlation (no reliability)
    # is reported as it is, since the correction would take it below -1
    return results, np.where(r > 0, 2 * r / (1 + np.maximum(r, 0)), r)


def _split_data(acts: Activations, layers, index: str, blockwise: bool | None):
    """(layers, data, sizes) for the split-half statistics: the units in memory, or ``(acts, layers)`` to read
    block by block (a large store, or as asked)."""
    from ..selecting.selection import use_blockwise

    chosen = list(layers) if layers is not None else list(acts.layers)
    if use_blockwise(acts, chosen, index, blockwise):
        return chosen, (acts, chosen), [acts.units[l] for l in chosen]
    return index_inputs(acts, chosen, index)


def split_half(acts: Activations, *, index: str = "paper", threshold: float = 0.01, layers=None,
               seed: int = 0, blockwise: bool | None = None) -> pd.DataFrame:
    """Choose selective units on one half of the images, measure them on the other.

    Each category's images are split at random into halves A and B. Per unit ×
    category the table gives the index and the ``selective`` decision on each
    half; per unit, ``reliability`` is the Spearman–Brown corrected correlation
    between the two halves' profiles of mean normalised activity over the
    categories (1: the same preference in both halves; a negative correlation
    is left uncorrected, so the value stays in [-1, 1]).

    Parameters
    ----------
    acts : Activations
    index : str, default "paper"
    threshold : float, default 0.01
    layers : list of str, optional
    seed : int, default 0
    blockwise : bool, optional
        Read the store block by block of images (two passes per half; see
        :func:`catsel.selecting.selection.blockwise_sums`); default: when it is large.

    Returns
    -------
    DataFrame
        ``layer``, ``filter``, ``category``, ``selectivity_a``, ``selective_a``,
        ``selectivity_b``, ``selective_b``, ``reliability``. Its attrs'
        ``layer_replication`` gives, per layer, the share of units selective on
        A that are selective for the same category on B.
    """
    layers, data, sizes = _split_data(acts, layers, index, blockwise)
    n_cat = len(acts.categories)
    results, reliability = _split_half(data, np.asarray(acts.labels), n_cat, index, threshold,
                                       np.random.default_rng(seed))
    table = long_table(layers, sizes, acts.categories, **results,
                       reliability=np.broadcast_to(reliability, (n_cat, sum(sizes))))
    replication = table.groupby("layer", observed=True).apply(
        lambda g: g.loc[g["selective_a"], "selective_b"].mean() if g["selective_a"].any() else np.nan,
        include_groups=False)
    table.attrs["layer_replication"] = replication
    table.attrs["split"] = {"index": index, "threshold": threshold, "seed": seed, "layers": list(layers)}
    return table


def _split_from_table(split: pd.DataFrame, n_cat: int) -> tuple[dict, np.ndarray]:
    """:func:`_split_half`'s arrays back from a :func:`split_half` table (rows layer × unit × category)."""
    results = {name: split[name].to_numpy().reshape(-1, n_cat).T
               for name in ("selectivity_a", "selective_a", "selectivity_b", "selective_b")}
    return results, split["reliability"].to_numpy()[::n_cat]


def _replication_by_layer(results, reliability, sizes, reliable: float):
    """Per (layer, category): replication; per layer: mean reliability and share of reliable units."""
    edges = np.cumsum([0, *sizes])
    a_sel, b_sel = results["selective_a"], results["selective_b"]
    replication, median, share = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        chosen = a_sel[:, lo:hi].sum(axis=1)
        both = (a_sel[:, lo:hi] & b_sel[:, lo:hi]).sum(axis=1)
        replication.append(np.divide(both, chosen, out=np.full(len(chosen), np.nan), where=chosen > 0))
        median.append(np.mean(reliability[lo:hi]))
        share.append(np.mean(reliability[lo:hi] > reliable))
    return np.array(replication), np.array(median), np.array(share)


def reliability_summary(acts: Activations, *, index: str = "paper", threshold: float = 0.01, shuffles: int = 20,
                        splits: int = 10, reliable: float = 0.5, layers=None, seed: int = 0,
                        blockwise: bool | None = None, split: pd.DataFrame | None = None) -> pd.DataFrame:
    """Split-half reliability and replication per layer, each beside its shuffled-label null.

    Both are far from 0 on noise: a unit's reliability is a correlation over
    only as many category means as there are categories, and the paper's rule
    marks many units selective by chance on each half. So each statistic is
    computed again with the labels shuffled (the same halves procedure on the
    same activations, ``shuffles`` times), and only the excess over that null
    speaks of a real preference. The observed values are averaged over
    ``splits`` random halvings, so that one lucky split does not decide.

    Parameters
    ----------
    acts : Activations
    index : str, default "paper"
    threshold : float, default 0.01
    shuffles : int, default 20
    splits : int, default 10
        Random halvings the observed values are averaged over.
    reliable : float, default 0.5
        Units with a reliability above this count as reliable.
    layers : list of str, optional
    seed : int, default 0
    blockwise : bool, optional
        Read the store block by block of images (see :func:`split_half`).
    split : DataFrame, optional
        A :func:`split_half` table of the same images, index, threshold,
        layers and seed: its halves are the first of the ``splits`` (the
        same halves this function would draw first), reused instead of
        computed again. Ignored when any of those differ.

    Returns
    -------
    DataFrame
        One row per layer × category: ``replication`` (share of the units
        selective for the category on one half that are selective for it on
        the other), ``replication_null``, ``replication_excess``;
        ``reliability`` (the layer's mean unit reliability),
        ``reliability_null``, ``reliability_excess``; ``share_reliable``,
        ``share_reliable_null``, ``share_reliable_excess``.
    """
    layers, a, sizes = _split_data(acts, layers, index, blockwise)
    labels = np.asarray(acts.labels)
    n_cat = len(acts.categories)
    rng = np.random.default_rng(seed)
    reuse = split is not None and split.attrs.get("split") == {"index": index, "threshold": threshold, "seed": seed,
                                                               "layers": list(layers)}
    observed = []
    for i in range(splits):
        if i == 0 and reuse:  # the table's halves are this first split's: draw them (cheap) to keep the stream
            _halves(labels, n_cat, rng)
            observed.append(_replication_by_layer(*_split_from_table(split, n_cat), sizes, reliable))
        else:
            observed.append(_replication_by_layer(*_split_half(a, labels, n_cat, index, threshold, rng), sizes,
                                                  reliable))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a layer with no selective unit in every split
        real = [np.nanmean(np.stack([o[k] for o in observed]), axis=0) for k in range(3)]
    null = [_replication_by_layer(*_split_half(a, rng.permutation(labels), n_cat, index, threshold, rng), sizes,
                                  reliable) for _ in range(shuffles)]
    columns = {}
    for k, name in enumerate(("replication", "reliability", "share_reliable")):
        value = real[k] if k == 0 else np.repeat(real[k][:, None], n_cat, axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a layer with no selective unit in every shuffle
            expected = np.nanmean(np.stack([n[k] for n in null]), axis=0)
        if k:
            expected = np.repeat(expected[:, None], n_cat, axis=1)
        columns[name], columns[f"{name}_null"], columns[f"{name}_excess"] = value, expected, value - expected
    return layer_frame(layers, acts.categories, **columns)


def _low_level(image: np.ndarray) -> list[float]:
    rgb = image.astype(np.float64) / 255.0
    lum = 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(lum - lum.mean()))) ** 2
    h, w = lum.shape
    yy, xx = np.indices((h, w))
    radius = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
    total = spectrum.sum()
    high = spectrum[radius > 0.5].sum() / total if total > 0 else 0.0
    return [lum.mean(), lum.std(), colourfulness, high]


def image_statistics(acts: Activations) -> pd.DataFrame:
    """Low-level statistics of every captured image, as the network saw it.

    Parameters
    ----------
    acts : Activations
        Its images are decoded again from the data folder.

    Returns
    -------
    DataFrame
        One row per image: ``path``, ``category``, ``luminance`` (mean),
        ``contrast`` (RMS of luminance), ``colourfulness`` (Hasler &
        Süsstrunk), ``high_frequency`` (share of the luminance power spectrum
        above half the Nyquist frequency).
    """
    rows = [_low_level(acts.image(i)) for i in range(len(acts))]
    frame = pd.DataFrame(rows, columns=["luminance", "contrast", "colourfulness", "high_frequency"])
    frame.insert(0, "category", [acts.categories[label] for label in acts.labels])
    frame.insert(0, "path", acts.paths)
    return frame


#: When a category's images differ from the others' this much, :func:`confound_check` warns: by Cohen's d
#: (the difference of the means over the pooled standard deviation; 0.8 is "large") for luminance, contrast
#: and colourfulness, and by the share of grayscale images.
CONFOUND_D = 1.0
#: ... and by more than this share of grayscale images.
CONFOUND_GRAYSCALE = 0.5
#: The differences of means are judged only for categories of at least this many images (with four, a d above 1
#: came by chance on the sample data); the share of grayscale images at any number.
CONFOUND_MIN_IMAGES = 8
#: About how many images the check decodes again at most, whatever the number of categories: it runs at the end
#: of every `catsel run`, and 200 images of each of ImageNet's 1,000 classes would take longer than the capture.
CONFOUND_IMAGES = 2400
#: ... and by at least this much on the statistic's own scale (luminance and colourfulness run from 0 to
#: about 1, contrast to about 0.5): images that hardly vary make d large for a difference nobody could see.
CONFOUND_AT_LEAST = {"mean luminance": 0.05, "contrast": 0.03, "colourfulness": 0.05}


def confound_check(acts: Activations, *, per_category: int = 200, total: int = CONFOUND_IMAGES,
                   seed: int = 0) -> list[str]:
    """Cheap low-level statistics per category, and what in them could tell the categories apart alone.

    For up to ``per_category`` images of each category (chosen at random;
    fewer with many categories, so that at most about ``total`` images are
    decoded again, but never fewer than :data:`CONFOUND_MIN_IMAGES`):
    mean luminance, contrast and colourfulness (see :func:`image_statistics`)
    and whether the image is grayscale (its three channels equal). A
    category whose mean differs from the other images' by more than
    :data:`CONFOUND_D` pooled standard deviations (and by
    :data:`CONFOUND_AT_LEAST` on the statistic's scale), or whose share of
    grayscale images differs by more than :data:`CONFOUND_GRAYSCALE`, is
    named: a filter "selective" for it may respond to that statistic, not
    to the category.

    Parameters
    ----------
    acts : Activations
    per_category : int, default 200
    total : int, default :data:`CONFOUND_IMAGES`
    seed : int, default 0

    Returns
    -------
    list of str
        One sentence per finding, the largest first (empty: nothing found).
    """
    per_category = min(per_category, max(CONFOUND_MIN_IMAGES, total // max(len(acts.categories), 1)))
    rng = np.random.default_rng(seed)
    labels = np.asarray(acts.labels)
    rows = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_category]
                           for c in range(len(acts.categories))])
    values, gray = [], []
    for row in rows:
        with warnings.catch_warnings():  # what Pillow says of an image was said once, when it was captured
            warnings.simplefilter("ignore")
            image = acts.image(int(row))
        values.append(_low_level(image)[:3])
        gray.append(bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()))
    values, gray, chosen = np.asarray(values), np.asarray(gray, dtype=float), labels[rows]
    findings = []
    for c, name in enumerate(acts.categories):
        here, rest = chosen == c, chosen != c
        if not here.any() or not rest.any():
            continue
        for k, statistic in enumerate(("mean luminance", "contrast", "colourfulness")):
            if here.sum() < CONFOUND_MIN_IMAGES:  # too few images for a mean difference to say anything
                break
            a, b = values[here, k], values[rest, k]
            pooled = np.sqrt((a.var() * len(a) + b.var() * len(b)) / (len(a) + len(b)))
            d = abs(a.mean() - b.mean()) / pooled if pooled > 0 else (np.inf if a.mean() != b.mean() else 0.0)
            if d > CONFOUND_D and abs(a.mean() - b.mean()) >= CONFOUND_AT_LEAST[statistic]:
                findings.append((d, f"{name} differs from the other categories in {statistic} ({a.mean():.2f} "
                                    f"against {b.mean():.2f}, d = {d:.1f})"))
        share, others = gray[here].mean(), gray[rest].mean()
        if abs(share - others) > CONFOUND_GRAYSCALE:
            findings.append((np.inf, f"{name} differs from the other categories in its share of "
                                                       f"grayscale images ({share:.0%} against {others:.0%})"))
    return [text for _, text in sorted(findings, key=lambda f: -f[0])]


def _r2(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = ((y - design @ coef) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return np.divide(total - residual, total, out=np.zeros_like(total), where=total > 0)


def confound_audit(acts: Activations, statistics: pd.DataFrame | None = None, *, layers=None) -> pd.DataFrame:
    """How much of each unit's category preference low-level statistics explain.

    Per unit, three linear regressions of its maxima over the images:
    ``r2_low_level`` (on the image statistics), ``r2_category`` (on the
    categories), and ``r2_category_beyond`` (what the categories add once the
    low-level statistics are in the model). A unit whose category effect
    vanishes beyond the low-level statistics is explained by them.
    ``share_explained`` = 1 − r2_category_beyond / r2_category.

    Parameters
    ----------
    acts : Activations
    statistics : DataFrame, optional
        From :func:`image_statistics` (computed when not given).
    layers : list of str, optional

    Returns
    -------
    DataFrame
        One row per unit: ``layer``, ``filter``, ``r2_low_level``,
        ``r2_category``, ``r2_category_beyond``, ``share_explained``.
    """
    statistics = statistics if statistics is not None else image_statistics(acts)
    layers, a, sizes = stack_units(acts, layers)
    n = len(acts.labels)
    low = statistics[["luminance", "contrast", "colourfulness", "high_frequency"]].to_numpy(dtype=np.float64)
    low = (low - low.mean(axis=0)) / np.where(low.std(axis=0) > 0, low.std(axis=0), 1.0)
    dummies = onehot(acts.labels, len(acts.categories)).T[:, 1:]  # (images, categories - 1)
    ones = np.ones((n, 1))
    r2_low = _r2(np.hstack([ones, low]), a)
    r2_cat = _r2(np.hstack([ones, dummies]), a)
    r2_both = _r2(np.hstack([ones, low, dummies]), a)
    beyond = np.maximum(r2_both - r2_low, 0.0)
    share = np.divide(r2_cat - np.minimum(beyond, r2_cat), r2_cat, out=np.zeros_like(r2_cat), where=r2_cat > 1e-12)
    layer_of_unit = np.repeat(np.arange(len(layers)), sizes)
    return pd.DataFrame({
        "layer": pd.Categorical.from_codes(layer_of_unit, categories=layers, ordered=True),
        "unit": np.concatenate([np.arange(s) for s in sizes]),
        "r2_low_level": r2_low, "r2_category": r2_cat, "r2_category_beyond": beyond, "share_explained": share,
    })


def phase_scramble(acts_or_folder, out_dir: str | os.PathLike, *, seed: int = 0, size: int | None = None) -> Path:
    """Write a control set: every image with its amplitude spectrum kept and its phases randomised.

    The same random phase field is used for the three colour channels (so
    colours stay plausible); the layout (one sub-folder per category) is
    kept, so the control runs through ``catsel run`` like the original.

    Parameters
    ----------
    acts_or_folder : Activations, ImageFolder or path
        The images to scramble.
    out_dir : str or path
        Where the control set is written (PNG files).
    seed : int, default 0
    size : int, optional
        Side of the written images (default: the capture's or folder's size).

    Returns
    -------
    Path
        The control folder.
    """
    from PIL import Image

    from ..images.folder import ImageFolder, load_image
    from ..options import hw
    from ..paths import inside

    if isinstance(acts_or_folder, Activations):  # each file checked to be the one captured
        paths = acts_or_folder.paths
        sources = [acts_or_folder.image_file(i) for i in range(len(paths))]
        size = size or acts_or_folder.meta.image_size
    else:
        folder = acts_or_folder if isinstance(acts_or_folder, ImageFolder) else ImageFolder(acts_or_folder)
        root, paths = folder.root, folder.relative_paths()
        sources = [inside(root, rel, what="image path", links=True) for rel in paths]
        size = size or folder.image_size
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    # every name joined by the one checked join: read inside the data folder, written inside out_dir
    files = [(source, inside(out_dir, Path(rel).with_suffix(".png").as_posix(), what="image path"))
             for source, rel in zip(sources, paths)]
    for source, target in files:
        image = load_image(source, size).astype(np.float64)
        phase = np.angle(np.fft.fft2(rng.random(hw(size))))
        scrambled = np.empty_like(image)
        for ch in range(3):
            spectrum = np.fft.fft2(image[..., ch])
            scrambled[..., ch] = np.real(np.fft.ifft2(np.abs(spectrum) * np.exp(1j * (np.angle(spectrum) + phase))))
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(np.rint(scrambled), 0, 255).astype(np.uint8)).save(target)
    return out_dir


def linear_probe(acts: Activations, *, folds: int = 5, ridge: float = 1.0, layers=None, seed: int = 0) -> pd.DataFrame:
    """Cross-validated linear read-out of each category (vs the rest) from each layer.

    scikit-learn's ridge classifier (one-vs-rest, targets ±1) on the layer's
    standardised units, with penalty ``ridge`` × number of units (the Gram
    matrix grows with them), in ``folds``-fold cross-validation stratified by
    category; the held-out decision values give one AUROC per layer and
    category (0.5: chance).

    Parameters
    ----------
    acts : Activations
    folds : int, default 5
    ridge : float, default 1.0
        Penalty per unit.
    layers : list of str, optional
        Default: every captured layer.
    seed : int, default 0
        Seed of the fold assignment.

    Returns
    -------
    DataFrame
        ``layer``, ``category``, ``probe_auroc``; one row per layer × category.
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    layers = list(layers) if layers is not None else list(acts.layers)
    labels = np.asarray(acts.labels)
    n_cat = len(acts.categories)
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    auroc = np.full((len(layers), n_cat), np.nan)
    for i, layer in enumerate(layers):
        x = np.asarray(acts[layer], dtype=np.float64)
        probe = make_pipeline(StandardScaler(), RidgeClassifier(alpha=ridge * x.shape[1] + EPS))
        scores = cross_val_predict(probe, x, labels, cv=split, method="decision_function")
        if scores.ndim == 1:  # two categories: one decision value, positive for the second
            scores = np.stack([-scores, scores], axis=1)
        for c in range(n_cat):
            positive = labels == c
            if positive.any() and not positive.all():
                auroc[i, c] = roc_auc_score(positive, scores[:, c])
    return layer_frame(layers, acts.categories, probe_auroc=auroc)


def complexity_profile(summary: pd.DataFrame, *, column: str = "proportion") -> pd.DataFrame:
    """Where in depth each category's selectivity sits (the paper's discussion).

    Each layer is weighted by its *proportion* of selective units (or by
    another per-layer column, such as ``excess`` over the shuffled-label
    null), never by its count: counts follow the number of units per layer
    (VGG16's deep layers have 512 filters, its first ones 64), so a flat 30%
    in every layer would look deep. ``depth`` is the weighted mean position
    (0: first captured layer, 1: last); ``in_first_third`` and
    ``in_last_third`` are the shares of the weight in the first and last
    third of the layers. A category taken up early (low depth) is carried by
    simpler features.

    Parameters
    ----------
    summary : DataFrame
        From :func:`catsel.layer_summary` (or :func:`with_baselines`).
    column : str, default "proportion"
        The per-layer weight; negative values (an ``excess`` below the null) count as 0.

    Returns
    -------
    DataFrame
        One row per category: ``category``, ``n_selective`` (all layers),
        ``depth``, ``in_first_third``, ``in_last_third``.
    """
    layers = list(summary["layer"].cat.categories)
    position = {l: i / max(len(layers) - 1, 1) for i, l in enumerate(layers)}
    rows = []
    for category, group in summary.groupby("category", observed=True, sort=True):
        depth = group["layer"].astype(str).map(position).to_numpy()
        weight = np.maximum(group[column].to_numpy(dtype=np.float64), 0.0)
        total = weight.sum()
        rows.append({
            "category": category,
            "n_selective": int(group["n_selective"].sum()),
            "depth": float((depth * weight).sum() / total) if total else np.nan,
            "in_first_third": float(weight[depth < 1 / 3].sum() / total) if total else np.nan,
            "in_last_third": float(weight[depth > 2 / 3].sum() / total) if total else np.nan,
        })
    return pd.DataFrame(rows)


def negative_excess_sentence(summary: pd.DataFrame) -> str | None:
    """One sentence on the most negative excess over the null, what it means, or None when there is none.

    Parameters
    ----------
    summary : DataFrame
        A layer summary with its shuffled-label null (:func:`with_baselines`).

    Returns
    -------
    str or None
    """
    if "excess" not in summary or not (summary["excess"] < 0).any():
        return None
    worst = summary.loc[summary["excess"].idxmin()]
    return (f"A negative excess ({worst['category']} in {worst['layer']}: {worst['excess'] * 100:+.1f} points) means "
            "fewer units pass the rule for the category than for a random group of as many images: its images "
            "drive the units more evenly than chance groups do. It is no evidence of selectivity, for or against "
            "the category.")


def significant_counts(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per layer × category, the units whose permutation test is significant (``q_value < alpha``).

    Parameters
    ----------
    table : DataFrame
        A selectivity table with ``q_value`` (:func:`add_significance`).
    alpha : float

    Returns
    -------
    DataFrame
        ``layer``, ``category``, ``n_significant``, ``proportion_significant``.
    """
    marked = table.assign(significant=table["q_value"].to_numpy() < alpha)
    counts = marked.groupby(["layer", "category"], observed=True).agg(
        n_significant=("significant", "sum"), n=("significant", "size")).reset_index()
    counts["n_significant"] = counts["n_significant"].astype(int)
    counts["proportion_significant"] = counts["n_significant"] / counts["n"]
    return counts.drop(columns="n")


def null_sentence(summary: pd.DataFrame) -> str | None:
    """One sentence: how many of the selective pairs the same rule finds under shuffled labels.

    Parameters
    ----------
    summary : DataFrame
        A layer summary with its shuffled-label null (:func:`with_baselines`).

    Returns
    -------
    str or None
        ``None`` when the summary has no null.
    """
    if "null_proportion" not in summary:
        return None
    found = int(summary["n_selective"].sum())
    expected = float((summary["null_proportion"] * summary["n_units"]).sum())
    share = f" ({expected / found:.0%} of them)" if found else ""
    return (f"Shuffled-label null: with labels that carry no information, the same rule marks {expected:.0f} "
            f"unit x category pairs selective, against {found} here{share}; only the excess over the null "
            "(column `excess` of layer_summary.csv, the dotted line and light band of the figure) is evidence "
            "of selectivity.")
