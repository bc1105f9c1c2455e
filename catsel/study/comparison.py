"""Networks compared: which one has filters for my categories, and where?

The study asks which layer of VGG16 holds filters for the categories of
interest; a user choosing a network asks the same of several. Each finished
run (``catsel run``, one per network, on the same images) gives its layer
summary; here they are set side by side against **relative depth** (0 at the
input, 1 at the output, from each network's layer graph), with each network's
shuffled-label null where the run computed it, and a table of the best layer
per category per network (the study's rule, :func:`catsel.best_layers`) with
a cross-validated linear probe's score on that layer
(:func:`catsel.stats.linear_probe`).

Computing (:func:`compare`) is apart from drawing (:class:`ComparisonDisplay`, :func:`plot_comparison`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Comparison", "ComparisonDisplay", "compare", "plot_comparison", "write_comparison"]


@dataclass
class Comparison:
    """Several runs side by side.

    Parameters
    ----------
    data : DataFrame
        One row per network × layer × category: ``network``, ``layer``,
        ``depth`` (0 input, 1 output), ``category``, ``proportion``, and
        ``null_proportion``/``null_high`` where the run has its shuffled-label
        null.
    best : DataFrame
        One row per network × category: ``network``, ``category``, ``layer``,
        ``depth``, ``proportion``, ``excess`` (over the null's mean, where
        there is one), ``chosen_by`` (``"excess"``, or ``"proportion"`` for a
        run without its null) and ``probe_auroc`` (when probed).
    notes : list of str
        What the reader should know (runs without a recorded depth, different
        images).
    untrained : list of str
        The networks that are untrained controls.
    """

    data: pd.DataFrame
    best: pd.DataFrame
    notes: list
    untrained: list = field(default_factory=list)

    def figure(self, **kwargs):
        """:func:`plot_comparison` of this comparison.

        Parameters
        ----------
        **kwargs
            Passed on (``categories``, ``fig``).

        Returns
        -------
        matplotlib Figure
        """
        return plot_comparison(self, **kwargs)


def _label(record: dict, out: Path) -> str:
    return f"{record.get('model', '?')} ({record.get('weights', '?')})"


def compare(runs: Sequence, *, labels: Sequence[str] | None = None, probe: bool = True) -> Comparison:
    """Set finished runs side by side: selective proportions against relative depth, best layers, probes.

    Parameters
    ----------
    runs : sequence of str, path or RunResult
        Output folders of ``catsel run`` (or :func:`catsel.run`'s results),
        one per network, ideally on the same images.
    labels : sequence of str, optional
        One name per run (default: its model and weights, and its folder where
        two would be alike).
    probe : bool, default True
        Score each best layer with a cross-validated linear probe (reads the
        layer's activations).

    Returns
    -------
    Comparison

    Raises
    ------
    CatselError
        When fewer than two runs are given, or a folder is not a finished run.
    """
    from ..errors import CatselError
    from .pipeline import RunResult, load_run
    from ..selecting.selection import best_layers

    results = [r if isinstance(r, RunResult) else load_run(r) for r in runs]
    if len(results) < 2:
        raise CatselError("compare needs two runs or more (one per network)")
    names = list(labels) if labels is not None else [_label(r.record, r.out) for r in results]
    untrained = [r.record.get("trained") is False for r in results]
    if len(names) != len(results):
        raise CatselError(f"{len(names)} labels for {len(results)} runs")
    if len(set(names)) < len(names):  # the same network twice: the folders tell them apart
        names = [f"{name} [{r.out.name}]" for name, r in zip(names, results)]
    notes, frames, best = [], [], []
    images = {tuple(sorted(r.activations.counts.items())) for r in results}
    if len(images) > 1:
        notes.append("the runs were not made on the same images (their category counts differ)")
    for name, result in zip(names, results):
        summary = result.summary
        layers = [str(l) for l in (summary["layer"].cat.categories if hasattr(summary["layer"], "cat")
                                   else dict.fromkeys(summary["layer"]))]
        depth = result.record.get("relative_depth")
        if not depth:  # a run from before catsel recorded it: the captured layers' own order
            depth = {l: (i + 1) / len(layers) for i, l in enumerate(layers)}
            notes.append(f"{name}: no relative depth recorded (an older run); its captured layers are spread "
                         "evenly instead")
        columns = ["layer", "category", "proportion"] + [c for c in ("null_proportion", "null_high") if c in summary]
        frame = summary[columns].copy()
        frame["layer"] = frame["layer"].astype(str)
        frame["category"] = frame["category"].astype(str)
        frame.insert(0, "network", name)
        frame.insert(2, "depth", frame["layer"].map(depth).astype(float))
        frames.append(frame)
        # chosen by the excess over the shuffled-label null, among the layers whose count is evidence: a layer
        # the null accounts for is no evidence, and a category with none gets no star
        by = "excess" if "excess" in summary else "proportion"
        if by == "proportion":
            notes.append(f"{name}: no shuffled-label null in its run; its best layer is the raw proportion's")
        top = best_layers(summary, by=by)
        top["chosen_by"] = by
        top = _with_twin(top, summary, by, name, notes)
        named = top["layer"].notna()
        for category in top.loc[~named, "category"]:
            notes.append(f"{name}: no layer shows evidence for {category} (every count within its shuffled-label "
                         "null); no best layer named")
        top["layer"] = top["layer"].astype(object).where(~named, top["layer"].astype(str))
        top["category"] = top["category"].astype(str)
        top.insert(0, "network", name)
        top.insert(3, "depth", top["layer"].map(depth).astype(float))
        if probe:
            from ..stats import linear_probe

            chosen = sorted(set(top.loc[named, "layer"]), key=layers.index)
            fewest = int(np.bincount(np.asarray(result.activations.labels, dtype=int),
                                     minlength=len(result.activations.categories)).min())
            if chosen and fewest < 2:
                notes.append(f"{name}: a category has {fewest} image; the probe needs 2 of each (not probed)")
                chosen = []
            scores = linear_probe(result.activations, layers=chosen, folds=min(5, fewest)) if chosen else None
            scores = (scores.set_index([scores["layer"].astype(str), scores["category"].astype(str)])["probe_auroc"]
                      if scores is not None else {})
            top["probe_auroc"] = [scores[(l, c)] if isinstance(l, str) else np.nan
                                  for l, c in zip(top["layer"], top["category"])]
        best.append(top.drop(columns=[c for c in ("n_selective", "n_units") if c in top]))
    return Comparison(data=pd.concat(frames, ignore_index=True), best=pd.concat(best, ignore_index=True),
                      notes=notes, untrained=[n for n, u in zip(names, untrained) if u])


def _with_twin(top: pd.DataFrame, summary: pd.DataFrame, by: str, name: str, notes: list) -> pd.DataFrame:
    """The best layers with the run's whole verdict: the untrained twin's beside each.

    A best layer whose count is as many in the untrained network is no evidence that training made it: the
    best of the layers that are beyond it takes its place; where none is, the layer stays, marked
    (``as_many_untrained``, ``verdict``), and a note says so."""
    from .verdict import VERDICT_WORDS, verdict_words

    if "as_many_untrained" not in summary:
        top["as_many_untrained"] = pd.NA
        top["verdict"] = None
        return top
    judged = summary.assign(verdict=verdict_words(summary))
    rows = []
    for _, row in top.iterrows():
        row = row.copy()
        if row["layer"] is None or (isinstance(row["layer"], float) and np.isnan(row["layer"])):
            row["as_many_untrained"], row["verdict"] = pd.NA, None
            rows.append(row)
            continue
        group = judged[(judged["category"].astype(str) == str(row["category"]))
                       & judged["evidence"].fillna(False).astype(bool)]
        twin = group["as_many_untrained"].fillna(False).astype(bool)
        beyond = group[~twin]
        at = group[group["layer"].astype(str) == str(row["layer"])]
        if not at.empty and bool(at["as_many_untrained"].fillna(False).iloc[0]) and not beyond.empty:
            best = beyond.iloc[len(beyond) - 1 - int(np.argmax(beyond[by].to_numpy()[::-1]))]
            notes.append(f"{name}: {row['category']}'s largest excess, in {row['layer']}, is as many in the "
                         f"untrained network; its best layer is {best['layer']}, the largest beyond it")
            for column in ("layer", "proportion", "excess", "evidence"):
                if column in best:
                    row[column] = best[column]
            at = judged[(judged["category"].astype(str) == str(row["category"]))
                        & (judged["layer"].astype(str) == str(best["layer"]))]
        elif not at.empty and bool(at["as_many_untrained"].fillna(False).iloc[0]):
            notes.append(f"{name}: every layer with evidence for {row['category']} has as many in the untrained "
                         f"network: its best layer, {row['layer']}, is no evidence that training made those units "
                         "(a hollow star on the figure)")
        row["as_many_untrained"] = bool(at["as_many_untrained"].fillna(False).iloc[0]) if not at.empty else pd.NA
        row["verdict"] = str(at["verdict"].iloc[0]) if not at.empty else VERDICT_WORDS["within"]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(top.columns) + ["as_many_untrained", "verdict"])


class ComparisonDisplay:
    """The comparison's figure as an object, in scikit-learn's manner (as :class:`catsel.figures.plots.LayerProportionsDisplay`).

    One panel per category: each network's proportion of selective units
    against relative depth. A network's shuffled-label null, where its run has
    one, is its dotted line with a light band up to the null's 95th
    percentile; its best layer (the largest excess over the null) is marked
    with a star; untrained networks are named in red in each panel's title.
    The figure's state lives here, never on matplotlib's objects.

    Parameters
    ----------
    comparison : Comparison
    categories : sequence of str, optional
        Default: every category, in the first run's order.

    Attributes
    ----------
    figure_ : matplotlib Figure
        After :meth:`plot`.
    axes_ : dict of str to Axes
        Each category's panel.
    lines_ : dict of (str, str) to Line2D
        Each (network, category)'s line of proportions.
    stars_ : dict of (str, str) to Line2D
        Each (network, category)'s best-layer star.
    colours : dict of str to colour
        Each network's colour.
    """

    def __init__(self, comparison: Comparison, *, categories: Sequence[str] | None = None):
        import seaborn as sns

        self.comparison = comparison
        data = comparison.data
        self.categories = list(categories) if categories is not None else list(dict.fromkeys(data["category"]))
        self.networks = list(dict.fromkeys(data["network"]))
        self.colours = dict(zip(self.networks, sns.color_palette("colorblind", len(self.networks))))
        self.figure_ = None
        self.axes_: dict = {}
        self.lines_: dict = {}
        self.stars_: dict = {}

    @classmethod
    def from_comparison(cls, comparison: Comparison, *, categories: Sequence[str] | None = None):
        """The figure of a :func:`compare` result.

        Parameters
        ----------
        comparison : Comparison
        categories : sequence of str, optional

        Returns
        -------
        ComparisonDisplay
        """
        return cls(comparison, categories=categories)

    @classmethod
    def from_runs(cls, runs: Sequence, *, labels: Sequence[str] | None = None, probe: bool = False,
                  categories: Sequence[str] | None = None):
        """Compare finished runs (see :func:`compare`) and make their figure.

        Parameters
        ----------
        runs : sequence of RunResult, str or path
        labels : sequence of str, optional
        probe : bool, default False
            Also score each best layer with a linear probe (not drawn; see :func:`compare`).
        categories : sequence of str, optional

        Returns
        -------
        ComparisonDisplay
        """
        return cls(compare(runs, labels=labels, probe=probe), categories=categories)

    def plot(self, fig=None, **kwargs) -> "ComparisonDisplay":
        """Draw the figure.

        Parameters
        ----------
        fig : matplotlib Figure, optional
            Default: a new one sized to the categories.
        **kwargs
            Passed to ``plot`` for each network's line (``lw``, ``marker``, ...).

        Returns
        -------
        ComparisonDisplay
            Itself, with ``figure_``, ``axes_``, ``lines_`` and ``stars_`` set.
        """
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.ticker import PercentFormatter

        import textwrap

        from ..figures.plots import fit_fonts, title_figure

        comparison, data, cats = self.comparison, self.comparison.data, self.categories
        style = {"marker": "o", "ms": 3, "lw": 1.6, **kwargs}
        fig = fig or Figure(figsize=(3.6 * len(cats) + 1.8, 3.8), layout="constrained")
        axes = fig.subplots(1, len(cats), sharey=True, squeeze=False)[0]
        panel_chars = max(8, int(fig.get_figwidth() / len(cats) * 9))
        self.figure_, self.axes_, self.lines_, self.stars_ = fig, dict(zip(cats, axes)), {}, {}
        for ax, category in zip(axes, cats):
            for network in self.networks:
                colour = self.colours[network]
                rows = data[(data["network"] == network) & (data["category"] == category)].sort_values("depth")
                if rows.empty:
                    continue
                x = rows["depth"].to_numpy()
                self.lines_[network, category], = ax.plot(x, rows["proportion"].to_numpy(), color=colour,
                                                          label=network, **style)
                if "null_proportion" in rows and rows["null_proportion"].notna().all():
                    ax.plot(x, rows["null_proportion"].to_numpy(), ":", lw=1.1, color=colour)
                    ax.fill_between(x, rows["null_proportion"].to_numpy(), rows["null_high"].to_numpy(),
                                    color=colour, alpha=0.12, lw=0)
                best = comparison.best[(comparison.best["network"] == network)
                                       & (comparison.best["category"] == category)
                                       & comparison.best["layer"].notna()]  # no star inside the null
                if not best.empty:  # hollow where the untrained network has as many: no evidence of training
                    twin = bool(best["as_many_untrained"].fillna(False).iloc[0]) if "as_many_untrained" in best \
                        else False
                    self.stars_[network, category], = ax.plot(best["depth"], best["proportion"], "*", ms=11,
                                                              color=colour, mec="black", mew=0.5,
                                                              mfc="white" if twin else colour)
            # the category alone, wrapped to its panel; which networks are untrained is said once, in the title
            ax.set_title(textwrap.fill(category, panel_chars), fontsize=9)
            ax.set_xlim(-0.02, 1.02)
            ax.set_xlabel("relative depth (0 input, 1 output)")
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.grid(axis="y", alpha=0.3)
        axes[0].set_ylabel("selective units")
        handles, names = axes[0].get_legend_handles_labels()
        names = [f"{n} (UNTRAINED)" if n in comparison.untrained else n for n in names]
        if "null_proportion" in data and data["null_proportion"].notna().any():
            handles.append(Line2D([], [], ls=":", color="grey"))
            names.append("shuffled-label null (band to 95th pct.)")
        handles.append(Line2D([], [], marker="*", ls="", ms=10, color="grey", mec="black"))
        names.append("best layer beyond chance\n(largest excess over the null)" if "excess" in comparison.best
                     else "best layer (most selective units)")
        twins = comparison.best.get("as_many_untrained")
        if twins is not None and twins.fillna(False).astype(bool).any():  # drawn: its legend entry
            handles.append(Line2D([], [], marker="*", ls="", ms=10, color="grey", mec="black", mfc="white"))
            names.append("best layer, as many in the\nuntrained network (no evidence\nthat training made them)")
        fig.legend(handles, names, loc="outside right upper", frameon=False, fontsize=8)
        untrained = comparison.untrained
        title_figure(fig, "Which network has units for these categories?"
                     + (f" Untrained: {', '.join(untrained)}" if untrained else ""),
                     trained=False if untrained else True, width=max(40, int(fig.get_figwidth() * 11)))
        fit_fonts(fig)
        return self


def plot_comparison(comparison: Comparison, *, categories: Sequence[str] | None = None, fig: Figure | None = None,
                    **kwargs) -> Figure:
    """One panel per category: each network's proportion of selective units against relative depth.

    A thin wrapper of :class:`ComparisonDisplay` (see it for what is drawn).

    Parameters
    ----------
    comparison : Comparison
    categories : sequence of str, optional
        Default: every category, in the first run's order.
    fig : matplotlib Figure, optional
    **kwargs
        Styling passed to each network's line (``lw``, ``marker``, ...).

    Returns
    -------
    matplotlib Figure
    """
    return ComparisonDisplay.from_comparison(comparison, categories=categories).plot(fig=fig, **kwargs).figure_


def write_comparison(comparison: Comparison, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write the figure (PNG) and, beside it, the best-layer table (CSV), each whole or not at all.

    Parameters
    ----------
    comparison : Comparison
    out : str or path
        The figure's path; the table goes to the same name with ``.csv``, the record with ``.json``.

    Returns
    -------
    (Path, Path)
        The figure and the table; a record beside them (the same name with
        ``.json``) holds the notes and each file's SHA-256, as ``run.json``
        and ``brain.json`` keep theirs.
    """
    import json

    from ..store import atomic_write, output_digests

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table, record = out.with_suffix(".csv"), out.with_suffix(".json")
    if record == out:
        raise ValueError(f"{out}: the figure needs a name other than its record's (.json)")
    record.unlink(missing_ok=True)  # written last: never a record beside other files
    with atomic_write(out) as tmp:
        comparison.figure().savefig(tmp, dpi=120, format="png")
    with atomic_write(table) as tmp:
        comparison.best.to_csv(tmp, index=False, float_format=lambda v: f"{v:.6g}" if np.isfinite(v) else "")
    with atomic_write(record) as tmp:
        tmp.write_text(json.dumps({"networks": list(dict.fromkeys(comparison.data["network"].astype(str))),
                                   "untrained": list(comparison.untrained), "notes": list(comparison.notes),
                                   "files": output_digests(out.parent, (out.name, table.name))}, indent=1),
                       encoding="utf-8")
    return out, table
