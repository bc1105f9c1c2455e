"""Capture and the activations store: layout, reuse, resume, bad files (issue: core pipeline, sections 3 and 5)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import catsel
from catsel import DatasetError, ImageError, ImageFolder, StoreError
from conftest import write_image
from helpers import small_cnn


def _amodel():
    return catsel.activation_model(small_cnn(size=12), preprocess="tf")


def _store_files(store: Path) -> dict[str, bytes]:
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def test_store_is_readable_with_numpy_json_and_csv_alone(colour_folder, tmp_path):
    acts = catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path, batch_size=4, progress=False)
    store = tmp_path / "activations"
    meta = json.loads((store / "meta.json").read_text())
    assert meta["format"] == "catsel-activations" and meta["n_rows"] == 15
    assert [l["name"] for l in meta["layers"]] == ["c1", "c2", "c3", "fc"]
    with open(store / "index.csv") as f:
        rows = list(csv.DictReader(f))
    st = (colour_folder / "blue" / "00.png").stat()  # each file's identity as captured, beside its path
    assert rows[0] == {"row": "0", "path": "blue/00.png", "category": "blue", "label": "0", "size": str(st.st_size),
                       "mtime_ns": str(st.st_mtime_ns), "sha256": ""}
    c2 = np.load(store / "maxima" / "c2.npy")  # no allow_pickle needed
    assert c2.dtype == np.float32 and c2.shape == (15, 6)
    np.testing.assert_array_equal(c2, acts["c2"])
    pos = np.load(store / "positions" / "c2.npy")
    assert pos.dtype == np.int32 and pos.max() < 25
    assert not (store / "positions" / "fc.npy").exists()
    assert json.loads((store / "progress.json").read_text())["complete"] is True
    loaded = catsel.load_activations(tmp_path)  # the run folder or the store itself
    assert loaded.layers == ("c1", "c2", "c3", "fc") and loaded.categories == ("blue", "green", "red")
    assert loaded.labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert loaded.paths[5] == "green/00.png"
    assert loaded.units == {"c1": 5, "c2": 6, "c3": 7, "fc": 8}


def test_store_maxima_match_the_model_on_each_image(colour_folder, tmp_path):
    amodel = _amodel()
    folder = ImageFolder(colour_folder, image_size=12)
    acts = catsel.capture(amodel, folder, tmp_path, batch_size=4, progress=False)
    images = np.stack([folder.load(i) for i in range(len(folder))])
    expected, _ = amodel.predict(images)
    for layer in acts.layers:
        np.testing.assert_allclose(acts[layer], expected[layer], rtol=1e-5, atol=1e-6)


class _Interrupt(Exception):
    pass


def _replace_run(monkeypatch, amodel, run) -> None:
    """Make the capture's compiled forward pass ``run`` (batches still sent by the real ``put``)."""
    put = amodel.runner()[0]
    monkeypatch.setattr(amodel, "runner", lambda devices=None: (put, run))


def test_interrupted_capture_resumes_to_an_identical_store(colour_folder, tmp_path, monkeypatch):
    folder = ImageFolder(colour_folder, image_size=12)
    catsel.capture(_amodel(), folder, tmp_path / "whole", batch_size=4, progress=False)

    amodel = _amodel()
    original = amodel.runner()[1]
    calls = {"n": 0}

    def dying_run(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Interrupt("killed")
        return original(batch)

    _replace_run(monkeypatch, amodel, dying_run)
    with pytest.raises(_Interrupt):
        catsel.capture(amodel, folder, tmp_path / "resumed", batch_size=4, progress=False)
    progress = json.loads((tmp_path / "resumed" / "activations" / "progress.json").read_text())
    assert {k: progress[k] for k in ("rows_done", "complete", "skipped")} == {"rows_done": 8, "complete": False,
                                                                              "skipped": {}}
    assert set(progress["crc32"]) == {f"{kind}/{layer}.npy" for kind in ("maxima", "positions")
                                      for layer in ("c1", "c2", "c3")} | {"maxima/fc.npy"}
    with pytest.raises(StoreError, match="incomplete .8 of 15"):
        catsel.load_activations(tmp_path / "resumed")

    seen = []
    _replace_run(monkeypatch, amodel, lambda batch: seen.append(len(batch)) or original(batch))
    catsel.capture(amodel, folder, tmp_path / "resumed", batch_size=4, progress=False)
    assert len(seen) == 2  # rows 8-11 and 12-14 only
    assert _store_files(tmp_path / "resumed" / "activations") == _store_files(tmp_path / "whole" / "activations")


def test_a_rerun_reuses_a_complete_store(colour_folder, tmp_path, monkeypatch):
    folder = ImageFolder(colour_folder, image_size=12)
    amodel = _amodel()
    catsel.capture(amodel, folder, tmp_path, progress=False)
    _replace_run(monkeypatch, amodel, lambda batch: pytest.fail("recomputed a complete store"))
    acts = catsel.capture(amodel, folder, tmp_path, progress=False)
    assert len(acts) == 15


@pytest.mark.parametrize("change", ["image", "preprocessing", "weights", "layers"])
def test_any_change_starts_afresh_and_keeps_the_old_store_aside(colour_folder, tmp_path, change):
    folder = ImageFolder(colour_folder, image_size=12)
    first = catsel.capture(_amodel(), folder, tmp_path, progress=False)
    amodel = _amodel()
    if change == "image":
        write_image(colour_folder / "red" / "05.png", np.full((12, 12, 3), 7))
        folder = ImageFolder(colour_folder, image_size=12)
    elif change == "preprocessing":
        amodel = catsel.activation_model(small_cnn(size=12), preprocess="raw")
    elif change == "weights":
        amodel = catsel.activation_model(small_cnn(size=12, seed=1), preprocess="tf")
    else:
        amodel = catsel.activation_model(small_cnn(size=12), preprocess="tf", layers=["c1", "fc"])
    second = catsel.capture(amodel, folder, tmp_path, progress=False)
    assert second.meta.key != first.meta.key
    previous = catsel.load_activations(tmp_path / "activations.history" / first.meta.key[:16])
    assert previous.meta.key == first.meta.key
    np.testing.assert_array_equal(previous["c1"], first["c1"])


def test_an_unrelated_folder_is_never_overwritten(colour_folder, tmp_path):
    (tmp_path / "activations").mkdir()
    (tmp_path / "activations" / "thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="not a catsel store"):
        catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path, progress=False)
    assert (tmp_path / "activations" / "thesis.tex").read_text() == "precious"


def _add_bad_files(root: Path) -> dict[str, Path]:
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good, "JPEG")
    data = good.getvalue()
    bad = {"empty": root / "green" / "empty.jpg", "truncated": root / "red" / "truncated.jpg",
           "text": root / "blue" / "notes.jpg"}
    bad["empty"].write_bytes(b"")
    bad["truncated"].write_bytes(data[: len(data) // 3])
    bad["text"].write_text("not an image")
    return bad


def test_bad_files_are_skipped_with_their_reason(colour_folder, tmp_path):
    bad = _add_bad_files(colour_folder)
    acts = catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path, batch_size=4, progress=False)
    assert len(acts) == 15 and acts.counts == {"blue": 5, "green": 5, "red": 5}
    reasons = sorted(acts.skipped.values())
    assert len(reasons) == 3
    assert any(str(bad["empty"]) in r and "empty file" in r for r in reasons)
    assert any(str(bad["truncated"]) in r and "cannot be decoded" in r for r in reasons)
    assert any(str(bad["text"]) in r and "not an image" in r for r in reasons)
    assert not any(p.endswith(("empty.jpg", "truncated.jpg", "notes.jpg")) for p in acts.paths)
    # the rows of good images are unaffected by the bad ones
    clean = catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12, max_per_category=5),
                           tmp_path / "clean", progress=False)
    for layer in acts.layers:
        np.testing.assert_allclose(acts[layer], clean[layer], rtol=1e-6)


def test_strict_stops_at_the_first_bad_file_and_keeps_what_was_done(colour_folder, tmp_path):
    bad = _add_bad_files(colour_folder)
    folder = ImageFolder(colour_folder, image_size=12)
    with pytest.raises(ImageError, match="notes.jpg.*strict") as err:
        catsel.capture(_amodel(), folder, tmp_path, batch_size=4, strict=True, progress=False)
    assert str(bad["text"]) in str(err.value)
    progress = json.loads((tmp_path / "activations" / "progress.json").read_text())
    assert progress["rows_done"] == folder.paths.index(bad["text"])  # every image before it is saved


def test_a_category_with_no_readable_image_is_an_error(colour_folder, tmp_path):
    for p in (colour_folder / "green").iterdir():
        p.write_bytes(b"")
    with pytest.raises(DatasetError, match="green has no readable image"):
        catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path, progress=False)
    assert json.loads((tmp_path / "activations" / "progress.json").read_text())["complete"]


def test_decoded_cache_serves_a_second_capture_without_decoding(colour_folder, tmp_path, monkeypatch):
    folder = ImageFolder(colour_folder, image_size=12)
    first = catsel.capture(_amodel(), folder, tmp_path / "a", batch_size=4, cache=tmp_path / "cache", progress=False)
    assert len(list((tmp_path / "cache").glob("decoded-*.npy"))) == 2  # images and done-mask

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(catsel.capturing.local, "decode_rows", no_decoding)
    other = catsel.activation_model(small_cnn(size=12), preprocess="tf", layers=["c1"])
    second = catsel.capture(other, folder, tmp_path / "b", batch_size=5, cache=tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(second["c1"], first["c1"])


def test_decoding_in_processes_gives_the_same_store(colour_folder, tmp_path, monkeypatch):
    folder = ImageFolder(colour_folder, image_size=12)
    threads = catsel.capture(_amodel(), folder, tmp_path / "threads", batch_size=4, workers=1, progress=False)
    monkeypatch.setattr(catsel.capturing.local, "PROCESS_THRESHOLD", 1)  # processes on this small folder
    shared = Path("/dev/shm")

    def buffers():  # shared-memory blocks (psm_*), not the worker pool's own semaphores (sem.*)
        return {p for p in shared.glob("psm_*")} if shared.is_dir() else set()

    before = buffers()
    procs = catsel.capture(_amodel(), folder, tmp_path / "procs", batch_size=4, workers=2, progress=False)
    for layer in threads.layers:
        np.testing.assert_array_equal(procs[layer], threads[layer])
    assert buffers() - before == set()  # the reused shared-memory buffers are released at the end


def test_decoding_processes_are_started_once_per_session(colour_folder, tmp_path, monkeypatch):
    """Starting the workers costs seconds (each imports the main script again); a second capture reuses them."""
    import multiprocessing

    folder = ImageFolder(colour_folder, image_size=12)
    monkeypatch.setattr(catsel.capturing.local, "PROCESS_THRESHOLD", 1)
    first = catsel.capture(_amodel(), folder, tmp_path / "a", batch_size=4, workers=2, progress=False)
    workers = {p.pid for p in multiprocessing.active_children()}
    assert len(workers) >= 2
    second = catsel.capture(_amodel(), folder, tmp_path / "b", batch_size=4, workers=2, progress=False)
    assert {p.pid for p in multiprocessing.active_children()} == workers
    np.testing.assert_array_equal(second["c2"], first["c2"])


UNGUARDED_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import catsel
import catsel.capturing.local
from helpers import small_cnn
catsel.capturing.local.PROCESS_THRESHOLD = 1
amodel = catsel.activation_model(small_cnn(size=12), preprocess="tf")
acts = catsel.capture(amodel, catsel.ImageFolder({folder!r}, image_size=12), {out!r}, batch_size=4, workers=2,
                      progress=False)
print("captured", len(acts))
"""


@pytest.mark.slow
def test_an_unguarded_script_still_captures_with_threads(colour_folder, tmp_path):
    import subprocess

    script = tmp_path / "unguarded.py"  # no `if __name__ == "__main__":`: every worker process re-runs it
    script.write_text(UNGUARDED_SCRIPT.format(tests=str(Path(__file__).parent), folder=str(colour_folder),
                                              out=str(tmp_path / "out")))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "captured 15" in proc.stdout
    assert "decoding goes on in threads" in proc.stderr


def test_the_store_is_written_by_a_thread_of_its_own_in_order(colour_folder, tmp_path, monkeypatch):
    import threading

    from catsel.store import ActivationStore

    written, original = [], ActivationStore.write

    def watched(self, first, arrays, errors):
        written.append((threading.current_thread().name, first, len(errors)))
        return original(self, first, arrays, errors)

    monkeypatch.setattr(ActivationStore, "write", watched)
    folder = ImageFolder(colour_folder, image_size=12)
    acts = catsel.capture(_amodel(), folder, tmp_path / "a", batch_size=4, progress=False)
    assert {name.split("_")[0] for name, _, _ in written} == {"catsel-write"}  # never the capturing thread
    assert [first for _, first, _ in written] == list(range(0, len(folder), 4))  # in order, each batch once
    monkeypatch.setattr(ActivationStore, "write", original)
    again = catsel.capture(_amodel(), folder, tmp_path / "b", batch_size=len(folder), progress=False)
    for layer in acts.layers:  # batches of 4 written behind the network: the same numbers as one batch
        np.testing.assert_array_equal(acts[layer], again[layer])
        np.testing.assert_array_equal(acts.positions(layer), again.positions(layer)) if acts.map_shape(layer) else None


def test_a_write_that_fails_stops_the_capture_and_nothing_after_it_is_written(colour_folder, tmp_path, monkeypatch):
    from catsel.store import ActivationStore

    firsts, original = [], ActivationStore.write

    def failing(self, first, arrays, errors):
        firsts.append(first)
        if first == 4:
            raise StoreError("no space left on the disk (simulated)")
        return original(self, first, arrays, errors)

    monkeypatch.setattr(ActivationStore, "write", failing)
    with pytest.raises(StoreError, match="simulated"):
        catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path, batch_size=4, progress=False)
    assert firsts == [0, 4]  # the batches computed behind the failed one are not written
    assert json.loads((tmp_path / "activations" / "progress.json").read_text())["rows_done"] == 4
    monkeypatch.setattr(ActivationStore, "write", original)
    resumed = catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path, batch_size=4,
                             progress=False)
    whole = catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path / "whole", batch_size=4,
                           progress=False)
    for layer in whole.layers:
        np.testing.assert_array_equal(resumed[layer], whole[layer])
