"""Split halves: units chosen on one half of the images, measured on the other, against their null."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..selecting.indices import EPS, index_inputs, is_constant, normalise, selective, selectivity_matrix
from ..selecting.tables import layer_frame, long_table
from ..store import Activations
from ..options import INDEX, THRESHOLD

__all__ = ["split_half", "reliability_summary"]


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
        return values, chance, is_constant(part), profile
    from ..selecting.blocks import blockwise_sums
    from ..selecting.indices import INDICES

    acts, layers = data
    sums, per_unit = blockwise_sums(acts, layers, index, labels, n_cat, images=mask)
    values, chance = INDICES[index].from_sums(sums, EPS)
    if not INDICES[index].normalised:  # the profile is of eq. 1's normalised activity whatever the index
        sums, _ = blockwise_sums(acts, layers, "paper", labels, n_cat, images=mask, bounds=per_unit)
    return values, chance, is_constant(per_unit), sums.inside / np.maximum(sums.counts, 1)[:, None]


def _split_half(data, labels, n_cat, index, threshold, rng) -> tuple[dict, np.ndarray]:
    """Index and selective decision on each half, (C, U) each, and each unit's reliability (U,)."""
    half = _halves(labels, n_cat, rng)
    results = {}
    profiles = []
    for name, mask in (("a", half), ("b", ~half)):
        values, chance, constant, profile = _half(data, labels, mask, n_cat, index)
        results[f"selectivity_{name}"] = values
        results[f"selective_{name}"] = selective(values, chance, constant[None, :], threshold)
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
    from ..selecting.blocks import use_blockwise

    chosen = list(layers) if layers is not None else list(acts.layers)
    if use_blockwise(acts, chosen, index, blockwise):
        return chosen, (acts, chosen), [acts.units[l] for l in chosen]
    return index_inputs(acts, chosen, index)


def split_half(acts: Activations, *, index: str = INDEX, threshold: float = THRESHOLD, layers=None,
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
        ``layer``, ``unit``, ``category``, ``selectivity_a``, ``selective_a``,
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


def reliability_summary(acts: Activations, *, index: str = INDEX, threshold: float = THRESHOLD, shuffles: int = 20,
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
