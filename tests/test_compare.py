"""Networks compared (issue: any network, done right): two runs side by side against relative depth."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

import catsel
from catsel.apps.cli import main
from helpers import small_cnn


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from conftest import square_folder

    root = tmp_path_factory.mktemp("compare")
    square_folder(root / "data", dict.fromkeys(["red", "green", "blue"], 10), seed=0, noise=60, box=(4, 12, 4, 12),
                  value=220)
    small_cnn(size=16).save(root / "a.keras")
    deeper = keras.Sequential([keras.Input((16, 16, 3))] + [keras.layers.Conv2D(6, 3, padding="same",
                                                                               activation="relu") for _ in range(4)]
                              + [keras.layers.GlobalMaxPooling2D(), keras.layers.Dense(3)])
    deeper.save(root / "b.keras")
    runs = [catsel.run(root / "data", root / name, model=str(root / f"{name}.keras"), image_size=16,
                       progress=False) for name in ("a", "b")]
    return root, runs


def test_compare_sets_two_networks_side_by_side_against_relative_depth(two_runs):
    root, runs = two_runs
    comparison = catsel.compare([root / "a", root / "b"], labels=["small", "deeper"])
    data = comparison.data
    assert set(data["network"]) == {"small", "deeper"}
    for name, run in zip(["small", "deeper"], runs):
        rows = data[data["network"] == name]
        depth = rows.drop_duplicates("layer").set_index("layer")["depth"]
        assert list(depth.index) == [str(l) for l in run.activations.layers]
        assert depth.is_monotonic_increasing and 0 < depth.min() and depth.max() < 1
        if name == "deeper":  # input, 4 convs, pooling, classifier: 0, 1/6 ... 4/6, 5/6, 1
            np.testing.assert_allclose(depth.to_numpy(), [1 / 6, 2 / 6, 3 / 6, 4 / 6], atol=1e-6)
        assert {"null_proportion", "null_high"} <= set(rows.columns)  # the shuffled-label null travels along
    best = comparison.best
    assert len(best) == 2 * 3 and set(best.columns) >= {"network", "category", "layer", "depth", "proportion",
                                                        "excess", "probe_auroc"}
    for name, run in zip(["small", "deeper"], runs):  # the excess over each run's own null decides
        expected = catsel.best_layers(run.summary, by="excess")
        got = best[best["network"] == name]
        assert list(got["layer"]) == [str(l) if isinstance(l, str) else None for l in expected["layer"]]
        # a category without a layer beyond its null has no best layer, nor a probe of one
        assert (got["layer"].isna() == ~got["evidence"].astype(bool)).all()
    named = best["layer"].notna()
    assert best.loc[named, "probe_auroc"].between(0, 1).all() and best.loc[~named, "probe_auroc"].isna().all()
    fig = comparison.figure()
    assert len(fig.axes) == 3 and [ax.get_title() for ax in fig.axes] == ["blue", "green", "red"]


def test_catsel_compare_writes_the_figure_and_the_table(two_runs, tmp_path, capsys):
    root, _ = two_runs
    out = tmp_path / "cmp" / "networks.png"
    assert main(["compare", str(root / "a"), str(root / "b"), "--out", str(out), "--no-probe"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out.with_suffix(".csv"))
    assert len(table) == 6 and "probe_auroc" not in table
    assert table["network"].nunique() == 2  # the same kind of model twice: told apart by folder
    assert "Wrote" in capsys.readouterr().out
    # a record beside them, as run.json and brain.json: each file's SHA-256 (issue #49)
    import hashlib
    import json

    record = json.loads(out.with_suffix(".json").read_text())
    assert record["files"] == {name: hashlib.sha256((out.parent / name).read_bytes()).hexdigest()
                               for name in ("networks.png", "networks.csv")}
    assert len(record["networks"]) == 2
    assert main(["compare", str(root / "a"), "--out", str(out)]) == 2  # one run is not a comparison


def test_compare_stars_the_layer_furthest_above_its_null_and_marks_untrained_runs(two_runs):
    from dataclasses import replace

    _, runs = two_runs
    summary = runs[0].summary.copy()
    # the layer with most red-selective units, but a null that accounts for all of them
    red = summary["category"] == "red"
    top = summary.loc[red, "proportion"].idxmax()
    summary.loc[top, ["null_proportion", "excess", "evidence"]] = [summary.loc[top, "proportion"], 0.0, False]
    others = red & (summary.index != top)
    summary.loc[others, "null_proportion"] = summary.loc[others, "proportion"] - 0.05
    summary.loc[others, "excess"] = summary.loc[others, "proportion"] - summary.loc[others, "null_proportion"]
    summary.loc[others, "evidence"] = True  # another layer stands above its null
    lowered = replace(runs[0], summary=summary)
    untrained = replace(runs[1], record=replace(runs[1].record, trained=False))
    comparison = catsel.compare([lowered, untrained], labels=["small", "deeper"], probe=False)
    best = comparison.best.set_index(["network", "category"])
    assert best.loc[("small", "red"), "layer"] != str(summary.loc[top, "layer"])
    assert (best["chosen_by"] == "excess").all()
    assert best.loc[("small", "red"), "layer"] == str(summary.loc[summary.loc[red, "excess"].idxmax(), "layer"])
    assert comparison.untrained == ["deeper"]
    fig = comparison.figure()
    assert [ax.get_title() for ax in fig.axes] == ["blue", "green", "red"]  # each panel's title its category
    title = fig.get_suptitle()  # the untrained run is named once, in the figure's title, and in the legend
    assert "UNTRAINED NETWORK" in title and "deeper" in title
    assert "deeper (UNTRAINED)" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_compare_names_no_best_layer_inside_its_null(two_runs):
    from dataclasses import replace

    _, runs = two_runs
    summary = runs[0].summary.copy()
    summary["evidence"] = False  # no layer's count is beyond its null: every category
    summary["excess"] = summary["excess"].abs() + 0.1  # even with a positive excess (the verdict decides)
    comparison = catsel.compare([replace(runs[0], summary=summary), runs[1]], labels=["small", "deeper"],
                                probe=False)
    small = comparison.best[comparison.best["network"] == "small"]
    assert small["layer"].isna().all() and not small["evidence"].any()
    assert sum("small: no layer shows evidence for" in note for note in comparison.notes) == 3
    display = catsel.study.comparison.ComparisonDisplay.from_comparison(comparison).plot()
    assert not any(network == "small" for network, _ in display.stars_)  # no star inside the null


def test_best_layers_by_excess_needs_the_null():
    summary = pd.DataFrame({"layer": ["a", "b"], "category": ["x", "x"], "proportion": [0.9, 0.5],
                            "excess": [-0.1, 0.2], "n_selective": [9, 5], "n_units": [10, 10]})
    assert catsel.best_layers(summary)["layer"].tolist() == ["a"]  # the paper's rule: the raw proportion
    assert catsel.best_layers(summary, by="excess")["layer"].tolist() == ["b"]
    with pytest.raises(ValueError, match="no 'excess' column"):
        catsel.best_layers(summary.drop(columns="excess"), by="excess")


def test_the_comparison_display_keeps_its_artists_and_passes_styling_on(two_runs):
    from matplotlib.figure import Figure

    root, _ = two_runs
    display = catsel.study.comparison.ComparisonDisplay.from_runs([root / "a", root / "b"], labels=["small", "deeper"],
                                                            categories=["red"])
    fig = Figure()
    assert display.plot(fig=fig, lw=3.5) is display and display.figure_ is fig
    assert list(display.axes_) == ["red"] and set(display.lines_) == {("small", "red"), ("deeper", "red")}
    assert all(line.get_linewidth() == 3.5 for line in display.lines_.values())
    best = display.comparison.best.set_index(["network", "category"])
    for key, star in display.stars_.items():  # each star at its network's best layer
        assert star.get_xdata()[0] == pytest.approx(best.loc[key, "depth"])
        assert star.get_color() == display.lines_[key].get_color()
    assert not [name for name in vars(fig) if "catsel" in name]  # nothing kept on matplotlib's objects
    again = catsel.study.comparison.plot_comparison(display.comparison, categories=["red"], lw=3.5)
    assert [l.get_linewidth() for l in again.axes[0].get_lines()[:1]] == [3.5]


def test_compare_never_stars_an_untrained_confound_without_saying_so(two_runs):
    from dataclasses import replace

    _, runs = two_runs
    summary = runs[0].summary.copy()
    red = summary["category"] == "red"
    layers = list(summary.loc[red, "layer"].astype(str))
    summary.loc[red, "evidence"] = True
    summary.loc[red, "excess"] = np.linspace(0.1, 0.3, red.sum())  # the deepest layer has the largest excess
    summary["as_many_untrained"] = False
    deepest = red & (summary["layer"].astype(str) == layers[-1])
    summary.loc[deepest, "as_many_untrained"] = True  # ... and as many in the untrained network
    comparison = catsel.compare([replace(runs[0], summary=summary), runs[1]], labels=["small", "deeper"], probe=False)
    best = comparison.best.set_index(["network", "category"])
    assert best.loc[("small", "red"), "layer"] == layers[-2]  # the largest excess beyond the untrained twin
    assert not best.loc[("small", "red"), "as_many_untrained"]
    assert best.loc[("small", "red"), "verdict"] == "beyond chance"
    assert any("as many in the untrained network; its best layer is" in note for note in comparison.notes)
    # every layer with evidence a confound: the layer is kept, marked in the table, hollow on the figure
    summary.loc[red, "as_many_untrained"] = True
    comparison = catsel.compare([replace(runs[0], summary=summary), runs[1]], labels=["small", "deeper"], probe=False)
    row = comparison.best.set_index(["network", "category"]).loc[("small", "red")]
    assert row["layer"] == layers[-1] and row["as_many_untrained"]
    assert row["verdict"] == "beyond chance, as many in the untrained network"
    display = catsel.study.comparison.ComparisonDisplay.from_comparison(comparison).plot()
    assert display.stars_["small", "red"].get_markerfacecolor() == "white"
    assert any("as many in the" in t.get_text() for t in display.figure_.legends[0].get_texts())
