"""Label-permutation tests of any index per unit and category, false discovery rates, and the counts they give."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..selecting.indices import EPS, index_inputs, is_constant
from ..selecting.tables import Counting, long_table, onehot
from ..store import Activations
from ..options import INDEX

__all__ = ["permutation_test", "fdr", "add_significance", "significant_counts"]


def permutation_test(acts: Activations, *, index: str = INDEX, permutations: int = 1000,
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
        ``layer``, ``unit``, ``category``, ``p_value``, ``permutations``
        (how many the test received); the rows of :func:`catsel.selectivity`.
    """
    from ..selecting.blocks import blockwise_sums, use_blockwise
    from ..selecting.indices import INDICES

    layers = list(layers) if layers is not None else list(acts.layers)
    spec = INDICES[index]
    labels = np.asarray(acts.labels)
    n_cat = len(acts.categories)
    if use_blockwise(acts, layers, index, blockwise):
        sizes = [acts.units[l] for l in layers]
        sums, per_unit = blockwise_sums(acts, layers, index, labels, n_cat)
        observed = spec.from_sums(sums, EPS)[0]
        constant_units = is_constant(per_unit)

        def permuted(units, shuffled):  # one pass over the store for the block of permutations
            bounds = {"low": per_unit["low"][units], "high": per_unit["high"][units]}
            return spec.from_sums(blockwise_sums(acts, layers, index, shuffled, n_cat, units=units,
                                                 bounds=bounds)[0], EPS)[0]
    else:
        layers, a, sizes = index_inputs(acts, layers, index)
        x = np.asarray(spec.prepare(a, EPS), dtype=np.float32)
        observed = spec.compute(x, onehot(labels, n_cat, np.float32), EPS)[0]  # (C, U)
        constant_units = is_constant(a)

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
        it was computed with (its :class:`~catsel.selecting.tables.Counting`).
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
        A copy of ``table`` with ``p_value``, ``q_value`` and ``permutations``; its counting gains
        ``permutations`` and ``fdr``.
    """
    layers = list(table["layer"].cat.categories)
    counting = Counting.of(table)
    index = counting.index if "counting" in table.attrs else (
        str(table["index"].iloc[0]) if "index" in table and len(table) else INDEX)
    tested = permutation_test(acts, index=index, permutations=permutations, max_permutations=max_permutations,
                              alpha=alpha, method=method, layers=layers, seed=seed)
    out = table.copy()
    out["p_value"] = tested["p_value"].to_numpy()
    out["q_value"] = fdr(out["p_value"].to_numpy(), method)
    out["permutations"] = tested["permutations"].to_numpy()
    out.attrs.update(table.attrs)
    return counting.replace(index=index, permutations=permutations, fdr=method).on(out)


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
