"""Representational similarity: each layer's dissimilarity matrix against the brain's and the categories'.

A layer's representational dissimilarity matrix (RDM) is computed from its units' maxima across the images
(correlation distance by default), and compared with the brain RDM of each subject by a rank correlation
(Spearman's rho or Kendall's tau-a); the value reported is the mean over subjects. All of it is
rsatoolbox's (``calc_rdm``, ``compare``, ``boot_noise_ceiling``, the pattern bootstrap's
``subsample_pattern``), the field's library for it; where catsel departs from it a comment says so.

- The **interval** is a bootstrap over images: the same resampled images for the layer and the brain (and
  for every layer and network, so differences have intervals too), the 2.5th and 97.5th percentiles of the
  values. The category models are reference curves, computed once without an interval.
- The **noise ceiling** (with two or more subjects) is rsatoolbox's leave-one-subject-out lower bound and
  all-subjects upper bound.
- The **category models** are RDMs built from the run's own labels: ``category`` (0 for two images of one
  category, 1 otherwise) and ``C vs rest`` for each category C (0 when both images are C or both are not).
- **Selective against random units**: a category's selective units in a layer make an RDM of their own; as
  many units drawn at random from the same layer, many times, make the null; the p-value is the share of
  random sets that reach the selective units' value, counting the observation itself.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .data import BrainRDMs

__all__ = ["MEASURES", "DISTANCES", "layer_rdm", "pair_vector", "brain_rdms", "category_models", "Target",
           "resample_pairs", "taken", "noise_ceiling", "bootstrap_rows", "rdm_table", "random_sets_p",
           "weighted_bootstrap", "ranks", "threads"]

#: Rank correlations between RDMs (rsatoolbox's names); tau-a is Kriegeskorte's choice for categorical models.
MEASURES = ("spearman", "tau-a", "corr", "cosine", "kendall")
#: Dissimilarities of a layer's RDM (rsatoolbox's calc_rdm methods that need no noise model).
DISTANCES = ("correlation", "euclidean")


def _rsa():
    import importlib.util

    if importlib.util.find_spec("rsatoolbox") is None:  # a late optional import with one clear line
        from ..errors import CatselError

        raise CatselError("comparing with brain data needs rsatoolbox: pip install 'catsel[brain]' "
                          "(or pip install rsatoolbox)") from None
    from rsatoolbox import data, inference, rdm

    return data, rdm, inference


def _as_rdms(vectors: np.ndarray, measure: str = "dissimilarity"):
    _, rdm, _ = _rsa()
    vectors = np.atleast_2d(vectors)
    n = int(round((1 + np.sqrt(1 + 8 * vectors.shape[1])) / 2))
    return rdm.RDMs(vectors, dissimilarity_measure=measure, pattern_descriptors={"index": np.arange(n)})


def pair_vector(values: np.ndarray, distance: str = "correlation") -> np.ndarray:
    """The dissimilarity of every pair of images (upper triangle, row by row), as rsatoolbox's ``calc_rdm`` gives it.

    rsatoolbox multiplies the patterns with an unoptimised ``np.einsum``: seconds for one layer of 4,096 units at
    1,000 images, minutes for a network and its twin (``benchmarks/brain_speed.py``). The same arithmetic through
    BLAS's matrix product takes a fraction of that; ``tests/test_brain.py`` holds the two equal.

    Parameters
    ----------
    values : ndarray, shape (images, units)
    distance : {"correlation", "euclidean"}
        1 - Pearson's r between two images' units; or the squared euclidean distance over the units, divided by
        their number (rsatoolbox's ``"euclidean"``).

    Returns
    -------
    ndarray, shape (images * (images - 1) / 2,)
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, not {distance!r}")
    x = np.array(values, dtype=np.float64)
    upper = np.triu_indices(len(x), k=1)
    if distance == "correlation":
        x -= x.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):  # an image whose units are all equal: NaN, as there
            x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
        return 1 - (x @ x.T)[upper]
    squares = np.einsum("ij,ij->i", x, x)
    return (squares[:, None] + squares[None, :] - 2 * (x @ x.T))[upper] / x.shape[1]


def layer_rdm(values: np.ndarray, *, distance: str = "correlation"):
    """The RDM of images × units values (rsatoolbox's ``calc_rdm``, computed by ``pair_vector``).

    Parameters
    ----------
    values : ndarray, shape (images, units)
        A layer's maxima (or a chosen subset of its units).
    distance : str, default "correlation"
        ``"correlation"`` or ``"euclidean"``.

    Returns
    -------
    rsatoolbox.rdm.RDMs
        One RDM, with the image index as its pattern descriptor.
    """
    return _as_rdms(pair_vector(values, distance), "correlation" if distance == "correlation" else "squared euclidean")


def brain_rdms(brain: BrainRDMs):
    """The brain's matrices as one rsatoolbox ``RDMs`` (one per subject).

    Parameters
    ----------
    brain : BrainRDMs

    Returns
    -------
    rsatoolbox.rdm.RDMs
    """
    _, rdm, _ = _rsa()
    return rdm.RDMs(brain.matrices, dissimilarity_measure="brain",
                    pattern_descriptors={"index": np.arange(brain.matrices.shape[1])})


def category_models(labels, categories) -> dict:
    """The category-model RDMs of images with these labels.

    Parameters
    ----------
    labels : array of int
        Each image's category (index into ``categories``).
    categories : sequence of str

    Returns
    -------
    dict of str to rsatoolbox.rdm.RDMs
        ``"category"`` (0 within a category, 1 between), then ``"C vs rest"``
        for each category with images (0 when both images are C or both are
        not, 1 otherwise).
    """
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), k=1)
    models = {"category": _as_rdms((labels[i] != labels[j]).astype(float), "category model")}
    for c, name in enumerate(categories):
        inside = labels == c
        if inside.any() and not inside.all():
            models[f"{name} vs rest"] = _as_rdms((inside[i] != inside[j]).astype(float), "category model")
    return models


def ranks(vector: np.ndarray) -> np.ndarray:
    """SciPy's ``rankdata`` (average ranks, from 1), by NumPy's unstable sort where no two values tie.

    ``rankdata`` sorts with a stable merge sort: 22 ms for the 124,750 pairs of 500 images on this project's
    CPU, against 5 ms for NumPy's default sort, and a random unit set ranks one such vector each
    (``benchmarks/brain_speed.py``). Without ties the order of a sort is the ranks, whatever the sort; with ties,
    ``rankdata`` itself.

    Parameters
    ----------
    vector : ndarray, shape (n,)

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    from scipy.stats import rankdata

    vector = np.asarray(vector, dtype=np.float64)
    order = np.argsort(vector)
    ordered = vector[order]
    if len(vector) > 1 and (ordered[1:] == ordered[:-1]).any():
        return rankdata(vector)
    out = np.empty(len(vector))
    out[order] = np.arange(1, len(vector) + 1)
    return out


class Target:
    """A target's RDMs (subjects), ranked once, for comparing many RDMs with it quickly.

    rsatoolbox's ``compare`` ranks both sides on every call; against one
    target, catsel ranks the target once and each model once (Spearman), or
    centres them (Pearson), and takes the cosine, which is what rsatoolbox
    computes (``tests/test_brain.py`` holds the two equal); the saving is
    measured in ``benchmarks/brain_speed.py``. Other measures go to
    rsatoolbox's ``compare`` as they are.

    Parameters
    ----------
    vectors : ndarray, shape (subjects, pairs)
        The target's dissimilarities (NaN for a pair left out).
    measure : str
    """

    FAST = ("spearman", "corr")

    def __init__(self, vectors: np.ndarray, measure: str):
        self.vectors = np.atleast_2d(vectors)
        self.measure = measure
        self.defined = np.isfinite(self.vectors).all(axis=0)
        self.prepared = self._prepare(self.vectors[:, self.defined]) if measure in self.FAST else None

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        out = (np.stack([ranks(v) for v in vectors]) if self.measure == "spearman"
               else np.array(vectors, dtype=np.float64))
        out -= out.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norm, out=np.full_like(out, np.nan), where=norm > 0)

    def score(self, vector: np.ndarray) -> float:
        """The mean over subjects of the comparison of one model vector with the target.

        Parameters
        ----------
        vector : ndarray, shape (pairs,)

        Returns
        -------
        float
        """
        vector = np.asarray(vector, dtype=np.float64).ravel()
        keep = self.defined & np.isfinite(vector)
        if self.prepared is None or not np.array_equal(keep, self.defined):
            _, rdm, _ = _rsa()
            return float(np.nanmean(rdm.compare(vector[keep][None], self.vectors[:, keep], method=self.measure)))
        model = self._prepare(vector[keep][None])[0]
        return float(np.nanmean(self.prepared @ model))


def resample_pairs(n: int, rows: np.ndarray) -> np.ndarray:
    """The positions in an n-image RDM vector of a resample's pairs (-1 where a pair is one image twice).

    This is rsatoolbox's ``subsample_pattern`` of a pattern bootstrap, as
    indices, so that every layer and target of one resample shares them.

    Parameters
    ----------
    n : int
        Images in the RDM.
    rows : ndarray of int
        The resample (images drawn with replacement).

    Returns
    -------
    ndarray of int
        One entry per pair of resample positions (upper triangle, row by row).
    """
    i, j = np.triu_indices(len(rows), k=1)
    a, b = rows[i], rows[j]
    low, high = np.minimum(a, b), np.maximum(a, b)
    where = n * low - low * (low + 1) // 2 + (high - low - 1)
    return np.where(a == b, -1, where)


def taken(vectors: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``vectors``' entries at ``where`` (from :func:`resample_pairs`), NaN at -1.

    Parameters
    ----------
    vectors : ndarray, shape (k, pairs)
    where : ndarray of int

    Returns
    -------
    ndarray, shape (k, len(where))
    """
    out = np.atleast_2d(vectors)[:, np.maximum(where, 0)].astype(np.float64)
    out[:, where < 0] = np.nan
    return out


def noise_ceiling(targets, measure: str) -> tuple[float, float]:
    """rsatoolbox's noise ceiling of several subjects' RDMs: (lower, upper); NaNs for one subject.

    Parameters
    ----------
    targets : rsatoolbox.rdm.RDMs
    measure : str

    Returns
    -------
    (float, float)
        The leave-one-subject-out lower bound and the all-subjects upper bound.
    """
    _, _, inference = _rsa()
    if targets.n_rdm < 2:
        return float("nan"), float("nan")
    low, high = inference.boot_noise_ceiling(targets, method=measure, rdm_descriptor="index")
    return float(low), float(high)


def bootstrap_rows(n: int, bootstrap: int, seed: int) -> np.ndarray:
    """``bootstrap`` resamples of ``n`` images with replacement, shape (bootstrap, n).

    rsatoolbox's ``bootstrap_sample_pattern`` draws from NumPy's global random state; catsel draws the same
    resamples from a seeded generator, so that a run repeats and every layer sees the same resamples (their
    differences then have an interval too).

    Parameters
    ----------
    n, bootstrap, seed : int

    Returns
    -------
    ndarray of int
    """
    return np.random.default_rng(seed).integers(0, n, size=(bootstrap, n))


class _Ranked:
    """One vector of pair dissimilarities, sorted once: its average ranks under any weights of the pairs, in one
    pass, without sorting again.

    A bootstrap resample of images holds each pair of distinct images ``w_i * w_j`` times (``w``: how often each
    image was drawn) and no pair of an image with itself. Ranking that resample's vector, as rsatoolbox's
    ``subsample_pattern`` then ``compare`` do, gives each copy of a pair the average of the ranks its copies and
    ties take: a cumulative sum of the weights in the sorted order. SciPy has no weighted ranking, and sorting
    each resample again (half a million pairs at 1,000 images, for every layer and resample) is what made
    ``catsel brain`` take minutes (``benchmarks/brain_speed.py``); the values are the re-ranked bootstrap's
    (``tests/test_brain.py`` holds them equal).
    """

    def __init__(self, vector: np.ndarray):
        # within a tie group the order does not matter (the group shares its rank); 32-bit positions where they
        # fit, half the memory of a network's layers held side by side
        order = np.argsort(vector)
        self.order = order.astype(np.int32) if len(vector) < 2**31 else order
        ordered = vector[self.order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.starts = starts if len(starts) < len(ordered) else None  # tie groups, where there are ties

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """The average ranks of the pairs under ``weights`` (one per pair), in the pairs' order."""
        w = weights[self.order]
        cum = np.cumsum(w)
        if self.starts is None:  # copies of one pair take ranks cum - w + 1 .. cum: their mean
            w *= 0.5
            cum -= w
            cum += 0.5
            ranked = cum
        else:
            ends = np.r_[self.starts[1:], len(w)]
            total = np.add.reduceat(w, self.starts)
            ranked = np.repeat(cum[ends - 1] - (total - 1) / 2, ends - self.starts)
        out = np.empty_like(ranked)
        out[self.order] = ranked
        return out


def threads() -> int:
    """The CPUs this process may use: the threads of the bootstrap and of the random sets."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def weighted_bootstrap(vectors: dict, brain: np.ndarray, resamples: np.ndarray, measure: str,
                       workers: int | None = None) -> dict:
    """Each vector's comparison with the brain's subjects on each resample of images, without re-ranking: the
    values of :func:`resample_pairs`, :func:`taken` and :class:`Target` on the resampled vectors, computed with
    each pair weighted by how often the resample holds it (Spearman on weighted ranks, Pearson on weighted
    values).

    Parameters
    ----------
    vectors : dict of str to ndarray, shape (pairs,)
        The layers' dissimilarities (finite).
    brain : ndarray, shape (subjects, pairs)
        The brain's (finite).
    resamples : ndarray of int, shape (bootstrap, n)
        From :func:`bootstrap_rows`.
    measure : {"spearman", "corr"}
    workers : int, optional
        Threads over the layers (default: the CPUs this process may use). NumPy's gathers, sums and scatters
        release the interpreter's lock, so the layers of one resample run side by side.

    Returns
    -------
    dict of str to ndarray, shape (bootstrap,)
    """
    from concurrent.futures import ThreadPoolExecutor

    n = resamples.shape[1]
    i, j = np.triu_indices(n, k=1)
    ranked = measure == "spearman"
    layers = {name: _Ranked(v) if ranked else np.asarray(v, dtype=np.float64) for name, v in vectors.items()}
    subjects = [_Ranked(b) if ranked else np.asarray(b, dtype=np.float64) for b in np.atleast_2d(brain)]
    out = {name: np.full(len(resamples), np.nan) for name in vectors}
    workers = workers or min(len(layers), threads()) or 1

    def score(layer, target, weights, total) -> float:
        x = layer(weights) if ranked else layer
        spread = np.sqrt(max(x @ (weights * x) - (x @ weights) ** 2 / total, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.nanmean(target @ x / spread))

    with ThreadPoolExecutor(workers) as pool:
        for b, rows in enumerate(resamples):
            counts = np.bincount(rows, minlength=n).astype(np.float64)
            weights = counts[i] * counts[j]
            total = weights.sum()
            # the subjects centred, scaled and weighted once per resample: a layer's correlation with subject s
            # is then target[s] @ x / spread(x), its centring falling out (each target row sums to 0)
            target = np.stack(list(pool.map(lambda s: s(weights), subjects)) if ranked else subjects)
            target -= (target @ weights / total)[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                target *= weights / np.sqrt((target * target) @ weights)[:, None]
            for name, value in zip(layers, pool.map(lambda l: score(l, target, weights, total), layers.values())):
                out[name][b] = value
    return out


def rdm_table(layers: dict, targets: dict, *, measure: str = "spearman", bootstrap: int = 100, seed: int = 0,
              network: str = "trained", progress=None, shared: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Each layer's RDM against each target: the value, the brain's bootstrap interval and noise ceiling.

    Parameters
    ----------
    layers : dict of str to rsatoolbox.rdm.RDMs
        Layer name → the layer's RDM (see :func:`layer_rdm`), in network order.
    targets : dict of str to rsatoolbox.rdm.RDMs
        ``"brain"`` and the category models (see :func:`category_models`).
    measure : str, default "spearman"
        ``"spearman"``, ``"tau-a"``, ``"kendall"``, ``"corr"`` or ``"cosine"``.
    bootstrap : int, default 100
        Resamples of the images for the brain's interval (0: none). The
        category models are reference curves, computed once.
    seed : int, default 0
        The resamples' seed; the same seed gives every layer and network
        the same resamples.
    network : str, default "trained"
        The ``network`` column (``"untrained"`` for the control).
    progress : callable, optional
        Called once per layer done.
    shared : dict, optional
        Filled by a first call and read by the next with the same targets (the untrained twin's): the noise
        ceilings and the ranked targets, computed once.

    Returns
    -------
    table : DataFrame
        One row per layer × target: ``network``, ``layer``, ``target``,
        ``units`` ("all"), ``measure``, ``value``, ``low``, ``high``,
        ``ceiling_low``, ``ceiling_high``, ``n_images``.
    draws : dict
        (layer, "brain") → the bootstrap values, for paired comparisons.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    n = next(iter(targets.values())).n_cond
    shared = {} if shared is None else shared
    if shared.get("targets") is not targets or shared.get("measure") != measure:
        shared.update(targets=targets, measure=measure,
                      ceilings={name: noise_ceiling(t, measure) for name, t in targets.items()},
                      fixed={name: Target(t.get_vectors(), measure) for name, t in targets.items()})
    ceilings, fixed = shared["ceilings"], shared["fixed"]
    vectors = {layer: model.get_vectors()[0] for layer, model in layers.items()}
    values = {(layer, name): fixed[name].score(v) for layer, v in vectors.items() for name in targets}
    draws = {(layer, "brain"): np.full(bootstrap, np.nan) for layer in layers} if "brain" in targets else {}
    brain = targets["brain"].get_vectors() if draws else None
    if draws and bootstrap and measure in Target.FAST and np.isfinite(brain).all() and \
            all(np.isfinite(v).all() for v in vectors.values()):
        found = weighted_bootstrap(vectors, brain, bootstrap_rows(n, bootstrap, seed), measure)
        draws = {(layer, "brain"): found[layer] for layer in layers}
    elif draws and bootstrap:  # other measures, or pairs left out: each resample taken and compared anew
        for b, rows in enumerate(bootstrap_rows(n, bootstrap, seed)):
            where = resample_pairs(n, rows)
            target = Target(taken(brain, where), measure)  # ranked once per resample, for every layer
            for layer, v in vectors.items():
                draws[(layer, "brain")][b] = target.score(taken(v, where)[0])
    rows_out = []
    for layer in layers:
        for name in targets:
            boot = draws.get((layer, name))
            low, high = (np.nanpercentile(boot, [2.5, 97.5]) if boot is not None and bootstrap
                         else (np.nan, np.nan))
            rows_out.append({"network": network, "layer": layer, "target": name, "units": "all", "measure": measure,
                             "value": values[(layer, name)], "low": float(low), "high": float(high),
                             "ceiling_low": ceilings[name][0], "ceiling_high": ceilings[name][1], "n_images": n})
        if progress is not None:
            progress()
    return pd.DataFrame(rows_out), draws


def random_sets_p(observed: float, null: np.ndarray) -> float:
    """The share of random sets that reach ``observed``, counting the observation itself.

    Parameters
    ----------
    observed : float
    null : ndarray

    Returns
    -------
    float
        ``(1 + #{null >= observed}) / (1 + len(null))``: never 0, so a
        p-value is never claimed finer than the sets drawn allow.
    """
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    return float((1 + np.sum(null >= observed)) / (1 + len(null)))
