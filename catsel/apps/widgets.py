"""Interactive explorers for JupyterLab, Notebook 7 and Voilà (ipywidgets).

* :func:`explore_thresholds` — threshold slider, index chooser and category
  selection; the paper's Figure 1 and the counts redraw live.
* :func:`explore_layer` — one layer's filters as bars of their selectivity per
  category, sorted by a category, a window of filters at a time.
* :func:`explore_units` — one filter: its top images, their receptive-field
  crops (conv layers) and its activation distribution per category.
* :func:`explore` — the three in tabs, the layer view feeding the filter view.

Each explorer keeps its state in plain attributes (``summary``, ``counts``,
``figure``...) recomputed by ``update()``, so it can be driven and tested from
Python. Figures are matplotlib, shown as PNG images that work the same in
every Jupyter front end. ipywidgets is imported only when an explorer is made.

A redraw must stay under 200 ms on a 1,000-category table. It changes the
data of the figure in place (making axes and ticks anew was most of the
time), and draws anew only the artists that change, over a kept picture of
the rest (matplotlib's blitting): each text costs about a millisecond to
draw. ``tests/test_widgets.py`` checks that the pictures equal those drawn
whole and anew; ``benchmarks/widgets_speed.py`` measures the redraws.
"""

from __future__ import annotations

from html import escape
import io
import weakref

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from ..figures.plots import MAX_LINES, LayerProportionsDisplay, clear_data, fit_fonts, palette
from ..selecting.selection import layer_category_codes
from ..figures.visualize import activity, has_receptive_field, receptive_crop, top_images
from ..selecting.indices import INDICES
from ..selecting.selection import ThresholdCounts, selectivity
from ..selecting.tables import Counting
from ..errors import StoreError
from ..former import former_keyword
from ..store import Activations
from ..options import INDEX, THRESHOLD

__all__ = ["explore_thresholds", "explore_layer", "explore_units", "explore",
           "ThresholdExplorer", "LayerExplorer", "UnitExplorer", "Dashboard"]


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("catsel's explorers need ipywidgets: pip install ipywidgets") from exc
    return ipywidgets


_TABLE_CSS = ("<style>.catsel-counts td, .catsel-counts th {padding: 1px 10px; text-align: right}"
              ".catsel-counts th {font-weight: 600}</style>")


#: Resolution of the explorers' pictures (dots per inch).
DPI = 80


def _figure(figsize: tuple) -> Figure:
    """A figure with its own Agg canvas at :data:`DPI`.

    Saved at the resolution it was made with, it keeps one renderer and the
    layouts of its texts between redraws; ``savefig`` at another resolution
    made a new renderer every time.
    """
    figure = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


# The kept frames of each figure the explorers draw (see _png): here, not on matplotlib's objects; a figure's
# entry goes with it.
_KEPT: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _png(fig: Figure, key=None, changing=(), *, seldom=(), seldom_key=None) -> bytes:
    """The figure as a PNG; with ``key``, only the ``changing`` artists drawn anew.

    The picture of everything else is kept (matplotlib's blitting) and drawn
    again only when ``key`` changes: the axes, names and legends that stay
    while a slider moves took most of a redraw's time, each text costing
    about a millisecond on a small CPU. The ``seldom`` artists are drawn
    over that picture and kept with it while ``seldom_key`` stays (the layer
    explorer's axes that change with the layer, not with the window). The
    changing artists are drawn last, in their z-order, so they cover the
    kept picture where they meet it.
    """
    fit_fonts(fig)
    buf = io.BytesIO()
    if key is None:
        # the least compression: a third of the time of the default for a few more kilobytes
        fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
        return buf.getvalue()
    from PIL import Image

    canvas = fig.canvas
    seldom, changing = ([a for a in sorted(group, key=lambda a: a.get_zorder()) if a.get_visible()]
                        for group in (seldom, changing))
    kept = _KEPT.get(fig, {})
    if kept.get("key") != key:
        for artist in seldom + changing:
            artist.set_visible(False)
        try:
            canvas.draw()
        finally:
            for artist in seldom + changing:
                artist.set_visible(True)
        kept = _KEPT[fig] = {"key": key, "frame": canvas.copy_from_bbox(fig.bbox)}
    renderer = canvas.get_renderer()
    if "seldom" in kept and kept["seldom_key"] == seldom_key:
        canvas.restore_region(kept["seldom"])
    else:
        canvas.restore_region(kept["frame"])
        for artist in seldom:
            artist.draw(renderer)
        kept["seldom_key"], kept["seldom"] = seldom_key, canvas.copy_from_bbox(fig.bbox)
    for artist in changing:
        artist.draw(renderer)
    Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
        buf, format="png", compress_level=1)
    return buf.getvalue()


def _fit_legend(ax, right: float = 0.84) -> float:
    """Narrow the axes until the legend right of them fits in the figure (long names were cut); the right edge."""
    figure = ax.figure
    width = ax.get_legend().get_window_extent(figure.canvas.get_renderer()).width / figure.bbox.width
    right = max(min(right, 0.99 - width), 0.5)  # a name too long for half the figure is cut
    if figure.subplotpars.right != right:
        figure.subplots_adjust(right=right)
    return right


class _Explorer:
    """Shows its ``widget`` when displayed in a notebook.

    A redraw keeps the figure and changes its data in place where the
    figure's structure (its axes, the categories it draws) stays: making
    axes and their ticks anew was most of a redraw's time, which the
    explorers must keep under 200 ms on a 1,000-category table.
    """

    widget = None
    figure: Figure | None = None

    def _show(self, figure: Figure, key=None, changing=(), **seldom) -> None:
        """Show ``figure`` and release the previous one.

        With ``key``, only the ``changing`` artists are drawn anew while
        ``key`` stays the same (see :func:`_png`, and its ``seldom`` ones).

        Clearing the old figure breaks its artists' reference cycles, so they
        are freed at once instead of by a full garbage collection, which in a
        kernel holding Keras costs a few hundred milliseconds.
        """
        # to be shown again (the threshold explorer's two kinds)
        kept = [display.figure_ for display in getattr(self, "_displays", {}).values()]
        if self.figure is not None and self.figure is not figure and self.figure not in kept:
            self.figure.clear()
        self.figure = figure
        self.image.value = _png(figure, key, changing, **seldom)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _observe(self, *controls) -> None:
        for control in controls:
            control.observe(lambda change: None if _quiet(change) else self.update(), names="value")


class _Rows:
    """Rows of a selectivity table by a key (layer × category, or layer × filter), found without a scan.

    A 1,000-category table has 12.4 million rows: comparing a column with a
    value costs tens of milliseconds each time, and pandas copies a frame's
    ``attrs`` (with one entry per category) on every operation. The rows are
    sorted by key once; a lookup is then a slice, and the frames it returns
    carry no ``attrs``.
    """

    def __init__(self, table: pd.DataFrame, codes: np.ndarray, size: int):
        self.table = table
        self.order = np.argsort(codes, kind="stable")
        self.bounds = np.searchsorted(codes[self.order], np.arange(size + 1))

    def take(self, keys) -> pd.DataFrame:
        """The rows whose key is in ``keys``, in table order, without ``attrs``."""
        keys = np.asarray(list(keys), dtype=np.int64)
        parts = [self.order[self.bounds[k]:self.bounds[k + 1]] for k in keys]
        positions = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        frame = self.table.iloc[positions]
        frame.attrs = {}
        return frame


# Category lists being narrowed (see _category_picker): their changes meanwhile are not the user's. Kept here,
# not on the widgets.
_NARROWING: "weakref.WeakSet" = weakref.WeakSet()


def _quiet(change) -> bool:
    """A change made while a category list is narrowed (see :func:`_category_picker`), not by the user."""
    return change["owner"] in _NARROWING


def _category_picker(W, categories: list, value, rows: int = 6):
    """A search box and a multiple choice of categories: typing narrows the list (chosen ones stay chosen).

    With ImageNet's 1,000 categories a plain list cannot be browsed; the box
    filters it by the text typed, anywhere in the name, case ignored.
    """
    choice = W.SelectMultiple(options=categories, value=tuple(value), description="categories",
                              rows=min(rows, len(categories)))
    find = W.Text(placeholder=f"find among {len(categories)}", description="find", layout=W.Layout(width="260px"))

    def narrow(change):
        text = change["new"].strip().lower()
        chosen = set(choice.value)
        matching = [c for c in categories if text in c.lower()] if text else list(categories)
        options = [c for c in categories if c in chosen and c not in matching] + matching
        _NARROWING.add(choice)  # new options empty the choice and it is set again: no redraw meanwhile
        try:
            choice.options = options
            choice.value = tuple(c for c in options if c in chosen)
        finally:
            _NARROWING.discard(choice)

    find.observe(narrow, names="value")
    return find, choice


class ThresholdExplorer(_Explorer):
    """Threshold slider, index chooser, category selection → Figure 1 and counts.

    Parameters
    ----------
    source : Activations or DataFrame
        Activations (every registered index is offered) or one selectivity table
        from :func:`catsel.selectivity` (its own index only).
    threshold : float, default 0.01
        The starting threshold.
    index : str, optional
        The starting index (default: the first offered).
    categories : sequence of str, optional
        The categories shown at first (default: all).
    significance : DataFrame, optional
        A run's selectivity table with ``q_value`` (``--permutations``): the
        units significant at ``alpha`` are counted beside the threshold's.
    alpha : float, default 0.05

    Attributes
    ----------
    threshold, index, categories, find : ipywidgets controls
        ``find`` narrows the list of ``categories`` to the names holding its text.
    summary : DataFrame
        :func:`catsel.layer_summary` at the current settings.
    counts : DataFrame
        Selective units, layers × selected categories.
    figure : matplotlib Figure
        The current layer-proportion figure (also shown as ``image``).
    """

    def __init__(self, source: Activations | pd.DataFrame, *, threshold: float = THRESHOLD, index: str | None = None,
                 categories=None, significance: pd.DataFrame | None = None, alpha: float = 0.05):
        W = _ipywidgets()
        # the shuffled-label null, at any threshold, where the activations are at hand (one per index, made when
        # first shown; left out above MAX_LINES categories, where the heat map shows no band)
        self._acts = source if isinstance(source, Activations) else None
        self._nulls: dict = {}
        # units significant by the permutation test, per layer × category, from a run's table with q-values
        self.alpha = alpha
        self.significant = None
        if significance is not None and "q_value" in significance:
            from ..stats import significant_counts

            self.significant = significant_counts(significance, alpha)
        if isinstance(source, Activations):
            tables = {}
            for name in INDICES:
                try:
                    tables[name] = selectivity(source, index=name, threshold=threshold)
                except StoreError:  # an index this store lacks the inputs for (repo without the spatial means)
                    continue
        else:
            tables = {str(source["index"].iloc[0]) if "index" in source else INDEX: source}
        self._counts = {name: ThresholdCounts(t) for name, t in tables.items()}
        self._displays = {}  # Figure 1 by kind, lines or heat map (LayerProportionsDisplay)
        self.display = None
        first = next(iter(self._counts.values()))
        all_categories = first.categories
        self.threshold = W.FloatSlider(value=threshold, min=0.0, max=0.5, step=0.005, readout_format=".3f",
                                       description="threshold", continuous_update=False,
                                       style={"description_width": "initial"},
                                       layout=W.Layout(width="420px"))
        self.index = W.Dropdown(options=list(tables), value=index or next(iter(tables)), description="index",
                                layout=W.Layout(width="200px"))
        self.find, self.categories = _category_picker(W, all_categories, categories or all_categories)
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.table_html = W.HTML()
        self.status = W.HTML()
        controls = W.HBox([W.VBox([self.threshold, self.index]), W.VBox([self.find, self.categories])])
        self.widget = W.VBox([controls, self.status, self.image, self.table_html])
        self._observe(self.threshold, self.index, self.categories)
        self.update()

    def update(self) -> None:
        """Redraw from the current values of the controls (called whenever one of them changes)."""
        counter = self._counts[self.index.value]
        cats = [c for c in counter.categories if c in self.categories.value]
        self.summary = counter.summary(self.threshold.value)
        null = self._null(self.index.value, len(counter.categories))
        if null is not None:  # every count beside its null, as in Figure 1 of a run
            attrs = self.summary.attrs
            observed = (self.summary.assign(layer=self.summary["layer"].astype(str),
                                            category=self.summary["category"].astype(str))
                        .pivot(index="layer", columns="category", values="proportion")
                        .reindex(index=null.layers, columns=null.categories).to_numpy(dtype=float))
            judged = null.summary(self.threshold.value, proportion=observed, level=self.alpha)
            self.summary = self.summary.merge(judged, on=["layer", "category"], how="left", sort=False)
            self.summary.attrs = {**attrs}
        counting = Counting.of(self.summary)
        counting.replace(index=self.index.value, level=self.alpha if null is not None else counting.level).on(
            self.summary)
        bare = self.summary.copy(deep=False)
        bare.attrs = {}  # pandas copies attrs (an entry per category) on every operation
        shown = bare[bare["category"].isin(cats)]
        self.counts = shown.pivot(index="layer", columns="category", values="n_selective").reindex(columns=cats)
        # one figure kept per kind, panels, lines or heat map: choosing categories across 12 switches between them
        kind = "heat" if len(cats) > MAX_LINES else "panels" if len(cats) >= 2 and "null_proportion" in bare else "lines"
        display = self._displays.get(kind)
        if cats and display is not None and display.update(self.summary, cats):
            figure = display.figure_
        else:
            # fixed margins: constrained layout would draw every figure twice
            figure = _figure((10, 4.2))
            figure.subplots_adjust(left=0.08, right=0.84, top=0.86, bottom=0.27)
            display = None
            if cats:
                display = LayerProportionsDisplay.from_summary(self.summary, categories=cats).plot(
                    ax=figure.subplots())
                if kind in self._displays:
                    self._displays[kind].figure_.clear()  # see _show
                self._displays[kind] = display
        self.display = display
        if display is None:  # nothing chosen
            self._show(figure)
        elif display.kind_ == "panels":  # a panel per category, drawn whole; the legend right of the last one
            if display.axes_[-1].get_legend() is not None:
                _fit_legend(display.axes_[-1])
            self._show(figure)
        elif display.kind_ == "heat":  # the layer axis and the title stay; colours, names and the colour bar change
            ax = figure.axes[0]
            self._show(figure, key=("heat",), changing=[display.image_, ax.yaxis, *ax.spines.values(),
                                                         *figure.axes[1:]])
        else:  # the layer axis and the title stay; the lines, their legend and the y axis change
            ax = figure.axes[0]
            right = _fit_legend(ax)
            self._show(figure, key=("lines", right), changing=[*ax.lines, *ax.collections, ax.get_legend(),
                                                                ax.yaxis, *ax.spines.values()])
        units = shown.drop_duplicates("layer").set_index("layer")["n_units"]
        counts = self.counts.iloc[:, :MAX_LINES]  # the table names at most as many categories as the figure draws
        html = counts.assign(units=units).rename_axis(index=None, columns=None).to_html(
            classes="catsel-counts", border=0)
        more = (f" (the first {MAX_LINES} of the {len(cats)} categories chosen; the figure shows all)"
                if len(cats) > MAX_LINES else "")
        significant = ""
        if self.significant is not None:  # independent of the threshold: the permutation test's own rule
            chosen = self.significant[self.significant["category"].astype(str).isin(counts.columns)]
            grid = chosen.pivot(index="layer", columns="category", values="n_significant").reindex(
                columns=list(counts.columns))
            significant = (f"<b>Significant by the permutation test (q &lt; {self.alpha:g})</b>"
                           + grid.rename_axis(index=None, columns=None).to_html(classes="catsel-significant",
                                                                                border=0))
        self.table_html.value = f"<b>Selective units per layer</b>{more}{_TABLE_CSS}{html}{significant}"
        total = int(shown["n_selective"].sum())
        beside = ""
        if "null_proportion" in shown:
            expected = float((shown["null_proportion"] * shown["n_units"]).sum())
            beside = f", against <b>{expected:.0f}</b> with shuffled labels (the null)"
        if "evidence" in shown:  # the run's verdict, at this threshold
            beside += (f"; <b>{int(shown['evidence'].sum())}</b> of {len(shown)} layer × category counts beyond "
                       f"chance (q &le; {self.alpha:g}, filled markers)")
        if self.significant is not None:
            chosen = self.significant[self.significant["category"].astype(str).isin(cats)]
            beside += f"; <b>{int(chosen['n_significant'].sum())}</b> significant at q &lt; {self.alpha:g}"
        self.status.value = (f"{self.index.value} index &gt; chance + {self.threshold.value:.3f}: "
                             f"<b>{total}</b> selective unit × category pairs{beside}")

    def _null(self, index: str, n_categories: int):
        """The shuffled-label null of ``index`` (computed on first use), or None without activations."""
        if self._acts is None or n_categories > MAX_LINES:
            return None
        if index not in self._nulls:
            from ..stats import ShuffledMargins

            self._nulls[index] = ShuffledMargins(self._acts, index=index)
        return self._nulls[index]


class LayerExplorer(_Explorer):
    """One layer's filters: selectivity bars per category, sorted, a window at a time.

    Parameters
    ----------
    table : DataFrame
        From :func:`catsel.selectivity`.
    layer : str, optional
        The layer shown first (default: the last).
    sort_by : str, optional
        ``"unit index"`` or a category (default: the first category).
    window : int, default 48
        Filters drawn at a time.
    categories : sequence of str, optional
        The categories drawn (default: all, or the first 12 of more).

    Attributes
    ----------
    layer, sort_by, window, inspect, categories, find : ipywidgets controls
    order : ndarray
        Filter indices of the layer in the current sort order.
    shown : DataFrame
        Selectivity of the filters drawn (rows, in sort order) per category (columns).
    """

    def __init__(self, table: pd.DataFrame, *, layer: str | None = None, sort_by: str | None = None,
                 window: int = 48, categories=None):
        W = _ipywidgets()
        categories_shown = categories
        self.table = table
        layers = list(table["layer"].cat.categories)
        categories = list(table["category"].cat.categories)
        self._all = categories
        self._categories = list(categories_shown) if categories_shown is not None else categories[:MAX_LINES]
        self._units = table.groupby("layer", observed=True)["unit"].nunique()
        self._rows = _Rows(table, layer_category_codes(table), len(layers) * len(categories))
        self._layer_code = {l: i for i, l in enumerate(layers)}
        self._category_code = {c: i for i, c in enumerate(categories)}
        self.find, self.categories = _category_picker(W, categories, self._categories)
        self.layer = W.Dropdown(options=layers, value=layer or layers[-1], description="layer")
        self.sort_by = W.Dropdown(options=["unit index", *self._categories],
                                  value=sort_by or self._categories[0], description="sort by")
        self.window = W.IntRangeSlider(value=(0, window - 1), min=0, max=1, step=1, description="units",
                                       continuous_update=False, layout=W.Layout(width="520px"))
        self.inspect = W.Dropdown(options=[], description="inspect")
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        controls = W.VBox([W.HBox([self.layer, self.sort_by]), W.HBox([self.window, self.inspect])])
        self.widget = W.VBox([W.HBox([controls, W.VBox([self.find, self.categories])]), self.image])
        self._window_size = window
        self._cache: dict = {}
        self._shape = None
        self.layer.observe(lambda change: self._reset_window(), names="value")
        self.categories.observe(lambda change: None if _quiet(change) else self._choose(), names="value")
        self._observe(self.sort_by, self.window)
        self._reset_window()

    def _choose(self) -> None:
        """New categories chosen: the bars and the sort follow them."""
        chosen = [c for c in self._all if c in self.categories.value]
        if not chosen or chosen == self._categories:
            return
        self._categories = chosen
        with self.sort_by.hold_trait_notifications():
            keep = self.sort_by.value if self.sort_by.value in chosen else "unit index"
            self.sort_by.options = ["unit index", *chosen]
            self.sort_by.value = keep
        self.update()

    def _reset_window(self) -> None:
        n = int(self._units[self.layer.value])
        with self.window.hold_trait_notifications():
            self.window.max = max(n - 1, 1)
            self.window.value = (0, min(self._window_size, n) - 1)
        self.update()

    def _matrix(self):
        """The layer's filters × the chosen categories: selectivity, selective, chance (only those rows read)."""
        key = (self.layer.value, tuple(self._categories))
        if key not in self._cache:
            first = self._layer_code[self.layer.value] * len(self._all)
            rows = self._rows.take(first + self._category_code[c] for c in self._categories)
            values = rows.pivot(index="unit", columns="category", values="selectivity")[self._categories]
            selective = rows.pivot(index="unit", columns="category", values="selective")[self._categories]
            chance = rows.groupby("category", observed=True)["chance"].first()[self._categories]
            self._cache[key] = values, selective, chance
        return self._cache[key]

    def update(self) -> None:
        """Redraw from the current values of the controls (called whenever one of them changes)."""
        values, selective, chance = self._matrix()
        if self.sort_by.value == "unit index":
            self.order = values.index.to_numpy()
        else:
            self.order = values[self.sort_by.value].sort_values(ascending=False, kind="stable").index.to_numpy()
        lo, hi = self.window.value
        ids = self.order[lo:hi + 1]
        self.shown = values.loc[ids]
        self.inspect.options = [int(i) for i in ids]
        figure = self._draw(values, selective, chance, ids)
        parts = self._parts  # the category names, the legend and the title stay; the axes' scales follow the layer
        changing = [parts["image"], parts["span"], parts["sorted"], *parts["bars"].values(),
                    *parts["chance"].values(), *parts["marks"].values(), parts["bottom"].xaxis,
                    *parts["top"].spines.values(), *parts["bottom"].spines.values()]
        self._show(figure, key="layer", changing=changing, seldom=[parts["top"].xaxis, parts["bottom"].yaxis],
                   seldom_key=self.layer.value)

    def _draw(self, values, selective, chance, ids) -> Figure:
        """The figure for these filters: made when the categories or the number of filters change, else filled in place."""
        shape = (tuple(self._categories), len(ids))
        if self.figure is None or self._shape != shape:
            self._build(len(ids))
            self._shape = shape
        self._fill(values, selective, chance, ids)
        return self._parts["figure"]

    def _build(self, n: int) -> None:
        """The axes and one artist per category, without data (see :meth:`_fill`)."""
        fig = _figure((11, 5.2))
        fig.subplots_adjust(left=0.08, right=0.88, top=0.93, bottom=0.12, hspace=0.45)
        top, bottom = fig.subplots(2, 1, height_ratios=[1, 3])
        k = len(self._categories)
        image = top.imshow(np.zeros((k, 1)), aspect="auto", cmap="magma", interpolation="nearest")
        top.set_title(f"selectivity per filter ({Counting.of(self.table).model_label or ''})", loc="left")
        # a text of its own, not the title: matplotlib places a title by the axes' other texts when it draws them all
        sorted_by = top.text(1.0, 1.02, "", transform=top.transAxes, ha="right", va="bottom")
        top.set_yticks(range(k), self._categories)
        colours = palette(self._categories)
        bars, chance, marks = {}, {}, {}
        for c in self._categories:
            # one collection per category: far cheaper to draw than a Rectangle per bar
            bars[c] = PolyCollection([], facecolors=colours[c], edgecolors="none", label=c)
            bottom.add_collection(bars[c])
            chance[c] = bottom.axhline(0, color=colours[c], ls="--", lw=0.8)
            marks[c], = bottom.plot([], [], "v", color=colours[c], ms=4)
        bottom.set_xlabel("filter (▼ selective; dashed: chance level)")
        bottom.set_ylabel("selectivity")
        bottom.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        self.heights = {}  # category → the bars' heights, in the order shown
        self.bars = bars  # category → its bars (a collection)
        self._parts = {"figure": fig, "top": top, "bottom": bottom, "image": image, "sorted": sorted_by, "span": None,
                       "bars": bars, "chance": chance, "marks": marks}

    def _fill(self, values, selective, chance, ids) -> None:
        """Put this layer's, sort's and window's numbers into the artists :meth:`_build` made."""
        parts = self._parts
        top, bottom = parts["top"], parts["bottom"]
        matrix, chosen = values.to_numpy(), selective.to_numpy(dtype=bool)
        rows = values.index.get_indexer(ids)  # positions, not labels: pandas' .loc per category cost milliseconds
        ordered = matrix[values.index.get_indexer(self.order)].T
        parts["image"].set_data(ordered)
        parts["image"].set_clim(np.nanmin(ordered), np.nanmax(ordered))  # what imshow scales new data to
        parts["image"].set_extent((-0.5, ordered.shape[1] - 0.5, ordered.shape[0] - 0.5, -0.5))
        lo, hi = self.window.value
        if parts["span"] is not None:
            parts["span"].remove()
        parts["span"] = top.axvspan(lo - 0.5, hi + 0.5, color="white", alpha=0.25, ec="white")
        top.set_xlim(-0.5, ordered.shape[1] - 0.5)
        top.set_ylim(ordered.shape[0] - 0.5, -0.5)
        top.set_xlabel(f"all {len(self.order)} units of {self.layer.value}")
        parts["sorted"].set_text(f"sorted by {self.sort_by.value}")
        k = len(self._categories)
        width = 0.8 / k
        x = np.arange(len(ids))
        highest = matrix.max()
        for j, c in enumerate(self._categories):
            left = x + (j - (k - 1) / 2) * width - width / 2
            heights = matrix[rows, j]
            parts["bars"][c].set_verts([[(l, 0), (l, h), (l + width, h), (l + width, 0)]
                                        for l, h in zip(left, heights)])
            self.heights[c] = heights  # what the bars show, for tests and callers
            parts["chance"][c].set_ydata([chance[c], chance[c]])
            sel = chosen[rows, j]
            parts["marks"][c].set_data(x[sel], np.full(sel.sum(), highest * 1.04))
        bottom.set_xticks(x, [str(i) for i in ids], rotation=90, fontsize=7)
        bottom.set_xlim(-0.6, len(ids) - 0.4)
        bottom.set_ylim(0, highest * 1.1)


class UnitExplorer(_Explorer):
    """One filter or unit: its top images and its activation per category.

    Parameters
    ----------
    acts : Activations
    table : DataFrame, optional
        From :func:`catsel.selectivity`: adds each category's selectivity to the caption.
    layer : str, optional
        The layer shown first (default: the last).
    unit : int, default 0
        The filter shown first.
    k : int, default 8
        Top images shown.
    top : int, optional
        Former name of ``k`` (catsel 0.1.0, see :mod:`catsel.former`).

    Attributes
    ----------
    layer, unit, k : ipywidgets controls
    top_rows : ndarray
        Image rows (into ``acts``) of the current top images, best first.
    values : DataFrame
        The unit's activation per image with its category.
    """

    def __init__(self, acts: Activations, table: pd.DataFrame | None = None, *, layer: str | None = None,
                 unit: int = 0, k: int = 8, top: int | None = None):
        W = _ipywidgets()
        k = former_keyword(k, top, new="k", old="top")
        self.acts = acts
        self.table = table
        self._rows = None
        self._shape = None
        self.layer = W.Dropdown(options=list(acts.layers), value=layer or acts.layers[-1], description="layer")
        self.unit = W.BoundedIntText(value=unit, min=0, max=acts.units[self.layer.value] - 1, description="unit")
        self.k = W.IntSlider(value=k, min=1, max=24, description="top images", continuous_update=False)
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.info = W.HTML()
        self.layer.observe(lambda change: self._limit(), names="value")
        self._observe(self.unit, self.k)
        self.widget = W.VBox([W.HBox([self.layer, self.unit, self.k]), self.info, self.image])
        self.update()

    def _limit(self) -> None:
        self.unit.max = self.acts.units[self.layer.value] - 1
        self.update()

    def update(self) -> None:
        """Redraw from the current values of the controls (called whenever one of them changes)."""
        layer, unit = self.layer.value, int(self.unit.value)
        a = self.acts[layer][:, unit]
        self.top_rows = top_images(self.acts, layer, unit, self.k.value)
        cats = np.asarray(self.acts.categories)
        self.values = pd.DataFrame({"value": a, "category": pd.Categorical(cats[self.acts.labels],
                                                                           categories=list(cats))})
        self.info.value = self._describe(layer, unit)
        self._show(self._draw(layer, unit))

    def _describe(self, layer: str, unit: int) -> str:
        from ..selecting.indices import MIN_ACTIVE

        active, total = activity(self.acts, layer, unit)
        note = (" — <b>silent</b>: no image drives it" if active == 0 else
                f" — <b>near-silent</b>: above its minimum on {active} of {total} images"
                if active < MIN_ACTIVE * total else "")
        if self.table is None:
            return f"<b>{escape(layer)}</b> unit {unit}{note}"
        if self._rows is None:  # made on the first caption: one sort of the table by layer and filter
            layers = list(self.table["layer"].cat.categories)
            self._width = int(self.table["unit"].max()) + 1
            codes = (self.table["layer"].cat.codes.to_numpy().astype(np.int64) * self._width
                     + self.table["unit"].to_numpy().astype(np.int64))
            self._rows = _Rows(self.table, codes, len(layers) * self._width)
            self._layer_code = {l: i for i, l in enumerate(layers)}
        rows = self._rows.take([self._layer_code[layer] * self._width + unit])
        more = ""
        if len(rows) > MAX_LINES:  # the categories it is most selective for
            more = f" (the {MAX_LINES} highest of {len(rows)} categories; {int(rows['selective'].sum())} selective)"
            rows = rows.nlargest(MAX_LINES, "selectivity")
        parts = [f"{escape(str(r.category))}: {r.selectivity:.3f}{' <b>selective</b>' if r.selective else ''}"
                 for r in rows.itertuples()]  # names are data: shown, never run as HTML
        return f"<b>{escape(layer)}</b> unit {unit} — selectivity " + ", ".join(parts) + more + note

    def _crops_available(self, layer: str) -> bool:
        return has_receptive_field(self.acts, layer)

    def _image(self, row: int) -> np.ndarray | None:
        """Image ``row`` as the network saw it, or None for a moved or deleted file (a blank tile)."""
        try:
            return self.acts.image(row)
        except Exception:
            return None

    def _draw(self, layer: str, unit: int) -> Figure:
        """The figure for this filter: made when the number of tiles or categories shown change, else filled in place."""
        k = len(self.top_rows)
        crops = self._crops_available(layer)
        shown = list(self.acts.categories)
        if len(shown) > MAX_LINES:  # the categories on which the unit is highest, by median
            medians = self.values.groupby("category", observed=True)["value"].median()
            highest = set(medians.nlargest(MAX_LINES).index)
            shown = [c for c in shown if c in highest]
        shape = (k, crops, len(shown))
        if self.figure is None or self._shape != shape:
            self._build(k, crops)
            self._shape = shape
        self._fill(layer, unit, crops, shown)
        return self._parts["figure"]

    def _build(self, k: int, crops: bool) -> None:
        """The tiles' axes (and their crops' below them) and the strip plot's, without data (see :meth:`_fill`)."""
        cols = max(min(k, 8), 1)
        rows = -(-k // cols)
        lines = rows * (2 if crops else 1)
        fig = _figure((11, 2.0 * lines + 2.8))
        grid = fig.add_gridspec(lines + 1, cols, height_ratios=[1.3] * lines + [2.2], left=0.1, right=0.98,
                                top=0.92, bottom=0.1, hspace=0.55)
        tiles, crop_axes = [], []
        for i in range(k):
            line = (i // cols) * (2 if crops else 1)
            tiles.append(fig.add_subplot(grid[line, i % cols]))
            tiles[-1].set_axis_off()
            if crops:
                crop_axes.append(fig.add_subplot(grid[line + 1, i % cols]))
                crop_axes[-1].set_axis_off()
        strip = fig.add_subplot(grid[lines, :])
        self._parts = {"figure": fig, "tiles": tiles, "crops": crop_axes, "strip": strip}

    def _fill(self, layer: str, unit: int, crops: bool, shown: list) -> None:
        """Put this filter's top images and activations into the axes :meth:`_build` made."""
        parts = self._parts
        colours = palette(list(self.acts.categories))
        for i, row in enumerate(self.top_rows):
            ax = parts["tiles"][i]
            clear_data(ax)
            img = self._image(int(row))  # decoded once, for the tile and for its crop
            if img is not None:
                ax.imshow(img)
            category = self.acts.categories[self.acts.labels[row]]
            # y given: a title placed by matplotlib asks for the bounds of the hidden axis (a tenth of a redraw)
            ax.set_title(f"{category}\n{self.acts[layer][row, unit]:.3g}", fontsize=8, color=colours[category], y=1.0)
            if crops:
                ax = parts["crops"][i]
                clear_data(ax)
                crop = None if img is None else receptive_crop(self.acts, layer, unit, int(row), img)[0]
                if crop is not None:
                    ax.imshow(crop)
                ax.set_title("receptive field" if crop is not None else "", fontsize=7, y=1.0)
        ax = parts["strip"]
        clear_data(ax)
        rng = np.random.default_rng(0)
        values = self.values["value"].to_numpy()
        codes = self.values["category"].cat.codes.to_numpy()
        code = {c: i for i, c in enumerate(self.acts.categories)}
        strip = []
        for y, c in enumerate(shown):  # jittered strip and median per category
            v = values[codes == code[c]]
            strip.append((v, y + rng.uniform(-0.25, 0.25, len(v)), np.tile(to_rgba(colours[c]), (len(v), 1))))
            if len(v):
                ax.plot([np.median(v)] * 2, [y - 0.35, y + 0.35], color="black", lw=1.5)
        if strip:  # one scatter for all the categories: a scatter call costs milliseconds
            x, y, colour = (np.concatenate([part[i] for part in strip]) for i in range(3))
            ax.scatter(x, y, s=6, alpha=0.6, color=colour)
        ax.set_yticks(range(len(shown)), shown)
        ax.set_ylim(len(shown) - 0.5, -0.5)  # the first category on top
        a = self.values["value"].to_numpy()
        lo, hi = (float(np.nanmin(a)), float(np.nanmax(a))) if len(a) else (0.0, 1.0)
        pad = 0.05 * (hi - lo) or 0.5  # set here, not autoscaled: a strip filled in place keeps no data limits
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_xlabel(f"{layer} unit {unit}: maximum of its map per image"
                      + (f" (the {len(shown)} of {len(self.acts.categories)} categories with the highest median)"
                         if len(shown) < len(self.acts.categories) else ""))
        parts["figure"].suptitle(f"{layer} unit {unit}: top {len(self.top_rows)} images", fontsize=10)


def explore_thresholds(source: Activations | pd.DataFrame, **kwargs) -> ThresholdExplorer:
    """The threshold explorer (see :class:`ThresholdExplorer`).

    Parameters
    ----------
    source : Activations or DataFrame
        Activations (every registered index offered) or a selectivity table.
    **kwargs
        ``threshold``, ``index``, ``categories``.

    Returns
    -------
    ThresholdExplorer
    """
    return ThresholdExplorer(source, **kwargs)


def explore_layer(table: pd.DataFrame, **kwargs) -> LayerExplorer:
    """The layer explorer on a table from :func:`catsel.selectivity` (see :class:`LayerExplorer`).

    Parameters
    ----------
    table : DataFrame
    **kwargs
        ``layer``, ``sort_by``, ``window``.

    Returns
    -------
    LayerExplorer
    """
    return LayerExplorer(table, **kwargs)


def explore_units(acts: Activations, table: pd.DataFrame | None = None, **kwargs) -> UnitExplorer:
    """The filter explorer: top images and activation distribution of one filter (see :class:`UnitExplorer`).

    Parameters
    ----------
    acts : Activations
    table : DataFrame, optional
    **kwargs
        ``layer``, ``unit``, ``k``.

    Returns
    -------
    UnitExplorer
    """
    return UnitExplorer(acts, table, **kwargs)


class Dashboard(_Explorer):
    """The three explorers in tabs; choosing a unit in the layer view opens it in the unit view.

    Parameters
    ----------
    acts : Activations
    table : DataFrame, optional
        From :func:`catsel.selectivity` (computed with ``threshold`` when omitted).
    threshold : float, default 0.01

    Attributes
    ----------
    thresholds : ThresholdExplorer
    layers : LayerExplorer
    units : UnitExplorer
    """

    def __init__(self, acts: Activations, table: pd.DataFrame | None = None, threshold: float = THRESHOLD):
        W = _ipywidgets()
        table = table if table is not None else selectivity(acts, threshold=threshold)
        self.thresholds = ThresholdExplorer(acts, threshold=threshold, significance=table)
        self.layers = LayerExplorer(table)
        self.units = UnitExplorer(acts, table, layer=self.layers.layer.value)
        self.widget = W.Tab(children=[self.thresholds.widget, self.layers.widget, self.units.widget])
        for i, title in enumerate(["Thresholds", "Layer", "Unit"]):
            self.widget.set_title(i, title)
        self.layers.inspect.observe(lambda change: self._open(change["new"]), names="value")

    @property
    def filters(self) -> UnitExplorer:
        """Former name of ``units`` (catsel 0.1.0, see :mod:`catsel.former`)."""
        import warnings

        warnings.warn("Dashboard.filters is now Dashboard.units; the old name goes next release", DeprecationWarning,
                      stacklevel=2)
        return self.units

    def _open(self, unit) -> None:
        if unit is None:
            return
        with self.units.unit.hold_trait_notifications():
            self.units.layer.value = self.layers.layer.value
            self.units.unit.max = self.acts_units(self.layers.layer.value) - 1
            self.units.unit.value = int(unit)
        self.units.update()
        self.widget.selected_index = 2

    def acts_units(self, layer: str) -> int:
        """Units of ``layer``.

        Parameters
        ----------
        layer : str

        Returns
        -------
        int
        """
        return self.units.acts.units[layer]


def explore(acts: Activations, table: pd.DataFrame | None = None, **kwargs) -> Dashboard:
    """All three explorers in tabs (what ``catsel explore RUN_DIR`` shows in Voilà).

    Parameters
    ----------
    acts : Activations
    table : DataFrame, optional
    **kwargs
        ``threshold``.

    Returns
    -------
    Dashboard
    """
    return Dashboard(acts, table, **kwargs)


