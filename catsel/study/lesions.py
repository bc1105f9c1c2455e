"""Lesions: silence a category's selective units and see what the network can no longer tell apart.

A selectivity map says which units prefer a category, not that the network
needs them (Morcos et al. 2018; Leavitt & Morcos 2021). :func:`lesion` asks
the causal question the field now asks (Prince, Alvarez & Konkle 2024):

1. the images of a finished run are split into folds (stratified by
   category); on the training folds, the units of one layer selective for
   the category are chosen (never on the images they are scored on), and a
   linear read-out of the categories (scikit-learn's ridge classifier on a
   later layer's unit maxima, as :func:`catsel.stats.linear_probe`) is
   trained on the intact network's features;
2. on each held-out fold, the chosen units are silenced inside the network
   (set to zero, or each to its mean map over the training images) and the
   images run on from that layer to the read-out's layer; the read-out's
   accuracy per category is compared with the intact one;
3. controls of the same size in the same layer: ``repeats`` draws of random
   units from the whole layer (the chosen units may be among them, as in
   Prince et al. 2024's controls; a set of as many units none of them chosen
   cannot be drawn where the chosen are more than half the layer) and the
   least selective units for the category. ``p_value`` is
   (1 + the draws whose drop is at least the chosen units' drop) /
   (draws + 1), never below 1 / (draws + 1).

The category-specific deficit is the drop on the category itself, beside the
drops on the other categories: the lesion is **specific** when the lesioned
category's drop is larger than every other category's (``specificity``, the
difference, and ``specific``); a lesion that drops another category more is
damage to the layer, not a deficit of the category, and the printout says so.
The least selective units' lesion is judged the same way.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import CatselError
from ..options import INDEX, THRESHOLD
from ..selecting.indices import above_chance, is_constant
from ..selecting.tables import Counting

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["lesion", "lesion_sentences", "LesionDisplay", "plot_lesion", "write_lesion", "LESION_COLUMNS",
           "RANDOM_FROM", "BATCH_BYTES"]

#: The random draws of a fold go through the network together, as many as fit in this many bytes of maps.
BATCH_BYTES = 256 * 2**20

#: The columns of ``lesion.csv``, one row per lesioned category × scored category × layer.
LESION_COLUMNS = ["lesioned_category", "scored_category", "layer", "readout_layer", "mode",
                  "n_lesioned_mean", "n_layer_units", "random_from",
                  "accuracy_intact", "drop_selected", "drop_random_mean", "drop_random_high", "drop_least_selective",
                  "p_value", "specificity", "specific", "specificity_least", "specific_least"]

#: Where the random control's units are drawn from (the ``random_from`` column).
RANDOM_FROM = "the whole layer"


def _choose(a_train: np.ndarray, labels: np.ndarray, n_cat: int, category: int, units: str, threshold: float,
            index: str) -> tuple[np.ndarray, np.ndarray]:
    """(chosen units, each unit's margin above chance for the category), on the training images only."""
    from ..selecting.indices import selective, selectivity_matrix

    values, chance = selectivity_matrix(a_train, labels, n_cat, index=index)
    margin = above_chance(values, chance)[category]
    constant = is_constant(a_train)
    if units == "selected":
        chosen = np.flatnonzero(selective(values, chance, constant, threshold)[category])
    else:
        k = int(units.split(":", 1)[1])
        chosen = np.argsort(np.where(constant, -np.inf, margin), kind="stable")[::-1][:k]
    return chosen, np.where(constant, np.inf, margin)


def lesion(run, category: str, *, layer: str | None = None, readout: str | None = None, units: str = "selected",
           repeats: int = 20, mode: str = "zero", folds: int = 5, ridge: float = 1.0, seed: int = 0,
           model=None, batch_size: int = 32, threshold: float | None = None, index: str | None = None,
           progress: bool = False) -> pd.DataFrame:
    """Silence a category's selective units of one layer and measure each category's read-out accuracy.

    Parameters
    ----------
    run : RunResult, Activations, str or path
        A finished run, or a capture (its images must be where they were captured).
    category : str
        The category whose units are lesioned.
    layer : str, optional
        The layer lesioned (default: of the layers whose count of units
        selective for ``category`` is evidence beyond the shuffled-label null,
        the one with the largest excess over it; where no layer's is, one
        line says so and asks for a layer).
    readout : str, optional
        The layer the read-out classifier reads (default: the last captured
        layer); it must come after ``layer``.
    units : {"selected"} or "top:K", default "selected"
        The units selective for the category by the run's threshold rule, or
        its K most selective units, chosen on the training folds.
    repeats : int, default 20
        Random sets of the same size drawn in the same layer.
    mode : {"zero", "mean"}, default "zero"
        Each silenced unit set to 0, or to its mean map over the training images.
    folds : int, default 5
    ridge : float, default 1.0
        The read-out's penalty, times the number of units (as :func:`catsel.stats.linear_probe`).
    seed : int, default 0
    model : Network or keras.Model, optional
        The captured network (default: rebuilt from the store).
    progress : bool, default False
        Say, before the passes, how long they should take (measured on the
        intact read-out), and show a progress bar over them.
    batch_size : int, default 32
        Images per pass through the network at most; fewer where a layer's output is large
        (``catsel.network.interface.rows_per_pass``).
    threshold, index : optional
        The selective rule's threshold and index (default: the run's, or 0.01 and the paper's for a capture).

    Returns
    -------
    DataFrame
        The columns of :data:`LESION_COLUMNS`, one row per scored category;
        its attrs hold the chosen units per fold (``chosen``) and the random
        control's sets per fold (``random_sets``).
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..network.interface import Network
    from ..network.models import activation_model, from_store
    from .pipeline import RunResult, load_run
    from ..selecting.selection import best_layers

    from ..selecting.selection import layer_summary, selectivity
    from ..store import Activations

    if isinstance(run, Activations):  # a capture: the paper's rule, unless told otherwise
        acts = run
        threshold = THRESHOLD if threshold is None else threshold
        index = index or INDEX
        summary = layer_summary(selectivity(acts, index=index, threshold=threshold))
    else:
        result = run if isinstance(run, RunResult) else load_run(run)
        acts, summary = result.activations, result.summary
        threshold = result.settings.threshold if threshold is None else threshold
        index = index or result.settings.index
    from ..options import check_category

    check_category(category, acts.categories)
    if mode not in ("zero", "mean"):
        raise CatselError(f"mode must be 'zero' or 'mean', not {mode!r}")
    from ..options import check_folds

    check_folds(folds, acts.labels, list(acts.categories))
    if units != "selected" and not (units.startswith("top:") and units[4:].isdigit() and int(units[4:]) > 0):
        raise CatselError(f"units must be 'selected' or 'top:K' (K a positive number), not {units!r}")
    if layer is None:  # the layer of most selective units beyond chance; never one inside its null
        if "evidence" not in summary:  # a capture, or a run of a catsel without the verdict: judged now
            from ..stats import with_baselines

            summary = with_baselines(summary, acts, index=index, threshold=threshold, shuffled=True)
        best = best_layers(summary, by="excess").set_index("category").loc[category]
        if not best["evidence"]:
            raise CatselError(f"no layer shows evidence for {category}: no layer's count of {category}-selective "
                              "units is beyond its shuffled-label null (see layer_summary.csv, column evidence); "
                              "name a layer (--layer) to lesion it anyway")
        layer = str(best["layer"])
    readout = readout or acts.layers[-1]
    for name in (layer, readout):
        if name not in acts.layers:
            from ..options import did_you_mean

            raise CatselError(f"no captured layer {name!r}{did_you_mean(name, acts.layers)}")
    if acts.layers.index(readout) <= acts.layers.index(layer):
        raise CatselError(f"the read-out layer {readout} must come after the lesioned layer {layer}")
    from ..network.models import is_code

    if model is None or is_code(model):
        amodel = from_store(acts, model)
    elif not isinstance(model, Network):  # a framework's model in memory
        amodel = activation_model(model, layers=list(acts.layers), image_size=acts.meta.image_size,
                                  preprocess=acts.meta.preprocess)
    else:
        amodel = model
    whole = _choose(np.asarray(acts[layer], dtype=np.float64), np.asarray(acts.labels), len(acts.categories),
                    acts.categories.index(category), units, threshold, index)[0]
    n_units = int(np.asarray(acts[layer]).shape[1])
    if 2 * len(whole) > n_units:  # before the passes: such a lesion may be damage to the layer itself
        import warnings

        warnings.warn(f"{len(whole)} of the {n_units} units of {layer} are {category}-selective (more than half): "
                      f"silencing them may damage the layer for every category; the random control is drawn from "
                      f"the whole layer, and the specificity verdict says whether {category} drops most",
                      stacklevel=2)
    maps_of, readout_of = amodel.cut_at(layer, readout, batch_size=batch_size)

    images = np.stack([acts.image(i) for i in range(len(acts))])  # decoded once, reused by every pass
    maps = maps_of(images)
    labels = np.asarray(acts.labels)
    n_cat, c = len(acts.categories), acts.categories.index(category)
    a = np.asarray(acts[layer], dtype=np.float64)
    started = time.perf_counter()
    intact = readout_of(maps)
    # each fold reads out its test images (a fold's share) once per lesion: the selected, the least selective
    # and each random set; the intact read-out of every image measures what one image costs
    passes = folds * (repeats + 2)
    bar = _progress_bar(passes, time.perf_counter() - started, folds, repeats, progress)
    rng = np.random.default_rng(seed)
    predictions = {"intact": np.empty(len(labels), dtype=int), "selected": np.empty(len(labels), dtype=int),
                   "least": np.empty(len(labels), dtype=int)}
    drawn = np.empty((repeats, len(labels)), dtype=int)
    chosen_per_fold, random_sets = [], []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(images, labels):
        chosen, margin = _choose(a[train], labels[train], n_cat, c, units, threshold, index)
        chosen_per_fold.append(chosen)
        probe = make_pipeline(StandardScaler(), RidgeClassifier(alpha=ridge * intact.shape[1] + 1e-12))
        probe.fit(intact[train], labels[train])
        predictions["intact"][test] = probe.predict(intact[test])
        fill = maps[train].mean(axis=0) if mode == "mean" else np.zeros(maps.shape[1:], dtype=maps.dtype)

        def lesioned(silenced: np.ndarray) -> np.ndarray:
            out = maps[test].copy()
            out[..., silenced] = fill[..., silenced]
            return probe.predict(readout_of(out))

        k = len(chosen)
        predictions["selected"][test] = lesioned(chosen) if k else predictions["intact"][test]
        least = np.argsort(margin, kind="stable")[:k]
        predictions["least"][test] = lesioned(least) if k else predictions["intact"][test]
        bar.update(2)
        # the control: as many units as the lesion, drawn from the whole layer (the chosen may be among them)
        picks = [rng.choice(a.shape[1], size=k, replace=False) if k else np.zeros(0, dtype=int)
                 for _ in range(repeats)]
        random_sets.append([pick.tolist() for pick in picks])
        if not k:
            drawn[:, test] = predictions["intact"][test]
            bar.update(repeats)
            continue
        # the random draws in batches of draws: as many as fit in BATCH_BYTES, through the network together
        per_draw = maps[test].nbytes
        step = max(1, min(repeats, BATCH_BYTES // max(per_draw, 1)))
        for first in range(0, repeats, step):
            group = picks[first:first + step]
            stacked = np.repeat(maps[test][None], len(group), axis=0)
            for j, pick in enumerate(group):
                stacked[j][..., pick] = fill[..., pick]
            features = readout_of(stacked.reshape(-1, *maps.shape[1:]))
            guesses = probe.predict(features).reshape(len(group), len(test))
            drawn[first:first + len(group), test] = guesses
            bar.update(len(group))
    bar.close()

    def accuracy(predicted: np.ndarray, d: int) -> float:
        return float(np.mean(predicted[labels == d] == d))

    rows = []
    for d, scored in enumerate(acts.categories):
        base = accuracy(predictions["intact"], d)
        drop = base - accuracy(predictions["selected"], d)
        random_drops = np.array([base - accuracy(drawn[r], d) for r in range(repeats)])
        reached = int(np.sum(random_drops >= drop - 1e-12))
        rows.append({"lesioned_category": category, "scored_category": scored, "layer": layer,
                     "readout_layer": readout, "mode": mode,
                     "n_lesioned_mean": float(np.mean([len(ch) for ch in chosen_per_fold])),
                     "n_layer_units": int(a.shape[1]), "random_from": RANDOM_FROM,
                     "accuracy_intact": base, "drop_selected": drop,
                     "drop_random_mean": float(random_drops.mean()) if repeats else np.nan,
                     "drop_random_high": float(np.quantile(random_drops, 0.95)) if repeats else np.nan,
                     "drop_least_selective": base - accuracy(predictions["least"], d),
                     # a draw as extreme as the lesion's own counts it: never below 1 / (draws + 1)
                     "p_value": (1 + reached) / (repeats + 1) if repeats else np.nan})
    table = pd.DataFrame(rows)
    for column, suffix in (("drop_selected", ""), ("drop_least_selective", "_least")):
        own = float(table.loc[table["scored_category"] == category, column].iloc[0])
        others = table.loc[table["scored_category"] != category, column]
        margin = own - float(others.max()) if len(others) else np.nan
        table[f"specificity{suffix}"] = margin
        table[f"specific{suffix}"] = bool(margin > 0) if len(others) else False
    table = table[LESION_COLUMNS]
    table.attrs["chosen"] = [ch.tolist() for ch in chosen_per_fold]
    table.attrs["random_sets"] = random_sets
    return Counting(index=index, threshold=threshold, n_images=len(acts), model_label=acts.model_label,
                    trained=acts.meta.trained if acts.meta is not None else None).on(table)


def lesion_sentences(table: pd.DataFrame) -> list[str]:
    """What a lesion found, in sentences: the drop, whether it is specific to the category, the random control
    and the least selective units, each with the same wording.

    Parameters
    ----------
    table : DataFrame
        From :func:`lesion` (one lesioned category).

    Returns
    -------
    list of str
    """
    category = str(table["lesioned_category"].iloc[0])
    rows = table.set_index("scored_category")
    own = rows.loc[category]
    k, n = own["n_lesioned_mean"], int(own["n_layer_units"])

    def verdict(column: str, specific: bool, who: str) -> str:
        others = rows.drop(index=category)[column]
        if others.empty:
            return ""
        worst = str(others.idxmax())
        if specific:
            return (f"specific: {category} drops more than any other category ({worst}, next, drops "
                    f"{others.max():.0%})")
        return (f"not specific: {worst} drops {others.max():.0%}, against {category}'s {own[column]:.0%}: "
                f"{who} damages what the layer gives other categories too, not {category} alone")

    lines = [f"Lesion of {k:.1f} {category}-selective units of {own['layer']} (of its {n}) on average over the folds "
             f"({own['mode']}), read out at {own['readout_layer']}: {category} accuracy {own['accuracy_intact']:.0%} "
             f"drops by {own['drop_selected']:.0%}; "
             + verdict("drop_selected", bool(own["specific"]), "the lesion") + "."]
    draws = ""
    if np.isfinite(own["p_value"]):
        draws = f" (p = {own['p_value']:.2f}, the share of draws reaching it, at least 1/(draws + 1))"
    overlap = " (the selected units may be among them)"
    if 2 * k > n:
        overlap = (f" (the selected units may be among them: a set of {k:.0f} units none of them selected cannot be "
                   f"drawn from the {n - k:.0f} left)")
    lines.append(f"Random sets of as many units from {own['random_from']}{overlap}: {category} drops "
                 f"{own['drop_random_mean']:.0%} on average (95th percentile {own['drop_random_high']:.0%}){draws}.")
    lines.append(f"The {k:.0f} least selective units: {category} drops {own['drop_least_selective']:.0%}; "
                 + verdict("drop_least_selective", bool(own["specific_least"]), "that lesion") + ".")
    return lines


def _progress_bar(passes: int, intact_s: float, folds: int, repeats: int, progress: bool):
    """The lesion's progress bar, after one line with the time its passes should take (from the intact read-out
    of every image, which costs what ``folds`` passes over the folds' test images cost)."""
    from tqdm.auto import tqdm

    if progress:
        estimate = intact_s * passes / folds
        about = f"{estimate / 60:.1f} min" if estimate >= 60 else f"{max(estimate, 1):.0f} s"
        tqdm.write(f"lesion: {folds} folds x ({repeats} random sets + its selective and least selective units): "
                   f"about {about}, measured on the intact read-out", file=sys.stderr)
    return tqdm(total=passes, desc="lesion", unit="pass", disable=not progress, dynamic_ncols=True, leave=False)


class LesionDisplay:
    """The category-specific deficit at a glance: each category's accuracy drop for the three lesions.

    Made with :meth:`from_table`; :meth:`plot` draws it on an Axes (as
    :class:`catsel.figures.plots.LayerProportionsDisplay` does Figure 1).

    Parameters
    ----------
    table : DataFrame
        From :func:`lesion` (one lesioned category).

    Attributes
    ----------
    ax_ : matplotlib Axes
        Where it was drawn (after :meth:`plot`).
    figure_ : matplotlib Figure
    bars_ : dict of str to BarContainer
        ``"selected"``, ``"random"`` and ``"least"``: the three lesions' bars.
    """

    def __init__(self, table: pd.DataFrame):
        self.table = table
        self.ax_ = self.figure_ = None
        self.bars_: dict = {}

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> "LesionDisplay":
        """The display of a :func:`lesion` table, not drawn yet.

        Parameters
        ----------
        table : DataFrame

        Returns
        -------
        LesionDisplay
        """
        return cls(table)

    def plot(self, ax: Axes | None = None) -> "LesionDisplay":
        """Draw it.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Default: the current axes.

        Returns
        -------
        LesionDisplay
            Itself, drawn (``ax_``, ``figure_``, ``bars_``).
        """
        import matplotlib.pyplot as plt
        from matplotlib.ticker import PercentFormatter

        from ..figures.plots import fit_fonts, palette, title_figure

        table = self.table
        ax = ax if ax is not None else plt.gca()
        scored = list(table["scored_category"])
        x = np.arange(len(scored))
        width = 0.27
        colour = palette([str(table["lesioned_category"].iloc[0])])[str(table["lesioned_category"].iloc[0])]
        self.bars_ = {
            "selected": ax.bar(x - width, table["drop_selected"], width, color=colour, label="its selective units"),
            "random": ax.bar(x, table["drop_random_mean"], width, color="grey", alpha=0.6,
                             yerr=[np.zeros(len(x)),
                                   (table["drop_random_high"] - table["drop_random_mean"]).clip(lower=0)],
                             label="as many random units of the layer (mean, to 95th pct.)"),
            "least": ax.bar(x + width, table["drop_least_selective"], width, color="white", edgecolor="grey",
                            hatch="//", label="least selective units"),
        }
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x, scored)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel("drop in read-out accuracy")
        row = table.iloc[0]
        counting = Counting.of(table)
        own = table.set_index("scored_category").loc[row["lesioned_category"]]
        specific = ("specific to it" if own["specific"] else
                    "NOT specific: another category drops as much or more")
        title_figure(ax, f"lesion of {row['lesioned_category']}-selective units in {row['layer']} "
                     f"({row['n_lesioned_mean']:.1f} of {int(row['n_layer_units'])} units on average over the folds, "
                     f"{row['mode']}); read out at {row['readout_layer']}: {specific}", trained=counting.trained, model=counting.model_label,
                     n=counting.n_images, width=max(40, int(ax.get_figure(root=True).get_figwidth() * 12)),
                     fontsize=9)
        ax.legend(frameon=False, fontsize=8)
        fit_fonts(ax)
        self.ax_, self.figure_ = ax, ax.figure
        return self


def plot_lesion(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """The category-specific deficit at a glance (:class:`LesionDisplay`), on an Axes.

    Parameters
    ----------
    table : DataFrame
        From :func:`lesion` (one lesioned category).
    ax : matplotlib Axes, optional
        Default: the current axes.

    Returns
    -------
    matplotlib Axes
    """
    return LesionDisplay.from_table(table).plot(ax=ax).ax_


def write_lesion(table: pd.DataFrame, out: str | os.PathLike, request: dict | None = None) -> tuple[Path, Path]:
    """Write ``lesion.csv`` and ``lesion.png`` into ``out``, each whole or not at all, then ``lesion.json``: what
    was lesioned and each file's SHA-256, as ``brain.json`` and ``run.json`` keep theirs.

    Parameters
    ----------
    table : DataFrame
        From :func:`lesion`.
    out : str or path
        A folder.
    request : dict, optional
        What the command was asked, with its inputs' identities: the same
        request made again reuses these outputs while they are intact.

    Returns
    -------
    (Path, Path)
    """
    import json

    from matplotlib.figure import Figure

    from ..paths import not_a_link
    from ..store import atomic_write, output_digests

    out = not_a_link(out, what="the lesion's folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / "lesion.json").unlink(missing_ok=True)  # written last: never a record beside other files
    with atomic_write(out / "lesion.csv") as tmp:
        table.to_csv(tmp, index=False)
    fig = Figure(figsize=(1.6 * len(table) + 3, 3.8), layout="constrained")
    plot_lesion(table, ax=fig.subplots())
    with atomic_write(out / "lesion.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    first = table.iloc[0]
    record = {"lesioned_category": str(first["lesioned_category"]), "layer": str(first["layer"]),
              "readout_layer": str(first["readout_layer"]), "mode": str(first["mode"]),
              "chosen": table.attrs.get("chosen"), "random_sets": table.attrs.get("random_sets"),
              "request": request, "files": output_digests(out, ("lesion.csv", "lesion.png"))}
    with atomic_write(out / "lesion.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)),
                       encoding="utf-8")
    return out / "lesion.csv", out / "lesion.png"
