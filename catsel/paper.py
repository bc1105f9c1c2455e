"""The study catsel reproduces, and its findings held against a result.

Malakhova, "Representation of categories in filters of deep neural networks"
(VGG16 trained on ImageNet; face, i-see-face (pareidolia), car and dog
images). The paper reports:

1. cars and pareidolia images are taken up by lower layers;
2. dog-selective filters outnumber face-selective ones;
3. most face-selective units sit from ``block4_conv3`` to the dense layers.

:func:`findings` states each of these beside the numbers of a run, so that
notebook 05, the report and a reader's own script say the same thing.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CATEGORIES", "DEEP_LAYERS", "findings"]

#: The study's categories.
CATEGORIES = ("face", "i-see-face", "car", "dog")

#: The layers the paper calls deep for VGG16 (finding 3).
DEEP_LAYERS = ("block4_conv3", "block5_conv1", "block5_conv2", "block5_conv3", "fc1", "fc2")


def findings(summary: pd.DataFrame) -> list[str]:
    """The paper's findings beside this run's numbers, one sentence each.

    Parameters
    ----------
    summary : DataFrame
        From :func:`catsel.layer_summary` (columns ``layer``, ``category``,
        ``n_selective``, ``proportion``).

    Returns
    -------
    list of str
        One line per finding that this run's categories allow; a single line
        saying so when none does.
    """
    from .selection import best_layers

    share = summary.pivot(index="layer", columns="category", values="n_selective")
    best = best_layers(summary).set_index("category")
    deep = [l for l in share.index if l in DEEP_LAYERS]
    lines = []
    if {"dog", "face"} <= set(share.columns):
        dog, face = share["dog"].sum(), share["face"].sum()
        lines.append(f"Dog-selective units outnumber face-selective ones: paper yes; here "
                     f"{'yes' if dog > face else 'no'} ({dog} vs {face}).")
    if "face" in share.columns and share["face"].sum():
        lines.append(f"Share of face-selective units in block4_conv3 to fc2: here "
                     f"{share.loc[deep, 'face'].sum() / share['face'].sum():.0%}.")
    for c in ("car", "i-see-face"):
        if c in share.columns:
            lines.append(f"{c}: most selective units in {best.loc[c, 'layer']} (paper: lower layers).")
    return lines or ["The paper's categories are not all in this dataset."]
