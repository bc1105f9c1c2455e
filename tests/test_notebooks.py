"""Every notebook runs top to bottom on the sample data (issue: notebook series).

Executed copies are kept in build/notebooks/ (CI artefacts), with 03 rendered to HTML.
A notebook fails the test on an error, on output a user would find alarming
(a Python warning, a traceback or an error message on stderr), or on a figure
shown as "<Figure size ...>" text instead of a picture.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # minutes: left out of the quick loop (pytest -m "not slow")

papermill = pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BUILD = REPO / "build" / "notebooks"
ALARMING = re.compile(r"Warning|Traceback|Error|Exception|deprecated", re.IGNORECASE)


def _exercises(nb) -> int:
    """The course's exercises: its cells that call a check."""
    return sum("course.check_" in c.source for c in nb.cells if c.cell_type == "code")


def _alarming(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif "text/plain" in out.get("data", {}) and "image/png" not in out["data"] \
                    and str(out["data"]["text/plain"]).startswith("<Figure size"):
                found.append(f"cell {i}: a figure shown as text, not as a picture: {out['data']['text/plain']}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                for line in out.get("text", "").splitlines():
                    if ALARMING.search(line):
                        found.append(f"cell {i} stderr: {line}")
    return found


def _execute(path: Path, output: Path, **parameters) -> object:
    output.parent.mkdir(parents=True, exist_ok=True)
    # from the repository root, as the README runs them (the notebooks find their data from anywhere)
    papermill.execute_notebook(str(path), str(output), cwd=str(REPO), kernel_name="python3",
                               parameters=parameters, progress_bar=False, log_output=False)
    return nbformat.read(output, as_version=4)


def test_notebooks_are_committed_without_outputs():
    assert len(NOTEBOOKS) == 8
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), path.name
        tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
        assert "parameters" in tags, f"{path.name} has no parameters cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_cleanly(path):
    out_dir = str(BUILD / "runs")
    # the study and the statistics chapters at 128 px (conv layers only): their lesion sections run a network
    # from its lesioned layer a few hundred times, which at 224 px took three minutes each on 2 cores
    smaller = {"image_size": 128} if path.stem[:2] in ("05", "07") else {}
    nb = _execute(path, BUILD / path.name, out_dir=out_dir, **smaller)
    problems = _alarming(nb)
    assert not problems, "\n".join(problems)
    if path.stem.startswith("03"):
        from nbconvert import HTMLExporter

        html, _ = HTMLExporter().from_notebook_node(nb)
        (BUILD / f"{path.stem}.html").write_text(html, encoding="utf-8")
        assert "largest difference, by hand vs catsel: " in html
        difference = float(re.search(r"by hand vs catsel: ([0-9.e-]+)", html).group(1))
        assert difference < 1e-9
    if path.stem.startswith("06"):
        text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert text.count("✓ Correct") == _exercises(nb) >= 10, text


def test_a_notebook_starts_keras_without_tensorflows_start_up_lines(tmp_path, monkeypatch):
    from catsel.startup import START_UP_NOISE

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as a user's kernel runs: the tests set it,
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)  # and ipykernel forwards descriptor 2 only outside pytest
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import catsel\ndata_dir, out_dir = catsel.images.folder.notebook_paths(None, None)"),
        nbformat.v4.new_code_cell("import keras\nprint(keras.backend.backend())")])
    nbformat.write(nb, tmp_path / "first.ipynb")
    done = _execute(tmp_path / "first.ipynb", tmp_path / "done.ipynb")
    lines = [line for cell in done.cells for out in cell.get("outputs", []) if out.get("name") == "stderr"
             for line in out.get("text", "").splitlines()]
    assert not [line for line in lines if START_UP_NOISE.match(line)], lines
    assert "tensorflow" in "".join(o.get("text", "") for o in done.cells[1].outputs)


def test_the_readme_students_copy_command_removes_every_solution(tmp_path):
    import os
    import subprocess
    import sys

    command = next(line.strip() for line in (REPO / "README.md").read_text().splitlines()
                   if line.strip().startswith("catsel course --student"))
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    student = nbformat.read(tmp_path / "notebooks" / "06_course_student.ipynb", as_version=4)
    teacher = nbformat.read(REPO / "notebooks" / "06_course.ipynb", as_version=4)
    solutions = sum("solution" in c.get("metadata", {}).get("tags", []) for c in teacher.cells)
    assert solutions >= _exercises(teacher) and len(student.cells) == len(teacher.cells) - solutions
    assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in student.cells)


def test_course_without_solutions_runs_and_says_not_yet():
    from nbconvert.preprocessors import TagRemovePreprocessor

    path = next(p for p in NOTEBOOKS if p.stem.startswith("06"))
    nb = nbformat.read(path, as_version=4)
    remover = TagRemovePreprocessor(remove_cell_tags={"solution"}, enabled=True)
    student, _ = remover.preprocess(nb, {})
    assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in student.cells)
    student_path = BUILD / "06_course_student_input.ipynb"
    student_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, student_path)
    shutil.copy(student_path, path.parent / "_student_tmp.ipynb")
    try:
        done = _execute(path.parent / "_student_tmp.ipynb", BUILD / "06_course_student.ipynb",
                        out_dir=str(BUILD / "runs"))
    finally:
        (path.parent / "_student_tmp.ipynb").unlink()
    text = "".join(o.get("text", "") for c in done.cells for o in c.get("outputs", []))
    assert text.count("Not answered yet") == _exercises(done) and "✓ Correct" not in text and "✗ Not yet" not in text
