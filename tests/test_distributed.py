"""Capture on a Dask cluster (issue: beyond one machine): two worker processes give the single-process store,
bit for bit, even when one of them is killed mid-capture."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

import catsel
from catsel.store import MAIN_ARRAYS
from helpers import small_cnn

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # a local cluster's processes import Keras: seconds each


@pytest.fixture(scope="module")
def cluster():
    from catsel.capturing.cluster import close, connect

    client = connect("local:2")
    yield client
    close(client)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from conftest import square_folder

    root = tmp_path_factory.mktemp("distributed")
    square_folder(root / "data", dict.fromkeys(["red", "green", "blue"], 14), seed=2, noise=90, box=(2, 10, 4, 12),
                  value=210)
    (root / "data" / "green" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    small_cnn(size=16).save(root / "net.keras")
    amodel = catsel.activation_model(str(root / "net.keras"), image_size=16)
    single = catsel.capture(amodel, catsel.ImageFolder(root / "data", image_size=16), root / "single", batch_size=4,
                            progress=False, summaries=True)
    return root, amodel, single


def _same(a, b):
    """``a`` holds what single-process ``b`` holds, bit for bit: maxima and positions, and means and minima when
    ``a`` was captured with them."""
    assert a.layers == b.layers and list(a.paths) == list(b.paths) and a.skipped == b.skipped
    np.testing.assert_array_equal(a.labels, b.labels)
    for layer in a.layers:
        np.testing.assert_array_equal(a[layer], b[layer])  # bit for bit
        if a.map_shape(layer) is not None:
            np.testing.assert_array_equal(a.positions(layer), b.positions(layer))
            if "means" in a.arrays:
                np.testing.assert_array_equal(a.means(layer), b.means(layer))
                np.testing.assert_array_equal(a.minima(layer), b.minima(layer))


def test_a_distributed_capture_equals_the_single_process_one(cluster, dataset):
    root, amodel, single = dataset
    folder = catsel.ImageFolder(root / "data", image_size=16)
    acts = catsel.capture(amodel, folder, root / "two", batch_size=4, client=cluster, block=8, progress=False,
                          summaries=True)
    assert acts.arrays == ("maxima", "positions", "means", "minima")
    _same(acts, single)
    assert acts.meta.layout == "zarr" and (root / "two" / "activations" / "arrays.zarr").is_dir()
    assert len(list((root / "two" / "activations" / "blocks").glob("*.json"))) == -(-len(folder) // 8)
    workers = cluster.run(lambda: sorted(__import__("catsel.capturing.cluster").capturing.cluster._NETWORKS))
    assert sum(len(v) for v in workers.values()) <= 2  # each worker built the network once, not once per block
    again = catsel.capture(amodel, folder, root / "two", batch_size=4, client=cluster, block=8, progress=False,
                           summaries=True)
    assert again.captured == 0  # every block is recorded: nothing is computed again
    table = catsel.selectivity(acts, blockwise=True)  # read block by block from the chunks
    np.testing.assert_allclose(table["selectivity"], catsel.selectivity(single)["selectivity"], rtol=1e-9)


def test_a_worker_killed_mid_capture_costs_only_its_block(cluster, dataset, monkeypatch):
    root, amodel, single = dataset
    folder = catsel.ImageFolder(root / "data", image_size=16)
    blocks = root / "killed" / "activations" / "blocks"
    pids = list(cluster.run(os.getpid).values())
    killed = []

    def kill_when_the_first_block_is_in():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (blocks.is_dir() and any(blocks.iterdir())):
            time.sleep(0.01)
        os.kill(pids[0], 9)
        killed.append(pids[0])

    from catsel.capturing import cluster as module

    slow = module.capture_block

    def slower(*args, **kwargs):  # each block takes a moment, so that the kill lands mid-capture
        time.sleep(0.3)
        return slow(*args, **kwargs)

    monkeypatch.setattr(module, "capture_block", slower)
    killer = threading.Thread(target=kill_when_the_first_block_is_in)
    killer.start()
    acts = catsel.capture(amodel, folder, root / "killed", batch_size=4, client=cluster, block=4, progress=False)
    killer.join()
    assert killed and pids[0] not in cluster.run(os.getpid).values()  # the worker was killed (and replaced)
    _same(acts, single)


def test_catsel_run_with_a_local_scheduler(dataset, capsys):
    from catsel.apps.cli import main

    root, _, single = dataset
    assert main(["run", str(root / "data"), "--out", str(root / "cli"), "--model", str(root / "net.keras"),
                 "--image-size", "16", "--batch-size", "4", "--scheduler", "local:2", "--block", "8",
                 "--no-progress"]) == 0
    result = catsel.load_run(root / "cli")
    assert result.record["scheduler"] == "local:2" and result.activations.meta.layout == "zarr"
    _same(result.activations, single)
    expected = catsel.selectivity(single)
    np.testing.assert_allclose(result.table["selectivity"], expected["selectivity"], rtol=1e-9)
    capsys.readouterr()
    assert main(["run", str(root / "data"), "--out", str(root / "bad"), "--scheduler", "local:many",
                 "--no-progress"]) == 2
    assert "local:N takes a number of worker processes" in capsys.readouterr().err
    with pytest.raises(catsel.ModelError, match="held in memory cannot be sent to the workers"):
        catsel.capture(catsel.activation_model(small_cnn(size=16), preprocess="tf"),
                       catsel.ImageFolder(root / "data", image_size=16), root / "memory", client=object())


def test_one_worker_per_gpu_needs_dask_cuda_or_says_what_to_do(monkeypatch):
    import builtins

    from catsel.capturing.cluster import connect

    real = builtins.__import__

    def without_dask_cuda(name, *args, **kwargs):
        if name.startswith("dask_cuda"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_dask_cuda)
    with pytest.raises(catsel.CatselError, match="needs dask-cuda .* CUDA_VISIBLE_DEVICES"):
        connect("cuda")


def test_a_distributed_capture_adds_the_summaries_in_an_extra_pass_of_its_own(cluster, dataset):
    root, amodel, single = dataset
    folder = catsel.ImageFolder(root / "data", image_size=16)
    first = catsel.capture(amodel, folder, root / "extra", batch_size=4, client=cluster, block=8, progress=False)
    assert first.arrays == MAIN_ARRAYS
    acts = catsel.capture(amodel, folder, root / "extra", batch_size=4, client=cluster, block=8, progress=False,
                          summaries=True)
    part = root / "extra" / "activations" / "summaries"
    assert acts.captured == len(folder) and acts.arrays == ("maxima", "positions", "means", "minima")
    assert json.loads((part / "meta.json").read_text())["layout"] == "zarr" and (part / "arrays.zarr").is_dir()
    _same(acts, single)
    local = catsel.capture(amodel, folder, root / "extra", batch_size=4, progress=False, summaries=True)
    assert local.captured == 0  # the finished chunked store and its part, reused by a single process
    _same(local, single)


def test_a_resumed_capture_keeps_the_block_size_it_started_with(cluster, dataset):
    """Records name the blocks' first rows: resumed with another --block, the blocks of the first run that were
    never finished must still be computed (a record at row 0 is not a record of rows 0-15)."""
    import zarr

    root, amodel, single = dataset
    folder = catsel.ImageFolder(root / "data", image_size=16)
    store = root / "resized" / "activations"
    catsel.capture(amodel, folder, root / "resized", batch_size=4, client=cluster, block=8, progress=False)
    (store / "blocks" / f"{8:012d}.json").unlink()  # the block of rows 8-15 never finished
    group = zarr.open_group(str(store / "arrays.zarr"), mode="r+")
    for kind in MAIN_ARRAYS:  # what a capture keeps unless asked for more
        for name in group[kind].array_keys():
            group[kind][name][8:16] = 0
    acts = catsel.capture(amodel, folder, root / "resized", batch_size=4, client=cluster, block=16, progress=False)
    assert acts.captured == 8  # the one unfinished block, at the store's own block size
    _same(acts, single)


def test_a_crafted_key_never_removes_a_folder_on_the_distributed_path(cluster, dataset, tmp_path):
    import json

    root, amodel, single = dataset
    folder = catsel.ImageFolder(root / "data", image_size=16)
    out = tmp_path / "out"
    catsel.capture(amodel, folder, out, batch_size=4, client=cluster, block=8, progress=False)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("years of work")
    meta_path = out / "activations" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["key"] = "../../victim"
    meta_path.write_text(json.dumps(meta))
    acts = catsel.capture(amodel, folder, out, batch_size=4, client=cluster, block=8, progress=False)
    assert (victim / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim"]
    assert [p.name for p in (out / "activations.history").iterdir()][0].startswith("damaged-")
    _same(acts, single)
