"""Lesions (issue: from counts to causes): silencing a category's units on planted networks whose answer is
known, against random and least-selective units of the same size."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

import catsel
from catsel.selecting.tables import Counting
from catsel.study.lesions import LESION_COLUMNS, write_lesion
from catsel import lesion
from conftest import write_image

SIZE = 12


def _folder(root, n=12, seed=0):
    """Red, green and blue squares on grey noise, and grey noise alone ("none")."""
    rng = np.random.default_rng(seed)
    colours = {"red": (220, 0, 0), "green": (0, 220, 0), "blue": (0, 0, 220), "none": None}
    for name, rgb in colours.items():
        for i in range(n):
            img = rng.integers(60, 120, size=(SIZE, SIZE, 1)).repeat(3, axis=2)
            if rgb is not None:
                y, x = rng.integers(0, SIZE - 4, 2)
                img[y:y + 4, x:x + 4] = rgb
            write_image(root / name / f"{i:02d}.png", img)
    return root


def _network(copy: bool = False, offset: float = 0.0) -> keras.Model:
    """det: 1x1 detectors of red, green, blue (and a second red detector with ``copy``, else a silent unit);
    pass: each detector's map as it is (the two red ones summed with ``copy``); out: their global maxima.
    ``offset`` is added to the red detector (a unit whose baseline is far from 0)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    det = keras.layers.Conv2D(4, 1, activation="relu", name="det")
    x = det(inp)
    merge = keras.layers.Conv2D(3, 1, name="pass")
    y = merge(x)
    out = keras.layers.Dense(3, name="out")(keras.layers.GlobalMaxPooling2D()(y))
    net = keras.Model(inp, out)
    w = np.zeros((1, 1, 3, 4), np.float32)
    b = np.zeros(4, np.float32)
    for unit, channel in ((0, 0), (1, 1), (2, 2)):
        w[0, 0, channel, unit] = 1.0 / 255
        w[0, 0, [c for c in range(3) if c != channel], unit] = -1.0 / 255
    if copy:
        w[0, 0, :, 3] = w[0, 0, :, 0]
    b[0] = offset
    det.set_weights([w, b])
    m = np.zeros((1, 1, 4, 3), np.float32)
    for unit in range(3):
        m[0, 0, unit, unit] = 1.0
    if copy:
        m[0, 0, 3, 0] = 1.0
    merge.set_weights([m, np.zeros(3, np.float32) - (offset if offset else 0.0) * np.array([1, 0, 0])])
    net.get_layer("out").set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    return net


def _run(tmp_path, net):
    data = _folder(tmp_path / "data")
    return catsel.run(data, tmp_path / "out", model=net, preprocess="raw", image_size=SIZE,
                      layers=["det", "pass", "out"], progress=False), net


def test_silencing_the_detector_drops_its_category_alone_and_random_units_do_not(tmp_path):
    result, net = _run(tmp_path, _network())
    table = lesion(result, "red", layer="det", units="top:1", repeats=10, model=net)
    assert list(table.columns) == LESION_COLUMNS and len(table) == 4
    rows = table.set_index("scored_category")
    assert rows.loc["red", "accuracy_intact"] > 0.9
    assert rows.loc["red", "drop_selected"] > 0.6  # red images now look like grey noise
    for other in ("green", "blue", "none"):
        assert abs(rows.loc[other, "drop_selected"]) < 0.15
    # a random unit of the whole layer is the detector one draw in four: the control drops red that often
    assert rows.loc["red", "drop_random_mean"] < 0.45
    draws = [d for fold in table.attrs["random_sets"] for d in fold]
    hit = np.mean([0 in d for d in draws])
    assert 0.1 < hit < 0.45
    assert rows.loc["red", "p_value"] >= 1 / 11  # never below 1 / (draws + 1)
    assert rows.loc["red", "specific"]
    assert all(chosen == [0] for chosen in table.attrs["chosen"])  # the detector, chosen on every training fold
    csv, png = write_lesion(table, tmp_path / "lesion")
    assert csv.read_text().startswith("lesioned_category,") and png.read_bytes()[:4] == b"\x89PNG"


def test_a_redundant_copy_of_the_detector_keeps_its_category(tmp_path):
    result, net = _run(tmp_path, _network(copy=True))
    table = lesion(result, "red", layer="det", units="top:1", repeats=5, model=net).set_index("scored_category")
    assert table.loc["red", "accuracy_intact"] > 0.9
    assert abs(table.loc["red", "drop_selected"]) < 0.15  # selective, and yet not needed: its copy answers


def test_mean_ablation_removes_the_information_and_zero_ablation_also_the_offset(tmp_path):
    result, net = _run(tmp_path, _network(offset=40.0))
    zero = lesion(result, "red", layer="det", units="top:1", repeats=3, mode="zero",
                  model=net).set_index("scored_category")
    mean = lesion(result, "red", layer="det", units="top:1", repeats=3, mode="mean",
                  model=net).set_index("scored_category")
    others = ["green", "blue", "none"]
    assert mean.loc["red", "drop_selected"] > 0.5  # the category's information is gone either way
    assert zero.loc[others, "drop_selected"].max() > mean.loc[others, "drop_selected"].max() + 0.2
    assert mean.loc[others, "drop_selected"].abs().max() < 0.15


def test_a_lesion_is_refused_with_one_line_for_a_bad_request(tmp_path):
    result, net = _run(tmp_path, _network())
    with pytest.raises(catsel.CatselError, match="no category 'cat'"):
        lesion(result, "cat", model=net)
    with pytest.raises(catsel.CatselError, match="must come after"):
        lesion(result, "red", layer="out", readout="det", model=net)
    with pytest.raises(catsel.CatselError, match="top:K"):
        lesion(result, "red", units="top:x", model=net)


def test_catsel_lesion_rebuilds_the_network_from_the_run_and_writes_its_table_and_figure(tmp_path, capsys):
    from catsel.apps.cli import main

    _network().save(tmp_path / "net.keras")
    data = _folder(tmp_path / "data")
    assert main(["run", str(data), "--out", str(tmp_path / "out"), "--model", str(tmp_path / "net.keras"),
                 "--preprocess", "raw", "--image-size", str(SIZE), "--layers", "det,pass,out", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["lesion", str(tmp_path / "out"), "--category", "red", "--layer", "det", "--units", "top:1",
                 "--repeats", "5"]) == 0
    printed = capsys.readouterr().out
    assert ("Lesion of 1.0 red-selective units of det (of its 4) on average over the folds (zero), read out at out: "
            "red accuracy") in printed
    assert "specific: red drops more than any other category" in printed
    assert "Random sets of as many units from the whole layer" in printed
    written = pd.read_csv(tmp_path / "out" / "lesion-red" / "lesion.csv")
    assert written.set_index("scored_category").loc["red", "drop_selected"] > 0.6
    assert (tmp_path / "out" / "lesion-red" / "lesion.png").exists()


def test_random_draws_batched_or_one_by_one_give_the_same_table(tmp_path, monkeypatch):
    import catsel.study.lesions as module

    result, net = _run(tmp_path, _network())
    together = lesion(result, "red", layer="det", units="top:1", repeats=6, model=net)
    monkeypatch.setattr(module, "BATCH_BYTES", 1)  # one draw at a time
    apart = lesion(result, "red", layer="det", units="top:1", repeats=6, model=net)
    pd.testing.assert_frame_equal(together, apart)


def test_a_cut_passes_as_many_images_as_its_largest_layer_output_allows_with_the_same_table(tmp_path, monkeypatch):
    """A lesion's passes run op by op: at 32 images a pass, VGG16's block 1 held 1.2 GB at once and notebook
    07 peaked at 4.5 GB (issue #38). A pass takes as many images as keep its largest layer output under
    ``PASS_BYTES``; the table is the one of 32 images a pass."""
    import catsel.network.interface as interface

    result, net = _run(tmp_path, _network())
    whole = lesion(result, "red", layer="det", units="top:1", repeats=4, model=net)
    seen = []
    real = keras.ops.convert_to_tensor
    monkeypatch.setattr(keras.ops, "convert_to_tensor", lambda x, *a, **k: (seen.append(len(x)), real(x, *a, **k))[1])
    monkeypatch.setattr(interface, "PASS_BYTES", 3 * SIZE * SIZE * 4 * 4)  # det's maps: 2,304 bytes an image
    parted = lesion(result, "red", layer="det", units="top:1", repeats=4, model=net)
    assert seen and max(seen) == 3
    pd.testing.assert_frame_equal(whole, parted)


def test_lesion_names_no_layer_inside_its_null_and_asks_for_one(tmp_path, capsys):
    """Issue #38: `catsel lesion` chose a layer whose count was within its null (excess -0.2 points)."""
    from dataclasses import replace

    from catsel.apps.cli import main

    result, net = _run(tmp_path, _network())
    within = result.summary.assign(evidence=False)  # every count within its shuffled-label null
    with pytest.raises(catsel.CatselError, match="no layer shows evidence for red.*--layer"):
        lesion(replace(result, summary=within), "red", model=net)
    beyond = result.summary.assign(evidence=result.summary["layer"].astype(str) == "pass")
    table = lesion(replace(result, summary=beyond), "red", model=net, repeats=2)
    assert set(table["layer"]) == {"pass"}  # the one layer beyond chance, whatever the others' excess
    summary = result.summary.assign(evidence=False)
    summary.to_csv(tmp_path / "out" / "layer_summary.csv", index=False)
    # the command line: one line, exit 2 (the run's files changed, so run.json's checksum refuses it first, or
    # the verdict does; either way no layer inside its null is lesioned)
    assert main(["lesion", str(tmp_path / "out"), "--category", "red"]) != 0
    assert not (tmp_path / "out" / "lesion-red").exists()


def test_the_lesion_figure_of_an_untrained_network_says_so(tmp_path):
    from matplotlib.figure import Figure

    from catsel.study.lesions import plot_lesion

    result, net = _run(tmp_path, _network())
    table = lesion(result, "red", layer="det", units="top:1", repeats=2, model=net)
    ax = plot_lesion(table, ax=Figure().subplots())
    title = " ".join(ax.get_title().split())  # as wrapped to the figure's width
    assert "UNTRAINED" not in title and "N = 48 images" in title and "specific to it" in title
    Counting.of(table).replace(trained=False).on(table)
    ax = plot_lesion(table, ax=Figure().subplots())
    assert "UNTRAINED NETWORK" in ax.get_title() and ax.title.get_color() == "#b00000"


def test_a_lesion_says_how_long_it_will_take_and_shows_its_progress(tmp_path, capsys):
    """Issue #38: `catsel lesion` ran 9 minutes with no output."""
    result, net = _run(tmp_path, _network())
    capsys.readouterr()
    lesion(result, "red", layer="det", units="top:1", repeats=3, model=net, progress=True)
    err = capsys.readouterr().err
    assert "lesion: 5 folds x (3 random sets + its selective and least selective units): about" in err
    assert "0/25 [" in err  # the bar over every pass


def test_a_random_control_of_a_lesion_of_most_of_a_layer_is_drawn_from_the_whole_layer(tmp_path):
    from catsel.study.lesions import lesion_sentences

    result, net = _run(tmp_path, _network())
    # three of det's four units: the old control drew "3 random units" from the one unit left, the same every time
    with pytest.warns(UserWarning, match=r"3 of the 4 units of det are red-selective \(more than half\)"):
        table = lesion(result, "red", layer="det", units="top:3", repeats=10, model=net)
    for chosen, draws in zip(table.attrs["chosen"], table.attrs["random_sets"]):
        assert len(draws) == 10 and all(len(d) == len(chosen) == 3 for d in draws)  # as many units as the lesion
        assert len({tuple(sorted(d)) for d in draws}) > 1  # draws that differ
        assert any(set(d) & set(chosen) for d in draws)  # from the whole layer: the selected may be among them
    rows = table.set_index("scored_category")
    assert (rows["p_value"] >= 1 / 11).all() and (rows["random_from"] == "the whole layer").all()
    assert "a set of 3 units none of them selected cannot be drawn from the 1 left" in " ".join(
        lesion_sentences(table))


def test_a_lesion_that_drops_other_categories_as_much_is_said_not_specific(tmp_path):
    from catsel.study.lesions import lesion_sentences

    result, net = _run(tmp_path, _network())
    with pytest.warns(UserWarning, match="more than half"):
        broad = lesion(result, "red", layer="det", units="top:3", repeats=5, model=net)  # red, green, blue
    rows = broad.set_index("scored_category")
    assert rows.loc["green", "drop_selected"] > 0.5 and not rows.loc["red", "specific"]
    said = lesion_sentences(broad)[0]
    assert "not specific:" in said and "drops" in said
    narrow = lesion(result, "red", layer="det", units="top:1", repeats=5, model=net)  # the red detector alone
    assert narrow.set_index("scored_category").loc["red", "specific"]
    assert "; specific: red drops more than any other category" in lesion_sentences(narrow)[0]
