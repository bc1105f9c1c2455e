"""Units against the brain (issue #35): planted structures, no downloads.

- a layer that carries a planted structure is the one whose RDM is closest to subjects' RDMs made from it
  with noise; the noise ceiling is rsatoolbox's on the same matrices; the bootstrap interval covers the value
  on a much larger sample of the same images' process;
- a region driven by a planted category detector is encoded by the selective units beyond random sets of as
  many units, a region driven by other units is not;
- names: shuffled order gives the same result; missing, extra and duplicated names are each one line;
- a .mat and a .csv RDM give the result of the .npy;
- the encoding's reduction is fitted on training images only;
- the untrained twin beside every curve; the command writes brain.csv and brain.png.
"""

from __future__ import annotations

import json
import types
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rsatoolbox")

from catsel.brain import BrainRDMs, BrainResponses, compare_brain, load_rdms, load_responses  # noqa: E402
from catsel.errors import BrainDataError, CatselError  # noqa: E402
from catsel.store import Activations  # noqa: E402

CATEGORIES = ("face", "car", "dog")


def _corr_rdm(x: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import pdist, squareform

    return squareform(pdist(x, "correlation"))


def _planted(n: int, seed: int, subjects: int = 5):
    """Four layers of which l2 carries a latent structure; subjects' RDMs made from that structure with noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    latent = rng.normal(size=(n, 6))
    weights = np.random.default_rng(99).normal(size=(6, 30))  # the same layer for every sample size
    maxima = {f"l{k}": rng.normal(size=(n, 30)) for k in range(4)}
    maxima["l2"] = latent @ weights + 0.5 * rng.normal(size=(n, 30))
    paths = [f"{CATEGORIES[c]}/img{i:04d}.png" for i, c in enumerate(labels)]
    acts = Activations.from_arrays(maxima, labels, CATEGORIES, paths=paths)
    subject_rdms = np.stack([_corr_rdm(latent @ weights + 1.5 * rng.normal(size=(n, 30)))
                             for _ in range(subjects)])
    return acts, BrainRDMs(subject_rdms, [p.split("/")[1] for p in paths], "planted")


def test_the_planted_layer_is_closest_the_ceiling_is_rsatoolboxs_and_the_interval_covers_the_value():
    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs

    acts, brain = _planted(60, seed=1)
    result = compare_brain(acts, rdm=brain, random_sets=0, bootstrap=200)
    rows = result.table[(result.table["target"] == "brain") & (result.table["network"] == "trained")]
    assert rows.loc[rows["value"].idxmax(), "layer"] == "l2"
    assert rows.set_index("layer").loc["l2", "value"] > 2 * rows[rows["layer"] != "l2"]["value"].abs().max()
    low, high = boot_noise_ceiling(RDMs(brain.matrices, pattern_descriptors={"index": np.arange(60)}),
                                   method="spearman", rdm_descriptor="index")
    assert np.allclose(rows[["ceiling_low", "ceiling_high"]].to_numpy(), [low, high], rtol=0, atol=1e-12)
    # the value the same process gives on many more images lies inside the interval
    big_acts, big_brain = _planted(900, seed=2)
    population = compare_brain(big_acts, rdm=big_brain, random_sets=0, bootstrap=0, layers=["l2"]).table
    planted = population[population["target"] == "brain"]["value"].iloc[0]
    l2 = rows.set_index("layer").loc["l2"]
    assert l2["low"] <= planted <= l2["high"]
    assert "closest layer l2" in result.notes[0]


@pytest.mark.parametrize("measure", ["spearman", "corr", "tau-a"])
def test_the_ranked_target_and_the_resampled_pairs_are_rsatoolboxs_compare_and_subsample(measure):
    from rsatoolbox.rdm import RDMs, compare

    from catsel.brain.rsa import Target, bootstrap_rows, resample_pairs, taken

    acts, brain = _planted(20, seed=6, subjects=3)
    model = RDMs(_corr_rdm(acts["l2"])[None], pattern_descriptors={"index": np.arange(20)})
    subjects = RDMs(brain.matrices, pattern_descriptors={"index": np.arange(20)})
    expected = compare(model, subjects, method=measure).mean()
    assert Target(subjects.get_vectors(), measure).score(model.get_vectors()[0]) == pytest.approx(expected, abs=1e-12)
    for rows in bootstrap_rows(20, 3, seed=0):
        where = resample_pairs(20, rows)
        expected = compare(model.subsample_pattern("index", rows), subjects.subsample_pattern("index", rows),
                           method=measure).mean()
        ours = Target(taken(subjects.get_vectors(), where), measure).score(taken(model.get_vectors(), where)[0])
        assert ours == pytest.approx(expected, abs=1e-12)


def _detector_run(n: int = 150, units: int = 300, seed: int = 0):
    """A layer whose units 0-3 are noisy face detectors; the rest are noise. A run-like object."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    face = (labels == 0).astype(float)
    layer = np.abs(rng.normal(size=(n, units)))
    layer[:, :4] = np.maximum(0, 2.0 * face[:, None] + 0.8 * rng.normal(size=(n, 4)))
    acts = Activations.from_arrays({"det": layer}, labels, CATEGORIES,
                                   paths=[f"{CATEGORIES[c]}/{i:03d}.png" for i, c in enumerate(labels)])
    regions = np.stack([face + 0.2 * rng.normal(size=n),                                   # FFA: the category
                        layer[:, 10:15].mean(axis=1) + 0.05 * rng.normal(size=n)], axis=1)  # other units
    settings = types.SimpleNamespace(index="paper", threshold=0.1)
    run = types.SimpleNamespace(activations=acts, settings=settings, summary=None, record=None, untrained=None,
                                table=None)
    return run, BrainResponses(regions, list(acts.paths), ["FFA", "other"], ["FFA", "other"], None, "planted")


def test_selective_units_encode_their_region_beyond_random_units_and_not_another():
    run, responses = _detector_run()
    result = compare_brain(run, responses=responses, selective_layers=["det"], categories=["face"],
                           random_sets=100, bootstrap=0)
    chosen = result.table[result.table["units"] == "selective: face"].set_index("target")
    assert chosen.loc["FFA", "p"] <= 0.05
    assert chosen.loc["FFA", "value"] > chosen.loc["FFA", "random_95"]
    assert chosen.loc["other", "p"] > 0.05
    assert set(chosen["selection"]) == {"other half"}
    assert int(chosen["n_images"].iloc[0]) == 75  # evaluated on the half that did not choose the units
    assert any("beyond random units" in n and "FFA" in n for n in result.notes)


def test_shuffled_names_give_the_same_result_and_missing_extra_duplicated_are_one_line(tmp_path):
    acts, brain = _planted(30, seed=3, subjects=2)
    first = compare_brain(acts, rdm=brain, random_sets=0, bootstrap=20).table
    order = np.random.default_rng(0).permutation(30)
    shuffled = brain.take(order)
    again = compare_brain(acts, rdm=shuffled, random_sets=0, bootstrap=20).table
    pd.testing.assert_frame_equal(first, again)

    def one_warning(rdms):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = compare_brain(acts, rdm=rdms, random_sets=0, bootstrap=0).table
        said = [str(w.message) for w in caught if "images" in str(w.message)]
        assert len(said) == 1 and "\n" not in said[0]
        return table, said[0]

    missing = brain.take(np.arange(25))  # five of the run's images have no data
    table, said = one_warning(missing)
    assert "5 of the run's images are not in it" in said and set(table["n_images"]) == {25}
    extra = BrainRDMs(np.pad(brain.matrices, ((0, 0), (0, 2), (0, 2)), constant_values=1.0),
                      brain.names + ["elsewhere1.png", "elsewhere2.png"], "extra.npy")
    for m in extra.matrices:
        np.fill_diagonal(m, 0)
    _, said = one_warning(extra)
    assert "2 of its images are not in the run" in said and "elsewhere1.png" in said
    doubled = BrainRDMs(brain.matrices, brain.names[:-1] + [brain.names[0]], "doubled.npy")
    with pytest.raises(BrainDataError) as caught:
        compare_brain(acts, rdm=doubled, random_sets=0, bootstrap=0)
    assert "appear twice" in str(caught.value) and "doubled.npy" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_mat_and_csv_rdms_give_the_result_of_the_npy(tmp_path):
    from scipy.io import savemat

    acts, brain = _planted(24, seed=4, subjects=1)
    matrix = brain.matrices[0]
    (tmp_path / "names.txt").write_text("\n".join(brain.names) + "\n")
    np.save(tmp_path / "rdm.npy", matrix)
    savemat(tmp_path / "rdm.mat", {"rdm": matrix, "other": np.ones(3)})
    pd.DataFrame(matrix, columns=brain.names).to_csv(tmp_path / "rdm.csv", index=False)
    tables = []
    for file, names, variable in ((tmp_path / "rdm.npy", tmp_path / "names.txt", None),
                                  (tmp_path / "rdm.mat", tmp_path / "names.txt", "rdm"),
                                  (tmp_path / "rdm.csv", None, None)):
        rdms = load_rdms(file, names, variable=variable)
        tables.append(compare_brain(acts, rdm=rdms, random_sets=0, bootstrap=10).table)
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2], check_exact=False, rtol=1e-12)
    with pytest.raises(BrainDataError, match="holds 2 variables"):
        load_rdms(tmp_path / "rdm.mat", tmp_path / "names.txt")


@pytest.mark.parametrize("write, message", [
    (lambda p: np.save(p.with_suffix(".npy"), np.ones((4, 5))), "square"),
    (lambda p: np.save(p.with_suffix(".npy"), np.array([[0, np.nan, 1], [np.nan, 0, 1], [1, 1, 0]])), "NaN"),
    (lambda p: np.save(p.with_suffix(".npy"), np.array([[0, 1, 2], [3, 0, 1], [2, 1, 0]])), "not symmetric"),
    (lambda p: np.save(p.with_suffix(".npy"), np.array([{"a": 1}], dtype=object)), "unpickle"),
    (lambda p: np.save(p.with_suffix(".npy"), np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]])), "lists 2 image names"),
])
def test_bad_rdm_files_are_one_line_naming_the_file(tmp_path, write, message):
    path = tmp_path / "bad.npy"
    write(path)
    (tmp_path / "names.txt").write_text("a.png\nb.png\n")
    with pytest.raises(BrainDataError) as caught:
        load_rdms(path, tmp_path / "names.txt")
    text = str(caught.value)
    assert message in text and "\n" not in text and ("bad.npy" in text or "names.txt" in text)


def test_responses_with_repetitions_give_a_ceiling_and_a_table_without_names_column_is_one_line(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"{i}.png" for i in range(20)]
    signal = rng.normal(size=20)
    rows = [{"image": n, "repetition": r, "v1": s + 0.3 * rng.normal(), "v2": rng.normal()}
            for r in range(4) for n, s in zip(names, signal)]
    pd.DataFrame(rows).to_parquet(tmp_path / "r.parquet")
    data = load_responses(tmp_path / "r.parquet")
    assert data.repetitions.shape == (4, 20, 2) and data.names == names
    from catsel.brain.encoding import column_ceilings

    ceilings = column_ceilings(data.repetitions, 2)
    assert ceilings[0] > 0.9 and not ceilings[1] > 0.6  # a reliable column, and a column of noise
    pd.DataFrame(rows).drop(columns="image").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(BrainDataError, match="no column of image names"):
        load_responses(tmp_path / "bad.csv")


def test_the_reduction_is_fitted_on_training_images_only():
    from sklearn.base import BaseEstimator, TransformerMixin

    from catsel.brain.encoding import encoding_scores

    seen = []

    class Recorder(TransformerMixin, BaseEstimator):
        def fit(self, x, y=None):
            seen.append(("fit", {round(float(v), 9) for v in x[:, 0]}))
            return self

        def transform(self, x):
            seen.append(("transform", {round(float(v), 9) for v in x[:, 0]}))
            return x

    rng = np.random.default_rng(0)
    x = np.column_stack([np.arange(40.0), rng.normal(size=(40, 5))])
    encoding_scores(x, rng.normal(size=(40, 2)), folds=4, reduce=Recorder())
    fits = [rows for kind, rows in seen if kind == "fit"]
    assert len(fits) == 4 and all(len(rows) == 30 for rows in fits)  # never all 40 images
    # each fold's prediction transforms rows the fit never saw
    for k, (kind, rows) in enumerate(seen):
        if kind == "transform" and len(rows) == 10:
            fitted = [r for kind2, r in seen[:k] if kind2 == "fit"][-1]
            assert not rows & fitted


def test_the_untrained_twin_is_beside_every_curve_and_marked_in_the_figure():
    from catsel.figures.plots import UNTRAINED_MARK

    acts, brain = _planted(45, seed=5, subjects=2)
    rng = np.random.default_rng(7)
    twin = Activations.from_arrays({l: rng.normal(size=acts[l].shape) for l in acts.layers}, acts.labels,
                                   CATEGORIES, paths=acts.paths)
    result = compare_brain(acts, rdm=brain, untrained=twin, random_sets=0, bootstrap=200)
    trained = result.table[(result.table["network"] == "trained") & (result.table["target"] == "brain")]
    assert trained["untrained_value"].notna().all()
    assert trained.set_index("layer").loc["l2", "beats_untrained"] == True  # noqa: E712
    assert trained.set_index("layer").loc["l0", "beats_untrained"] == False  # noqa: E712
    assert (result.table["network"] == "untrained").sum() == len(trained) * (1 + 1 + 3)  # brain + models
    assert any("beyond the untrained twin's" in n and "in l2" in n for n in result.notes)
    display = result.display().plot()
    labels = [line.get_label() for line in display.axes_["rsa"].get_lines()]
    assert "brain RDM, untrained twin" in labels
    untrained_run = type(result)(result.table, result.notes, "net, untrained", False)
    figure = untrained_run.display().plot().figure_
    assert UNTRAINED_MARK in figure.get_suptitle()


@pytest.mark.slow
def test_the_command_writes_the_table_and_figure_and_refuses_bad_data_in_one_line(tmp_path, colour_folder,
                                                                                   capsys):
    from catsel.apps.cli import main
    from helpers import small_cnn

    model = tmp_path / "net.keras"
    small_cnn(size=12, seed=3).save(model)
    run = tmp_path / "run"
    assert main(["run", str(colour_folder), "--out", str(run), "--model", str(model), "--no-progress"]) == 0
    acts = __import__("catsel").load_activations(run)
    rng = np.random.default_rng(0)
    matrix = _corr_rdm(rng.normal(size=(len(acts), 5)))
    np.save(tmp_path / "rdm.npy", matrix)
    (tmp_path / "names.txt").write_text("\n".join(acts.paths) + "\n")
    capsys.readouterr()
    assert main(["brain", str(run), "--rdm", str(tmp_path / "rdm.npy"), "--names", str(tmp_path / "names.txt"),
                 "--random-sets", "20", "--bootstrap", "10", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "brain RDM: closest layer" in out and (run / "brain.png").is_file()
    assert acts.meta.trained is not False and "NOTE: untrained network" not in out
    untrained = tmp_path / "untrained-run"
    assert main(["run", str(colour_folder), "--out", str(untrained), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1,block5_conv3", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["brain", str(untrained), "--rdm", str(tmp_path / "rdm.npy"), "--names", str(tmp_path / "names.txt"),
                 "--random-sets", "0", "--bootstrap", "0", "--no-progress"]) == 0
    assert "NOTE: untrained network (random weights)" in capsys.readouterr().out
    table = pd.read_csv(run / "brain.csv")
    assert set(table["layer"]) == set(acts.layers) and {"rsa"} == set(table["analysis"])
    assert main(["report", str(run)]) == 0
    report = (run / "report.html").read_text()
    assert "Against the brain" in report and "closest layer" in report
    record = json.loads((run / "brain.json").read_text())
    for changed in ({"store_key": "another capture"}, {"rule": {**record["rule"], "threshold": 0.5}}):
        (run / "brain.json").write_text(json.dumps({**record, **changed}))
        assert main(["report", str(run)]) == 0
        report = (run / "report.html").read_text()
        assert "Against the brain" not in report  # not this run's comparison: said, not shown
        assert "rerun <code>catsel brain</code>" in report
    np.save(tmp_path / "bad.npy", np.ones((3, 4)))
    (run / "brain.csv").unlink()
    assert main(["brain", str(run), "--rdm", str(tmp_path / "bad.npy"), "--names", str(tmp_path / "names.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.npy" in err and "square" in err
    assert not (run / "brain.csv").exists()


def test_no_best_layer_without_evidence_and_the_note_says_so():
    acts, brain = _planted(30, seed=8, subjects=2)
    summary = pd.DataFrame([{"layer": l, "category": c, "proportion": 0.1, "evidence": False, "excess": 0.0}
                            for l in acts.layers for c in CATEGORIES])
    run = types.SimpleNamespace(activations=acts, summary=summary, settings=None, record=None, untrained=None,
                                table=None)
    result = compare_brain(run, rdm=brain, random_sets=20, bootstrap=0)
    assert not result.table["units"].str.startswith("selective").any()
    assert any(n.startswith("No layer shows evidence for face, car, dog") for n in result.notes)
    bare = compare_brain(acts, rdm=brain, random_sets=20, bootstrap=0)
    assert any("hold no verdict per layer" in n for n in bare.notes)
    for wrong in ({"layers": ["conv9"]}, {"selective_layers": ["conv9"]}, {"categories": ["cat"]}):
        with pytest.raises(BrainDataError, match="conv9|cat"):
            compare_brain(acts, rdm=brain, random_sets=2, bootstrap=0, **wrong)


@pytest.mark.parametrize("options, said", [({"folds": 1}, "folds 1"), ({"folds": 0}, "folds 0"),
                                           ({"bootstrap": -1}, "bootstrap -1"),
                                           ({"random_sets": -5}, "random sets -5")])
def test_an_option_out_of_its_range_is_one_line_before_any_work(options, said, monkeypatch):
    """--folds 1 ended in scikit-learn's traceback after the RDM work was done."""
    import catsel.brain.analysis as analysis

    run, responses = _detector_run(n=30, units=20)
    monkeypatch.setattr(analysis, "_category_layers", lambda *a, **k: pytest.fail("work began"))
    with pytest.raises(CatselError, match=said):
        compare_brain(run, responses=responses, selective_layers=["det"], **options)


def _layer_table(n_layers=52, beating=37, bootstrap=100, models=("animate vs rest",)):
    """A brain table of ``n_layers`` layers whose first ``beating`` beat their untrained twin at the smallest p a
    bootstrap can give, with category models and a noise ceiling."""
    from catsel.brain.analysis import COLUMNS, _judge

    rows = []
    for k in range(n_layers):
        p = 1 / (bootstrap + 1) if k < beating else 0.5
        base = {"analysis": "rsa", "network": "trained", "layer": f"layer{k}", "units": "all",
                "measure": "spearman", "value": 0.3 + 0.001 * k, "low": 0.25, "high": 0.35, "ceiling_low": 0.4,
                "ceiling_high": 0.6, "n_images": 92, "selection": np.nan}
        rows.append({**base, "target": "brain", "untrained_value": 0.1, "untrained_p": p})
        for name in models:
            rows.append({**base, "target": name, "value": 0.5, "ceiling_low": np.nan, "ceiling_high": np.nan})
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    table = _judge(table, 0.05).reindex(columns=COLUMNS)
    table["layer"] = pd.Categorical(table["layer"], categories=[f"layer{k}" for k in range(n_layers)], ordered=True)
    return table


def test_the_brain_printout_never_says_a_layer_cannot_beat_its_twin_beside_layers_that_do():
    from catsel.brain.analysis import _resolution
    from catsel.brain.words import brain_sentences

    table = _layer_table()
    assert table["beats_untrained"].sum() == 37  # together, at the smallest p, 37 layers pass the FDR
    said = brain_sentences(table) + _resolution(table, 100, 0, 0.05)
    assert "layer0" in said[0] and "beyond the untrained twin's" in said[0]
    assert not any("cannot beat" in line for line in said)
    assert not any("missed q" in line for line in said)  # no layer missed at the smallest p: nothing to explain
    one = _layer_table(beating=1)  # alone at the smallest p, one layer cannot pass over 52: that is explained
    said = _resolution(one, 100, 0, 0.05)
    assert len(said) == 1 and said[0].startswith("layer0 missed q <= 0.05") and "--bootstrap 1039" in said[0]


def test_category_models_have_their_own_panel_and_a_value_above_the_ceiling_is_flagged():
    from catsel.brain.display import BrainDisplay
    from catsel.brain.words import brain_sentences

    table = _layer_table(n_layers=6, beating=6)
    display = BrainDisplay.from_table(table).plot()
    assert set(display.axes_) == {"rsa", "models"}
    brain_labels = [line.get_label() for line in display.axes_["rsa"].get_lines()]
    assert not any("animate" in label for label in brain_labels)  # never against the brain's noise ceiling
    assert [line.get_label() for line in display.axes_["models"].get_lines()] == ["animate vs rest"]
    assert not display.axes_["models"].patches  # no ceiling band there
    table.loc[(table["target"] == "brain") & (table["layer"] == "layer5"), "value"] = 0.7  # above 0.6
    assert "ABOVE its upper bound" in brain_sentences(table)[0]


@pytest.mark.parametrize("suffix", [".txt", ".csv"])
def test_a_names_file_with_a_byte_order_mark_and_crlf_matches_its_first_name(tmp_path, suffix):
    from catsel.brain.data import read_names

    names = ["face/01.png", "dog/02.png"]
    text = ("image\r\n" if suffix == ".csv" else "") + "\r\n".join(names) + "\r\n"
    path = tmp_path / f"names{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # as Notepad saves UTF-8
    assert read_names(path) == names


@pytest.mark.parametrize("measure", ["spearman", "corr"])
def test_the_weighted_bootstrap_gives_the_re_ranked_bootstraps_values_on_92_images(measure):
    """Issue #50: each resample is no longer taken and ranked anew; the pairs are weighted by how often the
    resample holds them. Its values, and so the intervals, are the re-ranked bootstrap's (92 images, as the
    human IT data; ties in one layer and one subject)."""
    from catsel.brain.rsa import (Target, bootstrap_rows, brain_rdms, layer_rdm, rdm_table, resample_pairs, taken,
                                  weighted_bootstrap)

    acts, brain = _planted(92, seed=11, subjects=3)
    brain.matrices[0] = np.round(brain.matrices[0], 1)  # ties on the brain's side
    layers = {l: layer_rdm(acts[l]) for l in acts.layers}
    layers["l0"].dissimilarities = np.round(layers["l0"].dissimilarities, 1)  # and on a layer's
    table, draws = rdm_table(layers, {"brain": brain_rdms(brain)}, measure=measure, bootstrap=40, seed=3)
    target = brain_rdms(brain).get_vectors()
    for layer, model in layers.items():
        expected = []
        for rows in bootstrap_rows(92, 40, 3):
            where = resample_pairs(92, rows)
            expected.append(Target(taken(target, where), measure).score(taken(model.get_vectors(), where)[0]))
        np.testing.assert_allclose(draws[(layer, "brain")], expected, rtol=0, atol=1e-9)
        low, high = np.percentile(expected, [2.5, 97.5])
        row = table.set_index("layer").loc[layer]
        assert abs(row["low"] - low) < 1e-9 and abs(row["high"] - high) < 1e-9
    one = weighted_bootstrap({"l1": layers["l1"].get_vectors()[0]}, target, bootstrap_rows(92, 5, 0), measure,
                             workers=1)
    assert np.isfinite(one["l1"]).all()  # one thread gives what several do
    np.testing.assert_allclose(one["l1"], weighted_bootstrap({"l1": layers["l1"].get_vectors()[0]}, target,
                                                             bootstrap_rows(92, 5, 0), measure, workers=2)["l1"])


@pytest.mark.parametrize("distance", ["correlation", "euclidean"])
def test_a_layers_rdm_is_rsatoolboxs_calc_rdm(distance):
    """Issue #50: the pairs' dissimilarities through BLAS, not rsatoolbox's einsum; the same values."""
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    from catsel.brain.rsa import layer_rdm

    values = np.random.default_rng(4).normal(size=(40, 300)).astype(np.float32)
    expected = calc_rdm(Dataset(values.astype(np.float64)), method=distance).get_vectors()
    np.testing.assert_allclose(layer_rdm(values, distance=distance).get_vectors(), expected, rtol=1e-10, atol=1e-12)


def test_ranks_are_scipys_rankdata_with_and_without_ties():
    from scipy.stats import rankdata

    from catsel.brain.rsa import ranks

    rng = np.random.default_rng(0)
    for vector in (rng.random(1000), np.round(rng.random(1000), 2), np.zeros(5), np.array([3.0])):
        np.testing.assert_array_equal(ranks(vector), rankdata(vector))
