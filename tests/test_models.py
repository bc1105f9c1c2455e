"""The activation model (issue: core pipeline, section 4)."""

from __future__ import annotations

import urllib.error

import keras
import numpy as np
import pytest

import catsel
from catsel import ModelError, WeightsUnavailableError
from catsel.network.keras.preprocess import Preprocess
from helpers import small_cnn


@pytest.mark.parametrize("mode, reference", [
    ("caffe", keras.applications.vgg16.preprocess_input),
    ("tf", keras.applications.resnet_v2.preprocess_input),
    ("torch", keras.applications.densenet.preprocess_input),
    ("raw", lambda x: x),
])
def test_preprocessing_matches_keras(mode, reference):
    images = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)
    got = keras.ops.convert_to_numpy(Preprocess(mode)(images))
    np.testing.assert_allclose(got, reference(images.astype("float32").copy()), rtol=1e-5, atol=1e-4)


def test_maxima_and_positions_equal_full_maps_from_plain_keras():
    net = small_cnn()
    amodel = catsel.activation_model(net, layers=["fc", "c3", "c1", "c2"], preprocess="tf")
    assert amodel.layers == ("c1", "c2", "c3", "fc")  # network order
    assert amodel.map_shapes == {"c1": (12, 12), "c2": (5, 5), "c3": (2, 2), "fc": None}
    images = np.random.default_rng(1).integers(0, 256, (4, 12, 12, 3), dtype=np.uint8)
    maxima, positions = amodel.predict(images)

    full = keras.Model(net.inputs, [net.get_layer(l).output for l in amodel.layers])
    maps = full.predict_on_batch(images.astype("float32") / 127.5 - 1.0)
    for layer, m in zip(amodel.layers, maps):
        m = np.asarray(m)
        if m.ndim == 2:
            np.testing.assert_allclose(maxima[layer], m, rtol=1e-5, atol=1e-6)
            assert layer not in positions
            continue
        np.testing.assert_allclose(maxima[layer], m.max(axis=(1, 2)), rtol=1e-5, atol=1e-6)
        flat = m.reshape(m.shape[0], -1, m.shape[-1])
        at = np.take_along_axis(flat, positions[layer][:, None, :].astype(np.int64), axis=1)[:, 0]
        np.testing.assert_allclose(at, maxima[layer], rtol=1e-5, atol=1e-6)


def test_default_layers_skip_the_classifier():
    amodel = catsel.activation_model(small_cnn())
    assert amodel.layers == ("c1", "c2", "c3", "fc")


def test_unknown_layer_lists_the_valid_names():
    with pytest.raises(ModelError, match="no layer named 'nope'.*valid names include .*c1, c2"):
        catsel.activation_model(small_cnn(), layers=["nope"])


def test_a_misspelt_layer_gets_the_closest_names_first_then_at_most_ten_others():
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    with pytest.raises(ModelError) as caught:
        catsel.activation_model(vgg, layers=["block5_conv4"], preprocess="caffe")
    said = str(caught.value)
    assert "; did you mean block5_conv3 or block5_conv2 or block5_conv1?" in said
    assert said.count(", ") <= 10 + 2 and "and " in said.split("valid names include", 1)[1]


def test_vgg16_defaults_are_13_convs_and_fc1_fc2_at_224():
    amodel = catsel.activation_model("vgg16", weights=None)
    assert amodel.image_size == 224 and amodel.preprocess == "caffe"
    assert len(amodel.conv_layers) == 13
    assert amodel.layers[-2:] == ("fc1", "fc2")
    assert sum(amodel.units.values()) == 4224 + 8192
    assert not amodel.trained and "untrained" in amodel.weights_label


def test_vgg16_at_a_small_size_for_conv_layers():
    amodel = catsel.activation_model("vgg16", weights=None, image_size=32, layers=["block1_conv1", "block5_conv3"])
    assert amodel.map_shapes == {"block1_conv1": (32, 32), "block5_conv3": (2, 2)}
    maxima, _ = amodel.predict(np.zeros((2, 32, 32, 3), np.uint8))
    assert maxima["block5_conv3"].shape == (2, 512)


def test_dense_layers_at_another_size_is_an_error_that_says_why():
    with pytest.raises(ModelError, match=r"fc1.*224x224.*not 64x64"):
        catsel.activation_model("vgg16", weights=None, image_size=64, layers=["block1_conv1", "fc1"])


def test_untrained_init_is_seeded():
    a = catsel.activation_model("vgg16", weights=None, image_size=32, layers=["block1_conv1"], seed=3)
    b = catsel.activation_model("vgg16", weights=None, image_size=32, layers=["block1_conv1"], seed=3)
    c = catsel.activation_model("vgg16", weights=None, image_size=32, layers=["block1_conv1"], seed=4)
    assert a.digest() == b.digest() != c.digest()
    # the digest hashes each weight's memory (no copy of VGG16's 0.4 GB fc1): the bytes, and so the stores'
    # keys, are those of every earlier capture
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for layer in a.network.layers:
        h.update(f"{type(layer).__name__};".encode())
        for w in layer.weights:
            h.update(str(tuple(w.shape)).encode())
            h.update(np.asarray(w.numpy()).tobytes())
    assert a.digest() == h.hexdigest()


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ModelError, match="unknown model 'vgg17'.*vgg16"):
        catsel.activation_model("vgg17", weights=None)


def test_imagenet_offline_and_not_cached_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        catsel.activation_model("vgg16", weights="imagenet", image_size=32)
    message = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "keras" / "models") in message
    assert "weights 'none'" in message


def test_auto_offline_frees_the_network_keras_built_before_it_looked_for_the_weights(tmp_path, monkeypatch):
    """Keras builds an application before it fetches its weights: offline, that network was still held (by the
    error's traceback, then as a reference cycle) while the untrained one was built, 0.55 GB more for VGG16 at
    the peak of notebook 05 (issue #38)."""
    import functools
    import gc
    import urllib.error

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)
    real = keras.applications.VGG16
    alive = []

    def vgg16s() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, keras.Model) and o.name == "vgg16")

    @functools.wraps(real)
    def counted(*args, weights=None, **kwargs):
        if weights is None:
            alive.append(vgg16s())
        return real(*args, weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG16", counted)
    gc.collect()
    before = vgg16s()
    amodel = catsel.activation_model("vgg16", weights="auto", image_size=32)
    assert not amodel.trained
    assert alive == [before]


@pytest.mark.slow
def test_weights_file_is_loaded_and_transplanted_to_another_size(tmp_path):
    keras.utils.set_random_seed(7)
    source = keras.applications.MobileNetV2(weights=None, alpha=0.35)
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    # MobileNetV2's own alpha is 1.0: a file for alpha 0.35 does not fit, and the error names the file
    with pytest.raises(ModelError, match="mobilenet.weights.h5 does not fit"):
        catsel.activation_model("mobilenetv2", weights=str(path))
    source = keras.applications.MobileNetV2(weights=None)
    source.save_weights(path)
    full = catsel.activation_model("mobilenetv2", weights=str(path), layers=["Conv1"])
    small = catsel.activation_model("mobilenetv2", weights=str(path), image_size=96, layers=["Conv1"])
    for amodel in (full, small):
        kernel = amodel.network.get_layer("Conv1").get_weights()[0]
        np.testing.assert_array_equal(kernel, source.get_layer("Conv1").get_weights()[0])
        assert amodel.trained and "mobilenet.weights.h5" in amodel.weights_label
        assert amodel.preprocess == "tf"


def test_missing_weights_file_is_an_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        catsel.activation_model("vgg16", weights=str(tmp_path / "missing.h5"), image_size=32)


def test_saved_keras_model_is_loaded_in_safe_mode(tmp_path):
    net = small_cnn(seed=5)
    path = tmp_path / "net.keras"
    net.save(path)
    amodel = catsel.activation_model(str(path))
    assert amodel.image_size == 12 and amodel.source == "net.keras" and amodel.preprocess == "raw"
    images = np.random.default_rng(2).integers(0, 256, (2, 12, 12, 3), dtype=np.uint8)
    direct = catsel.activation_model(net).predict(images)[0]["fc"]
    np.testing.assert_allclose(amodel.predict(images)[0]["fc"], direct, rtol=1e-5)


def test_a_file_that_is_not_a_model_is_an_error(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    with pytest.raises(ModelError, match="cannot load .*bad.keras"):
        catsel.activation_model(str(bad))


def _positions_of(maps: np.ndarray, method: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    from catsel.network.keras.reduce import reduce_maps

    inp = keras.Input(maps.shape[1:])
    m, p = reduce_maps(inp, method=method)
    out = keras.Model(inp, [m, p]).predict_on_batch(maps.astype("float32"))
    return np.asarray(out[0]), np.asarray(out[1])


@pytest.mark.parametrize("method", ["pooling", "argmax"])
def test_positions_are_the_first_maximum_in_row_major_order(method):
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 5, 7, 4))
    maps[1, :, :, 2] = 0.0  # an all-zero map: position 0
    maps[2, :, :, 1] = -1.0
    maps[2, 3, 2, 1] = maps[2, 3, 5, 1] = 9.0  # a tie within one row: the first column
    maps[2, :, :, 3] = -1.0
    maps[2, 1, 4, 3] = maps[2, 4, 4, 3] = 9.0  # a tie within one column: the first row
    maxima, pos = _positions_of(maps, method)
    flat = maps.astype("float32").reshape(3, 35, 4)
    np.testing.assert_array_equal(maxima, flat.max(axis=1))  # bit for bit: read at its position, or reduced
    np.testing.assert_array_equal(pos, flat.argmax(axis=1))
    assert pos[1, 2] == 0 and pos[2, 1] == 3 * 7 + 2 and pos[2, 3] == 1 * 7 + 4


@pytest.mark.parametrize("method", ["pooling", "argmax"])
def test_a_maximum_tied_across_rows_and_columns_is_found_where_it_is(method):
    """A ReLU6 saturated at (0, 5) and (5, 0): the first row and the first column holding the maximum meet at
    (0, 0), which holds 0 (found by the zoo sweep, on MobileNet's Conv1_relu)."""
    maps = np.zeros((1, 7, 7, 2))
    maps[0, 0, 5, 0] = maps[0, 5, 0, 0] = 6.0
    maps[0, 2, 3, 1] = maps[0, 2, 6, 1] = maps[0, 4, 1, 1] = 6.0  # and three, over two rows and three columns
    maxima, pos = _positions_of(maps, method)
    flat = maps.astype("float32").reshape(1, 49, 2)
    np.testing.assert_array_equal(pos, flat.argmax(axis=1))  # the first in row-major order: (0, 5) and (2, 3)
    assert np.take_along_axis(flat, pos[:, None, :].astype(int), axis=1)[0, 0].tolist() == [6.0, 6.0]


def test_sequence_outputs_reduce_over_positions():
    maps = np.random.default_rng(1).normal(size=(2, 6, 3))
    maxima, pos = _positions_of(maps)
    np.testing.assert_allclose(maxima, maps.max(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(pos, maps.argmax(axis=1))


def test_mixed_precision_keeps_float32_outputs_close_to_float32():
    images = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    full = catsel.activation_model("vgg16", weights=None, image_size=32, layers=["block1_conv2", "block3_conv3"])
    half = catsel.activation_model("vgg16", weights=None, image_size=32, layers=["block1_conv2", "block3_conv3"],
                                   precision="bfloat16")
    assert half.precision == "bfloat16" and half.describe()["precision"] == "bfloat16"
    assert half.network.get_layer("block1_conv2").compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    a, _ = full.predict(images)
    b, _ = half.predict(images)
    for layer in a:
        assert b[layer].dtype == np.float32
        scale = np.abs(a[layer]).max()
        assert np.abs(a[layer] - b[layer]).max() < 0.05 * scale  # bfloat16 keeps about 3 significant digits
    with pytest.raises(ModelError, match="unknown precision"):
        catsel.activation_model("vgg16", weights=None, image_size=32, precision="int8")
    with pytest.raises(ModelError, match="in memory keeps its own precision"):
        catsel.activation_model(small_cnn(), precision="bfloat16")


def test_a_store_rebuilds_its_network_at_its_precision(colour_folder, tmp_path):
    amodel = catsel.activation_model("vgg16", weights=None, image_size=32, layers=["block1_conv1"],
                                     precision="float16")
    acts = catsel.capture(amodel, catsel.ImageFolder(colour_folder, image_size=32), tmp_path, progress=False)
    rebuilt = catsel.network.models.from_store(acts)
    assert rebuilt.precision == "float16" and rebuilt.digest() == amodel.digest()


def test_an_image_size_below_the_models_minimum_is_a_friendly_error():
    with pytest.raises(ModelError, match=r"inceptionv3 needs images of at least 75x75 pixels, not 64x64: "
                                         r"use --image-size 75"):
        catsel.activation_model("inceptionv3", weights=None, image_size=64)
