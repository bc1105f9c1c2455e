"""The pairwise rule: a unit must respond more to its category than to every other one, each test corrected."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..selecting.indices import stack_units
from ..selecting.tables import long_table
from ..store import Activations
from .permutation import fdr

__all__ = ["PAIRWISE_TESTS", "must_beat", "pairwise_selectivity"]


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
        ``layer``, ``unit``, ``category``, ``p_beat``.
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
        ``layer``, ``unit``, ``category``, ``p_pairwise`` (the largest raw
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
