"""Every figure keeps its labels (issue #38): one function makes each title, and an untrained network's figure
always carries the mark, read from the figure's artists (not its pixels)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import catsel
from catsel.selecting.tables import Counting
from catsel.figures.plots import (MAX_PANEL_LAYERS, UNTRAINED_COLOUR, UNTRAINED_MARK, LayerProportionsDisplay,
                                  layer_proportions)
from conftest import SAMPLE_DATA


@pytest.fixture(scope="module")
def untrained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("labels") / "out"
    return catsel.run(SAMPLE_DATA, out, model="vgg16", weights="none", image_size=32, limit=4,
                      layers=["block1_conv1", "block1_conv2"], permutations=20, progress=False, shuffles=50)


def _texts(fig) -> list:
    """Every title of a figure: its own, its subfigures' and its axes' (text and colour)."""
    found = []
    for part in [fig, *getattr(fig, "subfigs", [])]:
        if getattr(part, "_suptitle", None) is not None:  # matplotlib keeps a suptitle there
            found.append((part._suptitle.get_text(), part._suptitle.get_color()))
    found += [(ax.get_title(), ax.title.get_color()) for ax in fig.axes]
    return found


def _marked(fig) -> bool:
    return any(UNTRAINED_MARK in text and colour == UNTRAINED_COLOUR for text, colour in _texts(fig))


def _summary(n_layers: int, n_cat: int, *, trained: bool, extra: bool = True) -> pd.DataFrame:
    layers = [f"layer{i}" for i in range(n_layers)]
    cats = [f"c{k}" for k in range(n_cat)]
    rows = pd.DataFrame([(l, c) for l in layers for c in cats], columns=["layer", "category"])
    rows["layer"] = pd.Categorical(rows["layer"], layers)
    rows["category"] = pd.Categorical(rows["category"], cats)
    rng = np.random.default_rng(0)
    rows["proportion"] = rng.random(len(rows))
    rows["n_selective"], rows["n_units"] = 1, 10
    if extra:  # the null, the verdict and the permutation test's counts: what --permutations added
        rows["null_proportion"] = rows["proportion"] / 2
        rows["null_high"] = rows["proportion"] * 0.8
        rows["excess"] = rows["proportion"] / 2
        rows["evidence"] = rng.random(len(rows)) > 0.5
        rows["proportion_significant"] = rows["proportion"] / 3
    Counting(trained=trained, model_label="vgg16, untrained", n_images=40, threshold=0.01, index="paper",
             images_per_category={c: 10 for c in cats}, level=0.05).on(rows)
    return rows


@pytest.mark.parametrize("n_cat, extra, kind", [(1, False, "lines"), (4, True, "panels"), (4, False, "lines"),
                                                (20, True, "heat")])
@pytest.mark.parametrize("trained", [True, False])
def test_figure_1_keeps_its_title_mark_n_and_axis_labels_in_every_mode(n_cat, extra, kind, trained):
    summary = _summary(15, n_cat, trained=trained, extra=extra)
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    display = LayerProportionsDisplay.from_summary(summary).plot(ax=fig.subplots())
    assert display.kind_ == kind
    titles = " ".join(text for text, _ in _texts(fig))
    assert "Category-selective units per layer" in titles and "N = 40 images" in titles
    assert _marked(fig) is (not trained)
    bottom = display.axes_[-1]
    assert bottom.get_xlabel().startswith("layer")
    if kind != "heat":
        assert display.axes_[0].get_ylabel().startswith("selective units")
        assert "(N=10)" in display.axes_[0].get_title() or any("(N=10)" in t.get_text()
                                                                for t in display.axes_[0].get_legend().get_texts())
        # the 15 layers named as far as they fit side by side (a panel of four in a row holds fewer), the last
        # always, none overlapping (tests/test_legible.py)
        named = [t.get_text() for t in bottom.get_xticklabels() if t.get_text()]
        assert named[-1] == "layer14" and len(named) >= (8 if kind == "panels" else 15)
        assert set(named) <= {f"layer{i}" for i in range(15)}


def test_panels_name_every_layer_where_there_is_room_and_fewer_where_there_is_not():
    fig = Figure(figsize=(22, 5.5), layout="constrained")  # room for 20 names under each of four panels
    display = LayerProportionsDisplay.from_summary(_summary(MAX_PANEL_LAYERS, 4, trained=True)).plot(
        ax=fig.subplots())
    fig.canvas.draw()
    assert len([t for t in display.axes_[-1].get_xticklabels() if t.get_text()]) == MAX_PANEL_LAYERS
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    display = LayerProportionsDisplay.from_summary(_summary(MAX_PANEL_LAYERS + 1, 4, trained=True)).plot(
        ax=fig.subplots())
    fig.canvas.draw()
    assert "as many named as fit" in display.axes_[-1].get_xlabel()
    assert len([t for t in display.axes_[-1].get_xticklabels() if t.get_text()]) < MAX_PANEL_LAYERS + 1


def test_a_runs_figure_with_permutations_keeps_its_labels_and_the_reports_copy_too(untrained_run):
    """With --permutations, Figure 1 lost its title, its mark, its N and its axis label."""
    for result in (untrained_run, catsel.load_run(untrained_run.out)):
        fig = result.figure()
        assert _marked(fig) and "N = 16 images" in " ".join(text for text, _ in _texts(fig))
        assert "proportion_significant" in result.summary
        assert any(ax.get_ylabel().startswith("selective units") for ax in fig.axes)
    html = catsel.write_report(untrained_run).read_text()
    assert "UNTRAINED NETWORK (random weights)" in html


def test_the_unit_and_filter_figures_of_an_untrained_network_say_so(untrained_run):
    from catsel.figures import visualize

    acts = untrained_run.activations
    assert acts.meta.trained is False
    for fig in (visualize.plot_top_images(acts, "block1_conv1", 0, k=3),
                visualize.plot_crops(acts, "block1_conv1", 0, k=3)):
        assert _marked(fig)
    table = untrained_run.table
    fig = visualize.plot_representatives(acts, table, "face", n_units=1, steps=2)
    assert _marked(fig) and "Representative face-selective filters" in fig.get_suptitle()
    fig = visualize.plot_unit(acts, "block1_conv1", 0, k=2, steps=2)
    assert _marked(fig)
    # a panel inside the unit figure is marked by the figure, not again by itself
    assert sum(UNTRAINED_MARK in text for text, _ in _texts(fig)) == 1


def test_compare_titles_fit_their_panels_and_the_legend_sits_outside(untrained_run, tmp_path):
    trained = replace(untrained_run, record=replace(untrained_run.record, trained=True))
    comparison = catsel.compare([trained, untrained_run], labels=["a network with a long name, trained",
                                                                 "the same network, untrained"], probe=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = comparison.figure()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_title()]
    boxes = [ax.title.get_window_extent(renderer) for ax in panels]
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 <= right.x0  # no title runs into the next
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in panels:
        assert not legend.overlaps(ax.get_window_extent(renderer)) and not legend.overlaps(
            ax.title.get_window_extent(renderer))
    assert _marked(fig) and "the same network, untrained" in fig.get_suptitle()


def test_layer_proportions_returns_its_axes_and_the_run_its_figure(untrained_run):
    ax = layer_proportions(untrained_run.summary, ax=Figure().subplots())
    assert ax.get_figure() is not None
    fig = untrained_run.figure()
    assert isinstance(fig, Figure)
