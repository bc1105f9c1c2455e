"""The third fault campaign's rows, one test each (docs/reliability.md): what gave a wrong result with exit 0
now stops at the door with one line naming the option or file, before any work."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import catsel
from catsel.apps.cli import main
from catsel.errors import CatselError, ModelError


@pytest.mark.parametrize("weights", ["/nonexistent.h5", "imagenet", "none", "FOLDER", "TEXT", 5])
def test_weights_given_with_a_saved_model_are_refused_not_ignored(saved_network, tmp_path, weights):
    """Row 11: the saved model's own weights were used and run.json said nothing of the weights asked for
    ("none" too: a user asking for the untrained network got the trained one)."""
    if weights == "FOLDER":
        weights = str(tmp_path)
    elif weights == "TEXT":
        (tmp_path / "w.txt").write_text("not weights")
        weights = str(tmp_path / "w.txt")
    with pytest.raises(ModelError, match="carries its own weights") as info:
        catsel.activation_model(saved_network, weights=weights)
    assert "\n" not in str(info.value) and "weights" in str(info.value)


def test_weights_given_with_a_model_in_memory_are_refused_too():
    from helpers import small_cnn

    with pytest.raises(ModelError, match="a model held in memory carries its own weights"):
        catsel.activation_model(small_cnn(size=12), "none")
    assert catsel.activation_model(small_cnn(size=12)).trained  # its own weights, as before


def test_weights_with_a_saved_model_are_one_line_from_the_command_before_any_work(saved_network, colour_folder,
                                                                                  tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(colour_folder), "--out", str(out), "--model", saved_network, "--weights", "imagenet",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--weights" in err and "Traceback" not in err
    assert not (out / "activations").exists()


def test_a_saved_model_is_still_rebuilt_from_its_store(saved_network, colour_folder, tmp_path):
    """The store's recipe names no weights for a saved model: rebuilding it is not refused."""
    acts = catsel.capture(catsel.activation_model(saved_network, preprocess="raw"),
                          catsel.ImageFolder(colour_folder, image_size=12), tmp_path / "out", progress=False)
    from catsel.network.models import from_store

    assert from_store(acts).digest() == catsel.activation_model(saved_network, preprocess="raw").digest()


@pytest.mark.parametrize("out", ["", "   "])
def test_an_empty_output_folder_is_refused_and_nothing_is_written_here(colour_folder, tmp_path, out, monkeypatch,
                                                                        capsys):
    """Row 12: ``--out ''`` wrote the run into the current folder."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(CatselError, match="out is empty"):
        catsel.run(colour_folder, out, model="vgg16", weights="none", image_size=32, progress=False)
    code = main(["run", str(colour_folder), "--out", out, "--image-size", "32", "--weights", "none",
                 "--no-progress"])
    assert code == 2 and "--out is empty" in capsys.readouterr().err
    assert os.listdir(here) == []


def _captured(colour_folder, out):
    from helpers import small_cnn

    amodel = catsel.activation_model(small_cnn(size=12), preprocess="tf")
    folder = catsel.ImageFolder(colour_folder, image_size=12)
    return amodel, folder, catsel.capture(amodel, folder, out, progress=False)


def _nan_filled(store: Path, name: str = "maxima/c2.npy") -> None:
    """Every maximum of one array set to NaN, and its checksum recomputed: what an edit that knows the format does."""
    import json

    import numpy as np

    from catsel.store.npy import rows_crc

    array = np.load(store / name, mmap_mode="r+")
    array[:] = np.nan
    array.flush()
    del array
    progress = json.loads((store / "progress.json").read_text())
    shape = np.load(store / name, mmap_mode="r").shape
    progress["crc32"][name] = rows_crc(store / name, shape[0], shape[1] * 4)
    (store / "progress.json").write_text(json.dumps(progress))


def test_a_store_of_nan_maxima_is_damage_and_the_rerun_repairs_it(colour_folder, tmp_path):
    """Row 8: an array of NaN (its checksum recomputed) was reused by the rerun (exit 0): 0 selective units."""
    import numpy as np

    out = tmp_path / "out"
    amodel, folder, first = _captured(colour_folder, out)
    expected = catsel.selectivity(first)
    _nan_filled(out / "activations")
    with pytest.raises(catsel.StoreError, match=r"c2\.npy.*(NaN|not finite)"):
        catsel.selectivity(catsel.load_activations(out))
    with pytest.raises(catsel.StoreError, match=r"c2\.npy.*(NaN|not finite)"):
        catsel.load_activations(out, verify=True)
    with pytest.warns(UserWarning, match=r"c2\.npy.*(NaN|not finite)"):
        again = catsel.capture(amodel, folder, out, progress=False)
    assert np.isfinite(again["c2"]).all()
    np.testing.assert_array_equal(again["c2"], first["c2"])
    import pandas as pd

    pd.testing.assert_frame_equal(catsel.selectivity(again), expected)
    third = catsel.capture(amodel, folder, out, progress=False)  # reused now, as it is
    assert third.captured == 0


@pytest.mark.parametrize("removed", ["all", "one"])
def test_a_store_without_its_checksums_is_never_trusted(colour_folder, tmp_path, removed):
    """Row 7: with progress.json's crc32 removed (or one array's), a flipped byte was trusted."""
    import json

    import numpy as np

    out = tmp_path / "out"
    amodel, folder, first = _captured(colour_folder, out)
    store = out / "activations"
    progress = json.loads((store / "progress.json").read_text())
    if removed == "all":
        del progress["crc32"]
    else:
        del progress["crc32"]["maxima/c2.npy"]
    (store / "progress.json").write_text(json.dumps(progress))
    array = np.load(store / "maxima" / "c2.npy", mmap_mode="r+")
    array[0, 0] += 1.0  # a flipped value the missing checksum would have caught
    array.flush()
    del array
    with pytest.raises(catsel.StoreError, match=r"c[12]\.npy has no checksum"):
        catsel.load_activations(out, verify=True)
    with pytest.warns(UserWarning, match="no checksum"):
        again = catsel.capture(amodel, folder, out, progress=False)
    np.testing.assert_array_equal(again["c2"], first["c2"])
    assert catsel.load_activations(out, verify=True) is not None


@pytest.mark.parametrize("option, value, says", [
    ("threshold", float("nan"), "threshold must be a finite number"),
    ("threshold", float("inf"), "threshold must be a finite number"),
    ("threshold", "0.1", "threshold must be a finite number"),
    ("seed", -1, "seed must be a whole number of 0 or more"),
    ("seed", "x", "seed must be a whole number of 0 or more"),
    ("image_size", 99999999, "image_size 99999999 is too large"),
])
def test_a_bad_value_is_refused_at_the_door_from_python(option, value, says):
    """Row 20: the whole capture ran, then the run's own record was called "edited or damaged"."""
    with pytest.raises(CatselError, match=says) as info:
        catsel.Settings(**{option: value})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("args, says", [
    (["--threshold", "nan"], "--threshold must be a finite number"),
    (["--seed", "-1"], "--seed must be a whole number of 0 or more"),
    (["--image-size", "99999999"], "--image-size: image size '99999999' is too large"),
])
def test_a_bad_value_is_refused_at_the_door_from_the_command(colour_folder, tmp_path, capsys, args, says):
    out = tmp_path / "out"
    try:
        code = main(["run", str(colour_folder), "--out", str(out), "--weights", "none", "--no-progress", *args])
    except SystemExit as stop:  # refused by the option's own parser, with its usage
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err
    assert not out.exists()  # before any work


@pytest.mark.parametrize("call, says", [
    (lambda acts: catsel.Settings(layers=[5]), "layers takes layer names (a list of str, or one str); 5 is not one"),
    (lambda acts: catsel.Settings(layers=[]), "layers is empty"),
    (lambda acts: catsel.selectivity(acts, threshold="x"), "threshold must be a finite number, not 'x'"),
    (lambda acts: catsel.selectivity(None), "selectivity takes a capture"),
    (lambda acts: catsel.selectivity(acts, layers=[3]), "layers takes layer names"),
    (lambda acts: catsel.run(123, "out"), "data_dir must name the folder of category folders, not 123"),
    (lambda acts: catsel.run("data", None), "out is empty"),
    (lambda acts: catsel.load_run(None), "out must name a run folder, not None"),
    (lambda acts: catsel.load_activations(5), "path must name a store or run folder, not 5"),
])
def test_wrong_python_types_are_one_line_naming_the_keyword(call, says):
    """Row 21: wrong types from Python ended in raw tracebacks from deep inside (or after the capture)."""
    from helpers import hand_set_acts

    with pytest.raises(CatselError, match=re.escape(says)) as info:
        call(hand_set_acts())
    assert "\n" not in str(info.value)


def test_one_layer_named_alone_is_one_layer_not_its_letters():
    """Row 21: `layers='c1'` was read as the layers `c` and `1`."""
    from helpers import hand_set_acts

    assert catsel.Settings(layers="c1").layers == ["c1"]
    assert set(catsel.selectivity(hand_set_acts(), layers="conv")["layer"].astype(str)) == {"conv"}


def test_a_fifo_or_a_device_linked_as_an_image_is_skipped_for_what_it_is(colour_folder, tmp_path):
    """Row 22: a FIFO or /dev/zero linked as an image was skipped as "empty file (0 bytes)"."""
    from catsel.images.folder import load_image

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(catsel.ImageError, match=r"pipe\.png: a named pipe \(FIFO\), not an image file"):
        load_image(fifo, 12)
    zero = tmp_path / "zero.png"
    zero.symlink_to("/dev/zero")
    with pytest.raises(catsel.ImageError, match=r"zero\.png: a device, not an image file"):
        load_image(zero, 12)


def test_a_killed_writers_temporary_file_is_removed_by_the_next_run(colour_folder, tmp_path):
    """Row 22: a stray `.selectivity.csv.<pid>.tmp` from a kill was never removed."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has ended
    out = tmp_path / "out"
    out.mkdir()
    stray = out / f".selectivity.csv.{pid}.0123abcd.tmp"
    stray.write_text("half a table")
    mine = out / f".layer_summary.csv.{os.getpid()}.0123abcd.tmp"  # a live writer's: left alone
    mine.write_text("being written")
    catsel.run(colour_folder, out, model="vgg16", weights="none", image_size=32, layers=["block1_conv1"],
               progress=False, shuffles=20)
    assert not stray.exists() and mine.exists()


def _edit_index(store, change):
    import csv

    with open(store / "index.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0])
    rows = change(rows)
    with open(store / "index.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _edit_meta(store, change):
    import json

    meta = json.loads((store / "meta.json").read_text())
    change(meta)
    (store / "meta.json").write_text(json.dumps(meta))


def _swap_categories(store):
    """Row 6: meta.json's categories reordered and index.csv's category column swapped to agree with it."""
    import json

    meta = json.loads((store / "meta.json").read_text())
    a, b = meta["categories"][0], meta["categories"][1]
    meta["categories"][0], meta["categories"][1] = b, a
    (store / "meta.json").write_text(json.dumps(meta))
    _edit_index(store, lambda rows: [{**r, "category": {a: b, b: a}.get(r["category"], r["category"])}
                                     for r in rows])


def _swap_paths(rows):
    rows[0]["path"], rows[-1]["path"] = rows[-1]["path"], rows[0]["path"]
    return rows


def _remove_layer_names(meta):
    meta["layers"][0]["name"], meta["layers"][1]["name"] = meta["layers"][1]["name"], meta["layers"][0]["name"]


def _array_as_folder(store):
    (store / "maxima" / "c1.npy").unlink()
    (store / "maxima" / "c1.npy").mkdir()


DAMAGE = {  # rows 6 and 13 to 16 of the third campaign, each a damage the next run must repair
    "index.csv header only": lambda s: (s / "index.csv").write_text("row,path,category,label,size,mtime_ns\n"),
    "index.csv deleted": lambda s: (s / "index.csv").unlink(),
    "index.csv random bytes": lambda s: (s / "index.csv").write_bytes(os.urandom(300)),
    "index.csv label x": lambda s: _edit_index(s, lambda rows: [{**r, "label": "x"} for r in rows]),
    "index.csv size 1e400": lambda s: _edit_index(s, lambda rows: [{**r, "size": "1e400"} for r in rows]),
    "index.csv with a byte-order mark": lambda s: (s / "index.csv").write_bytes(
        b"\xef\xbb\xbf" + (s / "index.csv").read_bytes()),
    "index.csv one row removed": lambda s: _edit_index(s, lambda rows: rows[:-1]),
    "index.csv paths swapped": lambda s: _edit_index(s, _swap_paths),
    "categories reordered with the index": _swap_categories,
    "meta.json n_rows": lambda s: _edit_meta(s, lambda m: m.update(n_rows=m["n_rows"] - 2)),
    "meta.json a layer's units": lambda s: _edit_meta(s, lambda m: m["layers"][0].update(units=99)),
    "meta.json two layers' names swapped": lambda s: _edit_meta(s, _remove_layer_names),
    "an array replaced by a folder": _array_as_folder,
    "progress.json skips every image": lambda s: (s / "progress.json").write_text(json.dumps({
        **json.loads((s / "progress.json").read_text()),
        "skipped": {str(i): "crafted" for i in range(json.loads((s / "meta.json").read_text())["n_rows"])}})),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_damaged_store_is_repaired_by_the_next_run_and_reused_by_the_one_after(colour_folder, tmp_path,
                                                                                     damage):
    """Rows 6, 13, 14 and 16: a damaged record gave a wrong answer with exit 0, or the same line on every rerun.
    Whatever is refused when read is repaired by the next capture, which gives the first capture's values; the
    one after reuses the store as it is."""
    import warnings

    import numpy as np
    import pandas as pd

    out = tmp_path / "out"
    amodel, folder, first = _captured(colour_folder, out)
    expected = catsel.selectivity(first)
    DAMAGE[damage](out / "activations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a repair may say what it found; the values are what count
        again = catsel.capture(amodel, folder, out, progress=False)
    for layer in first.layers:
        np.testing.assert_array_equal(again[layer], first[layer])
    assert list(again.paths) == list(first.paths) and list(again.categories) == list(first.categories)
    pd.testing.assert_frame_equal(catsel.selectivity(again), expected)
    pd.testing.assert_frame_equal(catsel.selectivity(catsel.load_activations(out, verify=True)), expected)
    third = catsel.capture(amodel, folder, out, progress=False)
    assert third.captured == 0


def test_a_store_whose_start_was_cut_short_is_started_again(colour_folder, tmp_path):
    """Row 15: a disk that filled while the store was starting left `activations/` with `index.csv` alone; every
    rerun said "activations exists and is not a catsel store"."""
    out = tmp_path / "out"
    amodel, folder, first = _captured(colour_folder, out)
    store = out / "activations"
    for entry in list(store.iterdir()):
        if entry.name != "index.csv":
            if entry.is_dir():
                import shutil

                shutil.rmtree(entry)
            else:
                entry.unlink()
    again = catsel.capture(amodel, folder, out, progress=False)
    assert again.captured == len(first)


def test_an_index_whose_paths_leave_their_category_folders_is_refused_when_read(colour_folder, tmp_path):
    """Row 6: swapping paths between categories was accepted, and the dog folder's units reported as faces."""
    out = tmp_path / "out"
    _captured(colour_folder, out)
    _swap_categories(out / "activations")
    with pytest.raises(catsel.StoreError, match="is not in the folder of its category"):
        catsel.load_activations(out)


def test_the_model_rebuilt_from_a_store_is_the_file_captured_never_a_path_read_from_a_record(colour_folder,
                                                                                              tmp_path, monkeypatch):
    """Row 5: `meta.json`'s `rebuild.model` pointed at another model file: `visualize` and `lesion` loaded it."""
    import json
    import shutil

    from helpers import small_cnn

    import catsel.network.keras.applications as applications
    from catsel.errors import ModelError
    from catsel.network.models import from_store

    saved = tmp_path / "net.keras"
    small_cnn(size=12).save(saved)
    out = tmp_path / "out"
    catsel.capture(catsel.activation_model(saved), catsel.ImageFolder(colour_folder, image_size=12), out,
                   progress=False)
    other = tmp_path / "other.keras"
    small_cnn(size=12, seed=5).save(other)
    meta_path = out / "activations" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert len(meta["rebuild"]["sha256"]) == 64  # the file by its identity
    loaded = []
    real = applications.load_saved
    monkeypatch.setattr("catsel.network.keras.model.load_saved", lambda path: loaded.append(path) or real(path))
    # the record edited to name another file: the store's records no longer give its key
    meta_path.write_text(json.dumps({**meta, "rebuild": {**meta["rebuild"], "model": str(other)}}))
    with pytest.raises(catsel.StoreError, match="no longer give the store's key"):
        catsel.load_activations(out)
    meta_path.write_text(json.dumps(meta))
    # another file put at the recorded path: refused by its bytes, before it is opened
    shutil.copyfile(other, saved)
    with pytest.raises(ModelError, match=r"net\.keras is not the model file it was captured with"):
        from_store(catsel.load_activations(out))
    assert loaded == []


@pytest.mark.parametrize("edit", ["map shape", "receptive-field step", "recipe seed", "a row's label and category"])
def test_an_edited_network_description_is_refused_when_read_and_repaired_by_the_rerun(colour_folder, tmp_path,
                                                                                     edit):
    """Row 10: `meta.json`'s map shape or receptive-field step edited: `visualize` and `report` exited 0 with
    black crops. The records together must give the key they were captured under."""
    import numpy as np

    out = tmp_path / "out"
    amodel, folder, first = _captured(colour_folder, out)
    store = out / "activations"
    if edit == "map shape":
        _edit_meta(store, lambda m: m["layers"][0].update(map_shape=[2, 2]))
    elif edit == "receptive-field step":
        _edit_meta(store, lambda m: m["layers"][1]["receptive_field"].update(step=7))
    elif edit == "recipe seed":
        _edit_meta(store, lambda m: m.update(rebuild={**(m["rebuild"] or {}), "seed": 9}))
    else:
        _edit_index(store, lambda rows: [{**r, "label": "1", "category": "green"} if r["category"] == "blue" else r
                                         for r in rows])
    with pytest.raises(catsel.StoreError, match="no longer give the store's key|edited or damaged"):
        catsel.load_activations(out)
    again = catsel.capture(amodel, folder, out, progress=False)
    for layer in first.layers:
        np.testing.assert_array_equal(again[layer], first[layer])
    assert catsel.load_activations(out).meta.layers == first.meta.layers


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from conftest import square_folder

    root = tmp_path_factory.mktemp("finished")
    data = square_folder(root / "data", {"red": 6, "green": 6}, seed=0, noise=60, box=(4, 12, 4, 12), value=200)
    out = root / "out"
    catsel.run(data, out, model="vgg16", weights="none", image_size=32, layers=["block1_conv1", "block2_conv1"],
               progress=False, shuffles=20)
    return root, data, out


def _one_line(capsys, code):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("catsel: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command, says", [
    (lambda root, out: ["report", str(out), "--out", str(root)], "is a folder, where a file is meant"),
    (lambda root, out: ["compare", str(out), str(out), "--out", str(root)], "is a folder, where a file is meant"),
    (lambda root, out: ["lesion", str(out), "--category", "red", "--layer", "block1_conv1",
                        "--out", str(root / "data" / "red" / "00.png")], "exists already and is in the way"),
])
def test_an_output_the_file_system_refuses_is_one_line(finished_run, capsys, command, says):
    """Row 18: `compare --out DIR`, `report --out DIR`, `lesion --out FILE` ended in raw tracebacks."""
    root, _, out = finished_run
    try:
        code = main(command(root, out))
    except SystemExit as stop:
        code = stop.code
    assert says in _one_line(capsys, code)


def test_a_cache_that_is_a_file_is_one_line(finished_run, capsys, tmp_path):
    """Row 18: `--cache FILE` ended in a raw traceback."""
    _, data, _ = finished_run
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    code = main(["run", str(data), "--out", str(tmp_path / "o"), "--weights", "none", "--image-size", "32",
                 "--layers", "block1_conv1", "--cache", str(cache), "--no-progress", "--shuffles", "20"])
    assert str(cache) in _one_line(capsys, code)


@pytest.mark.parametrize("record, damage", [
    ("activations/meta.json", lambda p: p.write_text("[" * 200_000 + "]" * 200_000)),
    ("run.json", lambda p: p.write_text("{\"a\": " * 100_000 + "1" + "}" * 100_000)),
    ("activations/index.csv", lambda p: p.write_text(p.read_text().replace("red/", "red/" + "x" * 200_000, 1))),
])
def test_a_crafted_record_is_one_line_in_every_command(finished_run, tmp_path, capsys, record, damage):
    """Row 17: JSON nested 200,000 levels (RecursionError in every command), an index.csv field of 200,000
    characters (_csv.Error)."""
    import shutil

    _, _, out = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    damage(copy / record)
    code = main(["report", str(copy), "--out", str(tmp_path / "r.html")])
    assert Path(record).name in _one_line(capsys, code)  # the file named, in one line


@pytest.mark.parametrize("address", ["foo", "tcp://host", "host:port"])
def test_a_scheduler_address_without_a_port_is_refused_before_any_work(colour_folder, tmp_path, capsys, address):
    """Row 19: `--scheduler foo` ended in `ValueError: missing port number` after the scan and the network."""
    with pytest.raises(CatselError, match="is not local:N, cuda or a scheduler's address"):
        catsel.Settings(scheduler=address)
    code = main(["run", str(colour_folder), "--out", str(tmp_path / "o"), "--scheduler", address, "--no-progress"])
    assert "tcp://HOST:PORT" in _one_line(capsys, code)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line(colour_folder, tmp_path, capsys, monkeypatch):
    """Row 19: an unreachable scheduler ended in an OSError traceback after 30 s."""
    pytest.importorskip("distributed")
    import catsel.capturing.cluster as cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2)
    code = main(["run", str(colour_folder), "--out", str(tmp_path / "o"), "--weights", "none", "--image-size", "32",
                 "--layers", "block1_conv1", "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    assert "cannot be reached" in _one_line(capsys, code)


def test_a_store_whose_record_skips_every_image_is_one_line_when_read(colour_folder, tmp_path):
    """Row 17: every row skipped (progress.json edited): `visualize` and `lesion` ended in raw tracebacks."""
    out = tmp_path / "out"
    _captured(colour_folder, out)
    DAMAGE["progress.json skips every image"](out / "activations")
    with pytest.raises(catsel.StoreError, match="skips rows that are not the store's, or every image of a category"):
        catsel.load_activations(out)


def test_a_folder_that_cannot_be_written_is_one_line(finished_run, capsys, monkeypatch, tmp_path):
    """Row 18: a read-only OUT for `report` ended in a raw traceback (simulated: the tests run as root, whom
    permissions do not stop)."""
    import errno

    import catsel.store.files as files

    _, _, out = finished_run

    def refused(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(files.os, "replace", refused)
    code = main(["report", str(out), "--out", str(tmp_path / "report.html")])
    assert "permission denied" in _one_line(capsys, code)


def test_a_cache_the_system_refuses_is_one_line(finished_run, capsys, tmp_path):
    """Row 18: `--cache /proc/self` ended in a raw traceback."""
    _, data, _ = finished_run
    code = main(["run", str(data), "--out", str(tmp_path / "o"), "--weights", "none", "--image-size", "32",
                 "--layers", "block1_conv1", "--cache", "/proc/self", "--no-progress", "--shuffles", "20"])
    assert "/proc/self" in _one_line(capsys, code)


def test_a_full_disk_while_visualize_writes_is_one_line(finished_run, capsys, monkeypatch, tmp_path):
    """Row 18: a full disk in `visualize` ended in a raw traceback."""
    import errno

    from matplotlib.figure import Figure

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    _, _, out = finished_run
    code = main(["visualize", str(out), "--layer", "block1_conv1", "--unit", "0", "--steps", "2",
                 "--out", str(tmp_path / "v.png")])
    line = _one_line(capsys, code)
    assert "v.png" in line and ("full" in line or "space" in line)
    assert not (tmp_path / "v.png").exists()
