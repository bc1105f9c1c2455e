"""What a reader is told about a layer's count beside its null: the sentences of the printout and the report."""

from __future__ import annotations

import pandas as pd

from ..selecting.tables import Counting

__all__ = ["negative_excess_sentence", "null_sentence", "verdict_words", "verdict_sentences", "shuffles_sentence",
           "significant_sentence", "VERDICT_WORDS"]

#: What the ``verdict`` column of ``layer_summary.csv`` says of a layer x category count.
VERDICT_WORDS = {
    "evidence": "beyond chance",
    "untrained": "beyond chance, as many in the untrained network",
    "within": "within chance",
}


def verdict_words(summary: pd.DataFrame) -> pd.Series | None:
    """The verdict of each row in words (:data:`VERDICT_WORDS`), from the ``evidence`` and ``as_many_untrained``
    columns :func:`catsel.stats.with_baselines` computes; None without them.

    Parameters
    ----------
    summary : DataFrame

    Returns
    -------
    Series of str or None
    """
    if "evidence" not in summary:
        return None
    evidence = summary["evidence"].fillna(False).astype(bool)
    as_many = (summary["as_many_untrained"].fillna(False).astype(bool) if "as_many_untrained" in summary
               else pd.Series(False, index=summary.index))
    words = pd.Series(VERDICT_WORDS["within"], index=summary.index)
    words[evidence] = VERDICT_WORDS["evidence"]
    words[evidence & as_many] = VERDICT_WORDS["untrained"]
    return words


def _layers(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def verdict_sentences(summary: pd.DataFrame) -> list[str]:
    """Per category, the layers whose count is evidence beyond chance, the best of them, and the untrained twin.

    The one answer of a run, as the printout and the report give it: a
    category with no layer beyond its null is said to have none, and no
    best layer is named for it.

    Parameters
    ----------
    summary : DataFrame
        A layer summary with its verdict (:func:`catsel.stats.with_baselines`, ``shuffled=True``).

    Returns
    -------
    list of str
        Empty without the verdict.
    """
    if "evidence" not in summary:
        return []
    level = Counting.of(summary).level
    at = f" (q <= {level:g} over the {len(summary)} counts)" if level is not None else ""
    lines = []
    for category, rows in summary.groupby("category", observed=True, sort=False):
        marked = rows[rows["evidence"].fillna(False).astype(bool)]
        if marked.empty:
            line = (f"{category}: no layer shows evidence of {category}-selective units beyond chance; no best "
                    "layer.")
            if {"null_p", "null_q", "null_high"} <= set(rows.columns) and rows["null_p"].notna().any():
                # the strongest count, and why it is not enough: a wide null (units that move together under a
                # shuffle), or the number of counts asked about at once
                top = rows.loc[rows["null_p"].idxmin()]
                line += (f" Its strongest count, {top['layer']} ({top['proportion'] * 100:.1f}%), has p = "
                         f"{top['null_p']:.3g} (the share of shuffles that reach it; their 95th percentile is "
                         f"{top['null_high'] * 100:.1f}%) and q = {top['null_q']:.2g} over the {len(summary)} counts.")
            lines.append(line)
            continue
        best = marked.loc[marked["excess"].idxmax()]
        line = (f"{category}: beyond chance in {len(marked)} of {len(rows)} layers{at}: "
                f"{_layers(list(marked['layer'].astype(str)))}; most above the null in {best['layer']} "
                f"({best['proportion'] * 100:.1f}% of its units, {best['excess'] * 100:+.1f} points).")
        if "as_many_untrained" in rows:
            twin = marked[marked["as_many_untrained"].fillna(False).astype(bool)]
            if len(twin) == len(marked):
                line += " As many in the untrained network in every one of them: no evidence that training made them."
            elif len(twin):
                line += f" As many in the untrained network in {_layers(list(twin['layer'].astype(str)))}."
        lines.append(line)
    return lines


def shuffles_sentence(summary: pd.DataFrame) -> str | None:
    """One sentence when the run's shuffles are too few for a lone layer to reach the level after the correction."""
    from ..stats import shuffles_needed

    counting = Counting.of(summary)
    shuffles, level = counting.shuffles, counting.level
    if "evidence" not in summary or shuffles is None or level is None:
        return None
    needed = shuffles_needed(len(summary), level)
    if shuffles >= needed:
        return None
    return (f"With {shuffles} label shuffles a count's p-value is at least {1 / (shuffles + 1):.3g}: a layer can be "
            f"marked only where many are, not alone among {len(summary)} counts at {level:g}; --shuffles {needed} "
            "(or more) resolves every one.")


def significant_sentence(summary: pd.DataFrame) -> str | None:
    """What the per-unit q-values say, and what they do not: where the layer's count is within its null."""
    if "proportion_significant" not in summary:
        return None
    level = Counting.of(summary).level
    at = f"{level:g}" if level is not None else "the level"
    text = (f"[q: ...] is the share of a layer's units whose own permutation test has q < {at} (among them, about "
            f"{at} are expected to be false discoveries).")
    if "evidence" in summary:
        within = summary[~summary["evidence"].fillna(False).astype(bool) & (summary["n_significant"] > 0)]
        if len(within):
            text += (f" In {len(within)} layer x category counts within chance it is marked 'within null': those "
                     "units pass their own test, but the layer's count is no evidence of selectivity, since as many "
                     "units pass the threshold rule under shuffled labels.")
    return text


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
    share = f" ({expected / found:.0%} of them)" if 0 < expected <= found else " (the null finds more)" if found else ""
    return (f"Shuffled-label null: with labels that carry no information, the same rule marks {expected:.0f} "
            f"unit x category pairs selective, against {found} here{share}; a count is evidence of selectivity "
            "only where it is beyond the null (column `verdict` of layer_summary.csv, * in this table, filled "
            "markers in the figure).")
