"""The capture on every installed Keras backend gives the TensorFlow numbers (issue: GPU capture)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import catsel
from test_models import small_cnn

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import keras, numpy as np, catsel
from test_models import small_cnn
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


@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_capture_matches_tensorflow(backend, module, colour_folder, tmp_path):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: the {backend} backend is not tested here")
    net = small_cnn(size=12, seed=4)
    weights = tmp_path / "net.weights.h5"
    net.save_weights(weights)
    reference = catsel.capture(catsel.activation_model(net, preprocess="tf"),
                               catsel.ImageFolder(colour_folder, image_size=12), tmp_path / "tf", batch_size=4,
                               progress=False)
    env = {**os.environ, "KERAS_BACKEND": backend, "KERAS_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(Path(__file__).parent), str(colour_folder), str(weights),
                           str(tmp_path / backend)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == backend
    assert out["again"]  # a second capture after Keras' predict still runs, and gives the same numbers
    np.testing.assert_allclose(out["c2"], reference["c2"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["fc"], reference["fc"], rtol=1e-4, atol=1e-5)
    same = np.asarray(out["pos"]) == reference.positions("c2")
    assert same.mean() > 0.99  # positions agree but for near-ties decided by rounding
