"""Encoding: cross-validated ridge regression from a layer's units to each response column.

For each fold of images (scikit-learn's ``KFold``, shuffled with the seed), a pipeline is fitted on the
training images only: standardisation, a reduction of a large layer to at most ``components`` dimensions
(PCA by default, or a Gaussian random projection), and ``RidgeCV``, which chooses each column's penalty
among ``ALPHAS`` by leave-one-out on the training images. The held-out images are predicted, and each
column's score is the Pearson correlation between its out-of-fold predictions and its responses. Nothing
fitted ever sees the images it predicts; memory follows images × components, not images × units × folds.

The **noise ceiling** needs repetitions: each column's split-half reliability (the mean of the odd
repetitions against the mean of the even ones, across images), raised to the full number of repetitions by
Spearman-Brown; the ceiling of a correlation with the mean response is its square root. A region's score
is the mean of its columns' correlations, its ceiling the mean of its columns' ceilings, and the
normalised score their ratio.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ALPHAS", "COMPONENTS", "encoding_scores", "columnwise_r", "column_ceilings", "region_means",
           "region_draws"]

#: The ridge penalties RidgeCV chooses among, per column, inside the training folds.
ALPHAS = tuple(10.0 ** np.arange(-2, 7))
#: A layer with more units than this is reduced inside the folds.
COMPONENTS = 100


def _pipeline(units: int, n_train: int, components: int, reduce, seed: int):
    from sklearn.base import clone
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.random_projection import GaussianRandomProjection

    steps = [StandardScaler()]
    k = min(components, n_train - 1)
    if reduce is not None and not isinstance(reduce, str):
        steps.append(clone(reduce))
    elif units > k:
        if reduce in (None, "pca"):
            steps.append(PCA(n_components=k, random_state=seed))
        elif reduce == "random":
            steps.append(GaussianRandomProjection(n_components=k, random_state=seed))
        else:
            raise ValueError(f"reduce must be 'pca', 'random' or an estimator, not {reduce!r}")
    # leave-one-out by the training design's SVD (the same penalties as scikit-learn's default, about twice as
    # fast on tall designs, the usual case here: more training images than kept components)
    steps.append(RidgeCV(alphas=ALPHAS, alpha_per_target=True, gcv_mode="svd" if n_train > k else None))
    return make_pipeline(*steps)


def encoding_scores(units: np.ndarray, responses: np.ndarray, *, folds: int = 5, components: int = COMPONENTS,
                    reduce=None, seed: int = 0, predictions: bool = False):
    """Each response column's cross-validated correlation with its prediction from ``units``.

    Parameters
    ----------
    units : ndarray, shape (images, units)
        A layer's maxima (or a subset of its units).
    responses : ndarray, shape (images, columns)
    folds : int, default 5
        Folds over images.
    components : int, default 100
        The most dimensions a layer keeps (reduced inside the folds).
    reduce : {"pca", "random"} or scikit-learn transformer, optional
        The reduction (default PCA); an estimator is cloned for each fold.
    seed : int, default 0
        The folds' shuffle and the reduction's seed.
    predictions : bool, default False
        Also return the out-of-fold predictions.

    Returns
    -------
    ndarray, shape (columns,)
        Pearson correlations (NaN for a column that does not vary); with
        ``predictions``, a pair (correlations, predictions of shape
        (images, columns)).
    """
    from sklearn.model_selection import KFold

    x = np.asarray(units, dtype=np.float64)
    y = np.asarray(responses, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images of units against {len(y)} of responses")
    folds = min(folds, len(x))
    if folds < 2:
        raise ValueError("encoding needs at least 2 folds of images")
    predicted = np.empty_like(y)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
        model = _pipeline(x.shape[1], len(train), components, reduce, seed)
        model.fit(x[train], y[train])
        predicted[test] = model.predict(x[test])
    scores = columnwise_r(predicted, y)
    return (scores, predicted) if predictions else scores


def columnwise_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Pearson correlation of each column of ``a`` with the same column of ``b`` (NaN where one is flat).

    Parameters
    ----------
    a, b : ndarray, shape (images, columns)

    Returns
    -------
    ndarray, shape (columns,)
    """
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=0) / np.where(denominator > 0, denominator, 1), np.nan)


def column_ceilings(repetitions: np.ndarray | None, columns: int) -> np.ndarray:
    """Each column's noise ceiling for a correlation with its mean response; NaN without repetitions.

    Parameters
    ----------
    repetitions : ndarray, shape (repetitions, images, columns), optional
    columns : int

    Returns
    -------
    ndarray, shape (columns,)
        ``sqrt(2 r / (1 + r))`` of the odd-even split-half correlation r
        (Spearman-Brown); NaN where r is not positive.
    """
    if repetitions is None or len(repetitions) < 2:
        return np.full(columns, np.nan)
    odd, even = repetitions[0::2].mean(axis=0), repetitions[1::2].mean(axis=0)
    r = columnwise_r(odd, even)
    with np.errstate(invalid="ignore"):
        full = 2 * r / (1 + r)
        return np.where(r > 0, np.sqrt(np.clip(full, 0, None)), np.nan)


def region_means(values: np.ndarray, regions: list[str]) -> dict[str, float]:
    """The mean of ``values`` over each region's columns, regions in order of appearance.

    Parameters
    ----------
    values : ndarray, shape (columns,)
    regions : list of str
        Each column's region.

    Returns
    -------
    dict of str to float
    """
    labels = np.asarray(regions)
    out = {}
    for region in dict.fromkeys(regions):
        chosen = values[labels == region]
        out[region] = float(np.nanmean(chosen)) if np.isfinite(chosen).any() else float("nan")
    return out


def region_draws(predicted: np.ndarray, observed: np.ndarray, regions: list[str], samples: np.ndarray) -> np.ndarray:
    """Each region's mean correlation on resampled images (a bootstrap of the out-of-fold predictions).

    Parameters
    ----------
    predicted, observed : ndarray, shape (images, columns)
    regions : list of str
        Each column's region.
    samples : ndarray of int, shape (resamples, images)
        The same resamples for every network compared (paired differences).

    Returns
    -------
    ndarray, shape (resamples, regions)
        Regions in order of appearance.
    """
    names = list(dict.fromkeys(regions))
    out = np.empty((len(samples), len(names)))
    for b, rows in enumerate(samples):
        means = region_means(columnwise_r(predicted[rows], observed[rows]), regions)
        out[b] = [means[r] for r in names]
    return out
