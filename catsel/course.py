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

from .selection import best_layers, layer_summary, normalise, selectivity, selectivity_matrix

__all__ = ["check_normalise", "check_selectivity", "check_chance", "check_count", "check_best_layer", "student_copy",
           "COURSE"]

#: The course notebook of the repository (a checkout, or an editable install).
COURSE = Path(__file__).resolve().parents[1] / "notebooks" / "06_course.ipynb"


def _verdict(ok: bool, success: str, hint: str) -> bool:
    print(("✓ Correct: " + success) if ok else ("✗ Not yet: " + hint))
    return ok


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
    a, _ = _cases()
    try:
        got = np.asarray(fn(a.copy()), dtype=np.float64)
    except Exception as exc:  # the student's code raised
        return _verdict(False, "", f"your function raised {type(exc).__name__}: {exc}")
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
    a, labels = _cases(1)
    try:
        got = np.asarray(fn(a.copy(), labels.copy(), 3), dtype=np.float64)
    except Exception as exc:
        return _verdict(False, "", f"your function raised {type(exc).__name__}: {exc}")
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
    table = selectivity(acts, threshold=threshold)
    expected = int(table[(table["layer"] == layer) & (table["category"] == category)]["selective"].sum())
    try:
        ok = answer is not None and int(answer) == expected
    except (TypeError, ValueError):
        ok = False
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
    summary = layer_summary(selectivity(acts, threshold=threshold))
    best = best_layers(summary).set_index("category").loc[category]
    return _verdict(answer is not None and str(answer) == str(best["layer"]),
                    f"{best['layer']} holds the most {category}-selective units ({best['proportion']:.1%}).",
                    "look at the proportion column of layer_summary for that category")


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
    import nbformat

    from .errors import CatselError
    from .store import atomic_write

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
