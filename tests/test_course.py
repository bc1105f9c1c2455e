"""The course's checks (notebook 06): each accepts every right answer, computed from the student's own data,
refuses wrong ones with a hint, names the type it wants, and says "not answered yet" for None."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import catsel
from catsel.apps import course


def _acts(seed: int = 0, trained: bool = True):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], 12)
    a = rng.gamma(1.5, size=(36, 40))
    a[labels == 0, :8] += 3.0  # eight units prefer "a"
    a[:, 39] = 1.0  # a constant unit
    return catsel.Activations.from_arrays({"l1": a, "l2": rng.gamma(1.5, size=(36, 10))}, labels, ["a", "b", "c"],
                                          meta={"trained": trained, "weights": "ImageNet" if trained else "untrained"})


def _null(acts, layer, c, threshold, seed, shuffles):
    rng = np.random.default_rng(seed)
    a, labels = acts[layer], np.asarray(acts.labels)
    constant = a.max(axis=0) == a.min(axis=0)
    counts = []
    for _ in range(shuffles):
        s, chance = catsel.selectivity_matrix(a, rng.permutation(labels), 3)
        counts.append(int(((s[c] - chance[c] > threshold) & ~constant).sum()))
    return counts


def test_the_null_by_hand_is_judged_against_the_librarys_spread(capsys):
    acts = _acts()
    for seed in range(3):  # any student's shuffles
        assert course.check_null(_null(acts, "l1", 0, 0.01, seed, 20), acts, layer="l1", category="a",
                                 threshold=0.01)
    table = catsel.selectivity(acts, threshold=0.01)
    real = int(table.query("layer == 'l1' and category == 'a'")["selective"].sum())
    assert not course.check_null([real] * 20, acts, layer="l1", category="a", threshold=0.01)
    assert not course.check_null([0.5] * 20, acts, layer="l1", category="a", threshold=0.01)
    assert not course.check_null(12, acts, layer="l1", category="a", threshold=0.01)
    assert not course.check_null(None, acts, layer="l1", category="a", threshold=0.01)
    out = capsys.readouterr().out
    assert out.count("✓ Correct") == 3 and "(the real labels' count): shuffle the labels again" in out
    assert "not float 0.5" in out and "a list of counts" in out and "Not answered yet" in out


def test_a_permutation_p_value_by_hand_agrees_with_the_librarys_within_its_error(capsys):
    acts = _acts()
    labels = np.asarray(acts.labels)
    rng = np.random.default_rng(7)
    for unit in (course.most_selective(acts, layer="l1", category="a"), 20):
        column = acts["l1"][:, [unit]]
        observed = catsel.selectivity_matrix(column, labels, 3)[0][0, 0]
        permuted = [catsel.selectivity_matrix(column, rng.permutation(labels), 3)[0][0, 0] for _ in range(999)]
        p = (1 + sum(s >= observed for s in permuted)) / 1000
        assert course.check_p_value(p, acts, layer="l1", unit=unit, category="a")
    assert course.most_selective(acts, layer="l1", category="a") < 8  # one of the planted units
    assert not course.check_p_value(0.5, acts, layer="l1", unit=0, category="a")
    assert not course.check_p_value(0.0, acts, layer="l1", unit=0, category="a")
    assert not course.check_p_value("0.001", acts, layer="l1", unit=0, category="a")
    out = capsys.readouterr().out
    assert out.count("✓ Correct") == 2 and "lies in (0, 1]" in out and "not str '0.001'" in out


def test_split_halves_the_untrained_control_and_the_best_layer_by_excess(capsys):
    acts = _acts()
    half = course.halves(acts, seed=0)
    assert [half[np.asarray(acts.labels) == c].sum() for c in range(3)] == [6, 6, 6]
    a, labels = acts["l1"], np.asarray(acts.labels)
    chosen = []
    for mask in (half, ~half):
        s, chance = catsel.selectivity_matrix(a[mask], labels[mask], 3)
        chosen.append((s[0] - chance[0] > 0.01) & (a[mask].max(axis=0) > a[mask].min(axis=0)))
    right = float((chosen[0] & chosen[1]).sum() / chosen[0].sum())
    assert course.check_replication(right, acts, half, layer="l1", category="a", threshold=0.01)
    assert not course.check_replication(right, acts, ~half, layer="l1", category="a", threshold=0.01) or \
        right == 1.0  # the other half chosen first gives another share (unless both are whole)
    assert not course.check_replication(1.5, acts, half, layer="l1", category="a", threshold=0.01)

    untrained = _acts(seed=1, trained=False)
    t = catsel.selectivity(untrained, threshold=0.01)
    share = float(t.query("layer == 'l1' and category == 'a'")["selective"].mean())
    assert course.check_untrained(share, untrained, layer="l1", category="a", threshold=0.01)
    assert not course.check_untrained(share, acts, layer="l1", category="a", threshold=0.01)  # a trained one
    assert not course.check_untrained(100 * share, untrained, layer="l1", category="a", threshold=0.01)

    summary = catsel.stats.with_baselines(catsel.layer_summary(catsel.selectivity(acts)), acts, shuffled=True)
    rows = summary[summary["category"] == "a"]
    best = str(rows.loc[rows["excess"].idxmax(), "layer"])
    assert best == "l1" and course.check_best_layer(best, acts, category="a", by="excess")
    assert not course.check_best_layer("l2", acts, category="a", by="excess")
    with pytest.raises(ValueError, match="by"):
        course.check_best_layer("l1", acts, category="a", by="most")
    out = capsys.readouterr().out
    assert "trained network" in out and "a fraction (0.25), not a percentage" in out


def test_the_failure_rule_and_the_lesion_deficit(capsys):
    assert course.check_failure_rule(lambda start, final, peak, median: bool(final <= start or peak < median))
    assert not course.check_failure_rule(lambda start, final, peak, median: bool(final < start))  # misses "no rise"
    assert not course.check_failure_rule(lambda start, final, peak, median: bool(peak < median))  # misses "fell"
    assert not course.check_failure_rule(lambda start, final, peak, median: "yes")
    table = pd.DataFrame({"lesioned_category": ["a", "a"], "scored_category": ["a", "b"], "n_lesioned_mean": [3, 3],
                          "drop_selected": [0.4, 0.1], "drop_random_mean": [0.15, 0.1], "p_value": [0.05, 0.5]})
    assert course.check_lesion(0.25, table, category="a")
    assert not course.check_lesion(0.4, table, category="a")
    out = capsys.readouterr().out
    assert out.count("✓ Correct") == 2 and "not str 'yes'" in out


def test_every_check_says_not_answered_yet_for_none(capsys):
    acts = _acts()
    for check, args, kwargs in [
            (course.check_null, (acts,), dict(layer="l1", category="a", threshold=0.01)),
            (course.check_p_value, (acts,), dict(layer="l1", unit=0, category="a")),
            (course.check_untrained, (acts,), dict(layer="l1", category="a", threshold=0.01)),
            (course.check_replication, (acts, course.halves(acts)), dict(layer="l1", category="a", threshold=0.01)),
            (course.check_receptive_field, (acts,), dict(layer="l1")),
            (course.check_failure_rule, (), {}),
            (course.check_brightest, (acts,), {}),
            (course.check_scrambled, (acts, acts), dict(layer="l1", category="a", threshold=0.01)),
            (course.check_lesion, (pd.DataFrame(),), dict(category="a"))]:
        assert check(None, *args, **kwargs) is False
    assert capsys.readouterr().out.count("Not answered yet") == 9


def test_grading_says_why_an_answer_is_wrong_and_writes_beside_the_notebook(tmp_path, capsys):
    """Issue #38: `catsel course --grade` printed `wrong` without the check's reason, an answer that raised showed
    as `wrong` too, and a notebook graded elsewhere wrote its captures into the repository's runs/."""
    import nbformat

    from catsel.apps.course import grade

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [
        nbformat.v4.new_code_cell("out_dir = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## Exercise 1: the deepest layer"),
        nbformat.v4.new_code_cell("import catsel.apps.course as course  # course.check_ stands for a check\n"
                                  "course._verdict(False, 'right', 'the face units sit deeper than that')"),
        nbformat.v4.new_markdown_cell("## Exercise 2: an answer that raises"),
        nbformat.v4.new_code_cell("answer = 1 / 0"),
        nbformat.v4.new_code_cell("# course.check_ of the answer\ncourse._verdict(False, 'right', 'no answer')"),
        nbformat.v4.new_markdown_cell("## Exercise 3: where the captures go"),
        nbformat.v4.new_code_cell("import pathlib\npathlib.Path(out_dir).mkdir()\n# course.check_\n"
                                  "course._verdict(True, 'written', '')"),
    ]
    where = tmp_path / "class" / "student.ipynb"
    where.parent.mkdir()
    nbformat.write(nb, where)
    results = grade(where, progress=True)
    assert "grading student.ipynb" in capsys.readouterr().err  # a bar over its cells
    assert [r["verdict"] for r in results] == ["wrong", "wrong", "correct"]
    assert results[0]["reason"] == "the face units sit deeper than that"
    assert results[1]["reason"].startswith("an answer cell above raised ZeroDivisionError: division by zero")
    assert results[2]["reason"] == "" and (where.parent / "runs").is_dir()
