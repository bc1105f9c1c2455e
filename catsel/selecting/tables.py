"""The shapes of catsel's tables and the one rule that makes a unit selective.

Every table catsel writes is built here, so that its columns and their order
are defined once:

* the **long table** (:func:`long_table`): one row per layer × unit ×
  category, from ``(n_categories, n_units)`` arrays;
* the **layer table** (:func:`layer_frame`): one row per layer × category;
* the **layer summary** (:func:`summary_frame`): the layer table with the
  counts of Figure 1 (:data:`SUMMARY_COLUMNS`).

The selective rule (:func:`selective_rule`) lives here too: the selectivity
table, the statistics, the threshold explorer and ``catsel run`` all call it;
and what a table was counted with (:class:`Counting`), the one typed value a
table and its summary carry to the statistics, the verdict and the figures.

This module needs NumPy and pandas only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..options import (FDR_METHODS, INDEX, SELECT_BY, THRESHOLD, check_choice, check_finite, check_fraction,
                       check_positive)

__all__ = ["SUMMARY_COLUMNS", "onehot", "long_table", "layer_frame", "summary_frame",
           "selective_rule", "top_k", "Counting"]

#: Columns of :func:`catsel.layer_summary`, in order (``index``, ``model`` and
#: ``weights`` follow when the selectivity table has them).
SUMMARY_COLUMNS = ("layer", "category", "n_units", "n_selective", "proportion", "n_silent", "n_constant")



def onehot(labels: np.ndarray, n_categories: int, dtype=np.float64) -> np.ndarray:
    """Category membership as a matrix.

    Parameters
    ----------
    labels : ndarray of int, shape (n_images,)
        Category of each image, in ``0 .. n_categories - 1``.
    n_categories : int
        Number of categories.
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray, shape (n_categories, n_images)
        1 where image j belongs to category i, else 0.
    """
    labels = np.asarray(labels)
    matrix = np.zeros((n_categories, len(labels)), dtype=dtype)
    matrix[labels, np.arange(len(labels))] = 1
    return matrix


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=list(categories), ordered=True)


def long_table(layers: Sequence[str], sizes: Sequence[int], categories: Sequence[str], **columns) -> pd.DataFrame:
    """Rows layer × unit × category (in that order) from per-category arrays.

    Parameters
    ----------
    layers : sequence of str
        Layer names in network order.
    sizes : sequence of int
        Units of each layer; the units of all layers stand side by side in
        the arrays.
    categories : sequence of str
        Category names.
    **columns : ndarray, shape (n_categories, sum(sizes))
        One array per column to add (broadcast views are fine).

    Returns
    -------
    DataFrame
        ``layer`` and ``category`` (ordered categoricals), ``unit`` (its
        index within its layer), then ``columns``.
    """
    n_cat = len(categories)
    layer_of_unit = np.repeat(np.arange(len(layers)), sizes)
    filter_of_unit = np.concatenate([np.arange(s) for s in sizes]) if len(sizes) else np.zeros(0, dtype=int)
    frame = {
        "layer": _categorical(np.repeat(layer_of_unit, n_cat), layers),
        "unit": np.repeat(filter_of_unit, n_cat),
        "category": _categorical(np.tile(np.arange(n_cat), len(filter_of_unit)), categories),
    }
    for name, values in columns.items():
        frame[name] = np.asarray(values).T.reshape(-1)
    return pd.DataFrame(frame)


def layer_frame(layers: Sequence[str], categories: Sequence[str], **columns) -> pd.DataFrame:
    """Rows layer × category (in that order).

    Parameters
    ----------
    layers, categories : sequence of str
    **columns : array-like, shape (n_layers, n_categories) or (n_layers * n_categories,)

    Returns
    -------
    DataFrame
        ``layer`` and ``category`` (ordered categoricals), then ``columns``.
    """
    n_cat = len(categories)
    frame = {"layer": _categorical(np.repeat(np.arange(len(layers)), n_cat), layers),
             "category": _categorical(np.tile(np.arange(n_cat), len(layers)), categories)}
    frame.update({k: np.asarray(v).reshape(-1) for k, v in columns.items()})
    return pd.DataFrame(frame)


def summary_frame(layers: Sequence[str], categories: Sequence[str], *, n_units, n_selective, n_silent,
                  n_constant) -> pd.DataFrame:
    """The layer summary (the numbers of Figure 1) from its counts.

    Parameters
    ----------
    layers, categories : sequence of str
    n_units, n_selective, n_silent, n_constant : array-like of int, shape (n_layers, n_categories)
        Units in the layer, units selective for the category, silent units
        (always 0) and constant units (never vary, silent ones included).

    Returns
    -------
    DataFrame
        The columns of :data:`SUMMARY_COLUMNS`; ``proportion`` is
        ``n_selective / n_units``.
    """
    n_units = np.asarray(n_units).reshape(-1)
    n_selective = np.asarray(n_selective).reshape(-1)
    return layer_frame(layers, categories, n_units=n_units.astype(int), n_selective=n_selective.astype(int),
                       proportion=n_selective / np.maximum(n_units, 1),
                       n_silent=np.asarray(n_silent).reshape(-1).astype(int),
                       n_constant=np.asarray(n_constant).reshape(-1).astype(int))


def selective_rule(above_chance, constant, threshold: float, *, q_value=None, alpha: float = 0.05,
                   select_by: str = "threshold"):
    """Which units are selective: the one place this rule is written.

    A unit that never varies (``constant``) is never selective. Otherwise:

    * ``"threshold"`` (the paper's rule): the index exceeds chance by more
      than ``threshold``;
    * ``"q"``: the index is above chance and its q-value is below ``alpha``;
    * ``"both"``: both of the above;
    * ``"pairwise"``: the unit beats every other category, each pairwise
      test's q-value below ``alpha`` (``q_value`` is then the largest of them,
      ``q_pairwise`` of :func:`catsel.stats.pairwise_selectivity`).

    Parameters
    ----------
    above_chance : array-like, any shape
        Index minus its chance level.
    constant : array-like of bool, broadcastable to ``above_chance``
    threshold : float
    q_value : array-like, same shape as ``above_chance``, optional
        Needed for ``select_by="q"`` and ``"both"``.
    alpha : float, default 0.05
    select_by : {"threshold", "q", "both", "pairwise"}

    Returns
    -------
    ndarray of bool, the shape of ``above_chance``
    """
    above = np.asarray(above_chance)
    usable = ~np.asarray(constant, dtype=bool)
    check_choice("select_by", select_by, SELECT_BY, ValueError)
    if select_by != "threshold" and q_value is None:
        raise ValueError(f"select_by={select_by!r} needs q-values (a permutation test, or the pairwise tests)")
    by_threshold = (above > threshold) & usable
    if select_by == "threshold":
        return by_threshold
    if select_by == "pairwise":
        return (np.asarray(q_value) < alpha) & usable
    significant = (np.asarray(q_value) < alpha) & (above > 0) & usable
    return significant if select_by == "q" else significant & by_threshold


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (ties in index order).

    Parameters
    ----------
    values : ndarray, shape (n,)
    k : int

    Returns
    -------
    ndarray of int, shape (min(k, n),)
    """
    return np.argsort(-np.asarray(values), kind="stable")[:k]


@dataclass(frozen=True)
class Counting:
    """What a selectivity table and its layer summary were counted with: the one typed value that travels with
    them (in ``frame.attrs["counting"]``, set by the functions that make them) and that the statistics, the
    verdict, the printout and the figures read, or take as ``counting=``.

    Parameters
    ----------
    index : str, default "paper"
    threshold : float, default 0.01
    select_by : {"threshold", "q", "both", "pairwise"}
    eps : float, optional
        eq. 1-2's epsilon.
    n_images : int, optional
        Images the table was computed on.
    images_per_category : mapping of str to int, optional
    model_label : str, optional
        The network and its weights, for titles (``"vgg16, ImageNet"``).
    trained : bool, optional
        False for an untrained network (every figure says so).
    select_from : str, optional
        The localizer the units were chosen on (``"given"`` for one held in memory).
    level : float, optional
        The level of the verdict beside every count (with the shuffled-label null), and of the q-values.
    shuffles : int, optional
        Label shuffles of the null.
    permutations : int, optional
        Permutations of the per-unit test (``p_value``, ``q_value``).
    fdr : {"bh", "by"}, optional
    """

    index: str = INDEX
    threshold: float = THRESHOLD
    select_by: str = "threshold"
    eps: float | None = None
    n_images: int | None = None
    images_per_category: Mapping[str, int] | None = None
    model_label: str | None = None
    trained: bool | None = None
    select_from: str | None = None
    level: float | None = None
    shuffles: int | None = None
    permutations: int | None = None
    fdr: str | None = None

    def __post_init__(self):
        check_finite("threshold", self.threshold)
        check_choice("select_by", self.select_by, SELECT_BY, ValueError)
        if not isinstance(self.index, str):
            raise ValueError(f"index must be an index's name, not {self.index!r}")
        for name in ("n_images", "shuffles", "permutations"):
            check_positive(name, getattr(self, name))
        if self.level is not None:
            check_fraction("level", self.level)
        if self.fdr is not None:
            check_choice("fdr", self.fdr, FDR_METHODS, ValueError)
        if self.trained is not None and not isinstance(self.trained, (bool, np.bool_)):
            raise ValueError(f"trained must be True, False or None, not {self.trained!r}")

    def replace(self, **changes) -> "Counting":
        """The same counting with some fields changed (checked as when made).

        Parameters
        ----------
        **changes

        Returns
        -------
        Counting
        """
        return replace(self, **changes)

    @staticmethod
    def of(frame: pd.DataFrame) -> "Counting":
        """What ``frame`` (a selectivity table or a layer summary) was counted with; the defaults for a frame
        made by hand.

        Parameters
        ----------
        frame : DataFrame

        Returns
        -------
        Counting

        Raises
        ------
        TypeError
            When the frame carries something else under that name.
        """
        found = frame.attrs.get("counting")
        if found is None:
            return Counting()
        if not isinstance(found, Counting):
            raise TypeError(f"a table's counting is a catsel.selecting.tables.Counting, not {type(found).__name__}")
        return found

    def on(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``, carrying this counting (in place).

        Parameters
        ----------
        frame : DataFrame

        Returns
        -------
        DataFrame
            ``frame`` itself.
        """
        frame.attrs["counting"] = self
        return frame
