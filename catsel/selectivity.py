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

The paper's public code ranks units by another index, the *contrast*: the
mean of AN over c's images minus its mean over the other images (chance
level 0). ``index="contrast"`` uses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .store import Activations

__all__ = ["selectivity", "layer_summary", "representative_filters", "best_layers", "normalise", "selectivity_matrix", "INDICES", "EPS"]

#: The epsilon of eq. 1 and eq. 2.
EPS = 1e-7

#: Selectivity indices: name → description.
INDICES = {
    "paper": "eq. 2: share of the unit's normalised activity that falls on the category (chance = category's share of images)",
    "contrast": "mean normalised activity on the category minus on the other images (chance = 0)",
    "fsi": "selectivity index (R_c - R_o) / (R_c + R_o) of the mean responses (clipped at 0) on the category and "
           "on the others, as the face selectivity index FSI (chance = 0; the literature's criterion: > 1/3)",
    "dprime": "d' = (mean_c - mean_o) / sqrt((var_c + var_o) / 2) (chance = 0)",
    "auroc": "area under the ROC curve of the unit's value for category vs the other images (chance = 0.5)",
}


def stack_units(acts: Activations, layers=None) -> tuple[list[str], np.ndarray, list[int]]:
    """(layers, all their units side by side as float64 (images, units), units per layer)."""
    layers = list(layers) if layers is not None else list(acts.layers)
    blocks = [np.asarray(acts[l], dtype=np.float64) for l in layers]
    return layers, np.concatenate(blocks, axis=1), [b.shape[1] for b in blocks]


def long_table(layers, sizes, categories, **columns) -> pd.DataFrame:
    """Rows layer × filter × category (in that order) from (categories, units) arrays."""
    n_cat = len(categories)
    layer_of_unit = np.repeat(np.arange(len(layers)), sizes)
    filter_of_unit = np.concatenate([np.arange(s) for s in sizes])
    frame = {
        "layer": pd.Categorical.from_codes(np.repeat(layer_of_unit, n_cat), categories=layers, ordered=True),
        "filter": np.repeat(filter_of_unit, n_cat),
        "category": pd.Categorical.from_codes(np.tile(np.arange(n_cat), len(filter_of_unit)),
                                              categories=list(categories), ordered=True),
    }
    for name, values in columns.items():
        frame[name] = np.asarray(values).T.reshape(-1)
    return pd.DataFrame(frame)


def is_selective(values: np.ndarray, chance: np.ndarray, a: np.ndarray, threshold: float) -> np.ndarray:
    """The paper's rule: index above chance by more than ``threshold``, never for a constant unit."""
    constant = a.max(axis=0) == a.min(axis=0)
    return (values - chance[:, None] > threshold) & ~constant


def normalise(a: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Eq. 1: min-max normalise each column (unit) of ``a`` over its rows (images)."""
    a = np.asarray(a, dtype=np.float64)
    lo = a.min(axis=0, keepdims=True)
    hi = a.max(axis=0, keepdims=True)
    return (a - lo) / (hi - lo + eps)


def _onehot(labels: np.ndarray, n_categories: int) -> np.ndarray:
    onehot = np.zeros((n_categories, len(labels)), dtype=np.float64)
    onehot[labels, np.arange(len(labels))] = 1.0
    return onehot


def selectivity_matrix(a: np.ndarray, labels: np.ndarray, n_categories: int, *,
                       index: str = "paper", eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """Selectivity of every unit for every category, and each category's chance level.

    Parameters
    ----------
    a
        ``(n_images, n_units)`` activations (map maxima, or dense units).
    labels
        ``(n_images,)`` integer categories.
    n_categories
        Number of categories.
    index
        ``"paper"`` (eq. 2), ``"contrast"``, ``"fsi"``, ``"dprime"`` or ``"auroc"``
        (see :data:`INDICES`).

    Returns
    -------
    values : ndarray, shape (n_categories, n_units)
    chance : ndarray, shape (n_categories,)
    """
    labels = np.asarray(labels)
    an = normalise(a, eps)
    onehot = _onehot(labels, n_categories)
    per_category = onehot @ an  # (C, U): sum of AN over each category's images
    counts = onehot.sum(axis=1)
    if index == "paper":
        total = an.sum(axis=0, keepdims=True)
        return per_category / (total + eps), counts / counts.sum()
    if index == "contrast":
        total = an.sum(axis=0, keepdims=True)
        n = counts.sum()
        mean_in = per_category / np.maximum(counts, 1)[:, None]
        mean_out = (total - per_category) / np.maximum(n - counts, 1)[:, None]
        return mean_in - mean_out, np.zeros(n_categories)
    if index in ("fsi", "dprime"):
        raw = np.asarray(a, dtype=np.float64)
        if index == "fsi":
            raw = np.maximum(raw, 0.0)
        n = counts.sum()
        sums = onehot @ raw
        squares = onehot @ (raw * raw)
        total, total_sq = raw.sum(axis=0), (raw * raw).sum(axis=0)
        n_in, n_out = np.maximum(counts, 1)[:, None], np.maximum(n - counts, 1)[:, None]
        mean_in, mean_out = sums / n_in, (total - sums) / n_out
        if index == "fsi":
            denominator = mean_in + mean_out
            return np.divide(mean_in - mean_out, denominator, out=np.zeros_like(denominator),
                             where=denominator > 0), np.zeros(n_categories)
        var_in = np.maximum(squares / n_in - mean_in ** 2, 0.0)
        var_out = np.maximum((total_sq - squares) / n_out - mean_out ** 2, 0.0)
        spread = np.sqrt((var_in + var_out) / 2)
        difference = mean_in - mean_out
        # no spread: perfect separation (±inf) when the means differ, 0 for a constant unit
        separated = np.where(difference == 0, 0.0, np.copysign(np.inf, difference))
        return np.divide(difference, spread, out=separated, where=spread > 0), np.zeros(n_categories)
    if index == "auroc":
        from scipy.stats import rankdata

        ranks = rankdata(np.asarray(a, dtype=np.float64), axis=0)  # ties get average ranks
        n = counts.sum()
        rank_sums = onehot @ ranks
        n_in = counts[:, None]
        auc = (rank_sums - n_in * (n_in + 1) / 2) / np.maximum(n_in * (n - n_in), 1)
        return auc, np.full(n_categories, 0.5)
    raise ValueError(f"unknown index {index!r}; use one of {', '.join(INDICES)}")


def selectivity(acts: Activations, *, index: str = "paper", threshold: float = 0.01,
                layers: list[str] | None = None, eps: float = EPS) -> pd.DataFrame:
    """Selectivity of every captured unit for every category, as a tidy table.

    Computed for all layers, units and categories at once (eq. 1 and eq. 2,
    see the module docstring).

    Parameters
    ----------
    acts
        From :func:`catsel.capture` or :func:`catsel.load_activations`.
    index
        ``"paper"`` (eq. 2, default), ``"contrast"`` (the public code's), or one of
        the indices of the neuroscience literature: ``"fsi"``, ``"dprime"``,
        ``"auroc"`` (see :data:`INDICES`), each compared with its own chance level.
    threshold
        A unit is ``selective`` for c when its index exceeds c's chance level
        by more than ``threshold`` (the paper: 0.01). A unit can be selective
        for more than one category.
    layers
        A subset of the captured layers (default: all).

    Returns
    -------
    pandas.DataFrame
        One row per layer × unit × category, with columns ``layer``,
        ``filter`` (unit index), ``category``, ``selectivity``, ``chance``,
        ``above_chance``, ``selective``, ``silent`` (always 0), ``constant``
        (never varies, silent included), ``index``, ``model``, ``weights``.
        ``layer`` and ``category`` are ordered categoricals (network order,
        label order).
    """
    layers, a, sizes = stack_units(acts, layers)
    values, chance = selectivity_matrix(a, acts.labels, len(acts.categories), index=index, eps=eps)
    constant = np.broadcast_to(a.max(axis=0) == a.min(axis=0), values.shape)
    table = long_table(layers, sizes, acts.categories,
                       selectivity=values,
                       chance=np.broadcast_to(chance[:, None], values.shape),
                       above_chance=values - chance[:, None],
                       silent=np.broadcast_to(np.all(a == 0, axis=0), values.shape),
                       constant=constant,
                       selective=is_selective(values, chance, a, threshold))
    table["index"] = index
    table["model"] = acts.meta.get("model", "?")
    table["weights"] = acts.meta.get("weights", "?")
    table.attrs.update({"threshold": threshold, "index": index, "eps": eps,
                        "model_label": acts.model_label, "trained": acts.meta.get("trained", True)})
    return table


def layer_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per layer and category: units, selective units, and their proportion.

    The paper's Figure 1 plots ``proportion``. ``n_silent`` and
    ``n_constant`` count the units that cannot be selective for anything
    (silent units are also constant).
    """
    g = table.groupby(["layer", "category"], observed=True, sort=True)
    summary = g.agg(
        n_units=("filter", "size"),
        n_selective=("selective", "sum"),
        n_silent=("silent", "sum"),
        n_constant=("constant", "sum"),
    ).reset_index()
    summary["proportion"] = summary["n_selective"] / summary["n_units"]
    for col in ("model", "weights", "index"):
        if col in table:
            summary[col] = table[col].iloc[0] if len(table) else ""
    summary.attrs.update(table.attrs)
    return summary[["layer", "category", "n_units", "n_selective", "proportion", "n_silent", "n_constant",
                    *[c for c in ("index", "model", "weights") if c in summary]]]


def representative_filters(table: pd.DataFrame, category: str, *, per_layer: int = 1,
                           layers: list[str] | None = None) -> pd.DataFrame:
    """The most selective units for ``category`` in each layer (the paper's Figure 3 choice).

    Units are ranked by how far their index lies above chance; only units
    marked ``selective`` are returned, so a layer may give fewer than
    ``per_layer`` (or none).
    """
    if category not in set(table["category"].astype(str)):
        raise KeyError(f"no category {category!r}; categories: {', '.join(map(str, table['category'].cat.categories))}")
    rows = table[(table["category"] == category) & table["selective"]]
    if layers is not None:
        rows = rows[rows["layer"].isin(layers)]
    rows = rows.sort_values(["layer", "above_chance"], ascending=[True, False], kind="stable")
    return rows.groupby("layer", observed=True, sort=True).head(per_layer).reset_index(drop=True)


def best_layers(summary: pd.DataFrame) -> pd.DataFrame:
    """Per category, the layer holding the largest proportion of selective units.

    The paper proposes this layer for extracting features of that category.
    Ties go to the deeper layer.
    """
    rows = []
    for category, group in summary.groupby("category", observed=True, sort=True):
        group = group.sort_values("layer")
        best = group.iloc[len(group) - 1 - int(np.argmax(group["proportion"].to_numpy()[::-1]))]
        rows.append({"category": category, "layer": best["layer"], "proportion": best["proportion"],
                     "n_selective": best["n_selective"], "n_units": best["n_units"]})
    return pd.DataFrame(rows)
