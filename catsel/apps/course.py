"""Check functions for the teaching notebook (``notebooks/06_course.ipynb``).

Each ``check_*`` function takes a student's answer, compares it with
catsel's own computation, prints a one-line verdict with a hint when it is
wrong, and returns ``True`` or ``False``.
"""

from __future__ import annotations

import os
from pathlib import Path

from typing import Callable

import numpy as np

from ..options import THRESHOLD, check_choice
from ..selecting.indices import above_chance, is_constant, normalise, selective_units, selectivity_matrix
from ..selecting.selection import layer_summary, selectivity

__all__ = ["check_normalise", "check_selectivity", "check_chance", "check_count", "check_best_layer", "check_null",
           "check_p_value", "check_untrained", "check_replication", "check_receptive_field", "check_failure_rule",
           "check_brightest", "check_scrambled", "check_lesion", "most_selective", "halves", "student_copy",
           "COURSE", "STRICT", "NotAnswered", "WrongAnswer", "grade"]

#: The course notebook of the repository (a checkout, or an editable install).
COURSE = Path(__file__).resolve().parents[2] / "notebooks" / "06_course.ipynb"


#: Set by ``catsel course --grade`` (or ``CATSEL_COURSE_STRICT=1``): a check that fails raises, so that an
#: executed notebook fails where its first wrong or missing answer is.
STRICT = os.environ.get("CATSEL_COURSE_STRICT") == "1"


class NotAnswered(Exception):
    """An exercise's answer is still missing (strict mode)."""


class WrongAnswer(Exception):
    """An exercise's answer is wrong (strict mode)."""


def _verdict(ok: bool, success: str, hint: str) -> bool:
    print(("✓ Correct: " + success) if ok else ("✗ Not yet: " + hint))
    if not ok and STRICT:
        raise WrongAnswer(hint)
    return ok


def _missing(answer) -> bool:
    """None (or ``...``) where the exercise asks for an answer: said plainly, never judged."""
    if answer is None or answer is Ellipsis:
        print("… Not answered yet: replace None with your answer and run the cell again.")
        if STRICT:
            raise NotAnswered("not answered yet")
        return True
    return False


def _raised(exc: Exception) -> bool:
    if isinstance(exc, NotImplementedError):  # the exercise's stub, untouched
        print("… Not answered yet: your function still raises NotImplementedError; write its body.")
        if STRICT:
            raise NotAnswered("not answered yet")
        return False
    return _verdict(False, "", f"your function raised {type(exc).__name__}: {exc}")


def _whole_number(answer, what: str) -> int | None:
    """An answer that must be a whole number: an int (NumPy's too), not a float or a string."""
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer)):
        _verdict(False, "", f"{what} is a whole number (an int, like 12), not {type(answer).__name__} "
                            f"{answer!r}")
        return None
    return int(answer)


def _cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.gamma(1.5, size=(30, 6))
    a[:, 2] = 0.0  # a silent unit
    a[:, 4] = 3.0  # a constant unit
    labels = np.repeat([0, 1, 2], [8, 10, 12])  # unequal category sizes
    return a, labels


def check_normalise(fn: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Check a student's eq. 1: ``fn(A)`` should min-max normalise each column of A (images × units).

    Parameters
    ----------
    fn : callable
        ``fn(a)`` with ``a`` of shape (n_images, n_units), returning the same shape.

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    if _missing(fn):
        return False
    a, _ = _cases()
    try:
        got = np.asarray(fn(a.copy()), dtype=np.float64)
    except Exception as exc:  # the student's code raised
        return _raised(exc)
    if got.shape != a.shape:
        return _verdict(False, "", f"expected shape {a.shape}, got {got.shape}: normalise each column (unit)")
    ok = np.allclose(got, normalise(a), atol=1e-5)
    return _verdict(ok, "each unit now runs from 0 to 1 over the images (eq. 1).",
                    "subtract each column's minimum and divide by (max - min + eps); a constant column must stay 0")


def check_selectivity(fn: Callable[[np.ndarray, np.ndarray, int], np.ndarray]) -> bool:
    """Check a student's eq. 2: ``fn(A, labels, n_categories)`` should give S, shape (n_categories, n_units).

    Parameters
    ----------
    fn : callable

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    if _missing(fn):
        return False
    a, labels = _cases(1)
    try:
        got = np.asarray(fn(a.copy(), labels.copy(), 3), dtype=np.float64)
    except Exception as exc:
        return _raised(exc)
    expected, _ = selectivity_matrix(a, labels, 3)
    if got.shape != expected.shape:
        return _verdict(False, "", f"expected shape {expected.shape} (categories × units), got {got.shape}")
    ok = np.allclose(got, expected, atol=1e-5)
    return _verdict(ok, "S_c is the share of a unit's normalised activity that falls on category c (eq. 2).",
                    "normalise first (eq. 1), then divide the sum over c's images by the sum over all images")


def check_chance(answer, counts: dict[str, int]) -> bool:
    """Check the chance level of each category.

    Parameters
    ----------
    answer : dict of str to float
        Category → chance level.
    counts : dict of str to int
        Images per category (``acts.counts``).

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    if _missing(answer):
        return False
    if not isinstance(answer, dict):
        return _verdict(False, "", f"the answer is a dict of category → chance level, not {type(answer).__name__}")
    strays = [v for v in answer.values() if isinstance(v, (str, bool)) or not isinstance(v, (int, float, np.number))]
    if strays:
        return _verdict(False, "", f"each chance level is a number (a float, like 0.25), not "
                                   f"{type(strays[0]).__name__} {strays[0]!r}")
    total = sum(counts.values())
    expected = {c: n / total for c, n in counts.items()}
    try:
        ok = set(answer) == set(expected) and all(abs(float(answer[c]) - v) < 1e-6 for c, v in expected.items())
    except (TypeError, ValueError):
        ok = False
    return _verdict(ok, "a unit without preference gets each category's share of the images.",
                    "the chance level of c is (number of c's images) / (number of images)")


def check_count(answer: int, acts, *, layer: str, category: str, threshold: float) -> bool:
    """Check how many units of ``layer`` are selective for ``category`` at ``threshold``.

    Parameters
    ----------
    answer : int
    acts : Activations
    layer, category : str
    threshold : float

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    number = _given(answer, _whole_number, "a count of units")
    if number is None:
        return False
    table = selectivity(acts, threshold=threshold)
    expected = int(table[(table["layer"] == layer) & (table["category"] == category)]["selective"].sum())
    ok = number == expected
    return _verdict(ok, f"{expected} units of {layer} are selective for {category}.",
                    "selective means: selectivity minus chance is above the threshold, and the unit is not constant")


def check_best_layer(answer: str, acts, *, category: str, threshold: float = THRESHOLD, by: str = "proportion") -> bool:
    """Check the layer with the largest proportion of units selective for ``category`` (or the largest excess).

    Parameters
    ----------
    answer : str
    acts : Activations
    category : str
    threshold : float, default 0.01
    by : {"proportion", "excess"}, default "proportion"
        The proportion itself, or its excess over the shuffled-label null
        (:func:`catsel.stats.with_baselines` with its default shuffles and seed).

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    check_choice("by", by, ("proportion", "excess"), ValueError)
    if _missing(answer):
        return False
    if not isinstance(answer, str):
        return _verdict(False, "", f"the answer is a layer's name (a str, like 'block1_conv1'), not "
                                   f"{type(answer).__name__} {answer!r}")
    summary = layer_summary(selectivity(acts, threshold=threshold))
    if by == "excess":
        from ..stats import with_baselines

        summary = with_baselines(summary, acts, threshold=threshold, shuffled=True)
    rows = summary[summary["category"] == category]
    top = rows[by].max()
    tied = [str(l) for l in rows.loc[np.isclose(rows[by], top), "layer"]]  # a tie: each one is right
    names = " and ".join(tied)
    what = "the most" if by == "proportion" else "the largest excess of"
    return _verdict(answer in tied,
                    f"{answer} holds {what} {category}-selective units ({top:+.1%})".replace("(+", "(")
                    + (f", tied with {' and '.join(t for t in tied if t != answer)}." if len(tied) > 1 else "."),
                    f"look at the {by} column of the layer summary for that category"
                    + (f" (the largest: {top:.1%})" if names else ""))


def _number(answer, what: str) -> float | None:
    """An answer that must be a number (an int or a float, NumPy's too), not a string or a bool."""
    if isinstance(answer, (bool, np.bool_, str)) or not isinstance(answer, (int, float, np.number)):
        _verdict(False, "", f"{what} is a number (a float, like 0.25), not {type(answer).__name__} {answer!r}")
        return None
    return float(answer)


def _given(answer, convert, what: str):
    """The answer as ``convert`` (:func:`_number`, :func:`_whole_number`) takes it, or None when it is not
    answered yet or of the wrong type (both said)."""
    return None if _missing(answer) else convert(answer, what)


def _selective_share(acts, *, layer: str, category: str, threshold: float) -> float:
    """The proportion of ``layer``'s units selective for ``category`` (Figure 1's value)."""
    table = selectivity(acts, threshold=threshold, layers=[layer])
    return float(table[table["category"] == category]["selective"].mean())


def _categories(acts, category: str) -> int:
    from ..options import check_category

    check_category(category, acts.categories, "this capture")
    return list(acts.categories).index(category)


def most_selective(acts, *, layer: str, category: str) -> int:
    """The unit of ``layer`` furthest above chance for ``category`` (eq. 2): the unit an exercise studies.

    Parameters
    ----------
    acts : Activations
    layer, category : str

    Returns
    -------
    int
    """
    c = _categories(acts, category)
    values, chance = selectivity_matrix(acts[layer], np.asarray(acts.labels), len(acts.categories))
    constant = is_constant(acts[layer])
    return int(np.argmax(np.where(constant, -np.inf, above_chance(values, chance)[c])))


def halves(acts, *, seed: int = 0) -> np.ndarray:
    """A random half of each category's images (True), the others False: the split of the double-dipping exercise.

    Parameters
    ----------
    acts : Activations
    seed : int, default 0

    Returns
    -------
    ndarray of bool, shape (images,)
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(acts.labels)
    half = np.zeros(len(labels), dtype=bool)
    for c in range(len(acts.categories)):
        members = rng.permutation(np.flatnonzero(labels == c))
        half[members[: len(members) // 2]] = True
    return half


def check_null(answer, acts, *, layer: str, category: str, threshold: float) -> bool:
    """Check a student's shuffled-label null: the count of selective units on each of several shuffles.

    A right answer is a list of whole numbers whose mean lies where the
    library's null (200 shuffles) says a mean of that many shuffles lies:
    within four standard errors (shuffles drawn by the student differ from
    the library's, so no exact value is asked for).

    Parameters
    ----------
    answer : sequence of int
        The number of ``layer``'s units selective for ``category`` under each shuffle of the labels.
    acts : Activations
    layer, category : str
    threshold : float

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    if _missing(answer):
        return False
    if isinstance(answer, (str, dict)) or not hasattr(answer, "__len__") or len(answer) < 5:
        return _verdict(False, "", "the answer is a list of counts, one per shuffle (at least 5 shuffles), not "
                                   f"{type(answer).__name__} {answer!r}"[:200])
    counts = [_whole_number(v, "each count") for v in answer]
    if any(v is None for v in counts):
        return False
    c = _categories(acts, category)
    a, labels, n_cat = acts[layer], np.asarray(acts.labels), len(acts.categories)
    from ..stats import shuffled_draws

    # the library's null, as catsel run computes it: the same shuffles, index and rule
    _, draws = shuffled_draws(acts, threshold=threshold, shuffles=200, layers=[layer], seed=12345)
    null = np.rint(draws[:, 0, c] * a.shape[1])
    observed = int(selective_units(a, labels, n_cat, threshold=threshold)[c].sum())
    tolerance = 4 * null.std() / np.sqrt(len(counts)) + 0.5
    ok = abs(np.mean(counts) - null.mean()) <= tolerance
    if len(set(counts)) == 1 and null.std() > 0.5:  # shuffles that vary this much do not give one count 20 times
        return _verdict(False, "", f"every count is {counts[0]}" + (" (the real labels' count)" if counts[0] == observed
                                                                    else "") +
                        ": shuffle the labels again before each count (rng.permutation(labels))")
    return _verdict(ok, f"with no link between images and labels, about {null.mean():.1f} of {a.shape[1]} units "
                        f"still pass the rule (the real labels: {observed}).",
                    f"shuffle the labels, recompute eq. 2 and count units above chance + threshold for {category}; "
                    f"the null's mean is about {null.mean():.0f}")


def check_p_value(answer, acts, *, layer: str, unit: int, category: str, permutations: int = 999) -> bool:
    """Check a student's permutation p-value of one unit's selectivity against catsel's own test.

    Parameters
    ----------
    answer : float
        ``(1 + #{permuted S >= observed S}) / (1 + permutations)``.
    acts : Activations
    layer : str
    unit : int
    category : str
    permutations : int, default 999

    Returns
    -------
    bool
        Whether the answer is right (within the Monte Carlo error of two
        tests of ``permutations`` each); a verdict with a hint is printed.
    """
    p = _given(answer, _number, "a p-value")
    if p is None:
        return False
    if not 0 < p <= 1:
        return _verdict(False, "", f"a p-value lies in (0, 1], and {p} does not: count the permuted values at or "
                                   "above the observed one, add 1, divide by permutations + 1")
    from ..stats import permutation_test

    tested = permutation_test(acts, permutations=permutations, max_permutations=permutations, layers=[layer],
                              warn=False)
    expected = float(tested[(tested["unit"] == unit) & (tested["category"] == category)]["p_value"].iloc[0])
    tolerance = 4 * np.sqrt(2 * max(expected * (1 - expected), 1 / permutations) / permutations) + 2 / (permutations + 1)
    ok = abs(p - expected) <= tolerance
    return _verdict(ok, f"p = {p:.3f}; catsel's own test gives {expected:.3f} (two Monte Carlo estimates agree "
                        "within their error).",
                    f"catsel's test gives about {expected:.3f}: count permuted S >= observed S, then "
                    "(1 + count) / (1 + permutations)")


def check_untrained(answer, untrained, *, layer: str, category: str, threshold: float) -> bool:
    """Check the proportion of ``layer``'s units selective for ``category`` in the untrained network.

    Parameters
    ----------
    answer : float
        A proportion (0 to 1).
    untrained : Activations
        The capture of the same architecture with random weights (``weights="none"``).
    layer, category : str
    threshold : float

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    value = _given(answer, _number, "a proportion")
    if value is None:
        return False
    if untrained.meta.trained:
        return _verdict(False, "", f"that capture is of a trained network ({untrained.model_label}): capture "
                                   "the same architecture with weights='none'")
    expected = _selective_share(untrained, layer=layer, category=category, threshold=threshold)
    if abs(value - 100 * expected) < 1e-6 and expected:
        return _verdict(False, "", "give the proportion as a fraction (0.25), not a percentage (25)")
    ok = abs(value - expected) < 1e-6
    return _verdict(ok, f"{expected:.1%} of {layer}'s units pass the rule for {category} in a network that never "
                        "learnt anything.",
                    "run catsel.selectivity on the untrained capture and average the selective column of the "
                    f"{layer} × {category} rows")


def check_replication(answer, acts, half, *, layer: str, category: str, threshold: float) -> bool:
    """Check the share of units chosen on one half of the images that are selective on the other half too.

    Parameters
    ----------
    answer : float
        Of the units of ``layer`` selective for ``category`` on the images
        where ``half`` is True, the share selective for it on the others (0
        when none is chosen).
    acts : Activations
    half : ndarray of bool
        From :func:`halves`.
    layer, category : str
    threshold : float

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    value = _given(answer, _number, "a share")
    if value is None:
        return False
    c = _categories(acts, category)
    half = np.asarray(half, dtype=bool)
    a, labels, n_cat = acts[layer], np.asarray(acts.labels), len(acts.categories)
    chosen = []
    for mask in (half, ~half):
        chosen.append(selective_units(a[mask], labels[mask], n_cat, threshold=threshold)[c])
    n_a = int(chosen[0].sum())
    expected = float((chosen[0] & chosen[1]).sum() / n_a) if n_a else 0.0
    ok = abs(value - expected) < 1e-6
    return _verdict(ok, f"{n_a} units chosen on half A; {expected:.0%} of them are selective on half B, which "
                        "never took part in choosing them.",
                    "choose the selective units with half A's images only (a[half], labels[half]), then test "
                    "those units on half B (a[~half], labels[~half]) and take the share")


def check_receptive_field(answer, acts, *, layer: str) -> bool:
    """Check the side, in input pixels, of the receptive field of ``layer``'s units.

    Parameters
    ----------
    answer : int
    acts : Activations
    layer : str

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    number = _given(answer, _whole_number, "a side in pixels")
    if number is None:
        return False
    from ..figures.visualize import receptive_field

    field = receptive_field(acts, layer)
    expected = int(round(field.size))
    return _verdict(number == expected,
                    f"a unit of {layer} sees {expected} × {expected} input pixels; neighbouring units are "
                    f"{field.jump:g} pixels apart.",
                    "walk the layers from the input: r grows by (kernel - 1) × jump at each layer, and jump is "
                    "multiplied by each stride (start: r = 1, jump = 1)")


def _failure_cases():
    """(start, final, peak, median, failed) for the failure rule's check."""
    return [(0.10, 0.50, 2.0, 1.0, False),   # rose, and its peak beats the unit's median on real images
            (0.10, 0.50, 0.6, 1.0, True),    # rose, but stays below what real images give: flat
            (0.30, 0.20, 2.0, 1.0, True),    # fell: the ascent failed
            (0.00, 0.00, 0.0, 0.5, True),    # off on the noise and never woke up
            (0.20, 0.20, 3.0, 1.0, True),    # did not rise at all
            (0.00, 0.40, 0.9, 0.9, False)]   # at the median exactly: not below it


def check_failure_rule(fn) -> bool:
    """Check a student's rule for a failed activation-maximisation picture.

    Parameters
    ----------
    fn : callable
        ``fn(start, final, peak, median) -> bool``: True when the picture
        failed (the unit's activation did not rise above its start, or its
        peak stays below its median maximum on real images).

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    if _missing(fn):
        return False
    wrong = []
    for start, final, peak, median, failed in _failure_cases():
        try:
            got = fn(start, final, peak, median)
        except Exception as exc:
            return _raised(exc)
        if not isinstance(got, (bool, np.bool_)):
            return _verdict(False, "", f"the rule answers True or False, not {type(got).__name__} {got!r}")
        if bool(got) != failed:
            wrong.append(f"start {start}, final {final}, peak {peak}, median {median}: {'failed' if failed else 'fine'}")
    return _verdict(not wrong, "the same rule that marks catsel's pictures FLAT.",
                    "a picture failed when it did not rise (final <= start) or its peak is below the median; "
                    f"this case is misjudged: {wrong[0] if wrong else ''}")


def check_brightest(answer, acts) -> bool:
    """Check the category whose images are brightest on average (mean luminance, as the network saw them).

    Parameters
    ----------
    answer : str
    acts : Activations

    Returns
    -------
    bool
        Whether the answer is right (ties accepted); a verdict with a hint is printed.
    """
    if _missing(answer):
        return False
    if not isinstance(answer, str):
        return _verdict(False, "", f"the answer is a category's name (a str), not {type(answer).__name__} {answer!r}")
    from ..stats import image_statistics

    means = image_statistics(acts).groupby("category", observed=True)["luminance"].mean()
    top = means.max()
    tied = [str(c) for c in means.index[np.isclose(means.to_numpy(), top, rtol=0, atol=5e-3)]]
    return _verdict(answer in tied, f"{answer}'s images are the brightest (mean luminance {top:.3f}); a unit that "
                                    "answers to brightness looks selective for it.",
                    "mean the luminance over each category's images (0.2126 R + 0.7152 G + 0.0722 B, on 0-1 "
                    "pixels) and take the largest")


def check_scrambled(answer, scrambled, acts, *, layer: str, category: str, threshold: float) -> bool:
    """Check the proportion of ``layer``'s units selective for ``category`` on phase-scrambled images.

    Parameters
    ----------
    answer : float
    scrambled : Activations
        The capture of the phase-scrambled copy of the images (same network).
    acts : Activations
        The capture of the images themselves.
    layer, category : str
    threshold : float

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    value = _given(answer, _number, "a proportion")
    if value is None:
        return False
    if scrambled.root == acts.root:
        return _verdict(False, "", "that capture is of the images themselves: capture the scrambled copy that "
                                   "catsel.stats.phase_scramble wrote")
    expected = _selective_share(scrambled, layer=layer, category=category, threshold=threshold)
    real = _selective_share(acts, layer=layer, category=category, threshold=threshold)
    ok = abs(value - expected) < 1e-6
    return _verdict(ok, f"{expected:.1%} of {layer}'s units pass the rule for {category} on scrambled images "
                        f"(on the images themselves: {real:.1%}).",
                    "run catsel.selectivity on the scrambled capture and average the selective column of the "
                    f"{layer} × {category} rows")


def check_lesion(answer, table, *, category: str) -> bool:
    """Check the category-specific deficit of a lesion: the drop on the category beyond the drop of random units.

    Parameters
    ----------
    answer : float
        ``drop_selected - drop_random_mean`` on the lesioned category itself.
    table : DataFrame
        From :func:`catsel.lesion` of ``category``.
    category : str

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    value = _given(answer, _number, "a difference of accuracies")
    if value is None:
        return False
    row = table[(table["lesioned_category"] == category) & (table["scored_category"] == category)].iloc[0]
    expected = float(row["drop_selected"] - row["drop_random_mean"])
    ok = abs(value - expected) < 1e-6
    return _verdict(ok, f"silencing the {int(row['n_lesioned_mean'])} {category} units changes {category} accuracy by "
                        f"{-100 * expected:+.1f} points beyond what as many random units do (p = {row['p_value']:.2f}).",
                    f"take the row where both lesioned_category and scored_category are {category}: "
                    "drop_selected - drop_random_mean")


def student_copy(out: str | os.PathLike, *, source: str | os.PathLike | None = None) -> Path:
    """Write the students' copy of the course notebook: the cells tagged ``solution`` left out.

    What ``catsel course --student OUT`` runs; the one way to make the copy, used by the README and the
    notebook alike.

    Parameters
    ----------
    out : str or path
        The students' notebook to write.
    source : str or path, optional
        The teacher's notebook (default: catsel's ``notebooks/06_course.ipynb``).

    Returns
    -------
    Path

    Raises
    ------
    CatselError
        When the teacher's notebook is not there, or has no solution cell (a copy would hide nothing).
    """
    from ..errors import CatselError
    from ..store import atomic_write

    try:
        import nbformat
    except ImportError:
        raise CatselError("the students' copy is written with nbformat: pip install \"catsel[notebooks]\"") from None

    source = Path(source) if source is not None else COURSE
    if not source.is_file():
        raise CatselError(f"{source} is not there: give the teacher's notebook with --source (source=)")
    nb = nbformat.read(source, as_version=4)
    kept = [cell for cell in nb.cells if "solution" not in cell.get("metadata", {}).get("tags", [])]
    if len(kept) == len(nb.cells):
        raise CatselError(f"{source} has no cell tagged `solution`: the students' copy would equal it")
    nb.cells = kept
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        nbformat.write(nb, str(tmp))
    return out


def grade(notebook: str | os.PathLike, *, timeout: int = 1200, parameters: dict | None = None,
          progress: bool = False) -> list[dict]:
    """Run a student's notebook and score each exercise by its check's verdict.

    The notebook runs to its end whatever a cell does (a wrong answer does
    not hide the later ones); each cell that calls a ``course.check_...``
    is one exercise, named by the heading above it.

    Parameters
    ----------
    notebook : str or path
    timeout : int, default 1200
        Seconds a cell may take.
    parameters : dict, optional
        Values for the notebook's ``parameters`` cell (``image_size``...), as papermill gives them. Its
        captures go beside the graded notebook (``runs/`` there) unless ``out_dir`` is given.
    progress : bool, default False
        A progress bar over the notebook's code cells.

    Returns
    -------
    list of dict
        ``{"exercise", "verdict", "reason"}`` per exercise, in order; ``verdict`` is
        ``"correct"``, ``"wrong"``, ``"not answered"`` or ``"error"``, and ``reason`` what the
        check said, or the error an answer raised ("" when correct).
    """
    from ..errors import CatselError

    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        raise CatselError("grading runs notebooks with nbclient: pip install \"catsel[notebooks]\"") from None
    notebook = Path(notebook)
    if not notebook.is_file():
        raise CatselError(f"{notebook} is not there: give the student's notebook to grade")
    nb = nbformat.read(notebook, as_version=4)
    # the captures of a notebook graded elsewhere go beside it, never into the repository's runs/
    parameters = {"out_dir": str(notebook.resolve().parent / "runs"), **(parameters or {})}
    if any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in nb.cells):
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        nb = parameterize_notebook(load_notebook_node(str(notebook)), parameters)
    from tqdm.auto import tqdm

    code = sum(cell.cell_type == "code" for cell in nb.cells)
    with tqdm(total=code, desc=f"grading {notebook.name}", unit="cell", disable=not progress, leave=False,
              dynamic_ncols=True) as bar:
        NotebookClient(nb, timeout=timeout, allow_errors=True, on_cell_executed=lambda **_: bar.update(1),
                       resources={"metadata": {"path": str(notebook.resolve().parent)}}).execute()
    results, heading, raised = [], "the notebook", None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [l for l in cell.source.splitlines() if l.startswith("#")]
            heading = lines[0].lstrip("#").strip() if lines else heading
        elif cell.cell_type == "code":
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            said = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else None
            if "course.check_" not in cell.source:
                raised = said or raised  # an answer's cell that raised, before its check
                continue
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            verdict = ("not answered" if "Not answered yet" in text else "wrong" if "✗ Not yet" in text
                       else "correct" if "✓ Correct" in text and not errors else "error")
            reason = ""
            if verdict == "error":
                reason = f"the check raised {said}" if said else "the check printed no verdict"
            elif verdict != "correct":
                reason = " ".join(text.split("✗ Not yet", 1)[-1].split()).lstrip(":. ") if "✗ Not yet" in text else ""
                if raised:
                    reason = f"an answer cell above raised {raised}" + (f"; {reason}" if reason else "")
            results.append({"exercise": heading, "verdict": verdict, "reason": reason})
            raised = None
    return results
