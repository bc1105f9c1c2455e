"""The selectivity table (one row per layer x unit x category) and the layer summary (Figure 1's numbers).

:func:`selectivity` applies an index of :mod:`~catsel.selecting.indices` to a store, whole or block by block
(:mod:`~catsel.selecting.blocks`), and the selective rule (:func:`~catsel.selecting.tables.selective_rule`);
:func:`layer_summary` counts, :func:`representative_units` and :func:`best_layers` rank.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..store import Activations
from .blocks import blockwise_sums, use_blockwise
from .indices import (EPS, INDICES, MIN_ACTIVE, above_chance, index_inputs, is_constant, n_active, selectivity_matrix,
                      stack_units)
from .tables import Counting, long_table, selective_rule, summary_frame
from ..options import INDEX, THRESHOLD

__all__ = ["selectivity", "layer_category_codes", "layer_summary", "ThresholdCounts", "representative_units",
           "best_layers"]


def selectivity(acts: Activations, *, index: str = INDEX, threshold: float = THRESHOLD,
                layers: list[str] | None = None, eps: float = EPS, blockwise: bool | None = None,
                select_from: Activations | None = None) -> pd.DataFrame:
    """Selectivity of every captured unit for every category, as a tidy table.

    Computed for all layers, units and categories at once (eq. 1 and eq. 2,
    see the module docstring).

    Parameters
    ----------
    acts
        From :func:`catsel.capture` or :func:`catsel.load_activations`.
    index
        ``"paper"`` (eq. 2, default), ``"repo"`` (the public code's), ``"unit_contrast"`` (its per-unit variant), or one of
        the indices of the neuroscience literature: ``"fsi"``, ``"dprime"``,
        ``"auroc"`` (see :data:`INDICES`), each compared with its own chance level.
    threshold
        A unit is ``selective`` for c when its index exceeds c's chance level
        by more than ``threshold`` (the paper: 0.01). A unit can be selective
        for more than one category.
    layers
        A subset of the captured layers (default: all).
    eps
        The epsilon of eq. 1 and eq. 2.
    blockwise
        Read the store block by block of images (:func:`blockwise_sums`),
        in memory that follows the block and not the number of images; the
        values equal the whole computation's to rounding (1e-12). Default:
        when the images × units matrix would take over
        :data:`BLOCKWISE_ABOVE` bytes and the index allows it.
    select_from
        The same network's capture of independent images (a localizer set):
        units are chosen on them (column ``chosen``: selective there) and
        counted on ``acts`` (``selective``: chosen, and selective on these
        images too), so that choosing and counting never use the same images
        (Kriegeskorte et al. 2009). The categories must be the same.

    Returns
    -------
    pandas.DataFrame
        One row per layer × unit × category, with columns ``layer``,
        ``unit`` (its index in the layer), ``category``, ``selectivity``, ``chance``,
        ``above_chance``, ``selective``, ``silent`` (always 0), ``constant``
        (never varies, silent included), ``n_active`` (images on which the
        unit is above its minimum), ``index``, ``model``, ``weights``.
        ``layer`` and ``category`` are ordered categoricals (network order,
        label order).
    """
    from ..errors import CatselError
    from ..options import check_finite, check_layers

    if not isinstance(acts, Activations):
        raise CatselError(f"selectivity takes a capture (catsel.load_activations, catsel.capture), not "
                          f"{type(acts).__name__}")
    if index not in INDICES:
        raise ValueError(f"unknown index {index!r}; use one of {', '.join(INDICES)}")
    threshold = check_finite("threshold", threshold)
    layers = check_layers("layers", layers) or list(acts.layers)
    sizes = [acts.units[l] for l in layers]
    if use_blockwise(acts, layers, index, blockwise):
        sums, units = blockwise_sums(acts, layers, index, acts.labels, len(acts.categories), eps=eps)
        values, chance = INDICES[index].from_sums(sums, eps)
        silent, constant_units, active = units["all_zero"], is_constant(units), units["n_active"]
    else:
        _, x, _ = index_inputs(acts, layers, index)
        a = x if INDICES[index].inputs is None else stack_units(acts, layers)[1]  # the maxima, stacked once
        values, chance = selectivity_matrix(x, acts.labels, len(acts.categories), index=index, eps=eps)
        silent, constant_units, active = np.all(a == 0, axis=0), is_constant(a), n_active(a)
    constant = np.broadcast_to(constant_units, values.shape)
    above = above_chance(values, chance)
    table = long_table(layers, sizes, acts.categories,
                       selectivity=values,
                       chance=np.broadcast_to(chance[:, None], values.shape),
                       above_chance=above,
                       silent=np.broadcast_to(silent, values.shape),
                       constant=constant,
                       selective=selective_rule(above, constant, threshold),
                       n_active=np.broadcast_to(active, values.shape))
    if select_from is not None:  # chosen on independent images, counted on these
        if tuple(select_from.categories) != tuple(acts.categories):
            raise ValueError(f"the localizer's categories ({', '.join(select_from.categories)}) are not the test "
                             f"images' ({', '.join(acts.categories)}): give both folders the same category folders")
        if tuple(select_from.layers) != tuple(acts.layers) or select_from.units != acts.units:
            raise ValueError("the localizer was captured with other layers: capture both with the same network")
        chosen = selectivity(select_from, index=index, threshold=threshold, layers=layers, eps=eps)["selective"]
        table["chosen"] = chosen.to_numpy()
        table["selective"] = table["selective"].to_numpy() & table["chosen"].to_numpy()
    table["index"] = index
    table["model"] = acts.meta.model
    table["weights"] = acts.meta.weights
    localizer = None if select_from is None else str(select_from.path) if select_from.path is not None else "given"
    return Counting(index=index, threshold=threshold, eps=eps, n_images=len(acts), images_per_category=acts.counts,
                    model_label=acts.model_label, trained=acts.meta.trained, select_from=localizer).on(table)


def layer_category_codes(table: pd.DataFrame) -> np.ndarray:
    """Each row's layer × category cell, numbered ``layer_code * n_categories + category_code``.

    In int64: pandas keeps category codes in int8 below 128 categories, and
    the product overflowed past 127 cells (51 layers × 4 categories).

    Parameters
    ----------
    table : DataFrame
        With categorical ``layer`` and ``category`` columns.

    Returns
    -------
    ndarray of int64
    """
    n_categories = len(table["category"].cat.categories)
    return (table["layer"].cat.codes.to_numpy().astype(np.int64) * n_categories
            + table["category"].cat.codes.to_numpy().astype(np.int64))


def layer_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per layer and category: units, selective units, and their proportion.

    The paper's Figure 1 plots ``proportion``. ``n_silent`` and
    ``n_constant`` count the units that cannot be selective for anything
    (silent units are also constant). ``n_selective_near_silent`` counts the
    selective units that are active on fewer than :data:`MIN_ACTIVE` of the
    images: eq. 2 rewards sparsity, and such units are selective on a
    handful of images.

    Parameters
    ----------
    table : DataFrame
        From :func:`selectivity` (one row per layer × unit × category).

    Returns
    -------
    DataFrame
        One row per layer × category present in ``table``, with the columns of
        :data:`catsel.selecting.tables.SUMMARY_COLUMNS` (then ``index``, ``model``,
        ``weights``); what ``table`` was counted with (:class:`~catsel.selecting.tables.Counting`) kept.
    """
    counts = ThresholdCounts(table, sort=False)
    return counts.summary(selective=table["selective"].to_numpy())


class ThresholdCounts:
    """The layer summary of one selectivity table, counted once for the table's own ``selective`` column
    (:func:`layer_summary`) or again at any threshold of the paper's rule (the threshold explorer's slider): the
    one counter of selective units per layer × category.

    For a new threshold the rows are sorted once by their margin above chance, the units that never vary first:
    the selective rows at any threshold are then the last ones, and a threshold costs one pass of
    :func:`catsel.selecting.tables.selective_rule` and a ``bincount`` of the selective rows' cells only (half
    the time of weighting every row when few are selective: 12.4 million rows with 1,000 categories).

    Parameters
    ----------
    table : DataFrame
        From :func:`selectivity`.
    sort : bool, default True
        Sort the rows for :meth:`summary` at other thresholds (``False``: only the table's own column is counted).
    """

    def __init__(self, table: pd.DataFrame, *, sort: bool = True):
        self.attrs = dict(table.attrs)
        self.layers = list(table["layer"].cat.categories)
        self.categories = list(table["category"].cat.categories)
        self.codes = layer_category_codes(table)
        size = len(self.layers) * len(self.categories)
        constant = table["constant"].to_numpy()
        self.n_units = np.bincount(self.codes, minlength=size)
        self.n_silent = np.bincount(self.codes, weights=table["silent"].to_numpy(dtype=np.float64), minlength=size)
        self.n_constant = np.bincount(self.codes, weights=constant.astype(np.float64), minlength=size)
        self.near = None  # rows whose unit fires on too few images (MIN_ACTIVE): counted apart when selective
        n_images = Counting.of(table).n_images
        if "n_active" in table and n_images:
            self.near = table["n_active"].to_numpy() < MIN_ACTIVE * n_images
        self.labels = {col: (table[col].iloc[0] if len(table) else "") for col in ("index", "model", "weights")
                       if col in table}
        self.order = None
        if sort:
            above = table["above_chance"].to_numpy()
            self.order = np.argsort(np.where(constant | np.isnan(above), -np.inf, above), kind="stable")
            self.above, self.constant = above[self.order], constant[self.order]

    def summary(self, threshold: float | None = None, *, selective: np.ndarray | None = None) -> pd.DataFrame:
        """The layer summary at ``threshold`` (the paper's rule), or of the rows marked ``selective``.

        Parameters
        ----------
        threshold : float, optional
        selective : ndarray of bool, shape (rows,), optional
            In the table's row order; instead of a threshold.

        Returns
        -------
        DataFrame
            As :func:`layer_summary` gives it; its :class:`~catsel.selecting.tables.Counting` has ``threshold``
            when one is given.
        """
        size = len(self.n_units)
        if selective is None:
            if self.order is None:
                raise ValueError("a summary at another threshold needs the rows sorted (sort=True)")
            chosen = selective_rule(self.above, self.constant, threshold)
            first = len(chosen) - np.count_nonzero(chosen)
            rows = self.order[first:] if chosen[first:].all() else self.order[chosen]  # sorted: the last rows
        else:
            rows = np.flatnonzero(selective)
        summary = summary_frame(self.layers, self.categories, n_units=self.n_units,
                                n_selective=np.bincount(self.codes[rows], minlength=size),
                                n_silent=self.n_silent, n_constant=self.n_constant)
        if self.near is not None:
            summary["n_selective_near_silent"] = np.bincount(self.codes[rows[self.near[rows]]], minlength=size)
        summary = summary[self.n_units > 0].reset_index(drop=True)  # categoricals' levels without rows left out
        for col, value in self.labels.items():
            summary[col] = value
        summary.attrs.update(self.attrs)
        if threshold is not None:
            Counting.of(summary).replace(threshold=threshold).on(summary)
        return summary


def representative_units(table: pd.DataFrame, category: str, *, per_layer: int = 1,
                           layers: list[str] | None = None, min_active: float = MIN_ACTIVE) -> pd.DataFrame:
    """The most selective units for ``category`` in each layer (the paper's Figure 3 choice).

    Units are ranked by how far their index lies above chance; only units
    marked ``selective`` are returned, so a layer may give fewer than
    ``per_layer`` (or none).

    Parameters
    ----------
    table : DataFrame
        From :func:`selectivity`.
    category : str
    per_layer : int, default 1
        Units per layer, at most.
    layers : list of str, optional
        Only these layers (default: all in ``table``).
    min_active : float, default :data:`MIN_ACTIVE`
        Leave out units above their minimum on fewer than this share of the
        images (near-silent units, whose eq. 2 selectivity rests on a few images).

    Returns
    -------
    DataFrame
        Rows of ``table``, by layer in network order, most selective first.
    """
    from ..options import check_category

    if category not in set(table["category"].astype(str)):
        check_category(category, table["category"].cat.categories, "the table", KeyError)
    rows = table[(table["category"] == category) & table["selective"]]
    n_images = Counting.of(table).n_images
    if "n_active" in rows and n_images:
        rows = rows[rows["n_active"] >= min_active * n_images]
    if layers is not None:
        rows = rows[rows["layer"].isin(layers)]
    rows = rows.sort_values(["layer", "above_chance"], ascending=[True, False], kind="stable")
    return rows.groupby("layer", observed=True, sort=True).head(per_layer).reset_index(drop=True)


def best_layers(summary: pd.DataFrame, *, by: str = "proportion") -> pd.DataFrame:
    """Per category, the layer holding the largest proportion of selective units (or the largest excess over
    the shuffled-label null), among the layers whose count is evidence.

    The paper proposes this layer for extracting features of that category.
    Its rule is the raw proportion (``by="proportion"``); a layer whose count
    the null accounts for is not evidence, so :func:`catsel.compare` chooses
    by ``"excess"`` (the proportion minus the null's, column ``excess`` of a
    summary with baselines). Ties go to the deeper layer.

    Where the summary carries the verdict (column ``evidence``, see
    :func:`catsel.stats.with_baselines`), only layers marked as evidence
    compete: a category with none gets no layer (``layer`` missing,
    ``evidence`` False), never a layer inside its null.

    Parameters
    ----------
    summary : DataFrame
        From :func:`layer_summary` (with ``excess`` for ``by="excess"``, see
        :func:`catsel.stats.with_baselines`).
    by : {"proportion", "excess"}, default "proportion"

    Returns
    -------
    DataFrame
        One row per category: ``category``, ``layer``, ``proportion``,
        ``n_selective``, ``n_units`` (and ``excess`` and ``evidence`` where the
        summary has them).
    """
    from ..options import check_choice

    check_choice("by", by, ("proportion", "excess"))
    if by not in summary:
        raise ValueError(f"the summary has no {by!r} column: add the shuffled-label null "
                         "(catsel.stats.with_baselines(..., shuffled=True)) or choose by proportion")
    rows = []
    judged = "evidence" in summary
    for category, group in summary.groupby("category", observed=True, sort=True):
        group = group.sort_values("layer")
        if judged:
            group = group[group["evidence"].fillna(False).astype(bool)]
        if group.empty:  # no layer shows evidence for the category: none is named
            rows.append({"category": category, "layer": None, "proportion": np.nan, "n_selective": 0,
                         "n_units": 0, **({"excess": np.nan} if "excess" in summary else {}), "evidence": False})
            continue
        best = group.iloc[len(group) - 1 - int(np.argmax(group[by].to_numpy()[::-1]))]
        row = {"category": category, "layer": best["layer"], "proportion": best["proportion"],
               "n_selective": best["n_selective"], "n_units": best["n_units"]}
        if "excess" in group:
            row["excess"] = best["excess"]
        if judged:
            row["evidence"] = True
        rows.append(row)
    return pd.DataFrame(rows)
