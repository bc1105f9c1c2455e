"""What chance gives: the shuffled-label null of each layer's count, and bootstrap intervals of the proportions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..selecting.indices import EPS, above_chance, index_inputs, is_constant, selective, selective_units
from ..selecting.tables import Counting, layer_frame, onehot, selective_rule
from ..store import Activations
from .reliability import reliability_summary
from ..options import INDEX, LEVEL, SHUFFLES, THRESHOLD

__all__ = ["ShuffledMargins", "bootstrap_proportions", "shuffled_baseline", "shuffled_draws", "null_p_values",
           "layer_evidence", "shuffles_needed", "with_baselines"]


def _per_layer(selective: np.ndarray, sizes) -> np.ndarray:
    """(categories, units) selective → (layers, categories) proportion of selective units."""
    edges = np.cumsum([0, *sizes])
    return np.stack([selective[:, lo:hi].mean(axis=1) for lo, hi in zip(edges[:-1], edges[1:])])


def _proportions(a, labels, n_cat, sizes, index, threshold) -> np.ndarray:
    """(layers, categories) proportion of selective units."""
    return _per_layer(selective_units(a, labels, n_cat, index=index, threshold=threshold), sizes)


def _shuffled_proportions(a, labels, n_cat, sizes, index, threshold, shuffles, rng, among=None) -> np.ndarray:
    """(shuffles, layers, categories) proportions under shuffled labels; the index's preparation done once."""
    from ..selecting.indices import INDICES

    spec = INDICES[index]
    x = spec.prepare(a, EPS)
    constant = is_constant(a)[None, :]
    draws = []
    for _ in range(shuffles):
        values, chance = spec.compute(x, onehot(rng.permutation(labels), n_cat), EPS)
        chosen = selective(values, chance, constant, threshold)
        draws.append(_per_layer(chosen if among is None else chosen & among, sizes))
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

    def __init__(self, acts: Activations, *, index: str = INDEX, shuffles: int = SHUFFLES, layers=None,
                 seed: int = 0):
        from ..selecting.indices import INDICES

        self.layers, a, self.sizes = index_inputs(acts, list(layers) if layers is not None else list(acts.layers),
                                                  index)
        self.categories = list(acts.categories)
        labels, n_cat = np.asarray(acts.labels), len(acts.categories)
        spec = INDICES[index]
        x = spec.prepare(a, EPS)
        self.constant = is_constant(a)[None, :]
        rng = np.random.default_rng(seed)
        margins = []
        for _ in range(shuffles):
            values, chance = spec.compute(x, onehot(rng.permutation(labels), n_cat), EPS)
            margins.append(above_chance(values, chance).astype(np.float32))
        self.margins = np.stack(margins)  # (shuffles, categories, units)

    def summary(self, threshold: float, *, proportion: np.ndarray | None = None,
                level: float = LEVEL) -> pd.DataFrame:
        """The null at ``threshold``: ``layer``, ``category``, ``null_proportion`` (mean), ``null_high`` (95th pct),
        and with the observed proportions the verdict (as :func:`with_baselines`).

        Parameters
        ----------
        threshold : float
        proportion : ndarray, shape (layers, categories), optional
            The observed proportions at ``threshold``: adds ``null_p``, ``null_q`` and ``evidence``.
        level : float, default 0.05

        Returns
        -------
        DataFrame
        """
        draws = np.stack([_per_layer(selective_rule(m, self.constant, threshold), self.sizes) for m in self.margins])
        return _null_frame(self.layers, self.categories, draws, proportion, level)


def bootstrap_proportions(acts: Activations, *, index: str = INDEX, threshold: float = THRESHOLD, n_boot: int = 200,
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


def shuffled_baseline(acts: Activations, *, index: str = INDEX, threshold: float = THRESHOLD,
                      shuffles: int = SHUFFLES, layers=None, seed: int = 0, blockwise: bool | None = None,
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
    shuffles : int, default 1000
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
    layers, draws = shuffled_draws(acts, index=index, threshold=threshold, shuffles=shuffles, layers=layers,
                                   seed=seed, blockwise=blockwise, among=among)
    return layer_frame(layers, acts.categories, null_proportion=draws.mean(axis=0),
                       null_high=np.quantile(draws, 0.95, axis=0))


#: Shuffles held at once by the block-wise null: its sums are shuffles × categories × units.
_SHUFFLES_PER_PASS = 200


def shuffled_draws(acts: Activations, *, index: str = INDEX, threshold: float = THRESHOLD, shuffles: int = SHUFFLES,
                   layers=None, seed: int = 0, blockwise: bool | None = None,
                   among: np.ndarray | None = None) -> tuple[list, np.ndarray]:
    """Every shuffle's proportions of selective units: the null distribution each layer's count is tested against.

    Parameters
    ----------
    acts : Activations
    index : str, default "paper"
    threshold : float, default 0.01
    shuffles : int, default 1000
        Label shuffles.
    layers : list of str, optional
    seed : int, default 0
    blockwise : bool, optional
        Read the store block by block of images (see :func:`shuffled_baseline`).
    among : ndarray of bool, shape (categories, units), optional
        Count only these unit × category pairs.

    Returns
    -------
    layers : list of str
    draws : ndarray, shape (shuffles, layers, categories)
    """
    from ..selecting.blocks import blockwise_sums, use_blockwise
    from ..selecting.indices import INDICES

    layers = list(layers) if layers is not None else list(acts.layers)
    labels, n_cat = np.asarray(acts.labels), len(acts.categories)
    rng = np.random.default_rng(seed)
    if use_blockwise(acts, layers, index, blockwise):
        small = np.int16 if n_cat < 2**15 else np.int32  # the shuffles are held whole: 2 bytes an image each
        sizes = [acts.units[l] for l in layers]
        keep = True if among is None else among
        draws, bounds = [], None
        for start in range(0, shuffles, _SHUFFLES_PER_PASS):  # memory follows the pass, not the shuffles
            part = min(_SHUFFLES_PER_PASS, shuffles - start)
            labelings = np.stack([rng.permutation(labels).astype(small) for _ in range(part)])
            sums, units = blockwise_sums(acts, layers, index, labelings, n_cat, bounds=bounds)
            bounds = units  # the minimum and maximum of the first pass, for the others
            values, chance = INDICES[index].from_sums(sums, EPS)
            constant = is_constant(units)[None, :]
            draws += [_per_layer(selective(v, c, constant, threshold) & keep, sizes)
                      for v, c in zip(values.reshape(part, n_cat, -1), chance.reshape(part, n_cat))]
        return layers, np.stack(draws)
    layers, a, sizes = index_inputs(acts, layers, index)
    return layers, _shuffled_proportions(a, labels, n_cat, sizes, index, threshold, shuffles, rng, among)


def null_p_values(proportion: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The share of shuffles whose proportion reaches the observed one, counting the observation itself.

    ``(1 + #{shuffles with proportion >= observed}) / (1 + shuffles)``: the
    permutation p-value of each layer × category count (never 0: with
    ``shuffles`` shuffles the smallest is ``1 / (shuffles + 1)``).

    Parameters
    ----------
    proportion : ndarray, shape (layers, categories)
    draws : ndarray, shape (shuffles, layers, categories)

    Returns
    -------
    ndarray, shape (layers, categories)
    """
    # a float tolerance: the same count under a shuffle is a reach, whatever the rounding of the division
    reach = (draws >= proportion[None] - 1e-12).sum(axis=0)
    return (1 + reach) / (1 + len(draws))


def layer_evidence(p_values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The verdict of every layer × category count of a run: its q-value over all of them, and evidence or not.

    The counts' p-values (:func:`null_p_values`) are corrected together by
    Benjamini-Hochberg (SciPy's, through :func:`catsel.stats.fdr`, as the
    per-unit permutation test's): a run asks of every layer and category at once.
    A count is evidence of selectivity when its q-value is at or below
    ``level``. Under shuffled labels the share of counts marked stays at or
    below ``level`` (``tests/test_verdict.py`` measures it).

    Parameters
    ----------
    p_values : ndarray
    level : float

    Returns
    -------
    q_values, evidence : ndarray of float, ndarray of bool (the shape of ``p_values``)
    """
    from .permutation import fdr

    q = fdr(np.asarray(p_values, dtype=float), "bh")
    return q, q <= level


def shuffles_needed(cells: int, level: float) -> int:
    """Shuffles with which one count among ``cells`` can reach ``level`` after the correction.

    A count's p-value is at least ``1 / (shuffles + 1)``; alone among
    ``cells`` counts, Benjamini-Hochberg marks it when that is at most
    ``level / cells``.

    Parameters
    ----------
    cells : int
        The layer × category counts of the run.
    level : float

    Returns
    -------
    int
    """
    return int(np.ceil(cells / level)) - 1


def with_baselines(summary: pd.DataFrame, acts: Activations, *, index: str = INDEX, threshold: float = THRESHOLD,
                   bootstrap: int | None = None,
                   shuffled: bool = False, shuffles: int = SHUFFLES, controls: dict[str, Activations] | None = None,
                   among: np.ndarray | None = None,
                   reliability: bool = False, significance: pd.DataFrame | None = None, level: float = LEVEL,
                   seed: int = 0) -> pd.DataFrame:
    """The layer summary with its baselines beside it, as columns (the one place they are merged).

    Every baseline applies the rule given by ``index`` and ``threshold``: the
    rule the summary was counted with (a summary that records another one is
    refused, so that no baseline stands beside a count of another rule).

    Parameters
    ----------
    summary : DataFrame
        From :func:`catsel.layer_summary`.
    acts : Activations
        The activations the summary was computed from.
    index : str, default "paper"
    threshold : float, default 0.01
        The selective rule the summary was counted with (:func:`catsel.selectivity`'s).
    bootstrap : int, optional
        Resamples for confidence intervals: adds ``low`` and ``high`` (see
        :func:`bootstrap_proportions`).
    shuffled : bool, default False
        Add the shuffled-label null: ``null_proportion`` and ``null_high``
        (see :func:`shuffled_baseline`), over ``shuffles`` shuffles,
        ``excess`` = ``proportion`` − ``null_proportion``, and the verdict:
        ``null_p`` (the share of shuffles reaching the count,
        :func:`null_p_values`), ``null_q`` (corrected over the summary's
        layers and categories) and ``evidence`` (``null_q <= level``, see
        :func:`layer_evidence`). With the untrained control too, the
        untrained network's own verdict: ``untrained_evidence``, and
        ``as_many_untrained`` where the trained count does not exceed the
        untrained networks' largest.
    shuffles : int, default 1000
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
    significance : DataFrame, optional
        A selectivity table with ``q_value`` (:func:`add_significance`): adds
        ``n_significant`` and ``proportion_significant`` (units with
        ``q_value < level``, :func:`significant_counts`).
    level : float, default 0.05
        The level of the verdict and of the significant counts.
    seed : int, default 0

    Returns
    -------
    DataFrame
        ``summary``'s rows and columns, the baselines' columns added; its counting kept (with the verdict's
        ``level`` and ``shuffles``).
    """
    from ..selecting.selection import layer_summary, selectivity

    counting = Counting.of(summary)
    counted = {"index": index, "threshold": threshold}
    other = ({k: getattr(counting, k) for k in counted if getattr(counting, k) != counted[k]}
             if "counting" in summary.attrs else {})
    if other:
        said = ", ".join(f"{k}={v!r}" for k, v in other.items())
        raise ValueError(f"the summary was counted with {said}; pass the same to with_baselines ({said}), so that "
                         "each baseline applies the rule of the count it stands beside")
    layers = list(summary["layer"].cat.categories)
    keys = ["layer", "category"]
    out = summary
    if bootstrap:
        ci = bootstrap_proportions(acts, index=index, threshold=threshold, n_boot=bootstrap, layers=layers, seed=seed)
        out = out.merge(ci[keys + ["low", "high"]], on=keys, how="left")
    if shuffled:
        out = out.merge(_verdict(out, acts, index=index, threshold=threshold, shuffles=shuffles, layers=layers,
                                 seed=seed, among=among, level=level), on=keys, how="left")
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
        if shuffled and name == "untrained":  # the untrained network's own verdict, against its own null
            twin = _verdict(found[0], runs[0], index=index, threshold=threshold, shuffles=shuffles, layers=layers,
                            seed=seed, among=None, level=level)
            out = out.merge(twin[keys + ["evidence"]].rename(columns={"evidence": "untrained_evidence"}), on=keys,
                            how="left")
            most = out[f"{name}_high"] if f"{name}_high" in out else out[f"proportion_{name}"]
            out["as_many_untrained"] = out["proportion"] <= most + 1e-12
    if significance is not None:
        from .permutation import significant_counts

        out = out.merge(significant_counts(significance, level), on=keys, how="left", sort=False)
    out.attrs.update(summary.attrs)
    if shuffled:
        counting.replace(level=level, shuffles=shuffles).on(out)
    return out


def _verdict(summary: pd.DataFrame, acts: Activations, *, level: float, **null) -> pd.DataFrame:
    """The null's columns of a summary and its verdict."""
    layers, draws = shuffled_draws(acts, **null)
    cats = list(acts.categories)
    observed = (summary.assign(layer=summary["layer"].astype(str), category=summary["category"].astype(str))
                .pivot(index="layer", columns="category", values="proportion").reindex(index=layers, columns=cats))
    return _null_frame(layers, cats, draws, observed.to_numpy(dtype=float), level)


def _null_frame(layers, categories, draws: np.ndarray, proportion: np.ndarray | None, level: float) -> pd.DataFrame:
    """The null's columns from its draws, and the verdict of the observed proportions: the one place a count is
    judged against its null (a run's summary, the threshold explorer)."""
    columns = {"null_proportion": draws.mean(axis=0), "null_high": np.quantile(draws, 0.95, axis=0)}
    if proportion is not None:
        p = null_p_values(proportion, draws)
        q, evidence = layer_evidence(p, level)
        columns.update(null_p=p, null_q=q, evidence=evidence, excess=proportion - columns["null_proportion"])
    return layer_frame(layers, categories, **columns)
