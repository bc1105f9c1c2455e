"""Helpers behind the notebooks: representative filters, best layers, crops, layer table, course checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import catsel
from catsel.selecting.tables import Counting
from catsel.apps import course
from catsel.figures import visualize
from catsel.selecting.selection import best_layers, representative_units
from planted import SIZE
from helpers import hand_set_acts as _acts




def test_representative_units_are_the_planted_ones(planted_acts):
    table = catsel.selectivity(planted_acts)
    reps = representative_units(table, "red", per_layer=2)
    assert reps[["layer", "unit"]].values.tolist() == [["conv1", 0], ["conv2", 0], ["dense", 0]]
    with pytest.raises(KeyError, match="no category 'cat'"):
        representative_units(table, "cat")


def _sparse_acts():
    """Layer ``l``: unit 0 fires on one face image only (eq. 2 gives it S = 1), unit 1 prefers faces broadly,
    unit 2 is silent."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    a = np.zeros((80, 3), dtype=np.float32)
    a[3, 0] = 5.0
    a[:, 1] = rng.gamma(2.0, size=80) + 3.0 * (labels == 0)
    return catsel.Activations.from_arrays({"l": a}, labels, ["face", "car"])


def test_near_silent_units_are_counted_apart_and_not_representative():
    acts = _sparse_acts()
    table = catsel.selectivity(acts)
    assert table.groupby("unit")["n_active"].first().tolist() == [1, 79, 0]  # the minimum image itself is not above it
    face = table[table.category == "face"].set_index("unit")
    assert face.loc[0, "selectivity"] == pytest.approx(1.0) and face.loc[0, "selective"]  # the sparsity reward
    assert representative_units(table, "face")["unit"].tolist() == [1]
    assert representative_units(table, "face", min_active=0)["unit"].tolist() == [0]
    summary = catsel.layer_summary(table).set_index("category")
    assert summary.loc["face", "n_selective"] == 2 and summary.loc["face", "n_selective_near_silent"] == 1


def test_top_images_of_silent_and_near_silent_units_say_so():
    acts = _sparse_acts()
    assert visualize.top_images(acts, "l", 2, 6).tolist() == []  # silent: no image drives it
    assert visualize.top_images(acts, "l", 0, 6).tolist() == [3]  # near-silent: only the image that does
    assert visualize.activity(acts, "l", 0) == (1, 80)
    from matplotlib.figure import Figure

    silent = visualize.plot_crops(acts, "l", 2, fig=Figure())
    assert any("is silent" in t.get_text() for t in silent.texts) and not silent.axes


def test_best_layers_picks_the_largest_proportion_deeper_on_ties():
    summary = pd.DataFrame({
        "layer": pd.Categorical(["a", "a", "b", "b", "c", "c"], ["a", "b", "c"], ordered=True),
        "category": pd.Categorical(["x", "y"] * 3, ["x", "y"], ordered=True),
        "proportion": [0.5, 0.1, 0.2, 0.3, 0.5, 0.2], "n_selective": [5, 1, 2, 3, 5, 2], "n_units": [10] * 6})
    best = best_layers(summary).set_index("category")["layer"]
    assert best.to_dict() == {"x": "c", "y": "b"}


def test_crops_lie_inside_the_image_and_contain_the_maximum(planted_acts):
    layer = "conv2"
    field = visualize.receptive_field(planted_acts, layer)
    assert (field.size, field.jump) == (5, 2)
    width = planted_acts.map_shape(layer)[1]
    for unit in range(3):
        for row in visualize.top_images(planted_acts, layer, unit, k=5):
            crop, (top, left, bottom, right) = visualize.receptive_crop(planted_acts, layer, unit, row)
            assert 0 <= top < bottom <= SIZE and 0 <= left < right <= SIZE
            r, c = divmod(int(planted_acts.positions(layer)[row, unit]), width)
            cy, cx = r * field.jump + field.start, c * field.jump + field.start
            assert top <= cy < bottom and left <= cx < right
            # the planted detector fired on its colour: that colour is inside the crop
            colour = {0: (200, 0, 0), 1: (0, 200, 0), 2: (0, 0, 200)}[unit]
            assert (crop.reshape(-1, 3) == colour).all(axis=1).any()


def test_top_images_within_a_category(planted_acts):
    rows = visualize.top_images(planted_acts, "dense", 0, k=3, category="blue")
    assert (planted_acts.labels[rows] == planted_acts.categories.index("blue")).all()
    values = planted_acts["dense"][rows, 0]
    assert list(values) == sorted(values, reverse=True)


def test_figures_are_made(planted_acts):
    assert len(visualize.plot_top_images(planted_acts, "conv1", 0, k=4).axes) == 4
    assert len(visualize.plot_crops(planted_acts, "conv1", 0, k=3, per_category=True).axes) == 9
    folder = catsel.ImageFolder(planted_acts.root, image_size=SIZE)
    assert len([a for a in visualize.thumbnail_grid(folder, per_category=2).axes if a.images]) == 6


def test_check_finds_undecodable_images(colour_folder):
    (colour_folder / "red" / "bad.png").write_bytes(b"nope")
    (colour_folder / "red" / "notes.txt").write_text("x")
    bad = catsel.ImageFolder(colour_folder, image_size=12).check()
    assert sorted(b.path.rsplit("/", 1)[-1] for b in bad) == ["bad.png", "notes.txt"]


def test_layer_table_lists_shapes_and_receptive_fields():
    amodel = catsel.activation_model("vgg16", weights=None, image_size=64, layers=["block1_conv1", "block3_conv3"])
    table = amodel.layer_table()
    assert table["receptive field"].tolist() == [3, 40]
    assert table["output shape"].tolist() == [(64, 64, 64), (16, 16, 256)]


def test_course_checks_accept_right_and_refuse_wrong_answers(capsys):
    assert course.check_normalise(catsel.normalise)
    with np.errstate(invalid="ignore"):  # the wrong answer divides a silent unit by zero
        assert not course.check_normalise(lambda a: a / a.max(axis=0))
    assert course.check_selectivity(lambda a, labels, n: catsel.selectivity_matrix(a, labels, n)[0])
    assert not course.check_selectivity(lambda a, labels, n: np.ones((n, a.shape[1])) / n)
    assert course.check_chance({"a": 0.25, "b": 0.75}, {"a": 1, "b": 3})
    assert not course.check_chance({"a": 0.5, "b": 0.5}, {"a": 1, "b": 3})
    acts = _acts()
    assert course.check_count(1, acts, layer="conv", category="a", threshold=0.01)
    assert not course.check_count(2, acts, layer="conv", category="a", threshold=0.01)
    assert course.check_best_layer("fc", acts, category="b")
    for unanswered in (course.check_chance(None, {"a": 1}), course.check_count(None, acts, layer="conv", category="a",
                       threshold=0.01), course.check_best_layer(None, acts, category="b"),
                       course.check_normalise(lambda a: None)):
        assert unanswered is False
    out = capsys.readouterr().out
    assert out.count("✓ Correct") == 5 and out.count("✗ Not yet") == 5 and out.count("Not answered yet") == 3


def test_course_checks_accept_every_right_answer_and_name_the_type_wanted(capsys, monkeypatch):
    acts = catsel.Activations.from_arrays({"one": np.eye(4)[:, :2] + [0, 0], "two": np.eye(4)[:, :2]},
                                          [0, 0, 1, 1], ["a", "b"])
    summary = catsel.layer_summary(catsel.selectivity(acts, threshold=0.01))
    assert summary.query("category == 'a'")["proportion"].nunique() == 1  # a tie: both layers are right
    assert course.check_best_layer("one", acts, category="a") and course.check_best_layer("two", acts, category="a")
    assert not course.check_count(1.0, _acts(), layer="conv", category="a", threshold=0.01)
    assert not course.check_count("1", _acts(), layer="conv", category="a", threshold=0.01)
    assert course.check_count(np.int64(1), _acts(), layer="conv", category="a", threshold=0.01)
    assert not course.check_chance({"a": "0.25", "b": 0.75}, {"a": 1, "b": 3})
    assert not course.check_best_layer(3, acts, category="a")

    def unwritten(a):
        raise NotImplementedError

    assert not course.check_normalise(unwritten)
    out = capsys.readouterr().out
    assert "an int, like 12), not float 1.0" in out and "not str '1'" in out and "not str '0.25'" in out
    assert "a str, like 'block1_conv1'), not int 3" in out
    assert "still raises NotImplementedError" in out and "raised NotImplementedError:" not in out
    monkeypatch.setattr(course, "STRICT", True)  # how `catsel course --grade` runs a notebook
    with pytest.raises(course.NotAnswered):
        course.check_count(None, _acts(), layer="conv", category="a", threshold=0.01)
    with pytest.raises(course.WrongAnswer):
        course.check_count(7, _acts(), layer="conv", category="a", threshold=0.01)


def test_figure_1_stays_readable_with_many_layers():
    from matplotlib.figure import Figure

    layers = [f"conv{i}" for i in range(120)]  # DenseNet121's count
    summary = pd.DataFrame({"layer": pd.Categorical(np.repeat(layers, 2), layers, ordered=True),
                            "category": pd.Categorical(["face", "dog"] * 120, ["face", "dog"], ordered=True),
                            "proportion": np.linspace(0, 0.5, 240)})
    Counting(images_per_category={"face": 50, "dog": 40}, threshold=0.01).on(summary)
    ax = catsel.layer_proportions(summary, ax=Figure().subplots())
    named = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(named) <= 31 and named[-1] == "conv119"
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"face (N=50)", "dog (N=40)"}


def _two_category_summary(names):
    layers = ["conv1", "conv2"]
    return pd.DataFrame({"layer": pd.Categorical(np.repeat(layers, 2), layers, ordered=True),
                         "category": pd.Categorical(list(names) * 2, list(names), ordered=True),
                         "proportion": [0.1, 0.2, 0.3, 0.4]})


def _drawn_warnings(ax):
    import io
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax.get_figure().savefig(io.BytesIO(), format="png")
    return [str(w.message) for w in caught]


def test_a_category_in_another_script_is_drawn_with_a_font_that_has_it(tmp_path, monkeypatch):
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    from helpers import font_with

    monkeypatch.setattr(font_manager.fontManager, "ttflist", list(font_manager.fontManager.ttflist))
    font_manager.fontManager.addfont(str(font_with(tmp_path / "glyphs.ttf", "顔犬")))
    ax = catsel.layer_proportions(_two_category_summary(["顔", "犬"]), ax=Figure().subplots())
    legend = {t.get_text(): t for t in ax.get_legend().get_texts()}
    assert "Catsel Test Glyphs" in legend["顔"].get_fontfamily()
    assert not [m for m in _drawn_warnings(ax) if "missing from font" in m]  # no empty boxes


def test_a_category_no_installed_font_can_draw_is_named_with_the_fix(monkeypatch):
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    dejavu = [f for f in font_manager.fontManager.ttflist if f.name == "DejaVu Sans"]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", dejavu)  # a machine without CJK fonts
    with pytest.warns(UserWarning, match="no installed font has the characters of '顔'.*fonts-noto-cjk"):
        catsel.layer_proportions(_two_category_summary(["顔", "dog"]), ax=Figure().subplots())


def test_figure_1_s_null_bands_keep_their_category_s_colour():
    import colorsys

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure

    cats, layers = ["face", "i-see-face", "car", "dog"], ["c1", "c2", "c3"]
    rows = [(l, c) for l in layers for c in cats]
    summary = pd.DataFrame({"layer": pd.Categorical([l for l, _ in rows], layers, ordered=True),
                            "category": pd.Categorical([c for _, c in rows], cats, ordered=True),
                            "proportion": 0.5, "null_proportion": 0.2, "null_high": 0.6})  # bands that overlap
    summary["excess"] = summary["proportion"] - summary["null_proportion"]
    fig = Figure(figsize=(11, 5.5))
    display = catsel.figures.plots.LayerProportionsDisplay.from_summary(summary).plot(ax=fig.subplots())
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3] / 255.0
    colours = catsel.figures.plots.palette(cats)
    assert display.kind_ == "panels" and len(display.axes_) == len(cats)
    for panel, c in zip(display.axes_, cats):
        x, y = panel.transData.transform((1.0, 0.3))  # inside the band, below the category's own line
        r, g, b = pixels[int(fig.bbox.height - y), int(x)]
        hue = colorsys.rgb_to_hsv(r, g, b)[0]
        want = colorsys.rgb_to_hsv(*to_rgb(colours[c]))[0]
        assert min(abs(hue - want), 1 - abs(hue - want)) < 0.05, (c, (r, g, b), colours[c])  # a tint of its colour


def test_representative_units_fire_on_their_categorys_images_not_on_a_few_of_them():
    from catsel.figures.visualize import FIRES_ON, representatives

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    few = np.zeros(80)
    few[:4] = 10.0  # fires on 4 of the 40 face images alone, hard: the largest margin above chance
    broad = rng.uniform(0, 1, 80)
    broad[:40] += 1.0  # fires on every face image, more than on the others
    silent_elsewhere = rng.uniform(0, 0.1, 80)
    acts = catsel.Activations.from_arrays({"conv": np.stack([few, broad, silent_elsewhere], axis=1)}, labels,
                                          ["face", "dog"])
    table = catsel.selectivity(acts)
    chosen = table[(table["category"] == "face") & table["selective"]].sort_values("above_chance")
    assert int(chosen.iloc[-1]["unit"]) == 0  # by the margin alone, the unit that fires on 4 images
    picked = representatives(acts, table, "face", n_units=1)
    assert list(picked["unit"]) == [1] and FIRES_ON > 4 / 40
