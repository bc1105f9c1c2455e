"""Figures that stay legible at 10, 52 and 200 layers: no two tick labels overlap, and every legend entry has an
artist drawn (checked from the artists after drawing, as a reader's eye would find them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from catsel.selecting.tables import Counting


def _summary(n_layers: int, cats=("face", "i-see-face", "car", "dog"), seed=0) -> pd.DataFrame:
    """A run's summary of ``n_layers`` layers with MobileNet-like names, its null, verdict and untrained twin."""
    rng = np.random.default_rng(seed)
    layers = [f"block_{k // 3}_{('expand_relu', 'depthwise_relu', 'project_BN')[k % 3]}" for k in range(n_layers)]
    rows = []
    for layer in layers:
        for c in cats:
            p = rng.uniform(0, 0.6)
            null = rng.uniform(0, 0.3)
            rows.append({"layer": layer, "category": c, "proportion": p, "n_selective": int(p * 100), "n_units": 100,
                         "null_proportion": null, "null_high": null + 0.1, "excess": p - null,
                         "evidence": bool(p > null + 0.1), "proportion_untrained": rng.uniform(0, 0.3)})
    frame = pd.DataFrame(rows)
    frame["layer"] = pd.Categorical(frame["layer"], categories=layers, ordered=True)
    frame["category"] = pd.Categorical(frame["category"], categories=list(cats), ordered=True)
    return Counting(threshold=0.01, level=0.05, model_label="a network", n_images=400).on(frame)


def _overlaps(fig) -> list:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = sorted((t.get_window_extent(renderer), t.get_text()) for t in labels) if False else sorted(
            ((t.get_window_extent(renderer), t.get_text()) for t in labels), key=lambda b: b[0].x0)
        for (a, name_a), (b, name_b) in zip(boxes, boxes[1:]):
            if a.x1 > b.x0 + 0.5 and a.y1 > b.y0 and b.y1 > a.y0:
                found.append((name_a, name_b))
    return found


def _legend_without_artist(fig) -> list:
    """Legend entries with no artist drawn that looks like them (a marker promised and never drawn)."""
    from matplotlib.lines import Line2D

    missing = []
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    drawn = [line for ax in fig.axes for line in ax.get_lines() if len(line.get_xdata())]
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if not isinstance(handle, Line2D) or handle.get_marker() in (None, "None", "", " "):
                continue
            hollow = str(handle.get_markerfacecolor()) in ("white", "none", "#ffffff", "(1.0, 1.0, 1.0, 1.0)")

            def same(line):
                face = str(line.get_markerfacecolor())
                return (line.get_marker() == handle.get_marker()
                        and hollow == (face in ("white", "none", "#ffffff", "(1.0, 1.0, 1.0, 1.0)")))
            if not any(same(line) for line in drawn):
                missing.append(text.get_text())
    return missing


@pytest.mark.parametrize("n_layers", [10, 52, 200])
@pytest.mark.parametrize("kind", ["lines", "panels"])
def test_figure_1_names_layers_without_overlap_and_draws_what_its_legend_promises(n_layers, kind):
    from catsel.figures.plots import LayerProportionsDisplay

    fig = Figure(figsize=(11, 5), layout="constrained")
    display = LayerProportionsDisplay.from_summary(_summary(n_layers))
    display.kind_ = kind
    display.plot(ax=fig.subplots())
    assert _overlaps(fig) == []
    assert _legend_without_artist(fig) == []
    named = [t.get_text() for t in fig.axes[-1].get_xticklabels() if t.get_text()]
    assert named[-1] == _summary(n_layers)["layer"].cat.categories[-1]  # the last layer always named
    assert len(named) >= min(n_layers, 10)  # thinned, not emptied


@pytest.mark.parametrize("n_layers", [52, 200])
def test_the_brain_figure_names_its_layers_without_overlap(n_layers):
    from catsel.brain.display import BrainDisplay
    from test_brain import _layer_table

    display = BrainDisplay.from_table(_layer_table(n_layers=n_layers, beating=n_layers // 2)).plot()
    assert _overlaps(display.figure_) == []
    assert _legend_without_artist(display.figure_) == []


@pytest.mark.parametrize("n_layers", [52, 200])
def test_compare_at_many_layers_draws_what_its_legend_promises(n_layers, tmp_path):
    from catsel.study.comparison import Comparison, ComparisonDisplay

    frames, best = [], []
    for network in ("trained", "other"):
        summary = _summary(n_layers, seed=1 if network == "other" else 0)
        layers = list(summary["layer"].cat.categories)
        depth = {l: (i + 1) / len(layers) for i, l in enumerate(layers)}
        frame = summary[["layer", "category", "proportion", "null_proportion", "null_high"]].copy()
        frame["layer"], frame["category"] = frame["layer"].astype(str), frame["category"].astype(str)
        frame.insert(0, "network", network)
        frame.insert(2, "depth", frame["layer"].map(depth))
        frames.append(frame)
        top = frame.loc[frame.groupby("category")["proportion"].idxmax()].copy()
        top["as_many_untrained"] = [True, False, False, False]
        best.append(top)
    comparison = Comparison(data=pd.concat(frames, ignore_index=True), best=pd.concat(best, ignore_index=True),
                            notes=[])
    display = ComparisonDisplay.from_comparison(comparison).plot()
    assert _overlaps(display.figure_) == []
    assert _legend_without_artist(display.figure_) == []
