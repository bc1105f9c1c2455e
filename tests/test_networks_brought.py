"""The networks researchers bring (issue 23): fine-tuned bases and nested models, grayscale, non-square and fully
convolutional inputs, legacy HDF5 files, residual blocks' outputs, and no raw traceback from any model."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from PIL import Image, ImageOps

import catsel
from catsel.apps.cli import main
from catsel.errors import ModelError
from catsel.network.receptive import ReceptiveField

SIZE = 32


def _images(n=4, shape=(SIZE, SIZE), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape, 3), dtype=np.uint8)


def _fine_tuned(size=SIZE):
    """The transfer-learning pattern: a published base inside a Sequential, a new head."""
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(size, size, 3))
    return keras.Sequential([keras.Input((size, size, 3)), base, keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(4, name="head")]), base


def _two_level():
    """A functional model whose body is a model holding another model; two layers share the name "conv"."""
    keras.utils.set_random_seed(1)
    a = keras.Input((SIZE, SIZE, 8))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(a)
    x = keras.layers.Conv2D(5, 3, strides=2, activation="relu", name="deep")(x)
    innermost = keras.Model(a, x, name="innermost")
    b = keras.Input((SIZE, SIZE, 8))
    y = keras.layers.Conv2D(8, 1, activation="relu", name="mid")(b)
    middle = keras.Model(b, innermost(y), name="middle")
    c = keras.Input((SIZE, SIZE, 3))
    z = keras.layers.Conv2D(8, 1, name="conv")(c)  # the same name as a layer inside: outer/inner paths tell them apart
    z = middle(z)
    z = keras.layers.GlobalMaxPooling2D()(z)
    return keras.Model(c, keras.layers.Dense(3, name="out")(z), name="outer"), middle, innermost


# --- nested models ------------------------------------------------------------------------------------------------

def test_a_fine_tuned_base_inside_a_sequential_is_walked_and_equals_the_base_alone(tmp_path):
    net, base = _fine_tuned()
    net.save(tmp_path / "fine_tuned.keras")
    amodel = catsel.activation_model(str(tmp_path / "fine_tuned.keras"))
    alone = catsel.activation_model(base)
    assert amodel.layers == alone.layers and len(amodel.layers) > 30  # the base's convs, not one opaque layer
    images = _images()
    nested, _ = amodel.predict(images)
    direct, _ = alone.predict(images)
    for layer in alone.layers:  # the loaded model's base has the same weights as the one built here
        np.testing.assert_array_equal(nested[layer], direct[layer])
    # and against a plain Keras forward pass of the base alone
    last = alone.layers[-1]
    plain = keras.Model(base.inputs, base.get_layer(last).output).predict_on_batch(images.astype("float32"))
    np.testing.assert_allclose(nested[last], np.asarray(plain).max(axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_a_two_level_nested_model_names_its_inner_layers_and_captures_them_in_one_pass():
    net, middle, innermost = _two_level()
    amodel = catsel.activation_model(net)
    # "conv" twice: each named by its path from the outer model
    assert amodel.layers == ("conv", "mid", "middle/innermost/conv", "deep")
    with pytest.raises(ModelError, match="no layer named 'nope'.*catsel layers"):
        catsel.activation_model(net, layers=["nope"])
    explicit = catsel.activation_model(net, layers=["middle/innermost/deep", "conv", "middle"])
    assert explicit.layers == ("conv", "deep", "middle")  # a path, or a nested model's own output
    images = _images()
    got, _ = amodel.predict(images)
    x = images.astype("float32")
    outer_conv = net.get_layer("conv")(x)
    mid = middle.get_layer("mid")(outer_conv)
    inner = innermost.get_layer("conv")(mid)
    deep = innermost.get_layer("deep")(inner)
    for name, want in (("conv", outer_conv), ("mid", mid), ("middle/innermost/conv", inner), ("deep", deep)):
        np.testing.assert_allclose(got[name], np.asarray(want).max(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert set(catsel.network.keras.fields.receptive_fields(net)) >= {"conv", "deep", "mid", "middle/innermost/conv"}


def test_catsel_layers_lists_every_layer_with_its_default_and_where_units_are_taken(tmp_path, capsys):
    net, _ = _fine_tuned()
    net.save(tmp_path / "fine_tuned.keras")
    table = catsel.layers(str(tmp_path / "fine_tuned.keras"))
    conv1 = table.set_index("layer").loc["Conv1"]
    assert conv1["unit taken from"] == "Conv1_relu" and not conv1["default"]
    assert table.set_index("layer").loc["Conv1_relu", "default"]
    assert list(table.loc[table["default"], "layer"]) == list(catsel.activation_model(net).layers)
    assert table.set_index("layer").loc["Conv1", "receptive field"] == "3"
    assert main(["layers", str(tmp_path / "fine_tuned.keras"), "--defaults"]) == 0
    out = capsys.readouterr().out
    assert "block_16_project_BN" in out and "out_relu" in out and "captured by default" in out


# --- any input the model declares ---------------------------------------------------------------------------------

def _grey_net():
    keras.utils.set_random_seed(2)
    inp = keras.Input((20, 20, 1))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="g1")(inp)
    x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="emotion")(x))


def test_a_grayscale_model_from_a_legacy_hdf5_file_gets_pillows_grayscale(tmp_path, colour_folder):
    net = _grey_net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls HDF5 legacy
        net.save(tmp_path / "emotion.h5")
    amodel = catsel.activation_model(str(tmp_path / "emotion.h5"))
    assert amodel.channels == 1 and "grayscale" in amodel.describe()["colour"]
    folder = catsel.ImageFolder(colour_folder, image_size=20)
    acts = catsel.capture(amodel, folder, tmp_path / "out", progress=False)
    grey = np.stack([np.asarray(ImageOps.grayscale(Image.fromarray(catsel.load_image(p, 20)))) for p in folder.paths])
    plain = np.asarray(net.predict_on_batch(grey[..., None].astype("float32")))  # the same file's network
    want = keras.Model(net.inputs, net.get_layer("g1").output).predict_on_batch(grey[..., None].astype("float32"))
    np.testing.assert_array_equal(acts["g1"], np.asarray(want).max(axis=(1, 2)))
    assert plain.shape == (15, 3)
    with pytest.raises(ModelError, match="grayscale network takes 'raw'"):
        catsel.activation_model(net, preprocess="caffe")


def test_the_cli_runs_a_grayscale_model_and_says_so(tmp_path, colour_folder):
    import json

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _grey_net().save(tmp_path / "emotion.h5")
    assert main(["run", str(colour_folder), "--out", str(tmp_path / "out"), "--model",
                 str(tmp_path / "emotion.h5")]) == 0
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["colour"] == "grayscale" and record["image_size"] == 20


def _brute_force(network, shape, names):
    """For each named layer: which input rows and columns reach each unit (linear all-ones copies)."""
    h, w = shape
    pixels = h * w
    deltas = np.zeros((pixels, h, w, 1), np.float32)
    deltas[np.arange(pixels), np.arange(pixels) // w, np.arange(pixels) % w, 0] = 1.0
    graph = catsel.network.keras.graph.graph_of(network, (h, w, 1))
    outs = keras.Model(graph.inputs, [graph.node(n).output for n in names]).predict_on_batch(deltas)
    outs = outs if isinstance(outs, list) else [outs]
    return {n: np.abs(np.asarray(o)).sum(axis=-1) > 0 for n, o in zip(names, outs)}


def _linear_ones(inp):
    x = keras.layers.Conv2D(2, 3, padding="same", kernel_initializer="ones", use_bias=False, name="a")(inp)
    x = keras.layers.Conv2D(2, (1, 5), strides=2, padding="same", kernel_initializer="ones", use_bias=False,
                            name="b")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    return keras.layers.Conv2D(2, (3, 2), padding="valid", kernel_initializer="ones", use_bias=False, name="c")(x)


@pytest.mark.parametrize("declared, size", [((24, 40), None), ((None, None), 64), ((None, None), "48x96")])
def test_non_square_and_free_inputs_get_their_sizes_and_true_receptive_fields(declared, size):
    inp = keras.Input((*declared, 1))
    net = keras.Model(inp, _linear_ones(inp))
    amodel = catsel.activation_model(net, image_size=size, preprocess="raw")
    height, width = catsel.options.hw(amodel.image_size)
    assert (height, width) == ((24, 40) if size is None else (64, 64) if size == 64 else (48, 96))
    assert amodel.map_shapes["c"] == (((height + 1) // 2 + 1) // 2 - 2, ((width + 1) // 2 + 1) // 2 - 1)
    reached = _brute_force(net, (height, width), ["a", "b", "c"])
    for spec in amodel.describe()["layers"]:
        field = ReceptiveField(**spec["receptive_field"])
        hit = reached[spec["name"]]  # (pixels, rows, cols)
        rows, cols = hit.shape[1:]
        for r in sorted({0, rows // 2, rows - 1}):
            for c in sorted({0, cols // 2, cols - 1}):
                seen = np.flatnonzero(hit[:, r, c])
                assert field.box(r, c, (height, width)) == (
                    seen.min() // width, (seen % width).min(), seen.max() // width + 1, (seen % width).max() + 1
                ), (spec["name"], r, c)
    images = _images(2, (height, width))
    got, _ = amodel.predict(images)
    grey = np.stack([np.asarray(ImageOps.grayscale(Image.fromarray(i))) for i in images])[..., None]
    np.testing.assert_allclose(got["c"], np.asarray(net.predict_on_batch(grey.astype("float32"))).max(axis=(1, 2)),
                               rtol=1e-6)


def test_a_non_square_model_runs_end_to_end_with_crops_and_pictures(tmp_path, colour_folder):
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 20, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="c2")(x)
    net = keras.Model(inp, x)
    net.save(tmp_path / "wide.keras")
    result = catsel.run(colour_folder, tmp_path / "out", model=str(tmp_path / "wide.keras"), progress=False)
    acts = result.activations
    assert acts.meta.image_size == (12, 20) and acts.image(0).shape == (12, 20, 3)
    crop, box = catsel.figures.visualize.receptive_crop(acts, "c2", 0, 0)
    assert crop.shape[:2] == (box[2] - box[0], box[3] - box[1]) and box[3] <= 20 and box[2] <= 12
    picture = catsel.network.maximise.maximise(catsel.network.models.from_store(acts), "c2", 1, steps=3)
    assert picture.image.shape == (12, 20, 3)
    assert catsel.load_activations(tmp_path / "out").meta.image_size == (12, 20)
    # the filter panel (top images, crops, the picture) and the category panel, from the command
    assert main(["visualize", str(tmp_path / "out"), "--out", str(tmp_path / "filter.png"), "--layer", "c2",
                 "--unit", "0", "--steps", "3"]) == 0
    assert main(["visualize", str(tmp_path / "out"), "--out", str(tmp_path / "red.png"), "--category", "red",
                 "--top", "2", "--steps", "3", "--threshold", "0"]) == 0
    assert Image.open(tmp_path / "filter.png").size[0] > 100 and (tmp_path / "red.png").exists()


def test_a_grayscale_networks_picture_is_optimised_through_its_luma():
    net = _grey_net()
    result = catsel.network.maximise.maximise(catsel.activation_model(net, layers=["g1"]), "g1", 0, steps=12)
    assert result.image.shape == (20, 20, 3) and result.final > result.start  # the gradient passed the luma


def test_an_input_catsel_cannot_feed_is_refused_before_any_work():
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    two = keras.Model([a, b], keras.layers.Add()([keras.layers.Conv2D(2, 3)(a), keras.layers.Conv2D(2, 3)(b)]))
    with pytest.raises(ModelError, match="takes 2 inputs"):
        catsel.activation_model(two)
    inp = keras.Input((8, 8, 4))
    with pytest.raises(ModelError, match="4 channels"):
        catsel.activation_model(keras.Model(inp, keras.layers.Conv2D(2, 3)(inp)))
    seq = keras.Input((20, 3))
    with pytest.raises(ModelError, match="not images"):
        catsel.activation_model(keras.Model(seq, keras.layers.Conv1D(2, 3)(seq)))
    free = keras.Input((None, None, 3))
    with pytest.raises(ModelError, match="any size.*--image-size"):
        catsel.activation_model(keras.Model(free, keras.layers.Conv2D(2, 3)(free)))
    fixed = keras.Input((24, 40, 3))
    with pytest.raises(ModelError, match="takes 24x40 images"):
        catsel.activation_model(keras.Model(fixed, keras.layers.Conv2D(2, 3)(fixed)), image_size=32)


# --- residual blocks ----------------------------------------------------------------------------------------------

def test_resnet50_default_units_are_its_block_outputs():
    keras.utils.set_random_seed(0)
    net = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    amodel = catsel.activation_model(net, preprocess="caffe")
    names = amodel.layers
    assert not [n for n in names if n.endswith(("_3_bn", "_0_bn", "_3_conv", "_0_conv"))]
    assert [n for n in names if n.endswith("_out")] == [l.name for l in net.layers if l.name.endswith("_out")]
    assert len(names) == 1 + 16 * 3 and names[-1] == "conv5_block3_out"
    images = _images(3)
    got, _ = amodel.predict(images)
    for name in names:
        assert (got[name] >= 0).all(), name  # every block ends in a ReLU
    x = keras.applications.resnet50.preprocess_input(images.astype("float32"))
    for name in ("conv2_block1_out", "conv4_block6_out", "conv5_block3_out"):
        plain = keras.Model(net.inputs, net.get_layer(name).output).predict_on_batch(x)
        np.testing.assert_allclose(got[name], np.asarray(plain).max(axis=(1, 2)), rtol=1e-4, atol=1e-4)


def test_an_xception_style_block_passes_on_its_addition():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    residual = keras.layers.Conv2D(16, 1, strides=2, padding="same", use_bias=False, name="shortcut")(x)
    residual = keras.layers.BatchNormalization(name="shortcut_bn")(residual)
    y = keras.layers.SeparableConv2D(16, 3, padding="same", name="sep1")(x)
    y = keras.layers.BatchNormalization(name="sep1_bn")(y)
    y = keras.layers.Activation("relu", name="sep2_act")(y)
    y = keras.layers.SeparableConv2D(16, 3, padding="same", name="sep2")(y)
    y = keras.layers.BatchNormalization(name="sep2_bn")(y)
    y = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(y)
    out = keras.layers.Add(name="block_add")([y, residual])
    out = keras.layers.Activation("relu", name="block_out")(out)
    net = keras.Model(inp, keras.layers.Conv2D(4, 3, name="after")(out))
    amodel = catsel.activation_model(net)
    assert amodel.layers == ("stem_relu", "sep2_act", "block_out", "after")
    images = _images(3, (16, 16))
    got, _ = amodel.predict(images)
    plain = keras.Model(net.inputs, net.get_layer("block_out").output).predict_on_batch(images.astype("float32"))
    np.testing.assert_allclose(got["block_out"], np.asarray(plain).max(axis=(1, 2)), rtol=1e-5, atol=1e-5)
    assert (got["block_out"] >= 0).all()


def test_mobilenetv2_linear_bottlenecks_stay_linear_and_its_last_conv_is_kept():
    net = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    names = catsel.activation_model(net).layers
    assert "block_2_add" in names and "block_2_project_BN" not in names  # the block's sum: what it passes on
    assert "block_1_project_BN" in names  # no residual there: the linear bottleneck itself
    assert names[-1] == "out_relu"  # the network's last conv (its output, without the top)


# --- no raw traceback from any model ------------------------------------------------------------------------------

def _awkward(tmp_path):
    """Models a researcher might bring that catsel cannot run as they are: each a file, and what the line says."""
    made = {}
    a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    keras.Model([a, b], keras.layers.Add()([keras.layers.Conv2D(2, 3)(a), keras.layers.Conv2D(2, 3)(b)])).save(
        tmp_path / "two_inputs.keras")
    made["two_inputs.keras"] = "takes 2 inputs"
    four = keras.Input((16, 16, 4))
    keras.Model(four, keras.layers.Conv2D(2, 3)(four)).save(tmp_path / "rgba.keras")
    made["rgba.keras"] = "4 channels"
    seq = keras.Input((30, 3))
    keras.Model(seq, keras.layers.Conv1D(2, 3)(seq)).save(tmp_path / "sequence.keras")
    made["sequence.keras"] = "not images"
    free = keras.Input((None, None, 3))
    keras.Model(free, keras.layers.Conv2D(2, 3)(free)).save(tmp_path / "free.keras")
    made["free.keras"] = "any size"
    lam = keras.Input((16, 16, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.Model(lam, keras.layers.Conv2D(2, 3)(keras.layers.Lambda(lambda t: t * 2)(lam))).save(
            tmp_path / "lambda.h5")
    made["lambda.h5"] = "cannot load"
    (tmp_path / "broken.keras").write_bytes(b"PK\x03\x04 not a zip")
    made["broken.keras"] = "cannot load"
    (tmp_path / "saved_model").mkdir()
    (tmp_path / "saved_model" / "saved_model.pb").write_bytes(b"\x08\x01")
    made["saved_model"] = "TensorFlow SavedModel"
    made["missing.h5"] = "does not exist"
    return made


def test_no_awkward_model_ends_in_a_traceback(tmp_path, colour_folder, capsys):
    for name, says in _awkward(tmp_path).items():
        code = main(["run", str(colour_folder), "--out", str(tmp_path / f"out_{name}"), "--model",
                     str(tmp_path / name)])
        err = capsys.readouterr().err
        lines = [l for l in err.splitlines() if l.startswith("catsel: error:")]
        assert code == 2 and len(lines) == 1 and says in lines[0] and "Traceback" not in err, (name, err)
        assert name in lines[0] or "saved_model" in lines[0]


@pytest.mark.slow
def test_the_command_prints_no_traceback_for_awkward_models(tmp_path, colour_folder):
    import subprocess
    import sys

    _awkward(tmp_path)
    for name in ("rgba.keras", "saved_model", "free.keras"):
        proc = subprocess.run([sys.executable, "-m", "catsel", "run", str(colour_folder), "--out",
                               str(tmp_path / "out"), "--model", str(tmp_path / name)], capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert proc.stderr.strip().splitlines()[-1].startswith("catsel: error:")


def test_the_run_says_which_layers_it_captures_and_which_conv_layers_it_leaves_out(tmp_path, colour_folder, capsys):
    keras.utils.set_random_seed(4)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    y = keras.layers.Conv2D(4, 3, padding="same", name="branch")(x)
    x = keras.layers.Activation("relu", name="block_out")(keras.layers.Add(name="merge")([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inp, keras.layers.Dense(3, name="predictions")(x)).save(tmp_path / "res.keras")
    assert main(["run", str(colour_folder), "--out", str(tmp_path / "out"), "--model", str(tmp_path / "res.keras")]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Layers:")][0]
    assert line.startswith("Layers: 2 layers captured; 1 conv or dense layers feed the merge")
    assert "branch as block_out" in line and "predictions (the classifier)" in line


def test_a_fine_tuned_model_runs_end_to_end_and_its_inner_filters_can_be_drawn(tmp_path, colour_folder):
    net, _ = _fine_tuned()
    net.save(tmp_path / "fine_tuned.keras")
    assert main(["run", str(colour_folder), "--out", str(tmp_path / "out"), "--model",
                 str(tmp_path / "fine_tuned.keras")]) == 0
    acts = catsel.load_activations(tmp_path / "out")
    assert "block_2_add" in acts.layers and acts.meta.layer("block_2_add").receptive_field is not None
    assert main(["visualize", str(tmp_path / "out"), "--out", str(tmp_path / "unit.png"), "--layer", "block_2_add",
                 "--filter", "3", "--steps", "3"]) == 0
    assert (tmp_path / "unit.png").stat().st_size > 0
