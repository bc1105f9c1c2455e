"""Figures: seaborn/matplotlib functions of the form ``f(data, *, ..., ax=None) -> Axes``."""

from __future__ import annotations

import functools
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

__all__ = ["layer_proportions", "compare_layer_proportions", "palette", "fit_fonts", "CATEGORY_PALETTE", "MAX_LINES",
           "MAX_LABELLED_LAYERS"]


def _figure_png(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _display_figures_in_jupyter() -> None:
    """Figures made without pyplot (catsel's are) display as pictures in Jupyter, not as '<Figure size ...>'.

    Jupyter's inline backend registers its PNG formatter only once pyplot has
    made a figure; until then a ``matplotlib.figure.Figure`` shows as text.
    Where IPython runs and no formatter is registered yet, catsel registers
    one (the inline backend's own replaces it when it starts).
    """
    import sys

    from matplotlib.figure import Figure

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        formatter.for_type(Figure, _figure_png)


_display_figures_in_jupyter()

@functools.lru_cache(maxsize=None)
def _charmap(path: str) -> frozenset:
    """The characters a font file has glyphs for."""
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def _font_having(characters: frozenset) -> str | None:
    """The name of an installed font that has all these characters, if one has."""
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        # matplotlib's "Last Resort" font maps every character to a placeholder box
        if not entry.name.startswith("Last Resort") and characters <= _charmap(entry.fname):
            return entry.name
    return None


def fit_fonts(figure) -> None:
    """Give each text of a figure a font that has its characters, or say that none is installed.

    Matplotlib draws with DejaVu Sans, which has no Chinese, Japanese or
    Korean characters: a category named in those scripts showed as empty
    boxes. Each text with characters its font lacks gets an installed font
    that has them as a fallback; where none is installed, one warning names
    the text and the fix.

    Parameters
    ----------
    figure : matplotlib Figure or Axes
    """
    from matplotlib import font_manager
    from matplotlib.text import Text

    if isinstance(figure, Axes):
        figure = figure.get_figure(root=True)
    told = set()
    for text in figure.findobj(Text):
        string = text.get_text()
        if string.isascii():
            continue
        missing = (frozenset(ord(ch) for ch in string if not ch.isspace())
                   - _charmap(font_manager.findfont(text.get_fontproperties())))
        if not missing:
            continue
        fallback = _font_having(missing)
        if fallback is not None:
            text.set_fontfamily([*text.get_fontfamily(), fallback])
        elif string not in told:
            told.add(string)
            warnings.warn(f"no installed font has the characters of {string!r}: they show as empty boxes. Install "
                          "a font for their script (e.g. Noto Sans CJK: `apt install fonts-noto-cjk` or `conda "
                          "install -c conda-forge font-ttf-noto-cjk`), then delete matplotlib's font cache "
                          "(~/.cache/matplotlib)", UserWarning, stacklevel=3)


#: Figure 1 names at most this many layers on its axis (every k-th one beyond), and drops its markers.
MAX_LABELLED_LAYERS = 30

#: Figure 1 draws one line per category up to this many categories, and a layer × category heat map beyond.
MAX_LINES = 12

#: Colours of the study's categories; other categories get seaborn's palette.
CATEGORY_PALETTE = {"face": "#d62728", "i-see-face": "#ff7f0e", "car": "#1f77b4", "dog": "#2ca02c"}


def palette(categories) -> dict:
    """Colour of each category: the study's fixed colours, seaborn's colour-blind palette for the others.

    Parameters
    ----------
    categories : sequence of str

    Returns
    -------
    dict
        Category name → matplotlib colour.
    """
    others = [c for c in categories if c not in CATEGORY_PALETTE]
    extra = dict(zip(others, sns.color_palette("colorblind", len(others)))) if others else {}
    return {c: CATEGORY_PALETTE.get(c, extra.get(c)) for c in categories}


def layer_proportions(summary: pd.DataFrame, *, categories=None, title: str | None = None,
                      ax: Axes | None = None) -> Axes:
    """The paper's Figure 1: proportion of selective units per layer, one line per category.

    With more than :data:`MAX_LINES` categories (ImageNet's 1,000), lines
    cannot be read: a layer × category heat map is drawn instead, of the
    proportion above the shuffled-label null where the summary has it.

    Parameters
    ----------
    summary : DataFrame
        From :func:`catsel.layer_summary`. Optional columns are drawn too:
        ``null_proportion`` and ``null_high`` (the shuffled-label null, a
        dotted line at its mean, a light band up to its 95th percentile),
        ``low`` and ``high`` (a confidence band,
        :func:`catsel.stats.bootstrap_proportions`) and ``proportion_untrained``
        (the untrained network, dashed); see :func:`catsel.stats.with_baselines`.
    categories : sequence of str, optional
        Categories to draw (default: all, in label order).
    title : str, optional
        Figure title; by default the model and its weights. An untrained
        network is always marked as such.
    ax : matplotlib Axes, optional
        Axes to draw on (default: the current axes).

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        ax = plt.gca()
    data = summary
    cats = list(categories) if categories is not None else list(summary["category"].cat.categories
                                                               if hasattr(summary["category"], "cat")
                                                               else dict.fromkeys(summary["category"]))
    if len(cats) > MAX_LINES:
        return _heat_map(summary, cats, title, ax)
    data = data[data["category"].isin(cats)]
    layers = list(summary["layer"].cat.categories) if hasattr(summary["layer"], "cat") else list(
        dict.fromkeys(summary["layer"]))
    colours = palette(cats)
    position = {l: i for i, l in enumerate(layers)}
    many = len(layers) > MAX_LABELLED_LAYERS  # ResNet50: 53 layers, DenseNet121: 120
    counts = summary.attrs.get("images_per_category") or {}
    baselines = [(col, style, text) for col, style, text in (("proportion_untrained", "--", "untrained network"),)
                 if col in data]
    null = {"null_proportion", "null_high"} <= set(data.columns)
    for c in cats:  # one line per category, labelled with its name
        rows = data[data["category"] == c]
        x = rows["layer"].astype(str).map(position).to_numpy()
        order = np.argsort(x)
        name = f"{c} (N={counts[c]})" if c in counts else c
        ax.plot(x[order], rows["proportion"].to_numpy()[order], marker="o", ms=0 if many else 5, lw=1.8,
                color=colours[c], label=name)
        if null:  # what the same rule finds when the labels carry no information
            ax.fill_between(x[order], rows["null_proportion"].to_numpy()[order], rows["null_high"].to_numpy()[order],
                            color=colours[c], alpha=0.10, lw=0)
            ax.plot(x[order], rows["null_proportion"].to_numpy()[order], ":", lw=1.2, color=colours[c], alpha=0.9)
        if {"low", "high"} <= set(rows.columns):
            ax.fill_between(x[order], rows["low"].to_numpy()[order], rows["high"].to_numpy()[order],
                            color=colours[c], alpha=0.15, lw=0)
        for col, style, _ in baselines:
            ax.plot(x[order], rows[col].to_numpy()[order], style, lw=1.2, color=colours[c], alpha=0.8)
    for _, style, text in baselines:  # legend entries for the baselines' line styles
        ax.plot([], [], style, color="grey", label=text)
    if null:
        ax.fill_between([], [], [], color="grey", alpha=0.25, lw=0,
                        label="shuffled-label null:\nmean (dotted) to\n95th percentile")
    step = -(-len(layers) // MAX_LABELLED_LAYERS)  # every step-th layer named, the last one always
    ticks = sorted(set(range(0, len(layers), step)) | {len(layers) - 1})
    ax.set_xticks(ticks, [layers[i] for i in ticks], rotation=45 if not many else 60, ha="right",
                  fontsize=None if not many else 7)
    if many:
        ax.set_xticks(range(len(layers)), minor=True)
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))  # decimals follow the scale: 0.5% stays 0.5%
    ax.set_xlabel("layer" if not many else f"layer ({len(layers)} layers, every {step}th named)")
    threshold = summary.attrs.get("threshold")
    index = summary.attrs.get("index", "paper")
    ylabel = "selective units"
    if threshold is not None:
        ylabel += f" ({index} index > chance + {threshold:g})"
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="category", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    text, colour = _title(summary, title)
    ax.set_title(text, color=colour)
    fit_fonts(ax)
    return ax


def _title(summary: pd.DataFrame, title: str | None) -> tuple[str, str]:
    """Figure 1's title and its colour: the model and weights, and an untrained network always marked."""
    label = summary.attrs.get("model_label")
    if title is None:
        title = "Category-selective units per layer" + (f" — {label}" if label else "")
    if summary.attrs.get("trained") is False:
        return title + "\nUNTRAINED NETWORK (random weights): a control, not the study's result", "#b00000"
    return title, "black"


def _heat_map(summary: pd.DataFrame, cats: list, title: str | None, ax: Axes) -> Axes:
    """Figure 1 for many categories: layers across, categories down, the proportion (or its excess over the null)."""
    layers = list(summary["layer"].cat.categories) if hasattr(summary["layer"], "cat") else list(
        dict.fromkeys(summary["layer"]))
    data = summary[summary["category"].isin(cats)]
    null = "null_proportion" in data
    column = "excess" if null else "proportion"
    values = data["proportion"] - data["null_proportion"] if null else data["proportion"]
    grid = (pd.DataFrame({"layer": data["layer"].astype(str), "category": data["category"].astype(str),
                          "value": values.to_numpy()})
            .pivot(index="category", columns="layer", values="value").reindex(index=cats, columns=layers))
    limit = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
    image = ax.imshow(grid.to_numpy(), aspect="auto", interpolation="nearest",
                      cmap="RdBu_r" if null else "viridis", vmin=-limit if null else 0, vmax=limit)
    colourbar = ax.get_figure().colorbar(image, ax=ax, format=PercentFormatter(1.0), shrink=0.9)
    colourbar.set_label("selective units above the shuffled-label null" if null else "selective units")
    step = -(-len(layers) // MAX_LABELLED_LAYERS)
    ticks = sorted(set(range(0, len(layers), step)) | {len(layers) - 1})
    ax.set_xticks(ticks, [layers[i] for i in ticks], rotation=60, ha="right", fontsize=7)
    shown = -(-len(cats) // 25)  # at most 25 category names, evenly
    rows = list(range(0, len(cats), shown))
    ax.set_yticks(rows, [cats[i] for i in rows], fontsize=6)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"category ({len(cats)}" + (f", every {shown}th named)" if shown > 1 else ")"))
    text, colour = _title(summary, title)
    ax.set_title(text, color=colour)
    fit_fonts(ax)
    return ax


def compare_layer_proportions(summaries: dict, *, categories=None, fig=None):
    """Figure 1 for several networks side by side: one panel per category, one line per network.

    Parameters
    ----------
    summaries : dict of str to DataFrame
        A label (``"ImageNet"``, ``"untrained"``) → a :func:`catsel.layer_summary`.
        The layers are those of the first summary.
    categories : sequence of str, optional
        Default: the first summary's.
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib Figure
    """
    from matplotlib.figure import Figure

    first = next(iter(summaries.values()))
    cats = list(categories) if categories is not None else list(first["category"].cat.categories)
    layers = list(first["layer"].cat.categories)
    fig = fig or Figure(figsize=(3.4 * len(cats) + 1, 3.6), layout="constrained")
    axes = fig.subplots(1, len(cats), sharey=True, squeeze=False)[0]
    styles = ["-", "--", ":", "-."]
    colours = palette(cats)
    for ax, c in zip(axes, cats):
        for k, (label, summary) in enumerate(summaries.items()):
            rows = summary[summary["category"] == c].set_index(summary[summary["category"] == c]["layer"].astype(str))
            y = rows.reindex(layers)["proportion"].to_numpy()
            ax.plot(range(len(layers)), y, styles[k % len(styles)], marker="o", ms=3, color=colours[c],
                    alpha=1.0 if k == 0 else 0.6, label=label)
        ax.set_title(c, color=colours[c])
        ax.set_xticks(range(len(layers)), layers, rotation=90, fontsize=7)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("selective units")
    axes[-1].legend(frameon=False, fontsize=8)
    fit_fonts(fig)
    return fig
