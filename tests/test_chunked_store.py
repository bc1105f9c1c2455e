"""The chunked (Zarr) store is checked as the ``.npy`` store is: a damaged chunk, record or array description
is named and captured again, never trusted. A Dask client in this process: no cluster, no other processes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import catsel
from catsel.images.folder import ImageFolder
from catsel.errors import StoreError

pytest.importorskip("distributed")


def _amodel(saved_network):
    return catsel.activation_model(saved_network, preprocess="tf")


def _captures(colour_folder, tmp_path, dask_client, saved_network):
    folder = ImageFolder(colour_folder, image_size=12)
    single = catsel.capture(_amodel(saved_network), folder, tmp_path / "single", batch_size=5, progress=False)
    out = tmp_path / "chunked"
    catsel.capture(_amodel(saved_network), folder, out, batch_size=5, block=5, client=dask_client, progress=False)
    return single, out


def _rerun(colour_folder, out, dask_client, saved_network):
    with pytest.warns(UserWarning) as said:
        acts = catsel.capture(_amodel(saved_network), ImageFolder(colour_folder, image_size=12), out, batch_size=5, block=5,
                              client=dask_client, progress=False)
    return acts, " ".join(str(w.message) for w in said)


def _same(a, b):
    for layer in a.layers:
        np.testing.assert_array_equal(a[layer], b[layer])
        if a.map_shape(layer) is not None:
            np.testing.assert_array_equal(a.positions(layer), b.positions(layer))


CHUNK = ("maxima", "c1", "c/1/0")  # rows 5-9 of the first layer's maxima


@pytest.mark.parametrize("damage", ["deleted", "truncated", "lengthened"])
def test_a_missing_or_short_chunk_is_never_trusted(colour_folder, tmp_path, dask_client, saved_network, damage):
    single, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    chunk = out / "activations" / "arrays.zarr" / CHUNK[0] / CHUNK[1] / CHUNK[2]
    if damage == "deleted":
        chunk.unlink()
    elif damage == "truncated":
        chunk.write_bytes(chunk.read_bytes()[:37])
    else:
        chunk.write_bytes(chunk.read_bytes() + b"\0" * 20)
    with pytest.raises(StoreError, match="maxima/c1: a chunk is missing or of another size"):
        catsel.load_activations(out)
    acts, said = _rerun(colour_folder, out, dask_client, saved_network)
    assert "blocks/000000000005.json" in said and "captured again" in said
    _same(acts, single)
    _same(catsel.load_activations(out, verify=True), single)


def test_a_chunk_of_other_values_is_found_by_its_checksum(colour_folder, tmp_path, dask_client, saved_network):
    single, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    chunk = out / "activations" / "arrays.zarr" / CHUNK[0] / CHUNK[1] / CHUNK[2]
    chunk.write_bytes(np.full(len(chunk.read_bytes()) // 4, np.nan, np.float32).tobytes())
    with pytest.raises(StoreError, match="000000000005.json: its chunk of maxima/c1 does not hold the rows"):
        catsel.load_activations(out, verify=True)
    acts, said = _rerun(colour_folder, out, dask_client, saved_network)
    assert "checksum differs" in said
    _same(acts, single)


@pytest.mark.parametrize("edit", ["skipped", "crc32", "first"])
def test_an_edited_block_record_is_never_trusted(colour_folder, tmp_path, dask_client, saved_network, edit):
    single, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    record = out / "activations" / "blocks" / "000000000005.json"
    entry = json.loads(record.read_text())
    if edit == "skipped":  # an image silently dropped
        entry["skipped"]["6"] = "not an image"
    elif edit == "crc32":
        entry["crc32"]["maxima/c1"] += 1
    else:
        entry["first"] = 0
    record.write_text(json.dumps(entry))
    with pytest.raises(StoreError, match="000000000005.json: its record was edited or damaged"):
        catsel.load_activations(out)
    acts, said = _rerun(colour_folder, out, dask_client, saved_network)
    assert "its record was edited or damaged" in said
    assert len(acts) == 15
    _same(acts, single)


def test_an_array_description_of_another_shape_is_repaired_by_the_rerun(colour_folder, tmp_path, dask_client, saved_network):
    single, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    described = out / "activations" / "arrays.zarr" / "maxima" / "c2" / "zarr.json"
    meta = json.loads(described.read_text())
    meta["shape"] = [15, 3]
    described.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="maxima/c2 holds an array of shape"):
        catsel.load_activations(out)
    acts, said = _rerun(colour_folder, out, dask_client, saved_network)
    assert "the store is damaged and is captured again" in said
    _same(acts, single)
    _same(catsel.load_activations(out), single)


@pytest.mark.parametrize("edit", ["big-endian", "compressed"])
def test_an_array_description_read_another_way_is_refused_and_repaired(colour_folder, tmp_path, dask_client,
                                                                       saved_network, edit):
    """Third campaign, row 9: `"little"` changed to `"big"` in an array's zarr.json read the same checksummed bytes
    as -2.99e35 (the same edit in a `.npy` header was refused)."""
    single, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    described = out / "activations" / "arrays.zarr" / "maxima" / "c2" / "zarr.json"
    meta = json.loads(described.read_text())
    if edit == "big-endian":
        meta["codecs"][0]["configuration"]["endian"] = "big"
    else:
        meta["codecs"].append({"name": "zstd", "configuration": {"level": 0, "checksum": False}})
    described.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="does not describe the array as catsel writes it"):
        catsel.load_activations(out)
    acts, said = _rerun(colour_folder, out, dask_client, saved_network)
    assert "captured again" in said
    _same(acts, single)
    _same(catsel.load_activations(out), single)


def _full(*args, **kwargs):
    import errno
    import os

    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_stops_a_distributed_capture_at_its_start_with_one_line(colour_folder, tmp_path, dask_client, saved_network,
                                                                            monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    with monkeypatch.context() as m:
        m.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 500, 500))
        says = r"no space left on the disk of .*the store needs \d+ KB and 0 KB are free"
        with pytest.raises(StoreError, match=says):
            catsel.capture(_amodel(saved_network), ImageFolder(colour_folder, image_size=12), tmp_path / "out",
                           block=5, batch_size=5, client=dask_client, progress=False)
    assert not (tmp_path / "out" / "activations").exists()


@pytest.mark.parametrize("where", ["start", "block"])
def test_a_write_error_on_the_distributed_path_is_one_line_and_the_rerun_repairs_it(colour_folder, tmp_path, dask_client,
                                                                                   saved_network, monkeypatch, where):
    import catsel.store as store

    single, out = _captures(colour_folder, tmp_path / "first", dask_client, saved_network)
    real = store.write_json

    def failing(path, data):
        if (where == "block") == ("blocks" in str(path)):
            _full()
        return real(path, data)

    folder = ImageFolder(colour_folder, image_size=12)
    with monkeypatch.context() as m:
        m.setattr(store, "write_json", failing)
        with pytest.raises(StoreError, match="no space left on the disk"):
            catsel.capture(_amodel(saved_network), folder, tmp_path / "out", block=5, batch_size=5, client=dask_client,
                           progress=False)
    acts = catsel.capture(_amodel(saved_network), folder, tmp_path / "out", block=5, batch_size=5, client=dask_client,
                          progress=False)
    _same(acts, single)


@pytest.mark.parametrize("first", ["npy", "zarr"])
def test_a_finished_capture_is_reused_whichever_runner_asks(colour_folder, tmp_path, dask_client, saved_network, first, capsys):
    folder = ImageFolder(colour_folder, image_size=12)
    on = {"npy": {}, "zarr": {"client": dask_client, "block": 5}}
    second = "zarr" if first == "npy" else "npy"
    made = catsel.capture(_amodel(saved_network), folder, tmp_path / "out", batch_size=5, progress=False, **on[first])
    capsys.readouterr()
    again = catsel.capture(_amodel(saved_network), folder, tmp_path / "out", batch_size=5, progress=False, **on[second])
    assert again.captured == 0 and again.meta.layout == first  # the same key: nothing computed again
    assert f"({first} layout) is reused as it is" in capsys.readouterr().err
    _same(again, made)


def test_an_unfinished_capture_of_the_other_layout_is_kept_and_the_capture_starts_afresh(colour_folder, tmp_path,
                                                                                        dask_client, saved_network):
    folder = ImageFolder(colour_folder, image_size=12)
    single = catsel.capture(_amodel(saved_network), folder, tmp_path / "single", batch_size=5, progress=False)
    out = tmp_path / "out"
    catsel.capture(_amodel(saved_network), folder, out, batch_size=5, block=5, client=dask_client, progress=False)
    progress = out / "activations" / "progress.json"
    progress.write_text(json.dumps({**json.loads(progress.read_text()), "complete": False}))  # as if stopped
    acts = catsel.capture(_amodel(saved_network), folder, out, batch_size=5, progress=False)
    assert acts.meta.layout == "npy" and acts.captured == 15
    _same(acts, single)
    kept = [p.name for p in (out / "activations.history").iterdir()]
    assert kept == [acts.meta.key[:16] + "-zarr"]  # kept apart from an .npy store of the same capture


@pytest.mark.parametrize("runner", ["npy", "zarr"])
def test_strict_stops_at_the_first_unreadable_image_and_keeps_what_was_computed(colour_folder, tmp_path, dask_client,
                                                                               saved_network, runner):
    from catsel.errors import ImageError

    (colour_folder / "green" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    folder = ImageFolder(colour_folder, image_size=12)
    on = {"npy": {}, "zarr": {"client": dask_client, "block": 5}}[runner]
    with pytest.raises(ImageError, match="zz_broken.png.*strict mode"):
        catsel.capture(_amodel(saved_network), folder, tmp_path / "out", batch_size=5, strict=True, progress=False, **on)
    acts = catsel.capture(_amodel(saved_network), folder, tmp_path / "out", batch_size=5, progress=False, **on)
    assert acts.captured < 16 and len(acts) == 15  # the rows computed before it were kept; the broken image skipped
    assert list(acts.skipped.values()) == [next(iter(acts.skipped.values()))] and len(acts.skipped) == 1


def test_a_worker_fetches_a_batchs_results_while_the_next_one_computes(colour_folder, tmp_path, dask_client,
                                                                       saved_network, monkeypatch):
    from catsel.capturing import cluster

    events, build = [], cluster._network

    class Watched:  # the worker's model, its calls written down in order
        def __init__(self, amodel):
            self._amodel = amodel

        def __getattr__(self, name):
            return getattr(self._amodel, name)

        def runner(self, *args):
            put, run = self._amodel.runner(*args)
            return put, lambda batch: events.append("run") or run(batch)

        def split_all(self, out):
            events.append("fetch")
            return self._amodel.split_all(out)

    monkeypatch.setattr(cluster, "_network", lambda recipe: Watched(build(recipe)))
    folder = ImageFolder(colour_folder, image_size=12)
    acts = catsel.capture(_amodel(saved_network), folder, tmp_path / "chunked", batch_size=4, block=12,
                          client=dask_client, progress=False)
    single = catsel.capture(_amodel(saved_network), folder, tmp_path / "single", batch_size=4, progress=False)
    _same(acts, single)
    # 15 images: a block of 12 in batches of 4, each batch's results fetched after the next one is dispatched,
    # then a block of 3
    assert events == ["run", "run", "fetch", "run", "fetch", "fetch", "run", "fetch"]


def test_a_chunk_that_is_a_link_is_never_read(colour_folder, tmp_path, dask_client, saved_network):
    """Third campaign, row 4: a Zarr chunk as a link to a file outside was read."""
    import shutil

    _, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    chunk = out / "activations" / "arrays.zarr" / CHUNK[0] / CHUNK[1] / CHUNK[2]
    copy = tmp_path / "chunk-elsewhere"
    shutil.copyfile(chunk, copy)
    chunk.unlink()
    chunk.symlink_to(copy)
    with pytest.raises(StoreError, match="is a symbolic link"):
        catsel.load_activations(out)


def _zarr_json_deleted(store):
    (store / "arrays.zarr" / "zarr.json").unlink()


def _chunk_as_folder(store):
    chunk = store / "arrays.zarr" / CHUNK[0] / CHUNK[1] / CHUNK[2]
    chunk.unlink()
    chunk.mkdir()


@pytest.mark.parametrize("damage", [_zarr_json_deleted, _chunk_as_folder])
def test_a_damaged_chunked_store_is_one_line_when_read_and_repaired_by_the_rerun(colour_folder, tmp_path,
                                                                                  dask_client, saved_network, damage):
    """Third campaign, row 16: a Zarr chunk replaced by a folder gave four worker tracebacks, then a misleading
    "cannot be written"; `arrays.zarr/zarr.json` deleted gave `GroupNotFoundError` in every command."""
    single, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    damage(out / "activations")
    with pytest.raises(StoreError) as info:
        catsel.load_activations(out, verify=True)
    assert "\n" not in str(info.value)
    acts, said = _rerun(colour_folder, out, dask_client, saved_network)
    _same(acts, single)
    _same(catsel.load_activations(out, verify=True), single)


@pytest.mark.parametrize("damage", ["index.csv deleted", "index.csv label x", "index.csv one row removed",
                                    "index.csv paths swapped", "categories reordered with the index",
                                    "meta.json a layer's units", "meta.json two layers' names swapped"])
def test_every_damaged_record_of_a_chunked_store_is_repaired_by_the_rerun(colour_folder, tmp_path, dask_client,
                                                                          saved_network, damage):
    """Third campaign, rows 6, 13 and 14 in the Zarr layout: the records are the capture's own, written again."""
    import warnings

    from test_campaign import DAMAGE

    single, out = _captures(colour_folder, tmp_path, dask_client, saved_network)
    DAMAGE[damage](out / "activations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acts = catsel.capture(_amodel(saved_network), ImageFolder(colour_folder, image_size=12), out, batch_size=5,
                              block=5, client=dask_client, progress=False)
    assert acts.captured == 0  # the records written again, the checked blocks kept: nothing computed anew
    _same(acts, single)
    _same(catsel.load_activations(out, verify=True), single)
    again = catsel.capture(_amodel(saved_network), ImageFolder(colour_folder, image_size=12), out, batch_size=5,
                           block=5, client=dask_client, progress=False)
    assert again.captured == 0
