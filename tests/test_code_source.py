"""``--model FILE.py:FACTORY``: a PyTorch network of a lab's own code, from the command line to lesion and
visualize, with the file's identity in the record, and no code run because a record names it."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import catsel  # noqa: E402
from catsel.apps.cli import main  # noqa: E402
from catsel.errors import ModelError  # noqa: E402
from catsel.paths import file_digest  # noqa: E402
from conftest import write_image  # noqa: E402

SIZE = 12

# a lab's file: 1x1 detectors of red, green and blue after a ReLU; importing it leaves a mark beside it
LAB = '''
from pathlib import Path

import torch

Path(__file__).with_suffix(".imported").open("a").write("x")


def build():
    det, merge, out = torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 3, 1), torch.nn.Linear(3, 3)
    net = torch.nn.Sequential(det, torch.nn.ReLU(), merge, torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), out)
    with torch.no_grad():
        w = torch.zeros(4, 3, 1, 1)
        for unit in range(3):
            w[unit, :, 0, 0] = -1.0 / 255
            w[unit, unit, 0, 0] = 1.0 / 255
        det.weight.copy_(w)
        det.bias.zero_()
        merge.weight.copy_(torch.eye(4)[:3, :, None, None])
        merge.bias.zero_()
        out.weight.copy_(torch.eye(3))
        out.bias.zero_()
    return net
'''


@pytest.fixture
def lab(tmp_path):
    rng = np.random.default_rng(0)
    for name, rgb in {"red": (220, 0, 0), "green": (0, 220, 0), "blue": (0, 0, 220), "none": None}.items():
        for i in range(10):
            img = rng.integers(60, 120, size=(SIZE, SIZE, 1)).repeat(3, axis=2)
            if rgb is not None:
                y, x = rng.integers(0, SIZE - 4, 2)
                img[y:y + 4, x:x + 4] = rgb
            write_image(tmp_path / "data" / name / f"{i:02d}.png", img)
    code = tmp_path / "lab" / "nets.py"
    code.parent.mkdir()
    code.write_text(LAB)
    return tmp_path, code


def test_a_network_of_the_labs_own_code_runs_lesions_and_pictures_from_the_command_line(lab, capsys):
    root, code = lab
    model = f"{code}:build"
    out = root / "out"
    assert main(["run", str(root / "data"), "--out", str(out), "--model", model, "--image-size", str(SIZE),
                 "--preprocess", "raw", "--layers", "1,2,5", "--no-progress"]) == 0
    record = json.loads((out / "activations" / "meta.json").read_text())
    assert record["rebuild"]["model"] == f"{code.resolve()}:build"
    assert record["rebuild"]["sha256"] == file_digest(code)  # the file by its identity, as a weights file
    mark = code.with_suffix(".imported")
    assert mark.read_text() == "x"
    mark.unlink()
    # a record never runs code by itself: without --model, one line saying to name it again
    assert main(["lesion", str(out), "--category", "red", "--layer", "1", "--units", "top:1", "--repeats", "3"]) != 0
    err = capsys.readouterr().err
    assert f"--model {code.resolve()}:build" in err and "runs no code a record names" in err
    assert not mark.exists()
    assert main(["lesion", str(out), "--category", "red", "--layer", "1", "--units", "top:1", "--repeats", "3",
                 "--model", model]) == 0
    assert "red accuracy" in capsys.readouterr().out
    picture = root / "unit.png"
    assert main(["visualize", str(out), "--layer", "1", "--unit", "0", "--steps", "8", "--out", str(picture),
                 "--model", model]) == 0
    assert picture.stat().st_size > 0
    # the brain comparison reads the run's stores: no network, no code
    mark.unlink()  # (visualize ran the named code)
    acts = catsel.load_activations(out)
    values = np.random.default_rng(0).normal(size=(len(acts), 5))
    rdm = 1 - np.corrcoef(values)
    np.fill_diagonal(rdm, 0.0)
    np.save(root / "rdm.npy", rdm)
    (root / "names.txt").write_text("\n".join(acts.paths) + "\n")
    assert main(["brain", str(out), "--rdm", str(root / "rdm.npy"), "--names", str(root / "names.txt"),
                 "--random-sets", "5", "--bootstrap", "5", "--no-progress"]) == 0
    assert "brain RDM: closest layer" in capsys.readouterr().out and not mark.exists()
    # other bytes at the same path: refused before anything is built from them
    code.write_text(LAB + "\n# changed\n")
    assert main(["lesion", str(out), "--category", "red", "--layer", "1", "--model", model]) != 0
    assert "is not the code" in capsys.readouterr().err
    assert not mark.exists()


def test_a_file_or_factory_that_is_not_there_is_one_line(lab):
    root, code = lab
    with pytest.raises(ModelError, match=r"has no function 'make'; its functions: build"):
        catsel.activation_model(f"{code}:make", image_size=SIZE)
    with pytest.raises(ModelError, match=r"no file .*missing.py"):
        catsel.activation_model(f"{root}/missing.py:build", image_size=SIZE)
    with pytest.raises(ModelError, match=r"returns a PyTorch module: give the image size"):
        catsel.activation_model(f"{code}:build")
    broken = root / "lab" / "broken.py"
    broken.write_text("def build(:\n")
    with pytest.raises(ModelError, match=r"broken.py could not be run \(SyntaxError"):
        catsel.activation_model(f"{broken}:build", image_size=SIZE)


def test_the_untrained_twin_of_the_labs_code_is_catsels_reinitialisation(lab):
    _, code = lab
    trained = catsel.activation_model(f"{code}:build", image_size=SIZE, preprocess="raw")
    untrained = catsel.activation_model(f"{code}:build", "none", image_size=SIZE, preprocess="raw")
    assert trained.trained and not untrained.trained
    assert untrained.digest() != trained.digest() and untrained.layers == trained.layers
