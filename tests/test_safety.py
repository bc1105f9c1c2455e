"""No file outside its folder: crafted stores never make catsel delete, move, write or read elsewhere."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

import catsel
from catsel.images.folder import ImageFolder
from catsel.errors import StoreError
from helpers import small_cnn


def _amodel():
    return catsel.activation_model(small_cnn(size=12), preprocess="tf")


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("years of work")
    return victim


@pytest.fixture
def outside():
    """A folder whose absolute path is 15 characters long: a key of it plus "/" is whole in ``key[:16]``."""
    made = Path(tempfile.mkdtemp(prefix="cs", dir="/tmp"))
    assert len(str(made)) <= 16
    (made / "thesis.txt").write_text("years of work")
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.mark.parametrize("key", ["absolute", "dotdot", "not_hex"])
def test_a_crafted_store_key_never_removes_or_moves_a_folder_outside(colour_folder, tmp_path, key, outside):
    folder = ImageFolder(colour_folder, image_size=12)
    out = tmp_path / "out"
    catsel.capture(_amodel(), folder, out, progress=False)
    victim = _victim(tmp_path)
    meta_path = out / "activations" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["key"] = {"absolute": f"{outside}/", "dotdot": "../../victim", "not_hex": "x/y"}[key]
    meta_path.write_text(json.dumps(meta))
    before = sorted(p.name for p in Path("/tmp").iterdir())
    other = catsel.activation_model(small_cnn(size=12, seed=1), preprocess="tf")  # another key: the old store moves
    acts = catsel.capture(other, folder, out, progress=False)
    assert (victim / "thesis.txt").read_text() == "years of work"
    assert sorted(outside.iterdir()) == [outside / "thesis.txt"]
    assert (outside / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colours", "out", "victim"]
    assert sorted(p.name for p in Path("/tmp").iterdir()) == before  # nothing moved to /tmp either
    assert len(acts) == 15
    kept = list((out / "activations.history").iterdir())
    assert len(kept) == 1 and kept[0].parent == out / "activations.history"  # the damaged store, kept inside


def test_a_crafted_key_is_refused_when_the_store_is_read(colour_folder, tmp_path):
    out = tmp_path / "out"
    catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), out, progress=False)
    meta_path = out / "activations" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["key"] = "/etc"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="meta.json.*key"):
        catsel.load_activations(out / "activations")


def test_a_crafted_layer_name_never_writes_outside_the_store(colour_folder, tmp_path):
    folder = ImageFolder(colour_folder, image_size=12)
    out = tmp_path / "out"
    catsel.capture(_amodel(), folder, out, progress=False)
    meta_path, progress_path = out / "activations" / "meta.json", out / "activations" / "progress.json"
    meta = json.loads(meta_path.read_text())
    meta["layers"][0]["name"] = "../../../victim"
    meta_path.write_text(json.dumps(meta))
    progress = json.loads(progress_path.read_text())
    progress.update(rows_done=5, complete=False)  # a capture to resume: it writes the rows that are left
    progress_path.write_text(json.dumps(progress))
    with pytest.warns(UserWarning, match="layer name '../../../victim' is not a plain name"):
        acts = catsel.capture(_amodel(), folder, out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colours", "out"]
    assert len(acts) == 15 and acts.layers[0] == "c1"


@pytest.mark.parametrize("row", ["../outside.png", "/etc/passwd", "red/../../outside.png"])
def test_an_index_row_outside_the_data_folder_is_refused_when_the_store_is_read(colour_folder, tmp_path, row):
    out = tmp_path / "out"
    catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), out, progress=False)
    index = out / "activations" / "index.csv"
    lines = index.read_text().splitlines()
    first = lines[1].split(",")
    first[1] = row
    lines[1] = ",".join(first)
    index.write_text("\n".join(lines) + "\n")
    with pytest.raises(StoreError, match="index.csv.*not a plain"):
        catsel.load_activations(out)


def test_the_scrambled_control_reads_and_writes_only_inside_its_folders(colour_folder, tmp_path):
    import numpy as np

    from catsel.stats import phase_scramble

    outside = tmp_path / "outside.png"
    catsel.images.folder.Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(outside)
    before = outside.read_bytes()
    for row in ("../outside.png", str(outside)):
        acts = catsel.Activations.from_arrays({"c": np.zeros((1, 2))}, [0], ["red"], paths=[row],
                                              meta={"root": str(colour_folder), "image_size": 12})
        with pytest.raises(StoreError):
            phase_scramble(acts, tmp_path / "control")
    assert outside.read_bytes() == before and not (tmp_path / "control").exists()


EVIL = "<img src=x onerror=alert(1)>"


def test_names_are_escaped_in_the_explorers_and_the_explore_notebook(tmp_path):
    import numpy as np

    pytest.importorskip("ipywidgets")
    from catsel.apps import widgets
    from catsel.apps.cli import explore_notebook
    from conftest import write_image

    rng = np.random.default_rng(0)
    for name in (EVIL, "plain"):
        for i in range(4):
            write_image(tmp_path / "data" / name / f"{i}.png", rng.integers(0, 255, (12, 12, 3)))
    run = tmp_path / EVIL  # a run folder with such a name too
    result = catsel.run(tmp_path / "data", run, model=small_cnn(size=12), preprocess="tf", progress=False)
    explorer = widgets.UnitExplorer(result.activations, result.table)
    caption = explorer._describe(result.activations.layers[0], 0)
    assert "<img" not in caption and "&lt;img src=x onerror=alert(1)&gt;" in caption
    threshold = widgets.ThresholdExplorer(result.table)
    assert "<img" not in threshold.table_html.value
    heading = "".join(json.loads(explore_notebook(run).read_text())["cells"][0]["source"]).splitlines()[0]
    assert "<img" not in heading and "&lt;img src=x onerror=alert\\(1\\)&gt;" in heading


@pytest.mark.parametrize("edit", ["reversed_categories", "label", "duplicate_path"])
def test_index_and_meta_that_disagree_are_refused(colour_folder, tmp_path, edit):
    out = tmp_path / "out"
    catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), out, progress=False)
    store = out / "activations"
    if edit == "reversed_categories":
        meta = json.loads((store / "meta.json").read_text())
        meta["categories"] = meta["categories"][::-1]
        (store / "meta.json").write_text(json.dumps(meta))
    else:
        lines = (store / "index.csv").read_text().splitlines()
        cells = lines[1].split(",")
        if edit == "label":
            cells[3] = "2"  # a blue image moved to red by its label alone
        else:
            cells[1] = lines[2].split(",")[1]
        lines[1] = ",".join(cells)
        (store / "index.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(StoreError, match="index.csv"):
        catsel.load_activations(out)


@pytest.mark.parametrize("field, value, says", [("n_rows", "15", "n_rows"), ("image_size", 200000, "image_size"),
                                                ("categories", [1, 2, 3], "categories"), ("root", None, "root")])
def test_a_meta_json_field_of_the_wrong_type_is_one_line(colour_folder, tmp_path, field, value, says):
    out = tmp_path / "out"
    catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), out, progress=False)
    meta_path = out / "activations" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta[field] = value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=f"meta.json: {says}"):
        catsel.load_activations(out)


def _refuse(code):
    import os

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("code, says", [(28, "no space left on the disk"), (30, "cannot be written")])
def test_a_failed_write_of_a_new_store_is_one_line_and_the_rerun_repairs_it(colour_folder, tmp_path, monkeypatch,
                                                                            code, says):
    folder = ImageFolder(colour_folder, image_size=12)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(catsel.store.npy, "write_index", _refuse(code))
        with pytest.raises(StoreError, match=says):
            catsel.capture(_amodel(), folder, out, progress=False)
    assert not (out / "activations").exists()  # nothing half-written that a rerun would refuse
    assert len(catsel.capture(_amodel(), folder, out, progress=False)) == 15


@pytest.mark.parametrize("code, says", [(28, "no space left on the disk"), (30, "cannot be written")])
def test_an_output_folder_that_cannot_be_locked_is_one_line(colour_folder, tmp_path, monkeypatch, code, says):
    import os

    real = os.open

    def guarded(path, *args, **kwargs):
        if str(path).endswith(catsel.store.LOCK_NAME):
            _refuse(code)()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
    with pytest.raises(StoreError, match=says):
        catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path / "out", progress=False)


def _run(folder, out, **options):
    return catsel.run(folder, out, model=small_cnn(size=12), preprocess="tf", progress=False, **options)


def test_a_folder_between_two_runs_is_refused_not_mixed(colour_folder, tmp_path):
    out = tmp_path / "out"
    _run(colour_folder, out, threshold=0.01)
    old_record = (out / "run.json").read_bytes()
    _run(colour_folder, out, threshold=0.7)
    # a rerun stopped after its tables and before its record: the new table beside the old run.json
    (out / "run.json").write_bytes(old_record)
    with pytest.raises(StoreError, match="two runs.*selectivity.csv"):
        catsel.load_run(out)
    from catsel.apps.cli import main

    assert main(["report", str(out)]) != 0
    assert not (out / "report.html").exists()


def test_a_run_stopped_while_writing_its_files_is_not_a_finished_run(colour_folder, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    out = tmp_path / "out"
    _run(colour_folder, out, threshold=0.01)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(colour_folder, out, threshold=0.7)
    monkeypatch.undo()
    with pytest.raises(StoreError, match="not a finished run"):
        catsel.load_run(out)
    assert catsel.load_run(_run(colour_folder, out, threshold=0.7).out).settings.threshold == 0.7


def test_a_run_of_another_capture_beside_the_store_is_refused(colour_folder, tmp_path):
    out = tmp_path / "out"
    _run(colour_folder, out)
    record = (out / "run.json").read_bytes()
    catsel.capture(catsel.activation_model(small_cnn(size=12, seed=3), preprocess="tf"),
                   ImageFolder(colour_folder, image_size=12), out, progress=False)
    (out / "run.json").write_bytes(record)
    with pytest.raises(StoreError, match="two runs.*activations"):
        catsel.load_run(out)


@pytest.mark.parametrize("field, value", [("images_per_category", [1, 2]), ("skipped", [1, 2]), ("outputs", None),
                                          ("threshold", "high"), ("image_size", 200000), ("layers", "conv")])
def test_a_run_json_field_of_the_wrong_type_is_one_line(colour_folder, tmp_path, field, value):
    out = tmp_path / "out"
    _run(colour_folder, out)
    record = json.loads((out / "run.json").read_text())
    record[field] = value
    (out / "run.json").write_text(json.dumps(record))
    with pytest.raises(StoreError, match=f"run.json: the field '{field}'"):
        catsel.load_run(out)


def _redirected_store(colour_folder, tmp_path, **capture_options):
    """A finished capture whose meta.json's root points at another folder holding other files of the same names."""
    out = tmp_path / "out"
    catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), out, progress=False, **capture_options)
    return out, _redirect(colour_folder, tmp_path, out)


def _redirect(colour_folder, tmp_path, out):
    elsewhere = tmp_path / "private"
    shutil.copytree(colour_folder, elsewhere)  # same names, same sizes, other files (a copy has new times)
    for png in elsewhere.rglob("*.png"):
        catsel.images.folder.Image.new("RGB", (12, 12), (255, 255, 0)).save(png)
    meta_path = out / "activations" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["root"] = str(elsewhere)
    meta_path.write_text(json.dumps(meta))
    return elsewhere


@pytest.mark.parametrize("verify", [False, True])
def test_a_redirected_root_is_never_read(colour_folder, tmp_path, verify):
    from catsel.stats import phase_scramble

    out, elsewhere = _redirected_store(colour_folder, tmp_path, verify=verify)
    acts = catsel.load_activations(out)
    with pytest.raises(StoreError, match="not the image captured as row 0"):
        acts.image(0)
    with pytest.raises(StoreError, match="not the image captured"):
        phase_scramble(acts, tmp_path / "control")
    assert not (tmp_path / "control").exists()
    # the caller may say where the images are: then they are read from there
    again = catsel.load_activations(out, data_dir=colour_folder)
    assert (again.image(0) == catsel.images.folder.load_image(colour_folder / again.paths[0], 12)).all()


def test_the_report_of_a_redirected_store_draws_nothing_from_elsewhere(colour_folder, tmp_path):
    from catsel.apps.cli import main

    out = tmp_path / "out"
    _run(colour_folder, out, threshold=0.0)
    _redirect(colour_folder, tmp_path, out)
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "Images unavailable" in page and "not the image captured" in page
    assert main(["report", str(out), "--data", str(colour_folder), "--out", str(tmp_path / "again.html")]) == 0
    assert "Images unavailable" not in (tmp_path / "again.html").read_text()


def test_a_store_without_file_identities_reads_images_only_from_a_folder_the_caller_gives(colour_folder, tmp_path):
    out = tmp_path / "out"
    catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), out, progress=False)
    index = out / "activations" / "index.csv"
    lines = [",".join(line.split(",")[:4]) for line in index.read_text().splitlines()]  # as written before
    index.write_text("\n".join(lines) + "\n")
    with pytest.raises(StoreError, match="records no file identities"):
        catsel.load_activations(out).image(0)
    assert catsel.load_activations(out, data_dir=colour_folder).image(0).shape == (12, 12, 3)


def test_names_that_are_not_utf8_are_kept_as_bytes_and_shown_escaped(tmp_path, capsys):
    import os

    import numpy as np

    from catsel.apps.cli import main
    from conftest import write_image

    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for folder in (b"car", b"d\xf6g"):  # a folder, and below a file, named in Latin-1 bytes
        for name in (b"0.png", b"1.png", b"caf\xe9.png"):
            target = os.path.join(os.fsencode(data), folder, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            write_image(Path(os.fsdecode(target)), rng.integers(0, 255, (12, 12, 3)))
    small_cnn(size=12).save(tmp_path / "net.keras")
    out = tmp_path / "out"
    assert main(["run", str(data), "--out", str(out), "--model", str(tmp_path / "net.keras"), "--preprocess", "tf",
                 "--image-size", "12", "--no-progress", "--report"]) == 0
    assert "d\\xf6g" in capsys.readouterr().out
    result = catsel.load_run(out)
    assert result.activations.categories == ("car", "d\\xf6g")
    assert "d\\xf6g" in (out / "selectivity.csv").read_text(encoding="utf-8")  # text files stay UTF-8
    assert "d\\xf6g" in (out / "report.html").read_text(encoding="utf-8")
    row = result.activations.paths.index(os.fsdecode(b"d\xf6g/caf\xe9.png"))  # the bytes themselves, kept
    expected = catsel.images.folder.load_image(Path(os.fsdecode(os.path.join(os.fsencode(data), b"d\xf6g", b"caf\xe9.png"))),
                                      12)
    assert (result.activations.image(row) == expected).all()


# Every file operation of this process, seen through Python's audit hooks while a test watches (a hook cannot be
# removed, so it does nothing unless `_WATCHED` holds folders): what a crafted run folder made catsel touch.
_WATCHED: list = []
_TOUCHED: list = []
_EVENTS = {"open", "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.scandir", "os.listdir", "os.truncate",
           "os.chmod", "os.utime", "os.symlink", "os.link", "shutil.rmtree", "shutil.move", "shutil.copyfile"}


def _audit(event, args):
    if not _WATCHED or event not in _EVENTS:
        return
    import os

    for arg in args[:2]:
        if isinstance(arg, (str, bytes, os.PathLike)):
            where = os.path.realpath(os.fsdecode(arg))
            if any(where == w or where.startswith(w + os.sep) for w in _WATCHED):
                _TOUCHED.append((event, where))


def _crafted(kind, out, victim, data):
    """Edit the finished run in ``out`` as an adversary would, aiming at ``victim``."""
    store = out / "activations"
    meta = json.loads((store / "meta.json").read_text())
    index = (store / "index.csv").read_text().splitlines()
    if kind == "key_absolute":
        meta["key"] = str(victim)
    elif kind == "key_dotdot":
        meta["key"] = "../../victim"
    elif kind == "layer":
        meta["layers"][0]["name"] = "../../../victim/thesis"
    elif kind in ("row_absolute", "row_dotdot"):
        cells = index[1].split(",")
        cells[1] = str(victim / "photo.png") if kind == "row_absolute" else "../victim/photo.png"
        index[1] = ",".join(cells)
    elif kind == "row_link":  # the root moved to a folder of the run, whose files are links to the victim's
        fake = out / "fake"
        for line in index[1:]:
            rel = line.split(",")[1]
            (fake / rel).parent.mkdir(parents=True, exist_ok=True)
            (fake / rel).symlink_to(victim / "photo.png")
        meta["root"] = str(fake)
    elif kind == "root":
        meta["root"] = str(victim)
    (store / "meta.json").write_text(json.dumps(meta))
    (store / "index.csv").write_text("\n".join(index) + "\n")


KINDS = ["key_absolute", "key_dotdot", "layer", "row_absolute", "row_dotdot", "row_link", "root"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_crafted_run_folder_touches_nothing_outside_its_folders(colour_folder, tmp_path, kind):
    import os
    import sys

    import numpy as np

    from catsel.apps.cli import main
    from catsel.stats import phase_scramble

    if _audit not in getattr(sys, "_catsel_hooks", []):
        sys.addaudithook(_audit)
        sys._catsel_hooks = getattr(sys, "_catsel_hooks", []) + [_audit]
    out = tmp_path / "out"
    _run(colour_folder, out, threshold=0.0)
    victim = tmp_path / "victim"
    for rel in [p.relative_to(colour_folder) for p in colour_folder.rglob("*.png")] + [Path("photo.png")]:
        (victim / rel).parent.mkdir(parents=True, exist_ok=True)
        catsel.images.folder.Image.fromarray(np.full((12, 12, 3), 7, np.uint8)).save(victim / rel)
    (victim / "thesis.npy").write_bytes(b"years of work")
    before = {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()}
    _crafted(kind, out, victim, colour_folder)
    _WATCHED[:] = [os.path.realpath(victim), "/etc/passwd"]
    _TOUCHED.clear()
    try:
        for step in (lambda: catsel.load_activations(out).image(0),
                     lambda: phase_scramble(catsel.load_activations(out), tmp_path / "control"),
                     lambda: main(["report", str(out)]),
                     lambda: catsel.load_run(out),
                     lambda: catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), out,
                                            progress=False),
                     lambda: catsel.capture(catsel.activation_model(small_cnn(size=12, seed=5), preprocess="tf"),
                                            ImageFolder(colour_folder, image_size=12), out, progress=False)):
            try:
                step()
            except StoreError:
                pass
    finally:
        _WATCHED.clear()
    assert _TOUCHED == []
    assert {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("edit", [(b"'shape': (", b"'shape': (["), (b"'descr'", b"'de(cr'"), (b"'fortran_order'", b"'fortran_order)")])
def test_a_malformed_npy_header_is_one_line_and_the_rerun_repairs_it(colour_folder, tmp_path, edit):
    import numpy as np

    folder = ImageFolder(colour_folder, image_size=12)
    out = tmp_path / "out"
    first = catsel.capture(_amodel(), folder, out, progress=False)
    array = out / "activations" / "maxima" / "c1.npy"
    array.write_bytes(array.read_bytes().replace(*edit, 1))
    with pytest.raises(StoreError, match="c1.npy is not a NumPy array file"):
        catsel.load_activations(out)
    with pytest.warns(UserWarning, match="c1.npy is not a NumPy array file"):
        again = catsel.capture(_amodel(), folder, out, progress=False)
    np.testing.assert_array_equal(again["c1"], first["c1"])
