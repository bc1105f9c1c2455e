"""Figure 1 and its kin: seaborn/matplotlib functions, one convention for every figure of catsel.

Axes-level functions take ``ax=`` (keyword) and return the Axes (``layer_proportions(data, *, ..., ax=None) ->
Axes``); figure-level ones take ``fig=`` (keyword) and return the Figure; a figure with state is a Display
object with ``from_...`` and ``plot`` (:class:`LayerProportionsDisplay`). ``tests/test_structure.py`` holds
every public figure function to this.
"""

from __future__ import annotations

import functools
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ..selecting.tables import Counting
from .ticks import LayerTicks, layer_ticks  # re-exported: every figure's layer axis

__all__ = ["layer_proportions", "LayerProportionsDisplay", "compare_layer_proportions", "palette", "fit_fonts",
           "clear_data", "figure_title", "title_figure", "CATEGORY_PALETTE", "MAX_LINES", "MAX_LABELLED_LAYERS",
           "MAX_PANEL_LAYERS", "UNTRAINED_MARK", "UNTRAINED_COLOUR", "LayerTicks", "layer_ticks", "BASELINE_MARKS"]


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

#: Figure 1's panels (one per category) name every layer up to this many (every k-th one beyond).
MAX_PANEL_LAYERS = 20

#: Figure 1 draws one line per category up to this many categories, and a layer × category heat map beyond.
MAX_LINES = 12

#: The markers of Figure 1's baselines, beside their dashes: the untrained network's crosses, the significant
#: count's diamonds (the trained count has filled and hollow circles, the null a band).
BASELINE_MARKS = {"proportion_untrained": {"marker": "x", "ms": 4},
                  "proportion_significant": {"marker": "d", "ms": 3, "mfc": "none"}}

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
                      ax: Axes | None = None, counting: Counting | None = None, **kwargs) -> Axes:
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
    counting : Counting, optional
        What the summary was counted with (the rule in the y label, the network and images in the title, the
        verdict's level in the legend); default: the one it carries
        (:class:`catsel.selecting.tables.Counting`, made by :func:`catsel.selectivity`).
    **kwargs
        Passed to matplotlib's ``plot`` for each category's line (``lw``,
        ``marker``, ``alpha``...).

    Returns
    -------
    matplotlib Axes
    """
    return LayerProportionsDisplay.from_summary(summary, categories=categories, title=title,
                                                counting=counting).plot(ax=ax, **kwargs).ax_


class LayerProportionsDisplay:
    """Figure 1 as an object, in scikit-learn's manner: computed from a summary, drawn, changed in place.

    :meth:`from_summary` (or :meth:`from_run`) takes the data,
    :meth:`plot` draws them and keeps the artists as attributes, and
    :meth:`update` draws another summary or other categories into the same
    axes, for the explorers (a new threshold changes the data, not the axes,
    and making the axes anew took most of a redraw's time). The figure's
    state lives here, never on matplotlib's objects.

    Parameters
    ----------
    summary : DataFrame
        From :func:`catsel.layer_summary` (see :func:`layer_proportions`).
    categories : sequence of str, optional
        Categories to draw (default: all, in label order).
    title : str, optional
    counting : Counting, optional
        What the summary was counted with (default: the one it carries).

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes drawn on (after :meth:`plot`).
    figure_ : matplotlib Figure
    kind_ : {"panels", "lines", "heat"}
        One panel per category (with the shuffled-label null, 2 to :data:`MAX_LINES` categories), one
        line per category on one axes (without a null, or on axes made by hand), or a heat map above
        :data:`MAX_LINES` categories.
    axes_ : list of matplotlib Axes
        Every panel drawn (one for ``"lines"`` and ``"heat"``).
    image_ : AxesImage or None
        The heat map.
    """

    def __init__(self, summary: pd.DataFrame, *, categories=None, title: str | None = None,
                 counting: Counting | None = None):
        self.counting = counting if counting is not None else _counting(summary)
        self.summary = _bare(summary)
        self.categories = list(categories) if categories is not None else _names(self.summary["category"])
        self.layers = _names(self.summary["layer"])
        self.title = title
        self.ax_ = self.figure_ = self.image_ = None
        self.axes_: list = []
        null = {"null_proportion", "null_high"} <= set(self.summary.columns)
        # with the null, one panel per category: four translucent bands on one axes merged into one brown mass
        self.kind_ = ("heat" if len(self.categories) > MAX_LINES
                      else "panels" if null and len(self.categories) >= 2 else "lines")
        self._null = None
        self._style: dict = {}

    @classmethod
    def from_summary(cls, summary: pd.DataFrame, *, categories=None, title: str | None = None,
                     counting: Counting | None = None):
        """Figure 1 of a layer summary.

        Parameters
        ----------
        summary : DataFrame
        categories : sequence of str, optional
        title : str, optional
        counting : Counting, optional
            What the summary was counted with (default: the one it carries).

        Returns
        -------
        LayerProportionsDisplay
        """
        return cls(summary, categories=categories, title=title, counting=counting)

    @classmethod
    def from_run(cls, run, *, categories=None, title: str | None = None):
        """Figure 1 of a run (:func:`catsel.run` or :func:`catsel.load_run`).

        Parameters
        ----------
        run : RunResult
        categories : sequence of str, optional
        title : str, optional

        Returns
        -------
        LayerProportionsDisplay
        """
        return cls(run.summary, categories=categories, title=title)

    def plot(self, ax: Axes | None = None, **kwargs) -> "LayerProportionsDisplay":
        """Draw the figure.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Default: the current axes.
        **kwargs
            Passed to ``plot`` for each category's line.

        Returns
        -------
        LayerProportionsDisplay
            Itself, with ``ax_``, ``figure_`` (and ``image_``) set.
        """
        ax = ax if ax is not None else plt.gca()
        self.ax_, self.figure_, self._style = ax, ax.get_figure(), kwargs
        self.axes_ = [ax]
        cats, layers, counting = self.categories, self.layers, self.counting
        if self.kind_ == "heat":
            self._heat_map()
            return self
        if self.kind_ == "panels" and ax.get_subplotspec() is not None:
            self._panels()
            return self
        self.kind_ = "lines" if self.kind_ == "panels" else self.kind_  # axes made by hand: one panel
        many = len(layers) > MAX_LABELLED_LAYERS  # ResNet50: 53 layers, DenseNet121: 120
        _category_lines(ax, self.summary, counting, cats, layers, **kwargs)
        layer_ticks(ax, layers, fontsize=7 if many else 9)  # as many names as fit, the last one always
        if many:
            ax.set_xticks(range(len(layers)), minor=True)
        ax.set_xlim(-0.5, len(layers) - 0.5)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))  # decimals follow the scale: 0.5% stays 0.5%
        ax.set_xlabel("layer" if not many else f"layer ({len(layers)} layers; as many named as fit)")
        ax.set_ylabel(_ylabel(counting))
        ax.grid(axis="y", alpha=0.3)
        _legend(ax)
        text, colour = _title(counting, self.title)
        ax.set_title(text, color=colour)
        fit_fonts(ax)
        return self

    def _panels(self) -> None:
        """Figure 1 with its null, one panel per category (sharing the layer and proportion axes) in the space of
        the axes given: each category's band stands alone, in its own colour."""
        ax, cats, layers, counting = self.ax_, self.categories, self.layers, self.counting
        fig, spec = ax.get_figure(), ax.get_subplotspec()
        ax.remove()
        columns = min(len(cats), 4)
        rows = -(-len(cats) // columns)
        grid = spec.subgridspec(rows, columns, wspace=0.08, hspace=0.35 if rows > 1 else 0.0)
        first = fig.add_subplot(grid[0])
        self.axes_ = [first] + [fig.add_subplot(grid[i], sharex=first, sharey=first) for i in range(1, len(cats))]
        self.ax_ = first
        colours = palette(cats)
        for i, (panel, c) in enumerate(zip(self.axes_, cats)):
            _category_lines(panel, self.summary, counting, [c], layers, **self._style)
            panel.set_title(panel.get_lines()[0].get_label(), color=colours[c], fontsize=9)
            layer_ticks(panel, layers, fontsize=7, rotation=90)
            panel.tick_params(labelbottom=i >= len(cats) - columns)  # layer names under the bottom row only
            panel.tick_params(labelleft=i % columns == 0)
            panel.grid(axis="y", alpha=0.3)
        first.set_xlim(-0.5, len(layers) - 0.5)
        first.set_ylim(bottom=0)
        first.yaxis.set_major_formatter(PercentFormatter(1.0))
        for i in range(0, len(cats), columns):
            self.axes_[i].set_ylabel(_ylabel(counting) if i == 0 else "", fontsize=8)
        self._panel_legend()
        text, colour = _title(counting, self.title)
        fig.suptitle(text, color=colour, fontsize=10)
        for panel in self.axes_[-columns:]:  # the bottom row's axis label: every layer named, or which are
            panel.set_xlabel("layer" if len(layers) <= MAX_PANEL_LAYERS
                             else f"layer ({len(layers)} layers; as many named as fit)", fontsize=8)
        fit_fonts(fig)

    def _panel_legend(self) -> None:
        """The line styles of the panels (null, untrained, significant), once, right of the last panel."""
        last = self.axes_[-1]
        handles, names = [], []
        for panel in self.axes_:
            for handle, name in zip(*panel.get_legend_handles_labels()):
                if name not in names and panel.get_lines() and handle is not panel.get_lines()[0]:
                    handles.append(handle)
                    names.append(name)
        if handles:
            last.legend(handles, names, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)

    def _heat_map(self) -> None:
        """Figure 1 for many categories: layers across, categories down, the proportion (or its excess over the null)."""
        ax, layers, cats = self.ax_, self.layers, self.categories
        grid, null, limit = _heat_grid(self.summary, cats, layers)
        self.image_ = ax.imshow(grid, aspect="auto", interpolation="nearest",
                                cmap="RdBu_r" if null else "viridis", vmin=-limit if null else 0, vmax=limit)
        self._null = null
        colourbar = ax.get_figure().colorbar(self.image_, ax=ax, format=PercentFormatter(1.0), shrink=0.9)
        colourbar.set_label("selective units above the shuffled-label null" if null else "selective units")
        layer_ticks(ax, layers, fontsize=7, rotation=90)
        ax.set_xlabel("layer")
        _heat_labels(ax, cats)
        text, colour = _title(self.counting, self.title)
        ax.set_title(text, color=colour)
        fit_fonts(ax)

    def update(self, summary: pd.DataFrame, categories=None) -> bool:
        """Draw another summary, or other categories, into the axes :meth:`plot` drew.

        The data are drawn by the same code as a first drawing, and
        ``tests/test_widgets.py`` checks that the picture equals one drawn anew.

        Parameters
        ----------
        summary : DataFrame
        categories : sequence of str, optional
            Default: the categories drawn.

        Returns
        -------
        bool
            False where the figure cannot be changed in place (between lines
            and a heat map, other layers, another title, nothing drawn yet):
            draw a new one then.
        """
        counting, bare = _counting(summary), _bare(summary)
        cats = list(categories) if categories is not None else self.categories
        ax = self.ax_
        if ax is not None and self.kind_ == "panels":  # the same panels, their data drawn anew
            null = {"null_proportion", "null_high"} <= set(bare.columns)
            title = getattr(self.figure_, "_suptitle", None)  # matplotlib keeps it there; no public getter of its colour
            if (cats != self.categories or not null or _names(bare["layer"]) != self.layers or title is None
                    or _title(counting, self.title) != (title.get_text(), title.get_color())):
                return False
            colours = palette(cats)
            for panel, c in zip(self.axes_, cats):
                clear_data(panel)
                panel.ignore_existing_data_limits = True
                panel.set_autoscaley_on(True)
                _category_lines(panel, bare, counting, [c], self.layers, **self._style)
                panel.set_title(panel.get_lines()[0].get_label(), color=colours[c], fontsize=9)
            self.ax_.set_ylim(bottom=0)
            self.axes_[0].set_ylabel(_ylabel(counting), fontsize=8)
            if self.axes_[-1].get_legend() is not None:
                self.axes_[-1].get_legend().remove()
            self._panel_legend()
            self.summary, self.counting = bare, counting
            fit_fonts(self.figure_)
            return True
        if (ax is None or not cats or (self.kind_ == "heat") != (len(cats) > MAX_LINES)
                or _names(bare["layer"]) != self.layers
                or _title(counting, self.title) != (ax.get_title(), ax.title.get_color())):
            return False
        if self.kind_ == "heat":
            grid, null, limit = _heat_grid(bare, cats, self.layers)
            if null != self._null:
                return False
            self.image_.set_data(grid)
            self.image_.set_extent((-0.5, grid.shape[1] - 0.5, grid.shape[0] - 0.5, -0.5))  # imshow's for new data
            self.image_.set_clim(-limit if null else 0, limit)  # the colour bar follows
            if cats != self.categories:
                _heat_labels(ax, cats)
        else:
            clear_data(ax)
            ax.ignore_existing_data_limits = True  # the data limits and y range a first drawing gets
            ax.set_autoscaley_on(True)
            _category_lines(ax, bare, counting, cats, self.layers, **self._style)
            ax.set_ylim(bottom=0)
            ax.set_ylabel(_ylabel(counting))
            _legend(ax)  # its entries copy the lines drawn before
        self.summary, self.counting, self.categories = bare, counting, cats
        fit_fonts(ax)
        return True


def _every(step: int) -> str:
    """"every 2nd", "every 3rd", "every 11th": which layers a crowded axis names."""
    suffix = "th" if 10 <= step % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(step % 10, "th")
    return f"every {step}{suffix}"


def _category_lines(ax: Axes, summary: pd.DataFrame, counting: Counting | None, cats: list, layers: list,
                    **kwargs) -> None:
    """Figure 1's data: a line per category, and the null, confidence bands and baselines the summary has."""
    data = summary[summary["category"].isin(cats)]
    colours = palette(cats)
    many = len(layers) > MAX_LABELLED_LAYERS
    counts = (counting.images_per_category if counting is not None else None) or {}
    level = counting.level if counting is not None else None
    significant = f"significant (q < {level:g})" if level is not None else "significant (permutation test)"
    baselines = [(col, style, text) for col, style, text in (("proportion_untrained", "--", "untrained network"),
                                                             ("proportion_significant", "-.", significant))
                 if col in data]
    null = {"null_proportion", "null_high"} <= set(data.columns)
    judged = "evidence" in data and data["evidence"].notna().all()
    for c in cats:  # one line per category, labelled with its name
        x, column = _line(data, c, layers)
        name = f"{c} (N={counts[c]})" if c in counts else c
        ax.plot(x, column("proportion"), **{"marker": "o", "ms": 0 if many else 5, "lw": 1.8, "color": colours[c],
                                            "label": name, **kwargs})
        if judged:  # the verdict: a hollow marker where the count is within chance, filled beyond it
            within = ~column("evidence").astype(bool)
            ax.plot(x[within], column("proportion")[within], "o", ms=3 if many else 5, mfc="white",
                    mec=colours[c], mew=1.2, zorder=3)
            ax.plot(x[~within], column("proportion")[~within], "o", ms=3 if many else 5, color=colours[c],
                    zorder=3)
        if null:  # what the same rule finds when the labels carry no information
            ax.fill_between(x, column("null_proportion"), column("null_high"), color=colours[c], alpha=0.10, lw=0)
            ax.plot(x, column("null_proportion"), ":", lw=1.2, color=colours[c], alpha=0.9)
        if {"low", "high"} <= set(data.columns):
            ax.fill_between(x, column("low"), column("high"), color=colours[c], alpha=0.15, lw=0)
        for col, style, _ in baselines:  # told apart by their markers too, not by the dashes alone
            ax.plot(x, column(col), style, lw=1.0, color=colours[c], alpha=0.8, **BASELINE_MARKS.get(col, {}),
                    markevery=max(1, len(x) // 12))
        if {"untrained_low", "untrained_high"} <= set(data.columns):  # the untrained networks' range over seeds
            ax.fill_between(x, column("untrained_low"), column("untrained_high"), color=colours[c], alpha=0.10,
                            lw=0, hatch="//", edgecolor=colours[c])
    for col, style, text in baselines:  # legend entries for the baselines' line styles
        ax.plot([], [], style, color="grey", label=text, **BASELINE_MARKS.get(col, {}))
    if judged:
        ax.plot([], [], "o", color="grey", label="beyond chance" + (f"\n(q <= {level:g})" if level else ""))
        ax.plot([], [], "o", mfc="white", mec="grey", mew=1.2, label="within chance")
    if null:
        ax.fill_between([], [], [], color="grey", alpha=0.25, lw=0,
                        label="shuffled-label null:\nmean (dotted) to\n95th percentile")
    if {"untrained_low", "untrained_high"} <= set(data.columns):
        ax.fill_between([], [], [], color="grey", alpha=0.25, lw=0, hatch="//", edgecolor="grey",
                        label="untrained networks:\nrange over seeds")


def _legend(ax: Axes) -> None:
    """Figure 1's legend, right of the axes."""
    ax.legend(title="category", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def clear_data(ax: Axes) -> None:
    """Take the data artists (images, collections, lines, patches) off ``ax``; its axes, ticks and labels stay.

    Parameters
    ----------
    ax : matplotlib Axes
    """
    for artist in [*ax.images, *ax.collections, *ax.lines, *ax.patches]:
        artist.remove()


def _bare(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without its ``attrs``, sharing its data.

    pandas deep-copies a frame's ``attrs`` on every operation; a summary's hold
    one entry per category, which made each operation cost milliseconds with
    1,000 categories.
    """
    return pd.DataFrame(frame, copy=False)


def _names(column: pd.Series) -> list:
    """A column's names in their order: its categories if it is categorical, else as first met."""
    return list(column.cat.categories) if hasattr(column, "cat") else list(dict.fromkeys(column))


def _line(data: pd.DataFrame, category: str, layers: list):
    """Layer positions of one category's rows, in layer order, and a getter of a column in that order."""
    rows = data[data["category"] == category]
    position = {l: i for i, l in enumerate(layers)}
    x = rows["layer"].astype(str).map(position).to_numpy()
    order = np.argsort(x)
    return x[order], lambda column: rows[column].to_numpy()[order]


def _ylabel(counting: Counting | None) -> str:
    """Figure 1's y label: the rule that made the summary."""
    ylabel = "selective units"
    if counting is not None:
        ylabel += f" ({counting.index} index > chance + {counting.threshold:g})"
    return ylabel


def _counting(frame: pd.DataFrame) -> Counting | None:
    """What a summary was counted with, where it says (a summary made by hand says nothing)."""
    return Counting.of(frame) if "counting" in frame.attrs else None


#: The line every figure of an untrained network carries, in red (``UNTRAINED_COLOUR``).
UNTRAINED_MARK = "UNTRAINED NETWORK (random weights): a control, not the study's result"

#: The colour of an untrained network's title.
UNTRAINED_COLOUR = "#b00000"


def figure_title(title: str, *, trained: bool | None = True, model: str | None = None, n: int | None = None,
                 width: int | None = None) -> tuple[str, str]:
    """Every catsel figure's title and its colour: what it shows, the network, N, and the untrained mark.

    The one place a figure's title is made (Figure 1 in all its modes, the
    comparison, the lesion figure, the unit and filter panels): an untrained
    network's figure always carries :data:`UNTRAINED_MARK`, in red.

    Parameters
    ----------
    title : str
        What the figure shows.
    trained : bool or None, default True
        False for an untrained network (None: not known).
    model : str, optional
        The network, as the run names it.
    n : int, optional
        The number of images.
    width : int, optional
        Wrap the title to this many characters (a narrow figure).

    Returns
    -------
    (str, str)
        The text and its colour.
    """
    import textwrap

    text = title + (f" — {model}" if model else "") + (f" (N = {n:,} images)" if n else "")
    if width:
        text = textwrap.fill(text, width)
    if trained is False:
        return f"{text}\n{UNTRAINED_MARK}", UNTRAINED_COLOUR
    return text, "black"


def title_figure(target, title: str, **label) -> None:
    """Give a Figure (its suptitle) or an Axes (its title) the title :func:`figure_title` makes.

    Parameters
    ----------
    target : matplotlib Figure, SubFigure or Axes
    title : str
    **label
        ``trained``, ``model``, ``n``, ``width`` (see :func:`figure_title`), and ``fontsize``.
    """
    fontsize = label.pop("fontsize", None)
    text, colour = figure_title(title, **label)
    if isinstance(target, Axes):
        target.set_title(text, color=colour, fontsize=fontsize)
    else:
        target.suptitle(text, color=colour, fontsize=fontsize)


def _title(counting: Counting | None, title: str | None) -> tuple[str, str]:
    """Figure 1's title and its colour (:func:`figure_title` of the summary's network and images)."""
    counting = counting if counting is not None else Counting()
    return figure_title(title or "Category-selective units per layer", trained=counting.trained,
                        model=counting.model_label if title is None else None, n=counting.n_images)


def _heat_grid(summary: pd.DataFrame, cats: list, layers: list):
    """The heat map's values (categories × layers), whether they are the excess over the null, and their limit."""
    data = summary[summary["category"].isin(cats)]
    null = "null_proportion" in data
    values = data["proportion"] - data["null_proportion"] if null else data["proportion"]
    grid = (pd.DataFrame({"layer": data["layer"].astype(str), "category": data["category"].astype(str),
                          "value": values.to_numpy()})
            .pivot(index="category", columns="layer", values="value").reindex(index=cats, columns=layers))
    limit = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
    return grid.to_numpy(), null, limit


def _heat_labels(ax: Axes, cats: list) -> None:
    """The heat map's category names: at most 25, evenly."""
    shown = -(-len(cats) // 25)
    rows = list(range(0, len(cats), shown))
    ax.set_yticks(rows, [cats[i] for i in rows], fontsize=6)
    ax.set_ylabel(f"category ({len(cats)}" + (f", every {shown}th named)" if shown > 1 else ")"))


def compare_layer_proportions(summaries: dict, *, categories=None, fig: Figure | None = None) -> Figure:
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
        layer_ticks(ax, layers, fontsize=7, rotation=90)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("selective units")
    axes[-1].legend(frameon=False, fontsize=8)
    fit_fonts(fig)
    return fig
