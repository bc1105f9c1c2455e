"""No silent wrong results (issue: locking, verified stores, safe folder scans): each fault, reproduced."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import catsel
from catsel.images.folder import ImageFolder
from catsel.errors import DatasetError, StoreError
from helpers import small_cnn

FAST = dict(image_size=32, weights="none", layers=["block1_conv1"], progress=False)


def _amodel():
    return catsel.activation_model(small_cnn(size=12), preprocess="tf")


# --- two runs into one OUT -------------------------------------------------------------------------------------

HOLDER = """
import sys, time
from catsel.store import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_run_into_a_busy_output_folder_stops_at_once(colour_folder, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(catsel.__file__).parents[1])}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"in use by another catsel run .process {holder.pid}"):
            catsel.capture(_amodel(), colour_folder, out, progress=False)
        assert not (out / "activations").exists()  # nothing of the busy folder was touched
    finally:
        holder.kill()
        holder.wait()
    acts = catsel.capture(_amodel(), colour_folder, out, progress=False)  # a killed holder's lock is taken over
    assert len(acts) == 15


def test_the_lock_is_held_for_the_whole_run_and_released_after(colour_folder, tmp_path):
    from catsel.store import folder_lock

    out = tmp_path / "out"
    with folder_lock(out):
        with folder_lock(out):  # the same process may nest (catsel.run holds it around catsel.capture)
            pass
        code = f"from catsel.store import folder_lock\nwith folder_lock({str(out)!r}): pass"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(catsel.__file__).parents[1])})
        assert proc.returncode != 0 and f"process {os.getpid()}" in proc.stderr
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(catsel.__file__).parents[1])})
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- a damaged store -------------------------------------------------------------------------------------------

# Both layouts of the store keep the same promises, checked by the same tests: ".npy" rows (one process) and
# Zarr chunks (a Dask cluster; here a client in this process, no cluster started).

@pytest.fixture(params=["npy", "zarr"])
def layout(request):
    """A capture into either layout: ``capture(folder, out)``, and the file that holds the last rows of maxima/c2."""
    on = {} if request.param == "npy" else {"client": request.getfixturevalue("dask_client"), "block": 8}
    network = request.getfixturevalue("saved_network")

    def capture(folder, out, **options):
        return catsel.capture(catsel.activation_model(network, preprocess="tf"), folder, out, batch_size=4,
                              progress=False, **on, **options)

    def last_rows(out: Path) -> Path:
        if request.param == "npy":
            return out / "activations" / "maxima" / "c2.npy"
        return out / "activations" / "arrays.zarr" / "maxima" / "c2" / "c" / "1" / "0"  # rows 8-14

    capture.layout, capture.last_rows = request.param, last_rows
    return capture


@pytest.mark.parametrize("damage", ["truncated", "emptied", "lengthened"])
def test_a_damaged_array_is_never_trusted_on_a_rerun(colour_folder, tmp_path, damage, layout):
    folder = ImageFolder(colour_folder, image_size=12)
    whole = layout(folder, tmp_path / "whole")
    layout(folder, tmp_path / "run")
    path = layout.last_rows(tmp_path / "run")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        if damage == "truncated":
            f.truncate(size - 7 * 4 * whole["c2"].shape[1])  # the last seven rows gone
        elif damage == "emptied":
            f.truncate(0)
        else:
            f.seek(size)
            f.write(b"\0" * 64)
    says = (f"{path.name}.*(shorter|longer|empty|not a NumPy)" if layout.layout == "npy"
            else "maxima/c2: a chunk is missing or of another size")
    with pytest.raises(StoreError, match=says):
        catsel.load_activations(tmp_path / "run")
    with pytest.warns(UserWarning, match=str(path) if layout.layout == "npy" else "000000000008.json"):
        again = layout(folder, tmp_path / "run")
    for layer in whole.layers:
        np.testing.assert_array_equal(again[layer], whole[layer])


@pytest.mark.parametrize("progress", ['not json', '{"rows_done": "many", "complete": false}',
                                      '{"rows_done": -3, "complete": false}'])
def test_a_damaged_progress_record_is_one_line(colour_folder, tmp_path, progress, layout):
    layout(ImageFolder(colour_folder, image_size=12), tmp_path)
    (tmp_path / "activations" / "progress.json").write_text(progress)
    with pytest.raises(StoreError, match="progress.json"):
        catsel.load_activations(tmp_path)


# --- folder scans ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [".", "..", "../green"])
def test_a_linked_folder_is_scanned_at_most_once(colour_folder, target):
    before = ImageFolder(colour_folder, image_size=12)
    os.symlink(target, colour_folder / "red" / "link", target_is_directory=True)
    after = ImageFolder(colour_folder, image_size=12)
    assert after.counts == before.counts
    assert any("link" in s.path and "scanned" in s.reason for s in after.skipped)


def test_a_link_to_a_folder_outside_is_followed_once(colour_folder, tmp_path):
    extra = tmp_path / "more-red"
    for p in (colour_folder / "red").iterdir():
        (extra / p.name).parent.mkdir(exist_ok=True)
        (extra / p.name).write_bytes(p.read_bytes())
    os.symlink(extra, colour_folder / "red" / "more", target_is_directory=True)
    os.symlink(extra, colour_folder / "red" / "same-again", target_is_directory=True)
    assert ImageFolder(colour_folder, image_size=12).counts["red"] == 10


def test_an_output_folder_inside_the_data_is_left_out(colour_folder):
    inside = colour_folder / "results"
    first = catsel.run(colour_folder, inside, **FAST)
    second = catsel.run(colour_folder, inside, **FAST)
    assert second.activations.categories == first.activations.categories == ("blue", "green", "red")
    assert any("output folder" in s["reason"] for s in second.skipped)
    nested = colour_folder / "red" / "out"
    catsel.run(colour_folder, nested, **FAST)
    again = catsel.run(colour_folder, nested, **FAST)
    assert again.activations.counts["red"] == 5


def test_the_data_folder_as_output_is_refused(colour_folder):
    with pytest.raises(DatasetError, match="is the data folder"):
        catsel.run(colour_folder, colour_folder, **FAST)


# --- stored paths ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("escape", ["../outside.png", "/etc/hostname"])
def test_a_stored_path_outside_the_data_folder_is_refused(colour_folder, tmp_path, escape):
    acts = catsel.capture(_amodel(), colour_folder, tmp_path / "run", progress=False)
    index = tmp_path / "run" / "activations" / "index.csv"
    lines = index.read_text().splitlines()
    lines[1] = lines[1].replace(acts.paths[0], escape, 1)
    index.write_text("\n".join(lines) + "\n")
    with pytest.raises(StoreError, match="index.csv: the path of row 0.*not a plain name inside the data folder"):
        catsel.load_activations(tmp_path / "run")  # refused when the store is read, before any image is


# --- explore ---------------------------------------------------------------------------------------------------

def test_explore_on_an_open_address_needs_a_token(tmp_path, monkeypatch, capsys):
    from catsel.apps import cli

    seen = {}
    monkeypatch.setattr(cli, "_serve", lambda command: seen.setdefault("command", command) and 0)
    monkeypatch.setattr(cli, "explore_notebook", lambda run_dir: run_dir / "explore.ipynb")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object())
    assert cli.main(["explore", str(tmp_path), "--ip", "0.0.0.0", "--no-browser"]) == 0
    tokens = [c for c in seen["command"] if c.startswith("--Voila.token=")]
    assert tokens and len(tokens[0].split("=", 1)[1]) >= 32
    assert tokens[0].split("=", 1)[1] in capsys.readouterr().out  # the URL with its token is printed
    seen.clear()
    cli.main(["explore", str(tmp_path), "--ip", "0.0.0.0", "--no-token"])
    assert not [c for c in seen["command"] if c.startswith("--Voila.token=") and c != "--Voila.token="]
    seen.clear()
    cli.main(["explore", str(tmp_path)])  # loopback: no token, as before
    assert not [c for c in seen["command"] if c.startswith("--Voila.token=") and c != "--Voila.token="]


ORPHAN_SCRIPT = """
import multiprocessing, sys, time
sys.path.insert(0, {tests!r})
import catsel, catsel.capturing.local
from helpers import small_cnn

def main():
    catsel.capturing.local.PROCESS_THRESHOLD = 1
    amodel = catsel.activation_model(small_cnn(size=12), preprocess="tf")
    put, run = amodel.runner()

    def slow(batch):
        print("workers", *[p.pid for p in multiprocessing.active_children()], flush=True)
        time.sleep(60)
        return run(batch)

    amodel.runner = lambda devices=None: (put, slow)
    catsel.capture(amodel, catsel.ImageFolder({folder!r}, image_size=12), {out!r}, batch_size=4, workers=2,
                   progress=False)

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_a_killed_capture_leaves_no_worker_and_no_shared_memory(colour_folder, tmp_path, signal_name):
    import signal

    import psutil

    script = tmp_path / "capture.py"
    script.write_text(ORPHAN_SCRIPT.format(tests=str(Path(__file__).parent), folder=str(colour_folder),
                                           out=str(tmp_path / "out")))
    shared = Path("/dev/shm")
    before = set(shared.glob("psm_*")) if shared.is_dir() else set()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    line = proc.stdout.readline().split()
    assert line and line[0] == "workers", line
    family = [psutil.Process(int(pid)) for pid in line[1:]]
    assert family  # the decoding processes
    family += [c for c in psutil.Process(proc.pid).children(recursive=True) if c not in family]
    proc.send_signal(getattr(signal, signal_name))
    proc.wait(timeout=60)
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [p.cmdline() for p in alive]
    if shared.is_dir():
        deadline = time.monotonic() + 30
        while set(shared.glob("psm_*")) - before and time.monotonic() < deadline:
            time.sleep(0.5)
        assert set(shared.glob("psm_*")) - before == set()


CLI_SCRIPT = """
import sys, time
import catsel.capturing.local, catsel.network.models
from catsel.apps.cli import main

catsel.capturing.local.PROCESS_THRESHOLD = 1
runner = catsel.network.models.ActivationModel.runner

def slow_runner(self, devices=None):
    put, run = runner(self, devices)
    def slow(batch):
        print("batch", flush=True)
        time.sleep(0.5)
        return run(batch)
    return put, slow

catsel.network.models.ActivationModel.runner = slow_runner
if __name__ == "__main__":
    sys.exit(main(["run", {data!r}, "--out", {out!r}, "--image-size", "32", "--weights", "none",
                   "--layers", "block1_conv1", "--batch-size", "4", "--workers", "2"]))
"""


@pytest.mark.slow
def test_sigterm_stops_a_run_like_ctrl_c_and_keeps_its_rows(colour_folder, tmp_path):
    import json
    import signal

    script = tmp_path / "run.py"
    script.write_text(CLI_SCRIPT.format(data=str(colour_folder), out=str(tmp_path / "out")))
    shared = Path("/dev/shm")
    before = set(shared.glob("psm_*")) if shared.is_dir() else set()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    for _ in range(3):
        assert proc.stdout.readline().strip() == "batch"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted; rerun the same command to resume" in err
    progress = json.loads((tmp_path / "out" / "activations" / "progress.json").read_text())
    assert progress["rows_done"] >= 8 and not progress["complete"]  # the batches computed before the signal
    assert set(shared.glob("psm_*")) - before == set() if shared.is_dir() else True


def test_an_interrupt_caught_late_in_a_garbage_collection_callback_prints_no_traceback(monkeypatch, capsys):
    """CI saw, after the clean line of a Ctrl-C, "Exception ignored in: <function _xla_gc_callback>" with a
    KeyboardInterrupt traceback: Python cannot raise from a garbage-collection callback (JAX has one, and
    TensorFlow's import brings JAX in). Once the interrupt has its line, such a late one is silent; any other
    exception Python cannot raise is reported as before."""
    import gc

    import catsel.apps.cli as cli
    from catsel.apps.cli import main

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_compare", interrupted)
    assert main(["compare", "a", "b", "--out", "c"]) == 130
    assert "interrupted" in capsys.readouterr().err
    raised = [KeyboardInterrupt(), ValueError("other")]

    def callback(phase, info):
        if phase == "start" and raised:
            raise raised.pop(0)

    gc.callbacks.append(callback)
    try:
        gc.collect()
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert [type(u.exc_value) for u in reported] == [ValueError]


@pytest.mark.slow
def test_ctrl_c_during_a_capture_prints_one_line_and_no_traceback(colour_folder, tmp_path):
    """Issue #38: Ctrl-C printed two decoding workers' KeyboardInterrupt tracebacks before the clean line. A
    terminal sends SIGINT to the whole process group, workers included: so does this test."""
    import os
    import signal

    script = tmp_path / "run.py"
    script.write_text(CLI_SCRIPT.format(data=str(colour_folder), out=str(tmp_path / "out")))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, start_new_session=True)  # its own process group, as a terminal's job
    for _ in range(3):
        assert proc.stdout.readline().strip() == "batch"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert [line for line in err.splitlines() if "interrupted" in line] == [
        "catsel: interrupted; rerun the same command to resume the capture"]


def test_earlier_configurations_are_kept_and_taken_back(colour_folder, tmp_path, capsys, monkeypatch):
    folder = ImageFolder(colour_folder, image_size=12)
    right = catsel.capture(_amodel(), folder, tmp_path, progress=False)
    wrong_model = catsel.activation_model(small_cnn(size=12), preprocess="raw")
    wrong = catsel.capture(wrong_model, folder, tmp_path, progress=False)
    assert "kept in" in capsys.readouterr().err
    original = catsel.network.models.ActivationModel.runner
    monkeypatch.setattr(catsel.network.models.ActivationModel, "runner",
                        lambda self, devices=None: (original(self, devices)[0], lambda batch: pytest.fail("recomputed")))
    again = catsel.capture(_amodel(), folder, tmp_path, progress=False)  # the right one, taken back
    assert "reusing the capture of this configuration" in capsys.readouterr().err
    np.testing.assert_array_equal(again["c2"], right["c2"])
    wrong_again = catsel.capture(wrong_model, folder, tmp_path, progress=False)  # and the wrong one still there
    np.testing.assert_array_equal(wrong_again["c2"], wrong["c2"])
    assert len(list((tmp_path / "activations.history").iterdir())) == 1


def test_only_the_most_recent_earlier_captures_are_kept(colour_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(catsel.store.history, "KEEP_STORES", 1)
    folder = ImageFolder(colour_folder, image_size=12)
    keys = [catsel.capture(catsel.activation_model(small_cnn(size=12, seed=s), preprocess="tf"), folder, tmp_path,
                           progress=False).meta.key for s in range(3)]
    kept = [p.name for p in (tmp_path / "activations.history").iterdir()]
    assert kept == [keys[1][:16]]  # the most recent one set aside
    assert "removed the oldest kept capture" in capsys.readouterr().err


# --- a full disk (simulated: a small tmpfs is not available to tests) ------------------------------------------

def _disk_full(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate on this system")
def test_a_full_disk_stops_a_capture_at_its_start_with_one_line(colour_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "posix_fallocate", _disk_full)
    with pytest.raises(StoreError, match=r"no space left on the disk of .*the store needs [\d.,]+ [KMG]B and [\d.,]+ [KMG]B are free"):
        catsel.capture(_amodel(), colour_folder, tmp_path, progress=False)


def test_a_full_disk_stops_the_decoded_cache_at_its_start_with_one_line(colour_folder, tmp_path, monkeypatch):
    allocate = os.posix_fallocate

    def full_for_the_cache(fd, offset, size):  # the store fits; the cache does not
        if "decoded-" in os.readlink(f"/proc/self/fd/{fd}"):
            _disk_full()
        allocate(fd, offset, size)

    monkeypatch.setattr(os, "posix_fallocate", full_for_the_cache)
    with pytest.raises(StoreError, match=r"no space left on the disk of .*cache.*the decoded cache needs [\d.,]+ [KMG]B and"):
        catsel.capture(_amodel(), colour_folder, tmp_path / "out", cache=tmp_path / "cache", progress=False)


def test_a_truncated_decoded_cache_is_never_trusted(colour_folder, tmp_path):
    folder = ImageFolder(colour_folder, image_size=12)
    first = catsel.capture(_amodel(), folder, tmp_path / "a", cache=tmp_path / "cache", progress=False)
    (images,) = [p for p in (tmp_path / "cache").glob("decoded-*.npy") if not p.name.endswith("-done.npy")]
    with open(images, "r+b") as f:  # the last 5 images cut off; their done flags still say decoded
        f.truncate(images.stat().st_size - 5 * 12 * 12 * 3)
    with pytest.warns(UserWarning, match=f"{images.name} is shorter than its header says.*decoded again"):
        again = catsel.capture(_amodel(), folder, tmp_path / "b", cache=tmp_path / "cache", progress=False)
    for layer in first.layers:
        np.testing.assert_array_equal(again[layer], first[layer])


def test_a_full_disk_never_leaves_a_half_written_table(colour_folder, tmp_path, monkeypatch):
    import pandas as pd

    result = catsel.run(colour_folder, tmp_path / "out", **FAST)
    before = (tmp_path / "out" / "selectivity.csv").read_bytes()
    original = pd.DataFrame.to_csv

    def half_then_full(self, path, *args, **kwargs):
        original(self.iloc[: len(self) // 2], path, *args, **kwargs)
        _disk_full()

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_full)
    with pytest.raises(StoreError, match="no space left on the disk of .*selectivity.csv"):
        result.save()
    assert (tmp_path / "out" / "selectivity.csv").read_bytes() == before
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


# --- an edit that keeps a file's size and modification time ----------------------------------------------------

def test_verify_notices_an_edit_that_keeps_size_and_time(colour_folder, tmp_path):
    folder = ImageFolder(colour_folder, image_size=12)
    first = catsel.capture(_amodel(), folder, tmp_path, progress=False, verify=True)
    plain = catsel.capture(_amodel(), folder, tmp_path / "plain", progress=False)
    target = colour_folder / "red" / "00.png"
    stat = target.stat()
    pixels = np.asarray(catsel.images.folder.Image.open(target)).copy()
    pixels[0, 0] = 255 - pixels[0, 0]  # one pixel changed, then the file made the same length and time
    from conftest import write_image

    write_image(target, pixels)
    data = target.read_bytes()[: stat.st_size]
    target.write_bytes(data.ljust(stat.st_size, b"\0"))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert target.stat().st_size == stat.st_size and target.stat().st_mtime_ns == stat.st_mtime_ns
    assert catsel.capturing.key.store_key(_amodel(), folder) == plain.meta.key  # the default key does not see it
    again = catsel.capture(_amodel(), folder, tmp_path, progress=False, verify=True)
    assert again.meta.key != first.meta.key  # --verify does: the images are captured again


@pytest.mark.parametrize("value", ["abc", "2.5", "-3"])
def test_a_bad_number_is_named_plainly(value, capsys):
    from catsel.apps.cli import main

    with pytest.raises(SystemExit):
        main(["run", "data", "--out", "out", "--image-size", value])
    err = capsys.readouterr().err
    assert "argument --image-size: image size" in err and "_positive" not in err and "_size" not in err
    assert ("must be a number of pixels (64) or height x width (48x96)" in err) != ("too small" in err)


def test_a_changed_row_is_found_by_its_checksum(colour_folder, tmp_path, layout):
    """Same size, other bytes: a bit flip, or a copy from another store. Sizes alone cannot see it."""
    folder = ImageFolder(colour_folder, image_size=12)
    whole = layout(folder, tmp_path / "whole")
    layout(folder, tmp_path / "run")
    path = layout.last_rows(tmp_path / "run")
    data = bytearray(path.read_bytes())
    data[-5 if layout.layout == "npy" else 10] ^= 0xFF  # one byte of a row (a chunk's end is padding)
    path.write_bytes(bytes(data))
    catsel.load_activations(tmp_path / "run")  # by default, loading reads sizes only
    says = f"{path.name} does not hold the rows that were written" if layout.layout == "npy" else \
        "its chunk of maxima/c2 does not hold the rows that were written"
    with pytest.raises(StoreError, match=says):
        catsel.load_activations(tmp_path / "run", verify=True)
    with pytest.warns(UserWarning, match="checksum differs"):
        again = layout(folder, tmp_path / "run")
    for layer in whole.layers:
        np.testing.assert_array_equal(again[layer], whole[layer])
    assert catsel.load_activations(tmp_path / "run", verify=True).meta.key == whole.meta.key


def test_verify_with_a_decoded_cache_never_serves_stale_pixels(colour_folder, tmp_path):
    from conftest import write_image

    folder = ImageFolder(colour_folder, image_size=12)
    cache = tmp_path / "cache"
    catsel.capture(_amodel(), folder, tmp_path / "first", progress=False, verify=True, cache=cache)
    target = colour_folder / "red" / "00.png"
    stat = target.stat()
    pixels = np.asarray(catsel.images.folder.Image.open(target)).copy()
    pixels[:6, :6] = 255 - pixels[:6, :6]  # an edit that keeps the file's length and time
    write_image(target, pixels)
    data = target.read_bytes()[: stat.st_size]
    target.write_bytes(data.ljust(stat.st_size, b"\0"))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = catsel.capture(_amodel(), folder, tmp_path / "again", progress=False, verify=True, cache=cache)
    fresh = catsel.capture(_amodel(), folder, tmp_path / "fresh", progress=False)  # no cache: the files as they are
    for layer in fresh.layers:
        np.testing.assert_array_equal(again[layer], fresh[layer])
