"""The library pipeline (catsel.run, load_run) and the rules written once (issue: one pipeline in the library)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import catsel
from catsel import stats
from catsel.selecting import tables
from catsel.apps.cli import main
from conftest import SAMPLE_DATA
from helpers import hand_set_acts, small_cnn


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("lib") / "run"
    return catsel.run(SAMPLE_DATA, out, image_size=32, weights="none", layers=["block1_conv1", "block3_conv3"],
                      null=True, progress=False)


def test_run_returns_every_product_and_writes_what_the_command_writes(result, tmp_path):
    assert isinstance(result, catsel.RunResult) and result.model.trained is False
    for name in catsel.study.pipeline.OUTPUTS:
        assert (result.out / name).exists(), name
    written = pd.read_csv(result.out / "selectivity.csv")
    assert len(written) == len(result.table) and written["selective"].sum() == result.table["selective"].sum()
    assert json.loads((result.out / "run.json").read_text()) == result.record.to_json()
    assert {"null_proportion", "null_high", "excess"} <= set(result.summary.columns)
    assert result.record["images_per_category"] == result.activations.counts
    assert "RunResult(" in repr(result) and "images in 4 categories" in repr(result)

    # the command is the same pipeline: the same options give the same table
    out = tmp_path / "cli"
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1,block3_conv3", "--null", "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "selectivity.csv"), written)
    pd.testing.assert_frame_equal(pd.read_csv(out / "layer_summary.csv"), pd.read_csv(result.out / "layer_summary.csv"))


def test_load_run_reads_a_finished_run_back(result):
    again = catsel.load_run(result.out)
    assert again.model is None and again.settings.threshold == result.settings.threshold
    assert list(again.table["layer"].cat.categories) == list(result.activations.layers)
    assert (again.table["selective"].to_numpy() == result.table["selective"].to_numpy()).all()
    np.testing.assert_allclose(again.summary["proportion"], result.summary["proportion"])
    assert again.best_layers().equals(result.best_layers())


def test_load_run_reads_a_table_written_with_the_former_column_name(result, tmp_path):
    import hashlib
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(result.out, old)
    table = pd.read_csv(old / "selectivity.csv").rename(columns={"unit": "filter"})
    table.to_csv(old / "selectivity.csv", index=False)
    record = json.loads((old / "run.json").read_text())
    record["files"]["selectivity.csv"] = hashlib.sha256((old / "selectivity.csv").read_bytes()).hexdigest()
    (old / "run.json").write_text(json.dumps(record))
    again = catsel.load_run(old)
    assert "filter" not in again.table and (again.table["unit"].to_numpy() == result.table["unit"].to_numpy()).all()


def test_load_run_on_a_bare_store_says_what_is_missing(tmp_path, colour_folder):
    amodel = catsel.activation_model(small_cnn(), layers=["c1"])
    catsel.capture(amodel, catsel.ImageFolder(colour_folder, image_size=12), tmp_path, progress=False)
    with pytest.raises(catsel.StoreError, match="not a finished run"):
        catsel.load_run(tmp_path)


@pytest.mark.parametrize("options, message", [
    ({"index": "nope"}, "unknown index 'nope'"),
    ({"fit": "stretch"}, "unknown fit 'stretch'"),
    ({"alpha": 1.5}, "^alpha must lie between 0 and 1"),
    ({"batch_size": 0}, "^batch_size must be a positive integer"),
    ({"select_by": "q"}, "needs p-values"),
])
def test_settings_are_checked_in_one_place(options, message):
    with pytest.raises(catsel.CatselError, match=message):
        catsel.Settings(**options)


def test_the_selective_rule_is_one_function_everyone_calls(planted_acts):
    table = catsel.selectivity(planted_acts, threshold=0.05)
    expected = tables.selective_rule(table["above_chance"], table["constant"], 0.05)
    assert (table["selective"].to_numpy() == expected).all()
    # the threshold explorer's fast counts agree with layer_summary at any threshold
    from catsel.apps import widgets

    explorer = widgets.explore_thresholds(table)
    for threshold in (0.0, 0.02, 0.2):
        explorer.threshold.value = threshold
        rule = catsel.layer_summary(catsel.selectivity(planted_acts, threshold=threshold))
        np.testing.assert_array_equal(explorer.summary["n_selective"], rule["n_selective"])


def test_selective_rule_by_q_value_and_both():
    above = np.array([0.2, 0.2, 0.005, -0.1])
    constant = np.array([False, True, False, False])
    q = np.array([0.01, 0.01, 0.01, 0.01])
    assert tables.selective_rule(above, constant, 0.01, q_value=q, select_by="q").tolist() == [True, False, True, False]
    assert tables.selective_rule(above, constant, 0.01, q_value=q, select_by="both").tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="needs q-values"):
        tables.selective_rule(above, constant, 0.01, select_by="q")


def test_a_registered_index_is_available_everywhere(planted_acts):
    @catsel.register_index("peak", "mean activity on the category over the unit's peak (chance: its share)")
    def _peak(a, members, eps):
        counts = members.sum(axis=1)
        return (members @ a) / counts[:, None] / (a.max(axis=0) + eps), counts / counts.sum()

    try:
        table = catsel.selectivity(planted_acts, index="peak")
        assert (table["index"] == "peak").all() and table["selectivity"].between(0, 1).all()
        assert catsel.Settings(index="peak").index == "peak"
        from catsel.apps import widgets

        assert "peak" in widgets.explore_thresholds(planted_acts).index.options
    finally:
        del catsel.INDICES["peak"]


def test_baselines_are_merged_by_one_function(planted_acts):
    summary = catsel.layer_summary(catsel.selectivity(planted_acts, threshold=0.02))
    both = stats.with_baselines(summary, planted_acts, threshold=0.02, bootstrap=10, shuffled=True,
                                controls={"again": planted_acts})
    assert {"low", "high", "null_proportion", "null_high", "excess", "proportion_again"} <= set(both.columns)
    np.testing.assert_allclose(both["proportion_again"], summary["proportion"])  # same data, same rule
    from catsel.selecting.tables import Counting

    assert Counting.of(both).threshold == 0.02 and len(both) == len(summary)


def _study_summary(proportions: dict, n_units=10) -> pd.DataFrame:
    """A layer summary with a null: ``proportions`` maps category → per-layer excess over the null."""
    layers = ["block1_conv1", "block3_conv1", "block4_conv3", "block5_conv3"]
    rows = [{"layer": l, "category": c, "n_units": n_units, "proportion": 0.2 + v[i], "null_proportion": 0.2,
             "excess": v[i], "n_selective": round((0.2 + v[i]) * n_units)}
            for c, v in proportions.items() for i, l in enumerate(layers)]
    summary = pd.DataFrame(rows)
    summary["layer"] = pd.Categorical(summary["layer"], layers, ordered=True)
    summary["category"] = pd.Categorical(summary["category"], list(proportions), ordered=True)
    return summary


def test_paper_findings_against_the_null_and_the_untrained_network():
    like_paper = _study_summary({"face": [0, 0, 0.3, 0.4], "i-see-face": [0.3, 0.2, 0, 0],
                                 "car": [0.4, 0.3, 0, 0], "dog": [0, 0.1, 0.4, 0.5]})
    flat = _study_summary({c: [0.0, 0.0, 0.0, 0.0] for c in ("face", "i-see-face", "car", "dog")})
    table = catsel.study.paper.findings(like_paper, untrained=flat).set_index("finding")
    assert table["holds"].all() and (table["verdict"] == "exceeds the untrained network").all()
    # the same pattern in the untrained network: it holds, but is no evidence of training
    same = catsel.study.paper.findings(like_paper, untrained=like_paper)
    assert (same["verdict"] == "does not exceed the untrained network").all()
    # below the null nothing holds
    assert not catsel.study.paper.findings(flat)["holds"].any()
    text = catsel.study.paper.findings_text(table.reset_index(), trained=False)
    assert text[0].startswith("Dog-selective units outnumber face-selective ones: paper yes; here yes")
    assert "appears without any training" in text[-1]
    other = catsel.layer_summary(catsel.selectivity(hand_set_acts()))
    assert catsel.study.paper.findings_text(catsel.study.paper.findings(other)) == [
        "The paper's categories and layers are not all in this dataset."]


def test_store_meta_is_typed_and_round_trips(planted_acts):
    meta = planted_acts.meta
    assert isinstance(meta, catsel.StoreMeta) and meta.layer("conv1").map_shape is not None
    assert catsel.StoreMeta.from_json(meta.to_json()) == meta
    on_disk = json.loads((planted_acts.path / "meta.json").read_text())
    assert on_disk == meta.to_json()
    with pytest.raises(catsel.StoreError, match="is not a catsel activations store"):
        catsel.StoreMeta.from_json({"format": "other"}, "x/meta.json")


def test_light_modules_do_not_import_keras():
    modules = ["catsel.apps.widgets", "catsel.store", "catsel.selecting.tables", "catsel.selecting.selection", "catsel.study.pipeline",
               "catsel.network.receptive", "catsel.stats", "catsel.figures.plots", "catsel.options", "catsel.study.paper"]
    code = f"import sys, {', '.join(modules)}; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_package_names_are_functions_and_modules_stay_modules():
    import catsel.capturing
    import catsel.selecting.selection

    assert callable(catsel.capture) and callable(catsel.selectivity)
    assert catsel.capturing.capture is catsel.capture and catsel.selecting.selection.selectivity is catsel.selectivity


def test_version_and_short_reprs(capsys, planted_acts):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"catsel {catsel.__version__}"
    text = repr(planted_acts)
    assert text.startswith("Activations(") and "images" in text and len(text) < 300  # not every array


def test_notebook_paths_find_the_sample_data_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, out = catsel.images.folder.notebook_paths(None, None)
    assert data == SAMPLE_DATA and out == SAMPLE_DATA.parent / "runs" / "notebooks"
    assert catsel.images.folder.notebook_paths("mine", "there") == (catsel.images.folder.Path("mine"), catsel.images.folder.Path("there"))


def test_the_record_keeps_every_setting_a_figure_or_the_report_names(colour_folder, tmp_path):
    from catsel.study.report import write_report

    settings = catsel.Settings(model=small_cnn(size=12), preprocess="tf", threshold=0.05, shuffles=7, seed=3,
                               bootstrap=5, progress=False)
    result = catsel.run(colour_folder, tmp_path / "out", settings)
    assert isinstance(result.record, catsel.study.pipeline.RunRecord) and result.record.shuffles == 7
    back = catsel.load_run(tmp_path / "out")
    assert back.record == result.record  # written and read as one typed record
    for name in ("threshold", "shuffles", "seed", "bootstrap", "fit", "batch_size", "index", "select_by"):
        assert getattr(back.settings, name) == getattr(settings, name), name
    page = write_report(back).read_text(encoding="utf-8")
    assert "7 label shuffles" in page and "20 shuffles" not in page


def test_several_untrained_networks_give_a_band_that_holds_each_of_them(colour_folder, tmp_path):
    from catsel.network.models import untrained_control

    result = catsel.run(colour_folder, tmp_path / "out", model=small_cnn(size=12), preprocess="tf", null=True,
                        untrained_seeds=3, seed=4, progress=False)
    summary = result.summary.set_index(["layer", "category"])
    assert {"proportion_untrained", "untrained_low", "untrained_high"} <= set(summary.columns)
    assert result.record.untrained_seeds == 3
    each = []
    for seed in (4, 5, 6):  # each initialisation alone, as the run made it
        control = untrained_control(catsel.activation_model(small_cnn(size=12), preprocess="tf"), seed=seed)
        acts = catsel.capture(control, catsel.ImageFolder(colour_folder, image_size=12), tmp_path / f"s{seed}",
                              progress=False)
        each.append(catsel.layer_summary(catsel.selectivity(acts)).set_index(["layer", "category"])["proportion"])
    for proportion in each:
        assert (summary["untrained_low"] <= proportion + 1e-12).all()
        assert (proportion <= summary["untrained_high"] + 1e-12).all()
    np.testing.assert_allclose(summary["proportion_untrained"], np.mean(each, axis=0))
    assert any((e != each[0]).any() for e in each[1:])  # the seeds made different networks
    assert (tmp_path / "out" / "untrained-seed6").is_dir()


def test_units_chosen_on_a_localizer_are_counted_on_the_test_images_as_by_hand(tmp_path):
    from conftest import square_folder

    square_folder(tmp_path / "localizer", dict.fromkeys(["red", "green", "blue"], 8), seed=1, noise=60,
                  box=(2, 10, 2, 10), value=200)
    square_folder(tmp_path / "test", dict.fromkeys(["red", "green", "blue"], 8), seed=2, noise=60,
                  box=(2, 10, 2, 10), value=200)
    net = small_cnn(size=12)
    result = catsel.run(tmp_path / "test", tmp_path / "out", model=net, preprocess="tf", image_size=12,
                        localizer=tmp_path / "localizer", progress=False)
    # by hand: choose on folder A, count on folder B
    amodel = catsel.activation_model(net, preprocess="tf", image_size=12)
    a = catsel.capture(amodel, catsel.ImageFolder(tmp_path / "localizer", image_size=12), tmp_path / "a",
                       progress=False)
    b = catsel.capture(amodel, catsel.ImageFolder(tmp_path / "test", image_size=12), tmp_path / "b", progress=False)
    chosen = catsel.selectivity(a)["selective"].to_numpy()
    counted = chosen & catsel.selectivity(b)["selective"].to_numpy()
    assert (result.table["chosen"].to_numpy() == chosen).all()
    assert (result.table["selective"].to_numpy() == counted).all()
    assert result.summary["n_selective"].sum() == counted.sum()
    # the null counts the chosen units only: never more than were chosen
    chosen_share = catsel.layer_summary(catsel.selectivity(a)).set_index(["layer", "category"])["proportion"]
    null = result.summary.set_index(["layer", "category"])["null_high"]
    assert (null <= chosen_share + 1e-12).all()
    assert result.record.localizer == str((tmp_path / "localizer").resolve())
    with pytest.raises(catsel.CatselError, match="localizer"):
        catsel.Settings(localizer="x", select_by="pairwise")


def test_settings_are_kept_by_stage_and_given_flat():
    import copy

    from catsel.study.settings import AnalysisSettings, CaptureSettings, OutputSettings

    settings = catsel.Settings(model="vgg19", batch_size=8, threshold=0.05, progress=False)
    assert settings.capture == CaptureSettings(model="vgg19", batch_size=8)
    assert settings.analysis == AnalysisSettings(threshold=0.05) and settings.output == OutputSettings(progress=False)
    assert (settings.model, settings.threshold, settings.progress) == ("vgg19", 0.05, False)
    changed = settings.replace(threshold=0.1)
    assert changed.capture is settings.capture and changed.threshold == 0.1 and settings.threshold == 0.05
    assert copy.deepcopy(settings) == settings and copy.deepcopy(settings) is not settings  # as they are sent
    with pytest.raises(AttributeError, match="frozen"):
        settings.threshold = 0.2
    with pytest.raises(TypeError, match="'bogus'"):
        catsel.Settings(bogus=1)
    names = {f for part in (CaptureSettings, AnalysisSettings, OutputSettings) for f in part.__dataclass_fields__}
    assert len(names) == sum(len(p.__dataclass_fields__) for p in (CaptureSettings, AnalysisSettings, OutputSettings))
