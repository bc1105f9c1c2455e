"""No link followed out of a run folder: a link planted in it never makes catsel write, move or remove elsewhere.

Each test plants a symbolic link where catsel writes (the folder's lock, the kept stores, a lesion's
folder, a figure named on the command line), runs the command, and checks that the place the link points
to is byte for byte as it was and that the refusal is one line naming the link.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import catsel
from catsel.apps.cli import main
from catsel.images.folder import ImageFolder
from catsel.errors import StoreError
from helpers import small_cnn
from test_lesion import SIZE, _folder, _network


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _elsewhere(tmp_path: Path) -> Path:
    """A folder outside every run folder, holding what a user would not want touched."""
    place = tmp_path / "elsewhere"
    for name in ("a", "b", "c"):
        (place / name).mkdir(parents=True)
        (place / name / "thesis.txt").write_text(f"years of work {name}")
    (place / "notes.txt").write_text("my notes")
    return place


def test_a_linked_lock_file_is_refused_and_the_file_it_points_to_is_untouched(colour_folder, tmp_path):
    out = tmp_path / "out"
    catsel.run(colour_folder, out, model=small_cnn(size=12), preprocess="tf", progress=False)
    place = _elsewhere(tmp_path)
    before = _snapshot(place)
    (out / ".catsel.lock").unlink()
    (out / ".catsel.lock").symlink_to(place / "notes.txt")
    with pytest.raises(StoreError, match=r"\.catsel\.lock is a symbolic link") as info:
        catsel.run(colour_folder, out, model=small_cnn(size=12), preprocess="tf", progress=False)
    assert "\n" not in str(info.value) and "remove it" in str(info.value)
    assert _snapshot(place) == before


def test_a_linked_lock_file_is_one_line_from_the_command(colour_folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    place = _elsewhere(tmp_path)
    before = _snapshot(place)
    (out / ".catsel.lock").symlink_to(place / "notes.txt")
    code = main(["run", str(colour_folder), "--out", str(out), "--image-size", "12", "--weights", "none",
                 "--layers", "block1_conv1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert [line for line in err.splitlines() if "symbolic link" in line] and "Traceback" not in err
    assert _snapshot(place) == before


def test_a_linked_history_folder_never_moves_or_removes_anything_outside(colour_folder, tmp_path):
    folder = ImageFolder(colour_folder, image_size=12)
    out = tmp_path / "out"
    catsel.capture(catsel.activation_model(small_cnn(size=12), preprocess="tf"), folder, out, progress=False)
    place = _elsewhere(tmp_path)
    before = _snapshot(place)
    (out / "activations.history").symlink_to(place, target_is_directory=True)
    store_before = _snapshot(out / "activations")
    other = catsel.activation_model(small_cnn(size=12, seed=1), preprocess="tf")  # another key: the store moves
    with pytest.raises(StoreError, match=r"activations\.history.*(symbolic link|leads outside)"):
        catsel.capture(other, folder, out, progress=False)
    assert _snapshot(place) == before
    assert _snapshot(out / "activations") == store_before  # nothing lost either: the store stays where it was


def test_a_history_folder_linked_inside_the_run_folder_is_still_used(colour_folder, tmp_path):
    """The rule refuses a link that leads out; one that stays inside the run folder is resolved."""
    folder = ImageFolder(colour_folder, image_size=12)
    out = tmp_path / "out"
    catsel.capture(catsel.activation_model(small_cnn(size=12), preprocess="tf"), folder, out, progress=False)
    (out / "kept").mkdir()
    (out / "activations.history").symlink_to(out / "kept", target_is_directory=True)
    catsel.capture(catsel.activation_model(small_cnn(size=12, seed=1), preprocess="tf"), folder, out,
                   progress=False)
    assert len(list((out / "kept").iterdir())) == 1


@pytest.fixture
def lesion_run(tmp_path):
    _network().save(tmp_path / "net.keras")
    data = _folder(tmp_path / "data")
    out = tmp_path / "out"
    assert main(["run", str(data), "--out", str(out), "--model", str(tmp_path / "net.keras"), "--preprocess", "raw",
                 "--image-size", str(SIZE), "--layers", "det,pass,out", "--no-progress"]) == 0
    return out


def test_a_linked_lesion_folder_is_refused_and_nothing_is_written_through_it(lesion_run, tmp_path, capsys):
    place = _elsewhere(tmp_path)
    before = _snapshot(place)
    (lesion_run / "lesion-red").symlink_to(place, target_is_directory=True)
    capsys.readouterr()
    code = main(["lesion", str(lesion_run), "--category", "red", "--layer", "det", "--units", "top:1",
                 "--repeats", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "lesion-red" in err and "Traceback" not in err
    assert _snapshot(place) == before


def test_a_lesion_folder_named_by_the_user_that_is_a_link_is_reported(lesion_run, tmp_path, capsys):
    place = _elsewhere(tmp_path)
    before = _snapshot(place)
    link = tmp_path / "mine"
    link.symlink_to(place, target_is_directory=True)
    capsys.readouterr()
    code = main(["lesion", str(lesion_run), "--category", "red", "--layer", "det", "--units", "top:1",
                 "--repeats", "2", "--out", str(link)])
    err = capsys.readouterr().err
    assert code == 2 and "symbolic link" in err and str(link) in err
    assert _snapshot(place) == before


def test_a_figure_path_that_is_a_link_is_reported_not_overwritten(lesion_run, tmp_path, capsys):
    place = _elsewhere(tmp_path)
    before = _snapshot(place)
    png = lesion_run / "v.png"
    png.symlink_to(place / "notes.txt")
    capsys.readouterr()
    code = main(["visualize", str(lesion_run), "--layer", "det", "--unit", "0", "--out", str(png), "--steps", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "v.png is a symbolic link" in err and "Traceback" not in err
    assert _snapshot(place) == before


def test_every_writer_refuses_a_link_at_its_file(tmp_path):
    """The one way catsel replaces a file refuses a link there, whichever table or figure it is."""
    from catsel.store import atomic_write

    place = _elsewhere(tmp_path)
    link = tmp_path / "table.csv"
    link.symlink_to(place / "notes.txt")
    with pytest.raises(StoreError, match="table.csv is a symbolic link"):
        with atomic_write(link) as tmp:
            tmp.write_text("x")
    assert (place / "notes.txt").read_text() == "my notes" and link.is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_figure_path_matplotlib_cannot_write_is_one_line_before_any_work(tmp_path, capsys):
    # before any work: the run folder does not even exist, and the answer is about --out
    code = main(["visualize", str(tmp_path / "no-run"), "--layer", "det", "--unit", "0",
                 "--out", str(tmp_path / "x.txt")])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "x.txt" in err and "Traceback" not in err
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.parametrize("name", ["activations/meta.json", "activations/index.csv", "activations/progress.json",
                                  "activations", "layer_summary.csv", "selectivity.csv", "run.json"])
def test_a_record_or_store_that_is_a_link_out_of_the_run_folder_is_never_read(colour_folder, tmp_path, name):
    """Third campaign, row 4: index.csv, meta.json, selectivity.csv or the whole activations/ as links to files
    outside were read (exit 0, or a "damaged" line that did not name the link)."""
    import shutil

    out = tmp_path / "out"
    catsel.run(colour_folder, out, model="vgg16", weights="none", image_size=32, layers=["block1_conv1"],
               progress=False, shuffles=20)
    elsewhere = tmp_path / "elsewhere" / Path(name).name
    elsewhere.parent.mkdir()
    target = out / name
    (shutil.copytree if target.is_dir() else shutil.copyfile)(target, elsewhere)
    (shutil.rmtree if target.is_dir() else Path.unlink)(target)
    target.symlink_to(elsewhere)
    with pytest.raises(StoreError, match="leads outside") as info:
        catsel.load_run(out)
    assert "\n" not in str(info.value)
