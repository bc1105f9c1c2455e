"""Each rule once (issue: the network stage as sources): the composed selective rule, the constant test and the
layer summary's counting are each one function that the library, the explorers and the course call, and what a
summary was counted with travels as one typed value."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import catsel
from catsel.selecting.indices import is_constant, selective, selective_units, selectivity_matrix
from catsel.selecting.selection import ThresholdCounts
from catsel.selecting.tables import Counting

PACKAGE = Path(catsel.__file__).resolve().parent


def _calls(name: str) -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                found.append((str(path.relative_to(PACKAGE)), node))
    return found


def test_the_rule_is_composed_in_one_place_and_the_constant_test_written_once():
    composed = [where for where, call in _calls("selective_rule")
                if call.args and isinstance(call.args[0], (ast.Call, ast.BinOp, ast.Subscript))
                and ast.unparse(call.args[0]).startswith(("above_chance(", "v - "))]
    assert composed == ["selecting/indices.py"]  # selective(): every other caller passes its values and chance
    inline = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and "['low']" in ast.unparse(node) and "['high']" in ast.unparse(node):
                inline.append(str(path.relative_to(PACKAGE)))
    assert inline == ["selecting/indices.py"]  # is_constant()


def test_the_constant_test_is_the_same_for_units_in_memory_and_read_block_by_block(planted_acts):
    from catsel.selecting.blocks import blockwise_sums

    a = planted_acts["conv2"]
    _, units = blockwise_sums(planted_acts, ["conv2"], "paper", planted_acts.labels, len(planted_acts.categories))
    np.testing.assert_array_equal(is_constant(units), is_constant(a))
    flat = np.concatenate([a, np.full((len(a), 1), 3.0, np.float32)], axis=1)
    assert is_constant(flat)[-1] and not is_constant(flat)[:-1].any()


def test_selective_is_the_paper_rule_on_an_index(planted_acts):
    a, labels, n_cat = planted_acts["conv2"], np.asarray(planted_acts.labels), len(planted_acts.categories)
    values, chance = selectivity_matrix(a, labels, n_cat)
    by_hand = (values - chance[:, None] > 0.05) & ~is_constant(a)[None, :]
    np.testing.assert_array_equal(selective(values, chance, is_constant(a)[None, :], 0.05), by_hand)
    np.testing.assert_array_equal(selective_units(a, labels, n_cat, threshold=0.05), by_hand)


@pytest.mark.parametrize("threshold", [0.0, 0.01, 0.05, 0.2])
def test_the_explorer_counts_through_the_library_summary(planted_acts, threshold):
    """The threshold slider's summary at any threshold is the library's at that threshold, every column."""
    counts = ThresholdCounts(catsel.selectivity(planted_acts, threshold=0.01))
    fresh = catsel.layer_summary(catsel.selectivity(planted_acts, threshold=threshold))
    moved = counts.summary(threshold)
    assert "n_selective_near_silent" in moved
    pd.testing.assert_frame_equal(moved, fresh)
    assert Counting.of(moved) == Counting.of(fresh)


def test_the_threshold_explorer_shows_the_library_summary(planted_acts):
    pytest.importorskip("ipywidgets")
    from catsel.apps.widgets import ThresholdExplorer

    explorer = ThresholdExplorer(catsel.selectivity(planted_acts, threshold=0.01), threshold=0.05)
    fresh = catsel.layer_summary(catsel.selectivity(planted_acts, threshold=0.05))
    shown = explorer.summary[fresh.columns]
    pd.testing.assert_frame_equal(shown, fresh)


def test_the_course_checks_against_the_library_null(planted_acts, monkeypatch):
    from catsel.apps import course
    import catsel.stats as stats

    asked = []
    real = stats.shuffled_draws

    def counted(*args, **kwargs):
        asked.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(stats, "shuffled_draws", counted)
    _, draws = real(planted_acts, threshold=0.01, shuffles=200, layers=["conv2"], seed=12345)
    units = planted_acts["conv2"].shape[1]
    answer = [int(v) for v in np.rint(draws[:20, 0, 0] * units)]
    category = planted_acts.categories[0]
    assert course.check_null(answer, planted_acts, layer="conv2", category=category, threshold=0.01)
    assert asked and asked[0]["layers"] == ["conv2"]


def test_what_a_summary_was_counted_with_is_one_typed_checked_value(planted_acts):
    table = catsel.selectivity(planted_acts, threshold=0.03, index="fsi")
    counting = Counting.of(table)
    assert (counting.threshold, counting.index, counting.n_images) == (0.03, "fsi", len(planted_acts))
    summary = catsel.layer_summary(table)
    assert Counting.of(summary) == counting
    with pytest.raises(Exception, match="threshold"):
        Counting(threshold=math.nan)
    with pytest.raises(Exception, match="select_by"):
        Counting(select_by="bonferroni")
    with pytest.raises(TypeError, match="Counting"):
        Counting.of(summary.assign().pipe(lambda f: f.attrs.update(counting={"threshold": 0.01}) or f))
    # the figures take it explicitly too: the rule in the y label is the one given
    from matplotlib.figure import Figure

    ax = catsel.layer_proportions(summary, ax=Figure().subplots(), counting=counting.replace(threshold=0.2))
    assert "chance + 0.2" in ax.get_ylabel()


def test_every_run_option_is_declared_once_and_everything_else_made_from_it():
    """One declaration per option (catsel.study.declared) gives the settings' fields and defaults, the command's
    flags and defaults, the checks, and the round trip through run.json; nothing else declares them."""
    import re
    from dataclasses import fields

    from catsel.apps.cli import build_parser
    from catsel.study import declared
    from catsel.study.record import RunRecord
    from catsel.study.settings import AnalysisSettings, CaptureSettings, OutputSettings, Settings

    names = [o.name for o in declared.OPTIONS]
    assert len(names) == len(set(names))
    parts = {"capture": CaptureSettings, "analysis": AnalysisSettings, "output": OutputSettings}
    for stage, part in parts.items():
        assert [(f.name, f.default) for f in fields(part)] == [(o.name, o.default)
                                                               for o in declared.options_of(stage)]
        assert all(f"{o.name} : {o.kind}" in part.__doc__ for o in declared.options_of(stage))
    run = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    flags = {a.dest: a for a in run._actions}
    for option in declared.OPTIONS:
        action = flags[option.dest]
        assert action.option_strings == [option.flag or "--" + option.name.replace("_", "-")]
        if not option.inverted and option.cli.get("action") != "store_true":
            assert action.default == option.default, option.name
    assert set(flags) - {o.dest for o in declared.OPTIONS} == {"help", "data_dir", "out", "report", "verbose"}
    recorded = {f.name for f in fields(RunRecord)}
    assert all(o.recorded_as in recorded for o in declared.OPTIONS if o.recorded_as is not None)
    # the other places where options were declared hold none now
    source = (PACKAGE / "apps" / "cli.py").read_text()
    run_part = source[source.index('sub.add_parser("run"'):source.index('sub.add_parser("visualize"')]
    assert re.findall(r'add_argument\("(--[\w-]+)"', run_part) == ["--out", "--report"]
    settings_source = (PACKAGE / "study" / "settings.py").read_text()
    assert not re.search(r"^    (threshold|model|batch_size): ", settings_source, re.M)
    # parsed, checked and given back as declared
    args = run.parse_args(["data", "--out", "o", "--layers", "a, b", "--image-size", "48x96", "--no-progress",
                           "--reliability", "--weights", "none"])
    settings = Settings(**declared.from_args(args))
    assert settings.layers == ["a", "b"] and settings.image_size == (48, 96) and settings.progress is False
    record = RunRecord(model="vgg16", weights_requested=None, layers=("a", "b"), image_size=(48, 96),
                       split_half=True, threshold=0.02)
    back = Settings.from_record(record)
    assert (back.weights, back.layers, back.reliability, back.threshold) == (None, ["a", "b"], True, 0.02)
    with pytest.raises(catsel.CatselError, match="--batch-size must be a positive integer"):
        from catsel.options import as_options

        with as_options():
            Settings(**{**declared.from_args(args), "batch_size": 0})
