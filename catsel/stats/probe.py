"""Which layer to read out: a cross-validated linear probe per layer, and where in depth each category's units sit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..selecting.indices import EPS
from ..selecting.tables import layer_frame
from ..store import Activations

__all__ = ["linear_probe", "complexity_profile"]


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

    from ..options import check_folds

    layers = list(layers) if layers is not None else list(acts.layers)
    labels = np.asarray(acts.labels)
    check_folds(folds, labels, list(acts.categories), flag="folds")
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
