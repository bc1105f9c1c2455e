"""A batch's results leave the device as one buffer in the smallest lossless types (GPU capture issue): the
arrays the store gets are bitwise those of one float32 output per kind, on every backend."""

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

from catsel.network import models, packing
from helpers import packed_against_unpacked, small_cnn


def test_the_one_buffer_holds_the_same_bits_as_one_float32_output_per_kind():
    assert packed_against_unpacked() == []


@pytest.mark.slow
@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_the_one_buffer_holds_the_same_bits_on_the_other_backends(backend, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: the {backend} backend is not tested here")
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); import keras; from helpers import "
              "packed_against_unpacked; print(json.dumps([keras.backend.backend(), packed_against_unpacked()]))")
    proc = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [backend, []]


def test_the_plan_uses_the_smallest_lossless_types_and_keeps_32_bit_views_aligned():
    plan = packing.plan_packing([("maxima", "a", 3, "bfloat16", None), ("positions", "a", 3, "bfloat16", 900),
                                ("means", "a", 3, "bfloat16", 900), ("minima", "a", 3, "bfloat16", 900),
                                ("maxima", "b", 2, "float32", None), ("positions", "b", 2, "float32", 70_000)])
    travel = {(p.kind, p.layer): p.dtype for p in plan}
    assert travel == {("maxima", "a"): "bfloat16", ("positions", "a"): "offset16", ("means", "a"): "float32",
                      ("minima", "a"): "bfloat16", ("maxima", "b"): "float32", ("positions", "b"): "int32"}
    wide = [p for p in plan if p.dtype in ("float32", "int32")]
    assert [p.start for p in wide] == [0, 6, 10] and all(p.start % 2 == 0 for p in wide)  # first, each aligned
    assert sum(p.words for p in plan) == 6 + 4 + 4 + 3 * 3
    buffer = np.zeros((4, 24), dtype=np.int16)  # 23 words, padded to an even row
    buffer[:, 6:10] = np.array([[1.5, -2.0]], np.float32).view(np.int16)
    arrays = packing.unpack(buffer, plan)
    assert arrays["maxima"]["b"].dtype == np.float32 and arrays["maxima"]["b"][0].tolist() == [1.5, -2.0]
    assert np.shares_memory(arrays["maxima"]["b"], buffer)  # a view, not a copy
    assert arrays["positions"]["a"].dtype == np.int32 and (arrays["positions"]["a"] == 32768).all()


def test_a_vgg_like_network_sends_fewer_bytes_in_bfloat16():
    def bytes_per_image(policy):
        keras.config.set_dtype_policy(policy)
        try:
            amodel = models.activation_model(small_cnn(size=32), image_size=32, preprocess="raw")
            every = amodel.for_arrays(("maxima", "positions", "means", "minima"))
        finally:
            keras.config.set_dtype_policy("float32")
        return 2 * sum(p.words for p in amodel.packing), 2 * sum(p.words for p in every.packing), amodel

    full, summarised, amodel = bytes_per_image("float32")
    half, half_summarised, _ = bytes_per_image("mixed_bfloat16")
    conv = sum(amodel.units[l] for l in amodel.conv_layers)
    assert full == 4 * sum(amodel.units.values()) + 2 * conv  # positions in 16 bits already
    assert summarised == full + 8 * conv  # the means and minima, only when asked for
    assert half < 0.75 * full and half_summarised < 0.75 * summarised


@pytest.mark.slow
def test_the_one_pass_reduction_gives_the_separate_ones_bits_on_jax():
    """activation_model(..., reduction="fused"): one variadic reduction over each map (JAX), for the GPU measurement
    to choose; its maxima, positions and minima are the separate reductions' bit for bit, its means differ in
    rounding only, and a store captured with it has a key of its own."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: the JAX backend is not tested here")
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); from helpers import fused_against_separate; "
              "print(json.dumps(fused_against_separate()))")
    proc = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["differ"] == [] and found["mean_error"] < 1e-6
    assert found["keyed"] == ["fused", None, "fused", None]  # float32 and bfloat16: fused, then argmax


def test_the_one_pass_reduction_is_refused_off_jax_and_a_misspelled_one_named():
    if keras.backend.backend() == "jax":
        pytest.skip("on JAX the one-pass reduction is built (the test above)")
    with pytest.raises(models.ModelError, match=f"'fused' needs the JAX backend .this one is {keras.backend.backend()}"):
        models.activation_model(small_cnn(size=12), image_size=12, preprocess="raw", reduction="fused")
    with pytest.raises(models.ModelError, match="reduction.*fused"):
        models.activation_model(small_cnn(size=12), image_size=12, preprocess="raw", reduction="fuse")


def test_the_reduction_is_an_argument_not_module_state():
    """No module of catsel keeps a setting in a global that a caller assigns (the reduction was one)."""
    import catsel.network.models

    assert not hasattr(catsel.network.models, "REDUCTION")
    amodel = models.activation_model(small_cnn(size=12), image_size=12, preprocess="raw",
                                     reduction="argmax")
    assert amodel.reduction == "argmax" and amodel.for_arrays(("maxima",)).reduction == "argmax"
