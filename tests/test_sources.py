"""The network stage as sources (issue: the network stage as sources): one registry says which source opens a
``--model``, a lab adds its own without touching catsel, and a PyTorch network runs with Keras and TensorFlow
unimportable (a Keras network with torch unimportable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import catsel
from catsel.errors import ModelError
from catsel.network import sources
from conftest import REPO, square_folder

#: Run in a child process: makes some top-level packages unimportable (as if not installed), then runs the
#: command line with the arguments after the first two, and says which of those, and of others watched, were
#: imported after all. (JAX and torch cannot be made unimportable so: SciPy takes any ``jax`` or ``torch`` key of
#: ``sys.modules`` for the module. They are watched.)
BLOCKED = textwrap.dedent("""
    import json, sys
    blocked, watched = (set(filter(None, a.split(","))) for a in sys.argv[1].split(";"))
    for name in blocked:  # `import name` raises ModuleNotFoundError; importlib.util.find_spec(name) says None
        sys.modules[name] = None
    from catsel.apps.cli import main
    code = main(sys.argv[3:])
    watched |= blocked
    imported = sorted(m for m, module in sys.modules.items() if m.split(".")[0] in watched and module is not None)
    print(json.dumps({"code": code, "imported": imported}), file=open(sys.argv[2], "w"))
    """)


def _blocked(tmp_path, blocked, watched, *args):
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", BLOCKED, ",".join(blocked) + ";" + ",".join(watched), str(report),
                           *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert report.is_file(), done.stderr[-3000:]
    return json.loads(report.read_text()), done


def _data(tmp_path):
    return square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 4), seed=0, noise=60,
                         box=(8, 24, 8, 24), value=220, size=32)


def test_a_torchvision_capture_runs_with_keras_and_tensorflow_unimportable(tmp_path):
    pytest.importorskip("torchvision")
    data = _data(tmp_path)
    result, done = _blocked(tmp_path, ["keras", "tensorflow"], ["jax"], "run", data, "--out", tmp_path / "out",
                            "--model", "torchvision:resnet18", "--weights", "none", "--image-size", "32",
                            "--no-progress", "--permutations", "20")
    assert result == {"code": 0, "imported": []}, done.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["keras_backend"].startswith("pytorch") and record["model"] == "torchvision:resnet18"
    listed, done = _blocked(tmp_path, ["keras", "tensorflow"], ["jax"], "layers", "torchvision:resnet18",
                            "--image-size", "32")
    assert listed == {"code": 0, "imported": []}, done.stderr[-3000:]
    # a command on the run folder reads which framework its store was captured with
    reported, done = _blocked(tmp_path, ["keras", "tensorflow"], ["jax"], "report", tmp_path / "out")
    assert reported == {"code": 0, "imported": []}, done.stderr[-3000:]
    assert (tmp_path / "out" / "report.html").is_file()


def test_a_keras_capture_never_imports_torch(tmp_path):
    data = _data(tmp_path)
    model = tmp_path / "tiny.keras"
    import keras

    from helpers import small_cnn

    small_cnn(size=32).save(model)
    result, done = _blocked(tmp_path, [], ["torch", "torchvision", "timm"], "run", data, "--out", tmp_path / "out",
                            "--model", model, "--no-progress", "--permutations", "20")
    assert result == {"code": 0, "imported": []}, done.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["keras_backend"] == keras.backend.backend()


def test_the_registry_names_the_source_of_every_kind_of_model():
    import keras

    from helpers import small_cnn

    assert sources.source_of("hub:dinov2_base").name == "hub"
    assert sources.source_of("torchvision:vgg16").name == "pytorch"
    assert sources.source_of("timm:resnet18").name == "pytorch"
    assert sources.source_of("vgg16").name == "keras"
    assert sources.source_of("path/to/model.keras").name == "keras"
    assert sources.source_of(small_cnn(size=12)).name == "keras"
    assert sources.source_of(Path("model.h5")).name == "keras"
    assert isinstance(small_cnn(size=12), keras.Model)


def test_an_unknown_prefix_is_one_line_naming_the_sources():
    with pytest.raises(ModelError, match=r"no source opens 'mylab:net'.*hub:.*timm:.*torchvision:.*register_source"):
        catsel.activation_model("mylab:net")


def test_a_lab_registers_its_own_source_and_every_command_builds_it_by_name(tmp_path):
    from helpers import small_cnn

    built = []

    def build(name, seed=0):
        built.append((name, seed))
        return small_cnn(size=32)

    catsel.register_source("mylab", build, replace=True)
    try:
        with pytest.raises(ValueError, match="one of catsel's own"):
            catsel.register_source("torchvision", build)
        with pytest.raises(ValueError, match="registered already"):
            catsel.register_source("mylab", build)
        net = catsel.activation_model("mylab:tiny", image_size=32, preprocess="raw")
        assert built[-1] == ("tiny", 0) and net.source == "mylab:tiny" and net.trained
        assert net.rebuild == {"model": "mylab:tiny", "weights": "auto", "seed": 0}
        data = _data(tmp_path)
        acts = catsel.capture(net, catsel.ImageFolder(data, image_size=32), tmp_path / "lab", progress=False)
        from catsel.network.models import from_store

        again = from_store(acts)  # by name, through the registry: the same weights
        assert again.digest() == net.digest() and again.source == "mylab:tiny"
        # the untrained network is catsel's own re-initialisation, never the lab's word for it
        untrained = catsel.activation_model("mylab:tiny", None, image_size=32, preprocess="raw", seed=3)
        assert not untrained.trained and "untrained" in untrained.weights_label
        assert untrained.digest() != net.digest() and untrained.source == "mylab:tiny"
        with pytest.raises(ModelError, match="takes no weights"):
            catsel.activation_model("mylab:tiny", "w.h5", image_size=32)

        def broken(name):
            raise KeyError(name)

        catsel.register_source("mylab", broken, replace=True)
        with pytest.raises(ModelError, match=r"the source mylab: could not build 'nope' \(KeyError: 'nope'\)"):
            catsel.activation_model("mylab:nope")
    finally:
        sources._LABS.pop("mylab", None)


def test_an_installed_package_adds_a_source_through_the_entry_point_group(tmp_path):
    """A package that declares ``[project.entry-points."catsel.sources"]`` gives ``--model PREFIX:NAME`` to the
    command line, with nothing registered by hand."""
    site = tmp_path / "site"
    (site / "labzoo").mkdir(parents=True)
    (site / "labzoo" / "__init__.py").write_text(textwrap.dedent("""
        def build(name):
            import keras
            keras.utils.set_random_seed(0)
            inp = keras.Input((16, 16, 3))
            x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
            return keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalMaxPooling2D()(x)), name=name)
        """))
    info = site / "labzoo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: labzoo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[catsel.sources]\nlabzoo = labzoo:build\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "catsel", "layers", "labzoo:small", "--image-size", "16"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "conv" in done.stdout


def test_a_network_object_lists_its_layers():
    from helpers import small_cnn

    net = catsel.activation_model(small_cnn(size=12), preprocess="raw")
    table = catsel.layers(net)
    assert set(net.layers) <= set(table["layer"]) and table["default"].sum() == len(net.layers)


def test_a_keras_network_and_a_torch_network_answer_the_same_protocol():
    pytest.importorskip("torchvision")
    from catsel.network.interface import Network

    from helpers import small_cnn

    keras_net = catsel.activation_model(small_cnn(size=12), preprocess="raw")
    torch_net = catsel.activation_model("torchvision:resnet18", "none", image_size=32)
    for net in (keras_net, torch_net):
        assert isinstance(net, Network)
        assert [m for m in Network.__annotations__ if not hasattr(net, m)] == []
        assert net.split_over(None) is None and net.on_accelerator() is False
        assert set(net.runtime()) == {"keras", "backend", "device"}
        twin = net.untrained(5)
        assert not twin.trained and twin.layers == net.layers and twin.digest() != net.digest()
        assert isinstance(net.preprocessing_note(), str)
    with pytest.raises(ModelError, match="one device"):
        torch_net.split_over("all")
    x = np.zeros((1, 32, 32, 3), np.uint8)
    assert set(torch_net.predict(x)[0]) == set(torch_net.layers)
