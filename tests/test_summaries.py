"""The spatial means and minima are computed and moved only when asked for (GPU capture issue): a capture keeps
the maxima and positions; one that asks for the summaries gets them in the same pass for a new store, or from an
extra pass of their own, resumable as any capture, into the store's ``summaries/`` part, in either layout."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import catsel
from catsel import ImageFolder, StoreError
from catsel.store import PART, SUMMARIES
from helpers import small_cnn

EVERY = ("maxima", "positions", "means", "minima")


def _amodel():
    return catsel.activation_model(small_cnn(size=12), preprocess="tf")


def _files(store) -> dict[str, bytes]:
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.suffix == ".npy"}


class _Interrupt(Exception):
    pass


def test_a_capture_keeps_the_maxima_and_positions_and_says_so(colour_folder, tmp_path):
    acts = catsel.capture(_amodel(), ImageFolder(colour_folder, image_size=12), tmp_path, batch_size=4,
                          progress=False)
    store = tmp_path / "activations"
    assert json.loads((store / "meta.json").read_text())["arrays"] == ["maxima", "positions"]
    assert not (store / "means").exists() and not (store / "minima").exists() and not (store / PART).exists()
    assert acts.arrays == ("maxima", "positions")
    with pytest.raises(StoreError, match=r"no spatial means for c1 .*summaries=True.*--index repo"):
        acts.means("c1")
    np.testing.assert_array_equal(acts.means("fc"), acts["fc"])  # a dense unit's value is its own mean
    with pytest.raises(StoreError, match="summaries=True"):
        catsel.selectivity(acts, index="repo")


def test_an_extra_pass_adds_the_summaries_bit_for_bit_and_leaves_the_store_as_it_was(colour_folder, tmp_path,
                                                                                       capsys):
    folder = ImageFolder(colour_folder, image_size=12)
    amodel = _amodel()
    whole = catsel.capture(amodel, folder, tmp_path / "one-pass", batch_size=4, progress=False, summaries=True)
    assert whole.arrays == EVERY and not (tmp_path / "one-pass" / "activations" / PART).exists()
    catsel.capture(amodel, folder, tmp_path / "two", batch_size=4, progress=False)
    store = tmp_path / "two" / "activations"
    before = _files(store)
    capsys.readouterr()
    acts = catsel.capture(amodel, folder, tmp_path / "two", batch_size=4, progress=False, summaries=True)
    assert "an extra pass computes them" in capsys.readouterr().err
    assert acts.captured == len(folder) and acts.arrays == EVERY
    part = json.loads((store / PART / "meta.json").read_text())
    assert part["arrays"] == ["means", "minima"] and part["key"] == json.loads((store / "meta.json").read_text())["key"]
    assert {name for name in _files(store / PART)} == {f"{k}/{l}.npy" for k in SUMMARIES for l in ("c1", "c2", "c3")}
    assert {k: v for k, v in _files(store).items() if not k.startswith(PART)} == before  # nothing else rewritten
    for layer in whole.layers:
        np.testing.assert_array_equal(acts[layer], whole[layer])
        np.testing.assert_array_equal(acts.means(layer), whole.means(layer))
        np.testing.assert_array_equal(acts.minima(layer), whole.minima(layer))
    again = catsel.capture(amodel, folder, tmp_path / "two", batch_size=4, progress=False, summaries=True)
    assert again.captured == 0 and again.arrays == EVERY
    loaded = catsel.load_activations(tmp_path / "two", verify=True)
    np.testing.assert_array_equal(loaded.minima("c2"), whole.minima("c2"))
    assert catsel.capture(amodel, folder, tmp_path / "two", batch_size=4, progress=False).captured == 0
    table = catsel.selectivity(loaded, index="repo")
    np.testing.assert_array_equal(table["selectivity"], catsel.selectivity(whole, index="repo")["selectivity"])


def test_an_interrupted_extra_pass_resumes_and_the_store_stays_readable_meanwhile(colour_folder, tmp_path,
                                                                                    monkeypatch):
    folder = ImageFolder(colour_folder, image_size=12)
    amodel = _amodel()
    whole = catsel.capture(amodel, folder, tmp_path / "whole", batch_size=4, progress=False, summaries=True)
    catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False)
    extra = amodel.for_arrays(SUMMARIES)
    put, run = extra.runner()
    calls = {"n": 0}

    def dying(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Interrupt("killed")
        return run(batch)

    monkeypatch.setattr(extra, "runner", lambda devices=None: (put, dying))
    with pytest.raises(_Interrupt):
        catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False, summaries=True)
    progress = json.loads((tmp_path / "out" / "activations" / PART / "progress.json").read_text())
    assert progress["rows_done"] == 8 and not progress["complete"]
    half = catsel.load_activations(tmp_path / "out")  # the finished store reads as it was
    np.testing.assert_array_equal(half["c2"], whole["c2"])
    with pytest.raises(StoreError, match="no spatial means"):
        half.means("c2")
    seen = []
    monkeypatch.setattr(extra, "runner", lambda devices=None: (put, lambda b: seen.append(len(b)) or run(b)))
    acts = catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False, summaries=True)
    assert acts.captured == len(folder) - 8 and len(seen) == 2  # rows 8-14 only
    for layer in ("c1", "c2", "c3"):
        np.testing.assert_array_equal(acts.means(layer), whole.means(layer))
        np.testing.assert_array_equal(acts.minima(layer), whole.minima(layer))


def test_a_damaged_or_foreign_part_is_not_trusted_and_is_captured_again(colour_folder, tmp_path):
    folder = ImageFolder(colour_folder, image_size=12)
    amodel = _amodel()
    whole = catsel.capture(amodel, folder, tmp_path / "whole", batch_size=4, progress=False, summaries=True)
    catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False)
    catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False, summaries=True)
    part = tmp_path / "out" / "activations" / PART
    with open(part / "means" / "c2.npy", "r+b") as f:  # one value changed, the size kept
        f.seek(-4, 2)
        f.write(np.float32(123.0).tobytes())
    with pytest.warns(UserWarning, match=r"means/c2.npy does not hold the rows .*not used"):
        damaged = catsel.load_activations(tmp_path / "out", verify=True)
    assert damaged.arrays == ("maxima", "positions")
    with pytest.warns(UserWarning, match="not trusted"):
        acts = catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False, summaries=True)
    assert acts.captured == len(folder)
    np.testing.assert_array_equal(acts.means("c2"), whole.means("c2"))
    meta = json.loads((part / "meta.json").read_text())
    (part / "meta.json").write_text(json.dumps({**meta, "key": "0" * 64}))  # not the store's capture
    with pytest.warns(UserWarning, match="describes another capture"):
        assert catsel.load_activations(tmp_path / "out").arrays == ("maxima", "positions")


def test_a_part_that_leads_outside_the_store_is_refused(colour_folder, tmp_path):
    folder = ImageFolder(colour_folder, image_size=12)
    amodel = _amodel()
    catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out" / "activations" / PART).symlink_to(elsewhere)
    with pytest.raises(StoreError, match="part"):
        catsel.capture(amodel, folder, tmp_path / "out", batch_size=4, progress=False, summaries=True)
    assert list(elsewhere.iterdir()) == []


def test_a_store_written_before_the_arrays_were_recorded_holds_all_four(colour_folder, tmp_path):
    folder = ImageFolder(colour_folder, image_size=12)
    whole = catsel.capture(_amodel(), folder, tmp_path, batch_size=4, progress=False, summaries=True)
    meta = json.loads((tmp_path / "activations" / "meta.json").read_text())
    del meta["arrays"]
    (tmp_path / "activations" / "meta.json").write_text(json.dumps(meta))
    old = catsel.load_activations(tmp_path)
    assert old.arrays == EVERY
    np.testing.assert_array_equal(old.means("c3"), whole.means("c3"))
    assert catsel.capture(_amodel(), folder, tmp_path, batch_size=4, progress=False, summaries=True).captured == 0
    meta["arrays"] = ["positions", "maxima"]  # not in the order of the kinds: edited
    (tmp_path / "activations" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="arrays .* are not kinds of"):
        catsel.load_activations(tmp_path)


def test_the_run_captures_the_summaries_only_for_an_index_that_reads_them(colour_folder, tmp_path):
    from catsel.apps.cli import main

    common = ["run", str(colour_folder), "--model", str(tmp_path / "net.keras"), "--image-size", "12",
              "--no-progress", "--preprocess", "tf"]
    small_cnn(size=12).save(tmp_path / "net.keras")
    assert main([*common, "--out", str(tmp_path / "run")]) == 0
    store = tmp_path / "run" / "activations"
    assert json.loads((store / "meta.json").read_text())["arrays"] == ["maxima", "positions"]
    assert main([*common, "--out", str(tmp_path / "run"), "--index", "repo"]) == 0
    assert (store / PART / "progress.json").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert catsel.load_activations(store, verify=True).arrays == EVERY


def test_a_network_of_dense_layers_needs_no_extra_pass(colour_folder, tmp_path):
    import keras

    inp = keras.Input((12, 12, 3))
    out = keras.layers.Dense(3, name="d2")(keras.layers.Dense(4, name="d1")(keras.layers.Flatten()(inp)))
    amodel = catsel.activation_model(keras.Model(inp, out), layers=["d1"])
    folder = ImageFolder(colour_folder, image_size=12)
    catsel.capture(amodel, folder, tmp_path, batch_size=4, progress=False)
    acts = catsel.capture(amodel, folder, tmp_path, batch_size=4, progress=False, summaries=True)
    assert acts.captured == 0 and not (tmp_path / "activations" / PART).exists()
    np.testing.assert_array_equal(acts.means("d1"), acts["d1"])


def test_the_model_for_some_kinds_is_made_once_and_names_the_kinds_it_knows():
    amodel = _amodel()
    assert amodel.arrays == ("maxima", "positions") and amodel.for_arrays(["positions", "maxima"]) is amodel
    extra = amodel.for_arrays(SUMMARIES)
    assert extra is amodel.for_arrays(("minima", "means")) and extra.network is amodel.network
    assert extra.digest() == amodel.digest()  # the same network: the same store key
    with pytest.raises(ValueError, match="no kind of result 'medians'; the kinds are maxima, positions"):
        amodel.for_arrays(["maxima", "medians"])
