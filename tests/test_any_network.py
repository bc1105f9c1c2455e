"""Any Keras model runs, whatever its layer names (issue: any network, done right)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import catsel


def _sequential():
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="relu"),
    ])


def _residual():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    y = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.Add()([x, y])
    y = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Concatenate()([x, y])
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3)(x))


@pytest.mark.parametrize("build", [_sequential, _residual])
def test_models_with_default_layer_names_are_captured(build, colour_folder, tmp_path):
    net = build()
    amodel = catsel.activation_model(net, preprocess="tf")
    acts = catsel.capture(amodel, catsel.ImageFolder(colour_folder, image_size=16), tmp_path, progress=False)
    images = np.stack([catsel.load_image(p, 16) for p in catsel.ImageFolder(colour_folder, image_size=16).paths])
    for layer in amodel.layers:  # each layer's maxima are those of the network's own output of that layer
        probe = keras.Model(net.inputs, net.get_layer(layer).output)
        out = np.asarray(probe.predict_on_batch(images.astype("float32") / 127.5 - 1))
        expected = out.max(axis=tuple(range(1, out.ndim - 1))) if out.ndim > 2 else out
        np.testing.assert_allclose(acts[layer], expected, rtol=1e-5, atol=1e-6)


SAVED = """
import sys
sys.path.insert(0, sys.argv[4])
import catsel
from test_any_network import _residual, _sequential
if sys.argv[5] == "save":  # in a session of its own: the layers get Keras' first default names
    {"sequential": _sequential, "residual": _residual}[sys.argv[6]]().save(sys.argv[1])
else:
    acts = catsel.capture(catsel.activation_model(sys.argv[1]), catsel.ImageFolder(sys.argv[2], image_size=16),
                          sys.argv[3], progress=False)
    print("captured", len(acts), ",".join(acts.layers))
"""


@pytest.mark.parametrize("build", ["sequential", "residual"])
def test_a_saved_model_with_default_names_runs_in_a_new_session(build, colour_folder, tmp_path):
    """A new session numbers catsel's own layers and operations from zero again, as Keras numbered the saved
    model's: "max_pooling2d" or "add" was then used twice."""
    path = tmp_path / "net.keras"
    for step in ("save", "capture"):
        proc = subprocess.run([sys.executable, "-c", SAVED, str(path), str(colour_folder), str(tmp_path / "out"),
                               str(Path(__file__).parent), step, build], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "captured 15" in proc.stdout


def _tiny(rescaling: bool):
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inp) if rescaling else inp
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(2, name="fc")(x))


@pytest.mark.parametrize("rescaling, expected", [(True, "into the model's own Rescaling layer"),
                                                 (False, "give its preprocessing")])
def test_the_run_states_what_a_saved_model_receives(rescaling, expected, colour_folder, tmp_path, capsys):
    from catsel.apps.cli import main

    path = tmp_path / "net.keras"
    _tiny(rescaling).save(path)
    assert main(["run", str(colour_folder), "--out", str(tmp_path / "out"), "--model", str(path),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    record = catsel.load_run(tmp_path / "out").record
    assert record["preprocessing"].startswith("raw (pixel values 0-255") and expected in record["preprocessing"]
    assert f"Preprocessing: {record['preprocessing']}" in out
    if rescaling:  # the model scales its pixels itself: asking catsel to scale them too is refused
        with pytest.raises(catsel.ModelError, match="would scale the pixels twice"):
            catsel.run(colour_folder, tmp_path / "asked", model=str(path), preprocess="tf", progress=False)
        assert main(["run", str(colour_folder), "--out", str(tmp_path / "asked"), "--model", str(path),
                     "--preprocess", "tf", "--no-progress"]) == 2
        assert "twice" in capsys.readouterr().err
    else:
        result = catsel.run(colour_folder, tmp_path / "asked", model=str(path), preprocess="tf", progress=False)
        assert result.record["preprocessing"] == "tf (pixels scaled to -1..1), as asked"


def _conv_bn_relu():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="a_conv")(inp)
    x = keras.layers.BatchNormalization(name="a_bn")(x)
    x = keras.layers.ReLU(name="a_relu")(x)
    y = keras.layers.Conv2D(4, 3, padding="same", name="b_conv")(x)
    y = keras.layers.BatchNormalization(name="b_bn")(y)
    x = keras.layers.Activation("relu", name="b_out")(keras.layers.Add(name="b_add")([x, y]))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(5, name="d")(x)
    x = keras.layers.Activation("relu", name="d_relu")(x)
    net = keras.Model(inp, keras.layers.Dense(2, name="out")(x))
    rng = np.random.default_rng(3)
    for layer in net.layers:  # batch norms that change the order of the maxima (negative scales)
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.normal(size=gamma.shape), rng.normal(size=beta.shape), mean, var + 1])
    return net


def test_units_are_captured_after_their_normalisation_and_activation(colour_folder, tmp_path):
    net = _conv_bn_relu()
    amodel = catsel.activation_model(net, preprocess="tf")
    # the ReLU after a conv and its batch norm; a residual branch's conv gives the block's output (the merge
    # and its activation), not its batch norm before the addition; a dense's activation
    assert amodel.layers == ("a_relu", "b_out", "d_relu")
    folder = catsel.ImageFolder(colour_folder, image_size=16)
    acts = catsel.capture(amodel, folder, tmp_path, progress=False)
    assert (acts["a_relu"] >= 0).all() and (acts["b_out"] >= 0).all() and (acts["d_relu"] >= 0).all()
    images = np.stack([catsel.load_image(p, 16) for p in folder.paths]).astype("float32") / 127.5 - 1
    for layer in amodel.layers:
        out = np.asarray(keras.Model(net.inputs, net.get_layer(layer).output).predict_on_batch(images))
        expected = out.max(axis=(1, 2)) if out.ndim == 4 else out
        np.testing.assert_allclose(acts[layer], expected, rtol=1e-5, atol=1e-6)
    explicit = catsel.activation_model(net, preprocess="tf", layers=["a_conv"])  # any layer by name, still
    assert explicit.layers == ("a_conv",)


def test_a_vision_transformer_runs_end_to_end_with_its_class_token_apart(colour_folder, tmp_path):
    from helpers import small_vit

    network = small_vit(size=16, patch=4)
    network.save(tmp_path / "vit.keras")
    result = catsel.run(colour_folder, tmp_path / "out", model=str(tmp_path / "vit.keras"), image_size=16,
                        progress=False)
    acts = result.activations
    dense = [l for l in network.layers if isinstance(l, keras.layers.Dense)][:-1]  # the head is the output
    # each MLP's first dense layer; its second one feeds the residual addition, so the block's output stands for
    # it (for the last block, after the layer norm that alone follows the addition)
    adds = [l.name for l in network.layers if isinstance(l, keras.layers.Add)][1::2]
    final_norm = [l.name for l in network.layers if isinstance(l, keras.layers.LayerNormalization)][-1]
    expected = [dense[0].name, adds[0], dense[2].name, final_norm]
    assert [l for l in acts.layers if l in set(expected)] == expected
    assert not {dense[1].name, dense[3].name} & set(acts.layers)
    first = dense[0].name
    assert acts.map_shape(first) == (16,)  # 16 patch tokens; the class token is not among them
    # a unit's value is its maximum over the patch tokens: computed here with Keras directly
    probe = keras.Model(network.inputs, network.get_layer(first).output)
    images = np.stack([acts.image(i) for i in range(len(acts))]).astype("float32")
    tokens = np.asarray(probe.predict_on_batch(images))  # (N, 17, C): the class token first
    np.testing.assert_allclose(acts[first], tokens[:, 1:].max(axis=1), rtol=1e-5, atol=1e-5)
    assert not np.allclose(tokens[:, 0], tokens[:, 1:].max(axis=1))
    assert acts.meta.layer(first).receptive_field is None  # every token sees the whole image
    assert (tmp_path / "out" / "selectivity.csv").exists() and (tmp_path / "out" / "layer_proportions.png").exists()
    assert set(result.summary["layer"].astype(str)) >= set(expected)

    # the class token, as its own units, on request
    amodel = catsel.activation_model(str(tmp_path / "vit.keras"), layers=[f"{first}[class]", first])
    both = catsel.capture(amodel, catsel.ImageFolder(colour_folder, image_size=16), tmp_path / "cls", progress=False)
    np.testing.assert_allclose(both[f"{first}[class]"], tokens[:, 0], rtol=1e-5, atol=1e-5)
    assert both.map_shape(f"{first}[class]") is None


@pytest.mark.slow
def test_convnext_stem_and_downsampling_blocks_are_captured_by_default():
    amodel = catsel.activation_model("convnexttiny", "none", image_size=32)
    # stem + 3 downsampling blocks, models of their own: walked, each block's output captured under the name of
    # its last layer (the stem's layer norm, a downsampling conv)
    nested = [l.layers[-1].name for l in amodel.network.layers if isinstance(l, keras.Model)]
    assert len(nested) == 4 and all(name in amodel.layers for name in nested)
    assert all(amodel.map_shapes[name] is not None for name in nested)
    assert "convnext_tiny_stage_0_block_0_pointwise_conv_2" not in amodel.layers  # its block's addition instead
    fields = {name: amodel.describe()["layers"][amodel.layers.index(name)]["receptive_field"] for name in nested}
    assert fields[nested[0]]["size"] == 4 and fields[nested[0]]["jump"] == 4  # the 4x4 patchify stem
