"""The brain comparison's figure, as a Display object: every layer against the brain, in scikit-learn's manner.

One panel per analysis: **RDMs** (each layer's correlation with the brain RDM and its bootstrap interval as
a band, the noise ceiling as a grey band; the category models in a panel of their own) and
**encoding** (each region's cross-validated correlation, normalised by its noise ceiling where repetitions
give one). The untrained twin is drawn in grey beside the trained curves, and a category's selective units
as a star at their layer (edged in black) with the random sets' mean to 95th percentile as a bar. Titles come from
:func:`catsel.figures.plots.figure_title`, so an untrained network's figure carries its mark.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..figures.plots import title_figure

__all__ = ["BrainDisplay"]

UNTRAINED_GREY = "0.55"


class BrainDisplay:
    """A brain comparison's figure: computed elsewhere (:func:`catsel.brain.compare_brain`), drawn here.

    Parameters
    ----------
    table : DataFrame
        The comparison's table.
    model_label : str, optional
        The network, for the title.
    trained : bool or None, default True
        False marks the figure as an untrained network's (None: not known).

    Attributes
    ----------
    figure_ : matplotlib Figure
        After :meth:`plot`.
    axes_ : dict of str to Axes
        ``"rsa"`` and ``"encoding"``, the panels drawn.
    """

    def __init__(self, table: pd.DataFrame, *, model_label: str = "", trained: bool | None = True):
        self.table = table
        self.model_label = model_label
        self.trained = trained
        self.figure_ = None
        self.axes_: dict = {}

    @classmethod
    def from_result(cls, result) -> "BrainDisplay":
        """The display of a :class:`~catsel.brain.BrainResult`, not yet drawn.

        Parameters
        ----------
        result : BrainResult

        Returns
        -------
        BrainDisplay
        """
        return cls(result.table, model_label=result.model_label, trained=result.trained)

    @classmethod
    def from_table(cls, table: pd.DataFrame, *, model_label: str = "", trained: bool | None = True) -> "BrainDisplay":
        """The display of a table read back (``brain.csv``), not yet drawn.

        Parameters
        ----------
        table : DataFrame
        model_label : str, optional
        trained : bool or None, default True

        Returns
        -------
        BrainDisplay
        """
        return cls(table, model_label=model_label, trained=trained)

    @property
    def analyses(self) -> list[str]:
        """The analyses the table holds, in drawing order."""
        present = set(self.table["analysis"])
        rsa = self.table[self.table["analysis"] == "rsa"]
        if len(rsa) and (rsa["target"] != "brain").any():
            present.add("models")  # the category models: a panel of their own, never against the brain's ceiling
        return [a for a in ("rsa", "models", "encoding") if a in present]

    def plot(self, *, ax=None, analysis: str | None = None) -> "BrainDisplay":
        """Draw the panels.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Draw one analysis into it (``analysis``, default the first the
            table holds); default: a new figure with a panel per analysis.
        analysis : {"rsa", "encoding"}, optional

        Returns
        -------
        BrainDisplay
            Itself, drawn.
        """
        from matplotlib.figure import Figure

        analyses = self.analyses if analysis is None else [analysis]
        if ax is not None:
            analyses = analyses[:1]
            axes = [ax]
            self.figure_ = ax.get_figure(root=True)
        else:
            self.figure_ = Figure(figsize=(6.5 * len(analyses) + 2.5, 5), layout="constrained")
            axes = list(np.atleast_1d(self.figure_.subplots(1, len(analyses))))
        self.axes_ = {}
        for name, panel in zip(analyses, axes):
            {"rsa": self._rsa, "models": self._models, "encoding": self._encoding}[name](panel)
            self.axes_[name] = panel
        n = int(self.table["n_images"].max()) if len(self.table) else None
        target = axes[0] if ax is not None else self.figure_
        title_figure(target, "Layers against the brain", trained=self.trained, model=self.model_label or None,
                     n=n)
        return self

    def _layers(self, rows: pd.DataFrame) -> list[str]:
        order = rows["layer"].cat.categories if hasattr(rows["layer"], "cat") else pd.unique(rows["layer"])
        present = set(rows["layer"].astype(str))
        return [str(l) for l in order if str(l) in present]

    def _axis(self, ax, layers: list[str]) -> None:
        from ..figures.plots import layer_ticks

        layer_ticks(ax, layers, fontsize=8)
        ax.set_xlim(-0.5, len(layers) - 0.5)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)

    def _rsa(self, ax) -> None:
        rows = self.table[self.table["analysis"] == "rsa"]
        layers = self._layers(rows)
        x = {l: i for i, l in enumerate(layers)}
        every = rows[rows["units"] == "all"]
        brain = every[every["target"] == "brain"]
        trained = brain[brain["network"] == "trained"]
        xs = [x[str(l)] for l in trained["layer"]]
        low = trained["ceiling_low"].dropna()
        if len(low):
            ax.axhspan(float(low.iloc[0]), float(trained["ceiling_high"].dropna().iloc[0]), color="0.85",
                       label="noise ceiling", zorder=0)
        ax.plot(xs, trained["value"], "o-", color="C0", label="brain RDM")
        ax.fill_between(xs, trained["low"], trained["high"], color="C0", alpha=0.2, label="95% interval")
        twin = brain[brain["network"] == "untrained"]
        if len(twin):
            ax.plot([x[str(l)] for l in twin["layer"]], twin["value"], "s--", color=UNTRAINED_GREY,
                    label="brain RDM, untrained twin")
        self._selective(ax, rows, x)
        ax.set_ylabel(f"RDM correlation ({trained['measure'].iloc[0] if len(trained) else ''})")
        ax.set_title("RDMs")
        self._axis(ax, layers)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))

    def _models(self, ax) -> None:
        """The category models' RDMs against each layer's: what a layer's geometry owes to the categories alone,
        on an axis of its own (no brain, no noise ceiling)."""
        rows = self.table[(self.table["analysis"] == "rsa") & (self.table["units"] == "all")]
        layers = self._layers(rows)
        x = {l: i for i, l in enumerate(layers)}
        models = rows[(rows["target"] != "brain") & (rows["network"] == "trained")]
        for k, (name, part) in enumerate(models.groupby("target", sort=False)):
            ax.plot([x[str(l)] for l in part["layer"]], part["value"], "^-", ms=3, color=f"C{(k + 1) % 10}",
                    label=name)
        ax.set_ylabel(f"RDM correlation ({models['measure'].iloc[0] if len(models) else ''})")
        ax.set_title("category models (not the brain)")
        self._axis(ax, layers)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))

    def _selective(self, ax, rows: pd.DataFrame, x: dict, colours: dict | None = None) -> None:
        """A star per selective-unit test at its layer, the random sets' mean to 95th percentile as a bar."""
        chosen = rows[rows["units"].astype(str).str.startswith("selective: ")]
        for k, (_, r) in enumerate(chosen.iterrows()):
            at = x.get(str(r["layer"]))
            if at is None:
                continue
            colour = colours.get(r["target"]) if colours else f"C{(k + 4) % 10}"
            what = f"{r['units']}" + (f" → {r['target']}" if colours else "")
            label = f"{what} ({int(r['n_units'])} units, q = {r['q']:.2g})"
            ax.plot([at], [r["value"]], "*", markersize=13, color=colour, markeredgecolor="black", label=label)
            ax.vlines(at, r["random_mean"], r["random_95"], color=colour, linewidth=3, alpha=0.5)

    def _encoding(self, ax) -> None:
        rows = self.table[self.table["analysis"] == "encoding"]
        layers = self._layers(rows)
        x = {l: i for i, l in enumerate(layers)}
        every = rows[rows["units"] == "all"]
        normalised = every["normalised"].notna().any()
        column = "normalised" if normalised else "value"
        colours = {}
        for k, (region, part) in enumerate(every[every["network"] == "trained"].groupby("target", sort=False)):
            xs = [x[str(l)] for l in part["layer"]]
            colours[region] = f"C{k % 10}"
            ax.plot(xs, part[column], "o-", color=colours[region], label=str(region))
            if not normalised:
                ax.fill_between(xs, part["low"], part["high"], color=f"C{k % 10}", alpha=0.15)
        twin = every[every["network"] == "untrained"]
        for k, (region, part) in enumerate(twin.groupby("target", sort=False)):
            ax.plot([x[str(l)] for l in part["layer"]], part[column], "s--", color=UNTRAINED_GREY, alpha=0.8,
                    label="untrained twin" if k == 0 else None)
        chosen = rows[rows["units"].astype(str).str.startswith("selective: ")]
        if normalised and len(chosen):  # the stars on the panel's scale
            chosen = chosen.assign(value=chosen["normalised"], random_mean=chosen["random_mean"] /
                                   chosen["ceiling_high"], random_95=chosen["random_95"] / chosen["ceiling_high"])
        self._selective(ax, chosen, x, colours)
        ax.set_ylabel("prediction r / noise ceiling" if normalised else "prediction r (cross-validated)")
        ax.set_title("Encoding")
        self._axis(ax, layers)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
