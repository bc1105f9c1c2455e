"""One verdict per layer and category (issue #38): calibrated under shuffled labels, and the same in every output."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import catsel
from catsel.selecting.tables import Counting
from catsel import Activations, stats
from catsel.apps.cli import main
from catsel.study.verdict import verdict_sentences
from conftest import write_image

SIZE = 8


def _null(seed: int, per: int = 15) -> Activations:
    """Three layers of independent units, four categories: no unit knows the labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), per)
    layers = {name: rng.gamma(2.0, size=(len(labels), 40)) for name in ("l1", "l2", "l3")}
    return Activations.from_arrays(layers, labels, list("abcd"))


def test_the_verdict_marks_at_most_the_stated_share_of_null_layers():
    """Calibration: on activations that carry no category information, a layer x category count is marked as
    evidence no more often than the stated level (per count, and per run, as the correction promises)."""
    level, runs, marked, any_marked, p_values = 0.05, 40, 0, 0, []
    for seed in range(runs):
        acts = _null(seed)
        summary = stats.with_baselines(catsel.layer_summary(catsel.selectivity(acts)), acts, shuffled=True,
                                       shuffles=199, level=level, seed=seed)
        marked += int(summary["evidence"].sum())
        any_marked += bool(summary["evidence"].any())
        p_values += list(summary["null_p"])
    counts = runs * 12
    assert marked / counts <= level
    # the false-discovery correction holds the chance that a run marks anything near the level
    assert any_marked <= binom.ppf(0.99, runs, level)
    assert 0.35 < np.mean(p_values) < 0.65  # the counts' p-values spread over [0, 1] under the null


def test_a_planted_layer_is_marked_and_a_null_one_is_not():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 20)
    planted = rng.gamma(2.0, size=(60, 40))
    planted[labels == 0, :24] += 1.5  # 24 of 40 units answer more to category a, each with its own noise
    acts = Activations.from_arrays({"planted": planted, "null": rng.gamma(2.0, size=(60, 40))}, labels,
                                   ["a", "b", "c"])
    summary = stats.with_baselines(catsel.layer_summary(catsel.selectivity(acts)), acts, shuffled=True,
                                   shuffles=299).set_index(["layer", "category"])
    assert summary.loc[("planted", "a"), "evidence"]
    assert summary.loc[("planted", "a"), "null_p"] == pytest.approx(1 / 300)
    assert not summary.loc["null", "evidence"].any()
    assert not summary.loc[("planted", "b"), "evidence"] and not summary.loc[("planted", "c"), "evidence"]
    best = catsel.best_layers(summary.reset_index(), by="excess").set_index("category")
    assert best.loc["a", "layer"] == "planted" and best.loc[["b", "c"], "layer"].isna().all()


def test_the_p_value_counts_the_observation_and_its_ties():
    draws = np.array([[[0.1]], [[0.3]], [[0.3]], [[0.5]]])
    assert stats.null_p_values(np.array([[0.3]]), draws)[0, 0] == pytest.approx((1 + 3) / 5)
    assert stats.null_p_values(np.array([[0.9]]), draws)[0, 0] == pytest.approx(1 / 5)
    assert stats.shuffles_needed(50, 0.05) == 999  # one count among 50 can reach 0.05 with 1000 shuffles


def _pixel_network() -> keras.Model:
    """``det``: 16 units, each the red value of its own pixel (red images are redder everywhere, each pixel with
    its own noise); ``grey``: 16 units, each the blue value of its own pixel (the same in every category)."""
    inp = keras.Input((SIZE, SIZE, 3))
    flat = keras.layers.Flatten()(inp)
    det = keras.layers.Dense(16, activation="relu", name="det")
    grey = keras.layers.Dense(16, activation="relu", name="grey")
    out = keras.layers.Dense(2, name="out")(keras.layers.Concatenate()([det(flat), grey(flat)]))
    model = keras.Model(inp, out)
    for layer, channel in ((det, 0), (grey, 2)):
        w = np.zeros((SIZE * SIZE * 3, 16), np.float32)
        for j in range(16):
            w[j * 3 + channel, j] = 1 / 255  # pixel j's channel (Flatten keeps pixels together)
        layer.set_weights([w, np.zeros(16, np.float32)])
    return model


def _pixel_folder(root):
    rng = np.random.default_rng(0)
    for name, shift in (("red", 40), ("plain", 0), ("grey", 0)):
        for i in range(20):
            img = rng.integers(0, 120, size=(SIZE, SIZE, 3))
            img[..., 0] += shift
            write_image(root / name / f"{i:02d}.png", img)
    return root


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    _pixel_network().save(root / "pixels.keras")
    data = _pixel_folder(root / "data")
    return root, data


def test_the_same_verdict_in_the_printout_the_table_the_figure_and_the_report(planted_run, capsys):
    root, data = planted_run
    out = root / "out"
    assert main(["run", str(data), "--out", str(out), "--model", str(root / "pixels.keras"), "--preprocess", "raw",
                 "--image-size", str(SIZE), "--layers", "det,grey", "--no-progress", "--shuffles", "300"]) == 0
    printed = capsys.readouterr().out
    summary = pd.read_csv(out / "layer_summary.csv").set_index(["layer", "category"])
    assert summary.loc[("det", "red"), "verdict"] == "beyond chance"
    assert (summary.drop(index=("det", "red"))["verdict"] == "within chance").all()
    # the printout: the marked cell, and the sentences
    table = printed.split("Verdict:")[0]
    det = next(line for line in table.splitlines() if line.startswith("det "))
    grey = next(line for line in table.splitlines() if line.startswith("grey "))
    assert det.count("*") == 1 and "*" not in grey
    assert "red: beyond chance in 1 of 2 layers" in printed and "most above the null in det" in printed
    assert "grey: no layer shows evidence" in printed
    assert "plain: no layer shows evidence of plain-selective units beyond chance; no best layer." in printed
    # Figure 1: filled markers where the count is beyond chance, hollow ones elsewhere (read from its artists)
    result = catsel.load_run(out)
    fig = result.figure()
    panels = {ax.get_title().split(" (N=")[0]: ax for ax in fig.axes if ax.get_title()}
    for category, beyond in (("red", {0}), ("plain", set()), ("grey", set())):
        hollow = [line for line in panels[category].get_lines() if line.get_markerfacecolor() == "white"
                  and len(line.get_xdata())]
        within = set(np.concatenate([line.get_xdata() for line in hollow]).astype(int)) if hollow else set()
        assert within == {0, 1} - beyond
    # the report says the same
    html = catsel.write_report(result).read_text()
    assert "red: beyond chance in 1 of 2 layers" in html and "plain: no layer shows evidence" in html
    assert "beyond chance" in html and "within chance" in html


def test_the_untrained_twin_stands_beside_the_count(planted_run, capsys):
    root, data = planted_run
    out = root / "with-null"
    assert main(["run", str(data), "--out", str(out), "--model", str(root / "pixels.keras"), "--preprocess", "raw",
                 "--image-size", str(SIZE), "--layers", "det,grey", "--no-progress", "--shuffles", "300",
                 "--null"]) == 0
    printed = capsys.readouterr().out
    summary = catsel.load_run(out).summary.set_index(["layer", "category"])
    assert {"proportion_untrained", "untrained_evidence", "as_many_untrained"} <= set(summary.columns)
    det = next(line for line in printed.split("Verdict:")[0].splitlines() if line.startswith("det "))
    assert f"untr. {summary.loc[('det', 'red'), 'proportion_untrained'] * 100:.1f}" in det
    # the trained count is beyond the untrained one here; where it is not, the verdict says so in words
    assert not summary.loc[("det", "red"), "as_many_untrained"]
    twin = summary.reset_index().assign(as_many_untrained=True)
    Counting.of(twin).replace(level=0.05).on(twin)
    lines = " ".join(verdict_sentences(twin))
    assert "As many in the untrained network in every one of them" in lines


def test_the_untrained_twin_beyond_its_null_is_a_confound_alarm():
    summary = pd.DataFrame({"layer": pd.Categorical(["c1", "c1", "c2", "c2"], ["c1", "c2"]),
                            "category": pd.Categorical(["face", "car"] * 2, ["face", "car"]),
                            "untrained_evidence": [False, True, False, True]})
    alarm = stats.untrained_confounds(summary)
    assert alarm == ["car: the untrained network (random weights) already has more car-selective units than "
                     "chance in 2 of 2 layers (c1, c2), so the car images differ from the others in low-level "
                     "statistics"]
    assert stats.untrained_confounds(summary.drop(columns="untrained_evidence")) == []


def test_untrained_seeds_without_the_untrained_control_is_one_line_before_any_work(planted_run, capsys):
    root, data = planted_run
    out = root / "seeds"
    assert main(["run", str(data), "--out", str(out), "--model", str(root / "pixels.keras"), "--untrained-seeds",
                 "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--untrained-seeds 2 sets how many untrained networks --null captures; add --null" in err
    assert not out.exists()


def test_an_untrained_network_records_no_untrained_twin(tmp_path):
    from conftest import square_folder

    data = square_folder(tmp_path / "data", {"red": 6, "green": 6}, seed=0, noise=60, box=(2, 8, 2, 8), value=200)
    with pytest.warns(UserWarning, match="this network is untrained itself, so none is captured"):
        result = catsel.run(data, tmp_path / "out", model="vgg16", weights="none", image_size=32,
                            layers=["block1_conv1"], null=True, untrained_seeds=2, progress=False, shuffles=50)
    assert result.record.null_baselines is False and result.record.untrained_seeds is None
    assert not (tmp_path / "out" / "untrained").exists()


def test_a_category_without_evidence_is_told_its_strongest_count_and_why_it_is_not_enough():
    summary = pd.DataFrame({"layer": pd.Categorical(["a", "b"], ["a", "b"]), "category": ["x", "x"],
                            "proportion": [0.85, 0.4], "excess": [0.55, 0.1], "null_high": [0.758, 0.5],
                            "null_p": [0.003, 0.2], "null_q": [0.12, 0.2], "evidence": [False, False]})
    line = verdict_sentences(summary)[0]
    assert line.startswith("x: no layer shows evidence of x-selective units beyond chance; no best layer.")
    assert ("Its strongest count, a (85.0%), has p = 0.003 (the share of shuffles that reach it; their 95th "
            "percentile is 75.8%) and q = 0.12 over the 2 counts.") in line
