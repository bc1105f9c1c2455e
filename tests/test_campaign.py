"""The third fault campaign's rows, one test each (docs/reliability.md): what gave a wrong result with exit 0
now stops at the door with one line naming the option or file, before any work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import catsel
from catsel.apps.cli import main
from catsel.errors import CatselError, ModelError


@pytest.mark.parametrize("weights", ["/nonexistent.h5", "imagenet", "none", "FOLDER", "TEXT", 5])
def test_weights_given_with_a_saved_model_are_refused_not_ignored(saved_network, tmp_path, weights):
    """Row 11: the saved model's own weights were used and run.json said nothing of the weights asked for."""
    if weights == "FOLDER":
        weights = str(tmp_path)
    elif weights == "TEXT":
        (tmp_path / "w.txt").write_text("not weights")
        weights = str(tmp_path / "w.txt")
    with pytest.raises(ModelError, match="carries its own weights") as info:
        catsel.activation_model(saved_network, weights=weights)
    assert "\n" not in str(info.value) and "weights" in str(info.value)


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
