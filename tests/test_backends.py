"""The capture on every installed Keras backend gives the TensorFlow numbers (issue: GPU capture)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import catsel
from helpers import small_cnn

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import keras, numpy as np, catsel
from helpers import small_cnn
net = small_cnn(size=12)
net.load_weights(sys.argv[3])
amodel = catsel.activation_model(net, preprocess="tf")
acts = catsel.capture(amodel, catsel.ImageFolder(sys.argv[2], image_size=12), sys.argv[4], batch_size=4,
                      progress=False)
net.predict_on_batch(np.zeros((2, 12, 12, 3), "float32"))  # Keras' own jitted step donates its arrays on JAX
again = catsel.capture(amodel, catsel.ImageFolder(sys.argv[2], image_size=12), sys.argv[4] + "-again",
                       batch_size=4, progress=False)
print(json.dumps({"backend": keras.backend.backend(), "c2": acts["c2"].tolist(), "fc": acts["fc"].tolist(),
                  "pos": acts.positions("c2").tolist(), "again": bool(np.array_equal(again["c2"], acts["c2"]))}))
"""


def _capture_elsewhere(script: str, env: dict, seed: int, colour_folder, tmp_path):
    """The TensorFlow capture of a small network, and ``script``'s JSON line, run on the same weights in a
    subprocess with ``env`` (another backend, other devices)."""
    net = small_cnn(size=12, seed=seed)
    weights = tmp_path / "net.weights.h5"
    net.save_weights(weights)
    reference = catsel.capture(catsel.activation_model(net, preprocess="tf"),
                               catsel.ImageFolder(colour_folder, image_size=12), tmp_path / "tf", batch_size=4,
                               progress=False)
    env = {**os.environ, "KERAS_HOME": str(tmp_path), **env}
    proc = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), str(colour_folder), str(weights),
                           str(tmp_path / "other")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return reference, json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_same_capture(out: dict, reference) -> None:
    np.testing.assert_allclose(out["c2"], reference["c2"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["fc"], reference["fc"], rtol=1e-4, atol=1e-5)
    same = np.asarray(out["pos"]) == reference.positions("c2")
    assert same.mean() > 0.99  # positions agree but for near-ties decided by rounding


@pytest.mark.slow
@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_capture_matches_tensorflow(backend, module, colour_folder, tmp_path):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: the {backend} backend is not tested here")
    reference, out = _capture_elsewhere(SCRIPT, {"KERAS_BACKEND": backend}, 4, colour_folder, tmp_path)
    assert out["backend"] == backend
    assert out["again"]  # a second capture after Keras' predict still runs, and gives the same numbers
    _assert_same_capture(out, reference)


DATA_PARALLEL = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import jax, keras, numpy as np, catsel
from catsel.errors import ModelError
from helpers import small_cnn
net = small_cnn(size=12)
net.load_weights(sys.argv[3])
amodel = catsel.activation_model(net, preprocess="tf")
put, run = amodel.runner("all")
shards = len(put(np.zeros((4, 12, 12, 3), np.uint8)).sharding.device_set)
try:
    catsel.capture(amodel, sys.argv[2], sys.argv[4] + "-odd", batch_size=3, devices=2, progress=False)
    odd = "accepted"
except ModelError as exc:
    odd = str(exc)
acts = catsel.capture(amodel, catsel.ImageFolder(sys.argv[2], image_size=12), sys.argv[4], batch_size=4,
                      progress=False, devices="all")
net.predict_on_batch(np.zeros((2, 12, 12, 3), "float32"))  # donates the weights' arrays: they are replaced
again = amodel.split(run(put(np.zeros((4, 12, 12, 3), np.uint8))))[0]["c2"]
print(json.dumps({"devices": len(jax.devices()), "shards": shards, "odd": odd, "c2": acts["c2"].tolist(),
                  "fc": acts["fc"].tolist(), "pos": acts.positions("c2").tolist(),
                  "again": bool(np.allclose(again, amodel.predict(np.zeros((4, 12, 12, 3), np.uint8))[0]["c2"]))}))
"""


@pytest.mark.slow
def test_data_parallel_capture_on_two_devices_matches_one(colour_folder, tmp_path):
    """Keras' DataParallel on JAX splits each batch over two devices (two CPU devices stand in for GPUs)."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: data-parallel capture is not tested here")
    env = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    reference, out = _capture_elsewhere(DATA_PARALLEL, env, 5, colour_folder, tmp_path)
    assert out["devices"] == 2 and out["shards"] == 2
    assert out["again"]  # still runs after Keras' predict replaced the weights' arrays
    assert "multiple of 2, such as 4" in out["odd"]
    _assert_same_capture(out, reference)


def test_devices_on_tensorflow_say_what_is_supported(colour_folder, tmp_path):
    from catsel.errors import ModelError
    from catsel.network.keras.backends import resolve_devices

    amodel = catsel.activation_model(small_cnn(size=12), preprocess="tf")
    assert resolve_devices(None) is None
    assert resolve_devices("all") is None  # the one device TensorFlow sees here: its default
    with pytest.raises(ModelError, match="this machine has 1"):
        resolve_devices(2)
    with pytest.raises(ModelError, match="no device 'gpu:7'"):
        resolve_devices(["gpu:7"])
    with pytest.raises(ModelError, match="None, 'all', a number"):
        resolve_devices(True)
    acts = catsel.capture(amodel, colour_folder, tmp_path / "run", batch_size=4, progress=False, devices="all")
    assert len(acts) == len(catsel.ImageFolder(colour_folder, image_size=12))


def test_two_gpus_outside_jax_point_to_jax_or_one_capture_per_gpu(monkeypatch):
    from catsel.network.keras import backends
    from catsel.errors import ModelError

    monkeypatch.setattr(backends, "accelerators", lambda backend: ["gpu:0", "gpu:1"])
    with pytest.raises(ModelError, match="JAX backend only.*CUDA_VISIBLE_DEVICES"):
        backends.resolve_devices("all")
    with pytest.raises(ModelError, match="CUDA_VISIBLE_DEVICES=1"):
        backends.resolve_devices(["gpu:1"])
    assert backends.resolve_devices(["GPU:0"]) is None  # the default device: nothing to place


@pytest.mark.parametrize("text, expected", [("all", "all"), ("2", 2), ("gpu:0,gpu:1", ["gpu:0", "gpu:1"])])
def test_cli_devices_option(text, expected):
    from catsel.apps.cli import build_parser

    args = build_parser().parse_args(["run", "data", "--out", "o", "--devices", text])
    assert args.devices == expected


def test_cli_devices_option_rejects_nonsense(capsys):
    from catsel.apps.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "data", "--out", "o", "--devices", "many"])
    assert "names such as gpu:0,gpu:1" in capsys.readouterr().err


def _recording_net(record):
    """A small network whose first layer calls ``record()`` when it is traced or run."""
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Lambda(lambda t: (record(), t)[1], name="probe")(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(2, name="fc")(x))


def test_float32_captures_are_not_computed_in_tf32(colour_folder, tmp_path):
    """TensorFlow, JAX and PyTorch compute float32 convolutions in TF32 on recent NVIDIA GPUs by default; on an
    H100 that changed 24 `selective` decisions of VGG16 (docs/performance.md). catsel's float32 is float32."""
    import tensorflow as tf

    seen = []
    net = _recording_net(lambda: seen.append(tf.config.experimental.tensor_float_32_execution_enabled()))
    amodel = catsel.activation_model(net, preprocess="tf", layers=["c1"])
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    seen.clear()  # what building the model traced
    catsel.capture(amodel, colour_folder, tmp_path, batch_size=4, progress=False)
    assert seen and not any(seen)
    assert tf.config.experimental.tensor_float_32_execution_enabled() == before  # restored afterwards


JAX_PRECISION = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import jax, keras, catsel
from catsel.network.keras import backends
from test_backends import _recording_net
seen = []
net = _recording_net(lambda: seen.append(str(jax.config.jax_default_matmul_precision)))
amodel = catsel.activation_model(net, preprocess="tf", layers=["c1"])
seen.clear()  # what building the model traced
catsel.capture(amodel, sys.argv[2], sys.argv[4], batch_size=4, progress=False)
exact = list(seen)
backends.FLOAT32_MATMUL = "tensorfloat32"
other = catsel.activation_model(_recording_net(lambda: seen.append(str(jax.config.jax_default_matmul_precision))),
                                preprocess="tf", layers=["c1"])
seen.clear()
catsel.capture(other, sys.argv[2], sys.argv[4] + "-tf32", batch_size=4, progress=False)
print(json.dumps({"exact": exact, "tf32": seen}))
"""


@pytest.mark.slow
def test_float32_captures_on_jax_trace_under_float32_precision(colour_folder, tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "KERAS_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", JAX_PRECISION, str(Path(__file__).parent), str(colour_folder), "",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["exact"] and set(out["exact"]) == {"float32"}
    assert out["tf32"] and set(out["tf32"]) == {"tensorfloat32"}


@pytest.mark.parametrize("given, kept", [(None, "1"), ("0", "0")])
def test_import_catsel_asks_tensorflow_for_the_system_allocator_unless_told(given, kept):
    """TensorFlow's oneDNN build keeps every freed tensor of 256 KiB or more in a pool of its own that never
    shrinks: building VGG16 (0.55 GB of weights) left 2.1 GB resident and notebook 05 peaked at 4.4 GB
    (issue #38). ``import catsel`` asks TensorFlow, before it starts, for the system allocator instead;
    a value the user set is theirs."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"}
    if given is not None:
        env["TF_ONEDNN_USE_SYSTEM_ALLOCATOR"] = given
    out = subprocess.run([sys.executable, "-c", "import os, catsel; print(os.environ.get("
                          "'TF_ONEDNN_USE_SYSTEM_ALLOCATOR'))"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == kept
