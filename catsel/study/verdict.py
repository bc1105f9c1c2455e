"""What a reader is told about a layer's count beside its null: the sentences of the printout and the report."""

from __future__ import annotations

import pandas as pd

__all__ = ["negative_excess_sentence", "null_sentence"]


def negative_excess_sentence(summary: pd.DataFrame) -> str | None:
    """One sentence on the most negative excess over the null, what it means, or None when there is none.

    Parameters
    ----------
    summary : DataFrame
        A layer summary with its shuffled-label null (:func:`with_baselines`).

    Returns
    -------
    str or None
    """
    if "excess" not in summary or not (summary["excess"] < 0).any():
        return None
    worst = summary.loc[summary["excess"].idxmin()]
    return (f"A negative excess ({worst['category']} in {worst['layer']}: {worst['excess'] * 100:+.1f} points) means "
            "fewer units pass the rule for the category than for a random group of as many images: its images "
            "drive the units more evenly than chance groups do. It is no evidence of selectivity, for or against "
            "the category.")


def null_sentence(summary: pd.DataFrame) -> str | None:
    """One sentence: how many of the selective pairs the same rule finds under shuffled labels.

    Parameters
    ----------
    summary : DataFrame
        A layer summary with its shuffled-label null (:func:`with_baselines`).

    Returns
    -------
    str or None
        ``None`` when the summary has no null.
    """
    if "null_proportion" not in summary:
        return None
    found = int(summary["n_selective"].sum())
    expected = float((summary["null_proportion"] * summary["n_units"]).sum())
    share = f" ({expected / found:.0%} of them)" if found else ""
    return (f"Shuffled-label null: with labels that carry no information, the same rule marks {expected:.0f} "
            f"unit x category pairs selective, against {found} here{share}; only the excess over the null "
            "(column `excess` of layer_summary.csv, the dotted line and light band of the figure) is evidence "
            "of selectivity.")
