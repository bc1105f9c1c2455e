"""The study catsel reproduces, and its findings held against a result, its null and the untrained network.

Malakhova, "Representation of categories in filters of deep neural networks"
(VGG16 trained on ImageNet; face, i-see-face (pareidolia), car and dog
images). The paper reports:

1. cars and pareidolia images are taken up by lower layers;
2. dog-selective filters outnumber face-selective ones;
3. most face-selective units sit from ``block4_conv3`` to the dense layers.

:func:`findings` measures each of these on a run. A finding is only evidence
about training when it holds above the shuffled-label null *and* more
strongly than in the same architecture untrained: untrained networks
already contain category-selective units, and the paper's rule marks many
units selective by chance alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CATEGORIES", "DEEP_LAYERS", "findings", "findings_text"]

#: The study's categories.
CATEGORIES = ("face", "i-see-face", "car", "dog")

#: The layers the paper calls deep for VGG16 (finding 3).
DEEP_LAYERS = ("block4_conv3", "block5_conv1", "block5_conv2", "block5_conv3", "fc1", "fc2")


def _weights(summary: pd.DataFrame) -> pd.DataFrame:
    """Layers × categories: the proportion of selective units above the null (or the proportion, without one)."""
    column = "excess" if "excess" in summary else "proportion"
    return summary.pivot(index="layer", columns="category", values=column).clip(lower=0).astype(float)


def _measure(summary: pd.DataFrame) -> dict[str, float]:
    """Each finding's number on one summary (NaN where its categories or layers are missing)."""
    from ..stats import complexity_profile

    weights = _weights(summary)
    units = summary.pivot(index="layer", columns="category", values="n_units").astype(float)
    out = {}
    if {"dog", "face"} <= set(weights.columns):
        out["dog_minus_face"] = float((weights["dog"] * units["dog"]).sum() - (weights["face"] * units["face"]).sum())
    deep = [l for l in weights.index if l in DEEP_LAYERS]
    if "face" in weights.columns and deep:  # no face selectivity above the null: a share of 0
        total = weights["face"].sum()
        out["face_deep_share"] = float(weights.loc[deep, "face"].sum() / total) if total > 0 else 0.0
    if set(CATEGORIES) <= set(weights.columns):
        column = "excess" if "excess" in summary else "proportion"
        depth = complexity_profile(summary, column=column).set_index("category")["depth"]
        gap = depth[["face", "dog"]].mean() - depth[["car", "i-see-face"]].mean()
        out["depth_gap"] = float(gap) if np.isfinite(gap) else 0.0  # a category without selectivity: no gap
    return out


_FINDINGS = (
    ("dog_minus_face", "Dog-selective units outnumber face-selective ones",
     "dog minus face selective units above the null", lambda v: v > 0),
    ("face_deep_share", "Most face-selective units sit from block4_conv3 to fc2",
     "share of face selectivity (above the null) in block4_conv3 to fc2", lambda v: v > 0.5),
    ("depth_gap", "Cars and pareidolia (i-see-face) are taken up by lower layers than faces and dogs",
     "mean depth of face and dog minus that of car and i-see-face (0 to 1)", lambda v: v > 0),
)


def findings(summary: pd.DataFrame, untrained: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's findings measured on a run, beside the untrained network.

    Selectivity is counted above the shuffled-label null where the summary has
    one (``excess``, from :func:`catsel.stats.with_baselines`), else as the
    plain proportion.

    Parameters
    ----------
    summary : DataFrame
        The layer summary of the network studied (:func:`catsel.layer_summary`,
        best with its null: :func:`catsel.stats.with_baselines`).
    untrained : DataFrame, optional
        The same for the same architecture untrained.

    Returns
    -------
    DataFrame
        One row per finding the run's categories and layers allow:
        ``finding``, ``measure`` (what the numbers are), ``here``,
        ``holds`` (bool), ``untrained``, ``holds_untrained``, and ``verdict``:
        ``"exceeds the untrained network"``, ``"does not exceed the untrained
        network"``, ``"does not hold"``, or ``"holds (no untrained control)"``.
    """
    here = _measure(summary)
    control = _measure(untrained) if untrained is not None else {}
    rows = []
    for key, finding, measure, holds in _FINDINGS:
        if key not in here:
            continue
        value, base = here[key], control.get(key, np.nan)
        if not holds(value):
            verdict = "does not hold"
        elif untrained is None or np.isnan(base):
            verdict = "holds (no untrained control)"
        else:
            verdict = "exceeds the untrained network" if value > base else "does not exceed the untrained network"
        rows.append({"finding": finding, "measure": measure, "here": value, "holds": bool(holds(value)),
                     "untrained": base, "holds_untrained": bool(holds(base)) if not np.isnan(base) else None,
                     "verdict": verdict})
    return pd.DataFrame(rows, columns=["finding", "measure", "here", "holds", "untrained", "holds_untrained",
                                       "verdict"])


def findings_text(table: pd.DataFrame, *, trained: bool = True) -> list[str]:
    """The findings of :func:`findings` in sentences, one per finding.

    Parameters
    ----------
    table : DataFrame
        From :func:`findings`.
    trained : bool, default True
        False when the network studied is itself untrained (ImageNet weights
        were not available): then a finding that holds appears without training.

    Returns
    -------
    list of str
    """
    if table.empty:
        return ["The paper's categories and layers are not all in this dataset."]
    def number(value: float) -> str:
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"

    lines = []
    for row in table.itertuples():
        line = f"{row.finding}: paper yes; here {'yes' if row.holds else 'no'} ({row.measure}: {number(row.here)}"
        if row.untrained is not None and not np.isnan(row.untrained):
            line += f"; untrained network: {number(row.untrained)}"
        line += f"). Verdict: {row.verdict}."
        lines.append(line)
    if not trained:
        lines.append("The network studied here is UNTRAINED (ImageNet weights were not available): every finding "
                     "that holds above appears without any training, so it says nothing about what training learns.")
    return lines
