"""`catsel run` end to end (issue: core pipeline, section 7)."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import urllib.error

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import catsel
from catsel.apps.cli import main
from conftest import SAMPLE_DATA, write_image


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", refuse)


def test_run_on_the_sample_data_untrained(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--no-progress"]) == 0
    for name in ("selectivity.csv", "layer_summary.csv", "layer_proportions.png", "run.json"):
        assert (out / name).is_file(), name
    assert (out / "activations" / "meta.json").is_file()

    run = json.loads((out / "run.json").read_text())
    assert run["images_per_category"] == {"car": 32, "dog": 32, "face": 32, "i-see-face": 32}
    assert run["trained"] is False and "untrained" in run["weights"]
    assert run["image_size"] == 32 and run["model"] == "vgg16" and run["keras_backend"]
    assert len(run["layers"]) == 13
    # the data set's own README lies beside the category folders: it describes the data, it is no skipped image
    # (issue #38: the very first `make demo` reported it as a skipped file)
    assert run["skipped"] == []
    assert run["images_per_second"] > 0 and run["device"]

    table = pd.read_csv(out / "selectivity.csv")
    assert len(table) == 4224 * 4
    assert {"layer", "unit", "category", "selectivity", "chance", "selective"} <= set(table.columns)
    assert table["weights"].str.contains("untrained").all()
    np.testing.assert_allclose(table.groupby("category")["chance"].first(), 0.25)

    summary = pd.read_csv(out / "layer_summary.csv")
    assert summary["layer"].unique().tolist()[:2] == ["block1_conv1", "block1_conv2"]
    assert len(summary) == 13 * 4
    assert (summary["n_selective"] == table.groupby(["layer", "category"], sort=False)["selective"].sum().values).all()
    # every count stands beside its shuffled-label null, by default
    assert {"null_proportion", "null_high", "excess"} <= set(summary.columns)
    np.testing.assert_allclose(summary["excess"], summary["proportion"] - summary["null_proportion"])

    with Image.open(out / "layer_proportions.png") as png:
        assert png.size[0] > 800 and png.size[1] > 400
    printed = capsys.readouterr().out
    assert "Selective units per layer, with the shuffled-label null" in printed and "untrained" in printed
    assert "Capture: 128 images at" in printed and run["images_captured"] == 128

    # a rerun reuses the store: its speed is not made of rows it did not capture
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--no-progress"]) == 0
    again = json.loads((out / "run.json").read_text())
    assert again["images_captured"] == 0 and again["images_per_second"] is None
    assert "the existing capture reused, no image captured" in capsys.readouterr().out
    assert "Shuffled-label null: with labels that carry no information, the same rule marks" in printed


def test_default_weights_fall_back_to_untrained_loudly_when_offline(tmp_path, capsys, offline):
    out = tmp_path / "run"
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--limit", "4",
                 "--layers", "block1_conv1,block5_conv3", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "RUNNING THE UNTRAINED NETWORK" in err and "NOT the study's results" in err
    run = json.loads((out / "run.json").read_text())
    assert run["trained"] is False and run["weights_requested"] == "auto"
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in run["weights_fallback_reason"]


def test_explicit_imagenet_offline_is_an_error(tmp_path, capsys, offline):
    code = main(["run", str(SAMPLE_DATA), "--out", str(tmp_path / "o"), "--image-size", "32", "--weights", "imagenet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("catsel: error: ImageNet weights for vgg16 are not in Keras' cache")
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--layers", "block1_conv1,fc9"], "no layer named 'fc9'"),
    (["--layers", "fc1"], "dense top"),
])
def test_model_errors_are_one_line(tmp_path, capsys, args, message):
    code = main(["run", str(SAMPLE_DATA), "--out", str(tmp_path / "o"), "--image-size", "32", "--weights", "none", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_skipped_files_are_reported_and_strict_stops(tmp_path, capsys, colour_folder):
    (colour_folder / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (colour_folder / "red" / "notes.txt").write_text("x")
    out = tmp_path / "run"
    assert main(["run", str(colour_folder), "--out", str(out), "--model", "vgg16", "--image-size", "32",
                 "--weights", "none", "--layers", "block1_conv1", "--no-progress"]) == 0
    skipped = json.loads((out / "run.json").read_text())["skipped"]
    assert {s["path"] for s in skipped} == {"red/notes.txt", "red/broken.png"}  # from the data folder, one form
    assert "Skipped 2 file(s)" in capsys.readouterr().out

    code = main(["run", str(colour_folder), "--out", str(tmp_path / "strict"), "--image-size", "32",
                 "--weights", "none", "--layers", "block1_conv1", "--strict", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "notes.txt" in err and "strict" in err


def test_a_missing_folder_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "catsel", "run", str(tmp_path / "nowhere"), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"catsel: error: {tmp_path / 'nowhere'} does not exist" in proc.stderr


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", str(SAMPLE_DATA), "--out", "x", "--batch-size", "0"])
    assert exc.value.code == 2 and "positive integer" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vis") / "run"
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1,block3_conv3", "--no-progress"]) == 0
    return out


def test_visualize_one_filter_writes_a_panel(small_run, tmp_path, capsys):
    png = tmp_path / "panel.png"
    assert main(["visualize", str(small_run), "--layer", "block3_conv3", "--filter", "5", "--out", str(png),
                 "--steps", "4"]) == 0
    with Image.open(png) as im:
        assert im.size[0] > 800
    captured = capsys.readouterr()
    assert "Wrote" in captured.out and "picture of block3_conv3/5" in captured.err  # progress, with time left


def test_visualize_a_category_writes_its_representative_units(small_run, tmp_path, capsys):
    png = tmp_path / "face.png"
    assert main(["visualize", str(small_run), "--category", "face", "--top", "2", "--out", str(png),
                 "--steps", "20"]) == 0
    assert png.stat().st_size > 10_000
    said = capsys.readouterr()
    assert "pictures: 2 unit(s) x 20 steps at most: about" in said.err  # before the pictures, measured on a few steps
    table = said.out.split("Pictures (activation maximisation):\n", 1)[1].splitlines()[:2]
    # each picture made, or a failure of the picture said as such
    assert all(line.split()[1].startswith(("made", "FAILED")) for line in table), table


@pytest.mark.parametrize("args, message", [
    (["--layer", "block3_conv3"], "give --layer and --unit"),
    (["--layer", "fc1", "--unit", "0"], "no layer 'fc1'"),
    (["--layer", "block1_conv1", "--unit", "64"], "units 0 to 63"),
    (["--category", "cat"], "no category 'cat'"),
])
def test_visualize_errors_are_one_line(small_run, tmp_path, capsys, args, message):
    code = main(["visualize", str(small_run), "--out", str(tmp_path / "x.png"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_visualize_refuses_a_network_whose_weights_changed(small_run, tmp_path, capsys):
    meta_path = small_run / "activations" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["rebuild"]["seed"] = 1  # as if the recorded recipe no longer gave the captured weights
    copy = tmp_path / "run"
    import shutil
    shutil.copytree(small_run, copy)
    (copy / "activations" / "meta.json").write_text(json.dumps(meta))
    code = main(["visualize", str(copy), "--layer", "block1_conv1", "--unit", "0", "--out", str(tmp_path / "x.png")])
    # the edited recipe no longer gives the store's key: refused when the store is read, before any network
    assert code == 2 and "no longer give the store's key" in capsys.readouterr().err


@pytest.mark.slow
def test_statistics_options_add_columns_and_baselines(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1,block3_conv3", "--permutations", "99", "--bootstrap", "20", "--null",
                 "--reliability", "--no-progress"]) == 0
    table = pd.read_csv(out / "selectivity.csv")
    assert {"p_value", "q_value", "reliability", "replicated"} <= set(table.columns)
    assert table["reliability"].between(-1, 1).all()
    assert (table.groupby(["layer", "unit"])["reliability"].nunique() == 1).all()  # one value per unit
    assert (table["p_value"] >= 1 / (table["permutations"] + 1) - 1e-12).all() and table["p_value"].le(1).all()
    assert (table["q_value"] >= table["p_value"]).all()
    assert ((table["permutations"] >= 99) | table["constant"]).all()  # rare units may get more
    summary = pd.read_csv(out / "layer_summary.csv")
    assert {"low", "high", "null_proportion", "null_high", "excess"} <= set(summary.columns)
    assert {"replication", "replication_null", "replication_excess", "reliability_null"} <= set(summary.columns)
    assert (summary["low"] <= summary["proportion"] + 1e-12).all() and (summary["proportion"] <= summary["high"] + 1e-12).all()
    assert "proportion_untrained" not in summary  # the network is already untrained: no second capture
    run = json.loads((out / "run.json").read_text())
    assert run["permutations"] == 99 and run["fdr"] == "bh"
    # what was done, not what was asked: the network is untrained itself, so no untrained twin (issue #38)
    assert run["null_baselines"] is False and run["untrained_seeds"] is None


def test_select_by_q_marks_units_by_their_q_value(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--layers", "block3_conv3", "--permutations", "99", "--select-by", "q", "--alpha", "0.2",
                 "--no-progress"]) == 0
    table = pd.read_csv(out / "selectivity.csv")
    expected = (table["q_value"] < 0.2) & (table["above_chance"] > 0) & ~table["constant"]
    assert (table["selective"] == expected).all()
    assert "null_proportion" not in pd.read_csv(out / "layer_summary.csv")  # q-values control false discoveries


@pytest.mark.parametrize("args, message", [
    (["--select-by", "q"], "needs p-values"),
    (["--permutations", "9", "--select-by", "both", "--bootstrap", "5"], "use them with --select-by threshold"),
])
def test_statistics_option_errors(tmp_path, capsys, args, message):
    code = main(["run", str(SAMPLE_DATA), "--out", str(tmp_path / "o"), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1", "--no-progress", *args])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before any capture


@pytest.mark.slow
def test_null_with_a_trained_network_captures_the_untrained_control(tmp_path, colour_folder):
    from helpers import small_cnn

    path = tmp_path / "net.keras"
    small_cnn(size=12, seed=3).save(path)
    out = tmp_path / "run"
    assert main(["run", str(colour_folder), "--out", str(out), "--model", str(path), "--null", "--no-progress"]) == 0
    summary = pd.read_csv(out / "layer_summary.csv")
    assert {"null_proportion", "proportion_untrained"} <= set(summary.columns)
    control = catsel.load_activations(out / "untrained")
    trained = catsel.load_activations(out)
    assert control.meta.trained is False and "re-initialised" in control.meta.weights
    assert control.meta.network_digest != trained.meta.network_digest  # fresh weights, not the saved ones
    assert not np.allclose(control["fc"], trained["fc"])


def test_tensorflow_start_up_lines_are_held_back_unless_verbose(tmp_path, colour_folder):
    import os

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "catsel", "run", str(colour_folder), "--out",
                               str(tmp_path / "o"), "--image-size", "32", "--weights", "none", "--layers",
                               "block1_conv1", "--no-progress", *extra], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "KERAS_BACKEND": "tensorflow"})

    quiet = run()
    assert quiet.returncode == 0, quiet.stderr
    assert not [l for l in quiet.stderr.splitlines() if "absl" in l or "oneDNN" in l or "cpu_feature" in l
                or "rebuild TensorFlow" in l], quiet.stderr
    bare = subprocess.run([sys.executable, "-c", "import keras"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "tensorflow"}).stderr
    verbose = run("--verbose")
    assert verbose.returncode == 0, verbose.stderr
    for line in bare.splitlines():  # --verbose shows what importing the backend prints (timestamps aside)
        assert line.split("] ")[-1] in verbose.stderr


@pytest.mark.parametrize("limit_gb", [1.0, 2.0])
def test_too_little_memory_at_start_up_is_one_line_not_a_hang(tmp_path, limit_gb):
    import resource
    import subprocess

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30), resource.RLIM_INFINITY))

    code = "import sys; from catsel.apps.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "layers", "vgg16"], preexec_fn=limited, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ulimit -v" in lines[0] and f"{limit_gb:.1f} GB" in lines[0]


def test_an_error_names_the_option_on_the_command_line_and_the_keyword_in_python(tmp_path, capsys):
    with pytest.raises(catsel.CatselError, match=r"^select_by q needs p-values: add permutations N"):
        catsel.Settings(select_by="q")
    assert main(["run", str(SAMPLE_DATA), "--out", str(tmp_path / "o"), "--select-by", "q"]) == 2
    assert "--select-by q needs p-values: add --permutations N" in capsys.readouterr().err


def test_skipped_files_are_listed_one_way_and_unreadable_ones_are_not_counted_as_images(tmp_path, capsys):
    import shutil

    data = tmp_path / "mixed"
    for name in ("face", "car"):
        shutil.copytree(SAMPLE_DATA / name, data / name)
    (data / "face" / "notes.txt").write_text("notes")
    (data / "car" / "broken.jpg").write_bytes(b"not a picture")
    assert main(["run", str(data), "--out", str(tmp_path / "o"), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "  face/notes.txt: not an image file (extension .txt)\n" in printed
    assert "  car/broken.jpg: not an image Pillow can read\n" in printed  # the path once, from the data folder
    used = sum(json.loads((tmp_path / "o" / "run.json").read_text())["images_per_category"].values())
    assert f", {used} images (" in printed and f"Capture: {used + 1} files (1 unreadable)" in printed


def test_a_crowded_layer_axis_says_which_layers_it_names_in_english():
    from catsel.figures.plots import _every

    assert [_every(k) for k in (2, 3, 4, 11, 12, 13, 21, 22)] == [
        "every 2nd", "every 3rd", "every 4th", "every 11th", "every 12th", "every 13th", "every 21st", "every 22nd"]


def test_a_misspelled_option_gets_its_command_s_usage_and_the_option_it_means(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", str(SAMPLE_DATA), "--out", "o", "--image-sise", "32"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: catsel run ") and "did you mean --image-size?" in err


def test_an_index_name_is_taken_in_any_case(tmp_path):
    from catsel.apps.cli import build_parser

    assert build_parser().parse_args(["run", "data", "--out", "o", "--index", "FSI"]).index == "fsi"


def _course_exercises() -> int:
    """The course's exercises: its cells that call a check."""
    import nbformat

    from catsel.apps.course import COURSE

    return sum("course.check_" in c.source for c in nbformat.read(COURSE, as_version=4).cells if c.cell_type == "code")


def test_the_students_copy_leaves_out_every_solution_and_nothing_else(tmp_path, capsys):
    import nbformat

    from catsel.apps.course import COURSE

    teacher = nbformat.read(COURSE, as_version=4)
    assert main(["course", "--student", str(tmp_path / "student.ipynb")]) == 0
    student = nbformat.read(tmp_path / "student.ipynb", as_version=4)
    solutions = [c for c in teacher.cells if "solution" in c.metadata.get("tags", [])]
    assert solutions and not [c for c in student.cells if "solution" in c.metadata.get("tags", [])]
    assert [c.source for c in student.cells] == [c.source for c in teacher.cells if c not in solutions]
    # the notebook and the README tell teachers this command, and no other
    readme = (COURSE.parents[1] / "README.md").read_text()
    told = [c.source for c in teacher.cells if "students' copy" in c.source]
    assert told and all("catsel course --student" in t and "nbconvert" not in t for t in told)
    assert "catsel course --student" in readme


@pytest.mark.slow
def test_the_course_is_graded_per_exercise_and_an_unanswered_copy_fails_when_asked(tmp_path, capsys):
    from catsel.apps.course import COURSE

    small = ["-p", "image_size", "32", "-p", "limit", "8", "-p", "out_dir", str(tmp_path / "runs")]
    assert main(["course", "--grade", str(COURSE), "--fail", *small]) == 0  # the teacher's copy: every answer
    teacher = capsys.readouterr().out
    exercises = _course_exercises()
    assert exercises >= 10 and f"score: {exercises}/{exercises}" in teacher
    assert teacher.count("  correct") == exercises
    assert main(["course", "--student", str(tmp_path / "student.ipynb")]) == 0
    capsys.readouterr()
    assert main(["course", "--grade", str(tmp_path / "student.ipynb"), *small]) == 0  # scored, not failed
    assert main(["course", "--grade", str(tmp_path / "student.ipynb"), "--fail", *small]) == 1
    student = capsys.readouterr().out
    assert f"score: 0/{exercises}" in student and student.count("  not answered") == 2 * exercises


def test_the_printout_sets_each_proportion_beside_its_null_and_permutations_add_the_significant_count(tmp_path,
                                                                                                      capsys):
    out = tmp_path / "o"
    assert main(["run", str(SAMPLE_DATA), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1", "--permutations", "30", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    summary = pd.read_csv(out / "layer_summary.csv")
    row = summary.iloc[0]
    star, within = ("*", "") if row["evidence"] else ("", ", within null")
    # beside the excess, the numbers the verdict reads: the null's 95th percentile and the q-value
    assert (f"{row['proportion'] * 100:.1f}%{star} (null {row['null_proportion'] * 100:.1f}/"
            f"{row['null_high'] * 100:.1f}, {row['excess'] * 100:+.1f}, q {row['null_q']:.2g}) "
            f"[q: {row['proportion_significant'] * 100:.1f}%{within}]") in printed
    # the significant units of a count within chance are never left to read as the layer's verdict
    for _, other in summary[~summary["evidence"] & (summary["n_significant"] > 0)].iterrows():
        assert f"[q: {other['proportion_significant'] * 100:.1f}%, within null]" in printed
    assert {"n_significant", "proportion_significant"} <= set(summary.columns)
    assert (summary["excess"] < 0).any()  # an untrained network: some categories below their null
    assert printed.count("A negative excess (") == 1  # explained, once
    page = catsel.write_report(out).read_text(encoding="utf-8")
    assert "proportion_significant" in page


def test_grading_a_notebook_that_is_not_there_is_one_line(tmp_path, capsys):
    assert main(["course", "--grade", str(tmp_path / "handed_in.ipynb")]) == 2
    assert capsys.readouterr().err.strip() == (f"catsel: error: {tmp_path / 'handed_in.ipynb'} is not there: give "
                                               "the student's notebook to grade")


def test_run_help_shows_its_options_by_stage(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    shown = capsys.readouterr().out
    headings = [line.rstrip(":") for line in shown.splitlines() if line and not line.startswith(" ") and
                line.endswith(":") and line != "options:"]
    assert headings == ["input", "network", "capture", "statistics", "output"]
    at = {option: shown.index(f"  {option}") for option in ("--model", "--batch-size", "--threshold", "--out")}
    assert shown.index("network:") < at["--model"] < shown.index("capture:") < at["--batch-size"] \
        < shown.index("statistics:") < at["--threshold"] < shown.index("output:") < at["--out"]


def test_the_capture_line_of_a_resumed_run_counts_no_negative_unreadable_files():
    """Issue #38: a resumed run ended with `Capture: 498 files (-32 unreadable)`."""
    from catsel.apps.cli import capture_words

    assert capture_words(498, 530) == "498 images (the other 32 from the earlier, stopped capture)"
    assert capture_words(532, 530) == "532 files (2 unreadable)"
    assert capture_words(530, 530) == "530 images"


@pytest.mark.parametrize("command", [["report"], ["visualize", "--out", "x.png", "--layer", "a", "--unit", "1"],
                                     ["lesion", "--category", "a"], ["compare", "--out", "c.png"]])
def test_a_run_folder_that_does_not_exist_is_told_as_such(tmp_path, capsys, command):
    missing = tmp_path / "runs" / "labdg"  # a typo of a run folder
    args = [command[0], str(missing), *command[1:]]
    if command[0] == "compare":
        args = ["compare", str(missing), str(missing), *command[1:]]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0] and str(missing) in err[0]


@pytest.mark.parametrize("typed, meant", [("--preproces", "--preprocess"), ("--thresh", "--threshold"),
                                          ("--perm", "--permutations")])
def test_an_abbreviated_option_is_refused_with_the_one_it_most_likely_is(tmp_path, capsys, typed, meant):
    """argparse took a prefix of an option for the option: --preproces tf ran as --preprocess tf, unsaid."""
    with pytest.raises(SystemExit) as stop:
        main(["run", str(tmp_path), "--out", str(tmp_path / "out"), typed, "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {typed} 1" in err and f"did you mean {meant}?" in err
    assert not (tmp_path / "out").exists()


def test_a_confound_is_said_once_in_the_printout_not_warned_again(tmp_path, capsys):
    from conftest import square_folder

    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 6), seed=0, noise=60, box=(4, 12, 4, 12),
                         value=220, size=16)
    for k in range(6):  # a third category of grey images: it differs from the others in colourfulness
        write_image(data / "grey" / f"{k}.png", np.full((16, 16, 3), 90 + 5 * k, np.uint8))
    import warnings

    with warnings.catch_warnings(record=True) as warned:  # what the command line would print on stderr
        warnings.simplefilter("always")
        assert main(["run", str(data), "--out", str(tmp_path / "out"), "--image-size", "32", "--weights", "none",
                     "--layers", "block1_conv1", "--no-progress"]) == 0
    said = capsys.readouterr()
    everything = said.out + said.err + "".join(str(w.message) for w in warned)
    said_lines = [line.split(": ", 1)[1].split(";")[0] for line in said.out.splitlines()
                  if line.startswith("Confound: grey differs from the other categories")]
    assert said_lines  # said with the results...
    for line in said_lines:
        assert everything.count(line) == 1, line  # ... and not warned again
