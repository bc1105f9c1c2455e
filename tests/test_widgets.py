"""Explorers driven from Python: counts and figure data follow the controls (issue: widgets)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

import catsel
from catsel.apps import widgets
from helpers import small_cnn


@pytest.fixture(scope="module")
def acts():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    maxima = {
        "conv": rng.gamma(2.0, size=(60, 40)) + (labels[:, None] == 0) * rng.uniform(0, 3, size=40),
        "fc": rng.gamma(2.0, size=(60, 24)) + (labels[:, None] == 2) * rng.uniform(0, 3, size=24),
    }
    maxima["conv"][:, 5] = 0  # a silent unit
    return catsel.Activations.from_arrays(maxima, labels, ["face", "car", "dog"], meta={"model": "toy", "weights": "test"})


def _lines(figure):
    ax = figure.axes[0]
    return {line.get_label().split(" (N=")[0]: line.get_ydata() for line in ax.get_lines()  # "face (N=20)"
            if not line.get_label().startswith("_")  # the null's dotted lines are not in the legend
            and len(line.get_xdata())}  # nor are the legend's own entries for the markers data


@pytest.mark.parametrize("threshold", [0.0, 0.03, 0.12])
def test_threshold_slider_recomputes_counts_and_figure(acts, threshold):
    ex = widgets.explore_thresholds(acts)
    before = ex.image.value
    ex.threshold.value = threshold
    expected = catsel.layer_summary(catsel.selectivity(acts, threshold=threshold))
    got = ex.summary.merge(expected, on=["layer", "category"], suffixes=("", "_ref"))
    assert (got["n_selective"] == got["n_selective_ref"]).all()
    assert (got["n_constant"] == got["n_constant_ref"]).all()
    pivot = expected.pivot(index="layer", columns="category", values="n_selective")
    assert ex.counts.loc["conv", "face"] == pivot.loc["conv", "face"]
    lines = _lines(ex.figure)
    np.testing.assert_allclose(lines["face"], expected.query("category == 'face'")["proportion"])
    if threshold != 0.01:
        assert ex.image.value != before


def test_index_chooser_switches_to_the_contrast_index(acts):
    ex = widgets.explore_thresholds(acts, threshold=0.05)
    ex.index.value = "unit_contrast"
    expected = catsel.layer_summary(catsel.selectivity(acts, index="unit_contrast", threshold=0.05))
    np.testing.assert_array_equal(ex.summary["n_selective"].to_numpy(), expected["n_selective"].to_numpy())
    assert "unit_contrast" in ex.status.value


def test_category_selection_limits_the_lines_and_columns(acts):
    ex = widgets.explore_thresholds(acts)
    ex.categories.value = ("dog",)
    assert list(ex.counts.columns) == ["dog"]
    assert set(_lines(ex.figure)) == {"dog"}


def test_a_table_alone_drives_the_threshold_explorer(acts):
    table = catsel.selectivity(acts, index="unit_contrast")
    ex = widgets.explore_thresholds(table)
    assert list(ex.index.options) == ["unit_contrast"]
    ex.threshold.value = 0.2
    assert ex.counts.to_numpy().sum() == (table["above_chance"] > 0.2).sum()


def test_layer_explorer_sorts_and_windows(acts):
    table = catsel.selectivity(acts)
    ex = widgets.explore_layer(table, layer="conv", window=10)
    ex.sort_by.value = "face"
    face = table.query("layer == 'conv' and category == 'face'").set_index("unit")["selectivity"]
    assert list(ex.order) == list(face.sort_values(ascending=False, kind="stable").index)
    assert list(ex.shown.index) == list(ex.order[:10])
    ex.window.value = (5, 19)
    assert list(ex.inspect.options) == [int(i) for i in ex.order[5:20]]
    collections = [c for c in ex.figure.axes[1].collections if c in ex.bars.values()]
    assert [c.get_label() for c in collections] == ["face", "car", "dog"]
    for c, category in zip(collections, ["face", "car", "dog"]):
        assert len(c.get_paths()) == 15
        np.testing.assert_allclose(ex.heights[category], ex.shown[category].to_numpy())
        tops = [path.vertices[:, 1].max() for path in c.get_paths()]
        np.testing.assert_allclose(tops, ex.shown[category].to_numpy())
    ex.layer.value = "fc"
    assert ex.window.max == 23 and len(ex.inspect.options) == 10
    ex.sort_by.value = "unit index"
    assert list(ex.order) == list(range(24))


def test_filter_explorer_shows_the_top_images_of_a_captured_filter(colour_folder, tmp_path):
    amodel = catsel.activation_model(small_cnn(size=12), preprocess="tf")
    acts = catsel.capture(amodel, catsel.ImageFolder(colour_folder, image_size=12), tmp_path, progress=False)
    table = catsel.selectivity(acts)
    ex = widgets.explore_units(acts, table, layer="c2", unit=3, k=4)
    a = acts["c2"][:, 3]
    assert list(ex.top_rows) == list(np.argsort(-a, kind="stable")[:4])
    images = [ax for ax in ex.figure.axes if ax.images]
    assert len(images) == 8  # the 4 images were found and drawn, each with its receptive-field crop
    assert sum(ax.get_title() == "receptive field" for ax in ex.figure.axes) == 4
    ex.unit.value = 4
    assert list(ex.top_rows) == list(np.argsort(-acts["c2"][:, 4], kind="stable")[:4])
    assert "c2</b> unit 4" in ex.info.value
    ex.layer.value = "fc"
    assert ex.unit.max == 7


def test_dashboard_opens_the_filter_chosen_in_the_layer_view(acts):
    dash = widgets.explore(acts)
    dash.layers.layer.value = "fc"
    unit = dash.layers.inspect.options[2]
    dash.layers.inspect.value = unit
    assert dash.widget.selected_index == 2
    assert (dash.units.layer.value, dash.units.unit.value) == ("fc", unit)
    with pytest.warns(DeprecationWarning, match="now Dashboard.units"):
        assert dash.filters is dash.units


def test_threshold_explorer_offers_only_the_indices_a_store_can_give():
    from helpers import LABELS, UNITS

    # conv units without spatial means (a version-1 store): every index but the public code's
    acts = catsel.Activations.from_arrays({"conv": UNITS[:, :2]}, LABELS, ["a", "b"],
                                          meta={"layers": [{"name": "conv", "units": 2, "map_shape": [3, 3]}]})
    ex = widgets.explore_thresholds(acts)
    assert "repo" not in ex.index.options and {"paper", "unit_contrast"} <= set(ex.index.options)


# A redraw changes the figure's data in place (making axes anew was most of its time). These tests check that
# what it draws, after other settings were shown, is the picture an explorer made anew at that setting draws.

@pytest.fixture(scope="module")
def many():
    """15 categories: Figure 1 is a heat map, the layer explorer draws the first 12."""
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(15), 6)
    maxima = {"conv": rng.gamma(2.0, size=(90, 30)) + (labels[:, None] == 3) * rng.uniform(0, 3, size=30),
              "fc": rng.gamma(2.0, size=(90, 20)) + (labels[:, None] == 7) * rng.uniform(0, 3, size=20)}
    return catsel.Activations.from_arrays(maxima, labels, [f"c{i:02d}" for i in range(15)],
                                          meta={"model": "toy", "weights": "test"})


@pytest.mark.parametrize("data", ["acts", "many"])
def test_a_threshold_redraw_in_place_draws_what_a_new_explorer_draws(data, request):
    acts = request.getfixturevalue(data)
    ex = widgets.explore_thresholds(acts, threshold=0.0)
    figure = ex.figure
    for threshold, index in [(0.12, "paper"), (0.3, "unit_contrast"), (0.03, "paper")]:
        ex.index.value = index
        ex.threshold.value = threshold
    assert ex.figure is figure  # changed in place
    assert ex.image.value == widgets.explore_thresholds(acts, threshold=0.03, index="paper").image.value
    chosen = tuple(acts.categories[1:3]) if data == "acts" else tuple(acts.categories[:14])
    # other categories: a heat map changes in place; panels (one per category, with the null) are made anew
    ex.categories.value = chosen
    assert (ex.figure is figure) == (data == "many")
    assert ex.image.value == widgets.explore_thresholds(acts, threshold=0.03, categories=chosen).image.value
    ex.categories.value = tuple(acts.categories[:1])  # one category: lines, a new figure
    assert ex.figure is not figure
    assert ex.image.value == widgets.explore_thresholds(acts, threshold=0.03,
                                                        categories=acts.categories[:1]).image.value
    ex.threshold.value = 0.05
    ex.categories.value = tuple(acts.categories)  # all again
    assert (ex.figure is figure) == (data == "many")  # the heat map kept for them
    assert ex.image.value == widgets.explore_thresholds(acts, threshold=0.05).image.value


def test_figure_1_redrawn_in_place_with_its_null_equals_one_drawn_anew(acts):
    from matplotlib.figure import Figure

    from catsel.figures.plots import LayerProportionsDisplay

    def summary(threshold):
        s = catsel.layer_summary(catsel.selectivity(acts, threshold=threshold))
        s["null_proportion"], s["null_high"] = s["proportion"] * 0.3, s["proportion"] * 0.5  # a null band
        return s

    def png(figure):
        import io

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=50)
        return buffer.getvalue()

    for chosen in (["car", "dog"], None):  # lines on one axes; and one panel per category, as the null has
        fresh = Figure()
        catsel.figures.plots.layer_proportions(summary(0.1), categories=chosen, ax=fresh.subplots())
        moved = Figure()
        display = LayerProportionsDisplay.from_summary(summary(0.0), categories=chosen).plot(ax=moved.subplots())
        assert display.update(summary(0.1), chosen)
        assert png(moved) == png(fresh)
    assert display.kind_ == "panels" and not display.update(summary(0.1), ["car", "dog"])  # other panels: anew


@pytest.mark.parametrize("data", ["acts", "many"])
def test_a_layer_redraw_in_place_draws_what_a_new_explorer_draws(data, request):
    acts = request.getfixturevalue(data)
    table = catsel.selectivity(acts)
    first, other = acts.categories[0], acts.categories[2]
    ex = widgets.explore_layer(table, layer="conv", sort_by=first, window=12)
    figure = ex.figure
    ex.window.value = (6, 17)
    ex.sort_by.value = other
    ex.layer.value = "fc"  # another layer: other filters, chance levels and heights
    ex.sort_by.value = first
    assert ex.figure is figure
    assert ex.image.value == widgets.explore_layer(table, layer="fc", sort_by=first, window=12).image.value
    ex.layer.value = "conv"
    assert ex.image.value == widgets.explore_layer(table, layer="conv", sort_by=first, window=12).image.value


def test_a_filter_redraw_in_place_draws_what_a_new_explorer_draws(colour_folder, tmp_path):
    amodel = catsel.activation_model(small_cnn(size=12), preprocess="tf")
    acts = catsel.capture(amodel, catsel.ImageFolder(colour_folder, image_size=12), tmp_path, progress=False)
    table = catsel.selectivity(acts)
    ex = widgets.explore_units(acts, table, layer="c2", unit=3, k=4)
    figure = ex.figure
    ex.unit.value = 5
    ex.unit.value = 1
    assert ex.figure is figure
    assert ex.image.value == widgets.explore_units(acts, table, layer="c2", unit=1, k=4).image.value
    ex.layer.value = "fc"  # no receptive fields: a new figure, no crops
    ex.unit.value = 2
    assert ex.image.value == widgets.explore_units(acts, table, layer="fc", unit=2, k=4).image.value


def _pixels(png) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB")).astype(int)


@pytest.mark.parametrize("data", ["acts", "many"])
def test_only_the_changing_artists_are_redrawn_and_the_picture_is_whole(data, request):
    """The kept frame and the artists drawn anew make the figure matplotlib draws whole (but where they meet)."""
    acts = request.getfixturevalue(data)
    table = catsel.selectivity(acts)
    th = widgets.explore_thresholds(acts, threshold=0.0)
    th.threshold.value = 0.1
    layer = widgets.explore_layer(table, layer="conv", window=12)
    layer.sort_by.value = acts.categories[1]
    layer.window.value = (4, 15)
    layer.layer.value = "fc"
    layer.window.value = (2, 13)
    for ex in (th, layer):
        shown, whole = _pixels(ex.image.value), _pixels(widgets._png(ex.figure))
        assert shown.shape == whole.shape
        # equal here; a few pixels are allowed where anti-aliased edges meet. A stale tick label differs in 0.1%
        assert (np.abs(shown - whole).sum(-1) > 60).mean() < 0.0002


def test_the_legend_of_figure_1_fits_in_the_picture():
    """'i-see-face (N=32)' was cut at the figure's edge: the margin now follows the legend's width."""
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(4), 32)
    acts = catsel.Activations.from_arrays({"fc": rng.gamma(2.0, size=(128, 8))}, labels,
                                          ["car", "dog", "face", "i-see-face a longer name"])
    ex = widgets.explore_thresholds(acts)
    for chosen in [tuple(acts.categories), ("car", "dog")]:
        ex.categories.value = chosen
        legend = ex.display.axes_[-1].get_legend().get_window_extent(ex.figure.canvas.get_renderer())
        assert legend.x1 <= ex.figure.bbox.x1
    assert ex.image.value == widgets.explore_thresholds(acts, categories=("car", "dog")).image.value


@pytest.mark.parametrize("threshold", [0.0, 0.05])
def test_the_threshold_explorer_draws_the_null_at_every_threshold(acts, threshold):
    from catsel import stats

    ex = widgets.explore_thresholds(acts, threshold=0.2)
    ex.threshold.value = threshold  # moved: the null follows the threshold
    expected = stats.shuffled_baseline(acts, threshold=threshold)
    got = ex.summary.set_index(["layer", "category"])
    want = expected.set_index(["layer", "category"]).loc[got.index]
    np.testing.assert_allclose(got["null_proportion"], want["null_proportion"])
    np.testing.assert_allclose(got["null_high"], want["null_high"])
    assert ex.figure.axes[0].collections  # the band
    assert "with shuffled labels (the null)" in ex.status.value


def test_the_dashboard_counts_the_units_significant_by_the_permutation_test(acts):
    from catsel import stats

    table = stats.add_significance(catsel.selectivity(acts), acts, permutations=50)
    board = widgets.Dashboard(acts, table)
    n = int((table["q_value"] < 0.05).sum())
    assert f"<b>{n}</b> significant at q &lt; 0.05" in board.thresholds.status.value
    assert "catsel-significant" in board.thresholds.table_html.value


def test_the_threshold_explorer_gives_the_runs_verdict(acts):
    """Issue #38: the explorer marks the same layer x category counts beyond chance as the run's summary."""
    from catsel import stats

    ex = widgets.explore_thresholds(acts, threshold=0.2)
    ex.threshold.value = 0.05
    run = stats.with_baselines(catsel.layer_summary(catsel.selectivity(acts, threshold=0.05)), acts, threshold=0.05,
                               shuffled=True).set_index(["layer", "category"])
    got = ex.summary.set_index(["layer", "category"])
    np.testing.assert_array_equal(got["evidence"].to_numpy(), run.loc[got.index, "evidence"].to_numpy())
    np.testing.assert_allclose(got["null_p"], run.loc[got.index, "null_p"])
    assert "counts beyond chance" in ex.status.value
