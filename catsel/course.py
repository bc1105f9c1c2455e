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

from .selection import layer_summary, normalise, selectivity, selectivity_matrix

__all__ = ["check_normalise", "check_selectivity", "check_chance", "check_count", "check_best_layer", "student_copy",
           "COURSE", "STRICT", "NotAnswered", "WrongAnswer", "grade"]

#: The course notebook of the repository (a checkout, or an editable install).
COURSE = Path(__file__).resolve().parents[1] / "notebooks" / "06_course.ipynb"


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
    if _missing(answer):
        return False
    number = _whole_number(answer, "a count of units")
    if number is None:
        return False
    table = selectivity(acts, threshold=threshold)
    expected = int(table[(table["layer"] == layer) & (table["category"] == category)]["selective"].sum())
    ok = number == expected
    return _verdict(ok, f"{expected} units of {layer} are selective for {category}.",
                    "selective means: selectivity minus chance is above the threshold, and the unit is not constant")


def check_best_layer(answer: str, acts, *, category: str, threshold: float = 0.01) -> bool:
    """Check the layer with the largest proportion of units selective for ``category``.

    Parameters
    ----------
    answer : str
    acts : Activations
    category : str
    threshold : float, default 0.01

    Returns
    -------
    bool
        Whether the answer is right; a verdict with a hint is printed.
    """
    if _missing(answer):
        return False
    if not isinstance(answer, str):
        return _verdict(False, "", f"the answer is a layer's name (a str, like 'block1_conv1'), not "
                                   f"{type(answer).__name__} {answer!r}")
    summary = layer_summary(selectivity(acts, threshold=threshold))
    rows = summary[summary["category"] == category]
    top = rows["proportion"].max()
    tied = [str(l) for l in rows.loc[np.isclose(rows["proportion"], top), "layer"]]  # a tie: each one is right
    names = " and ".join(tied)
    return _verdict(answer in tied,
                    f"{answer} holds the most {category}-selective units ({top:.1%})"
                    + (f", tied with {' and '.join(t for t in tied if t != answer)}." if len(tied) > 1 else "."),
                    "look at the proportion column of layer_summary for that category"
                    + (f" (the most: {top:.1%})" if names else ""))


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
    from .errors import CatselError
    from .store import atomic_write

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


def grade(notebook: str | os.PathLike, *, timeout: int = 1200, parameters: dict | None = None) -> list[dict]:
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
        Values for the notebook's ``parameters`` cell (``image_size``...), as papermill gives them.

    Returns
    -------
    list of dict
        ``{"exercise", "verdict"}`` per exercise, in order; ``verdict`` is
        ``"correct"``, ``"wrong"``, ``"not answered"`` or ``"error"``.
    """
    from .errors import CatselError

    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        raise CatselError("grading runs notebooks with nbclient: pip install \"catsel[notebooks]\"") from None
    notebook = Path(notebook)
    if not notebook.is_file():
        raise CatselError(f"{notebook} is not there: give the student's notebook to grade")
    if parameters:
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        nb = parameterize_notebook(load_notebook_node(str(notebook)), parameters)
    else:
        nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=timeout, allow_errors=True,
                   resources={"metadata": {"path": str(notebook.resolve().parent)}}).execute()
    results, heading = [], "the notebook"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [l for l in cell.source.splitlines() if l.startswith("#")]
            heading = lines[0].lstrip("#").strip() if lines else heading
        elif cell.cell_type == "code" and "course.check_" in cell.source:
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            failed = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            verdict = ("not answered" if "Not answered yet" in text else "wrong" if "✗ Not yet" in text
                       else "correct" if "✓ Correct" in text and not failed else "error")
            results.append({"exercise": heading, "verdict": verdict})
    return results
