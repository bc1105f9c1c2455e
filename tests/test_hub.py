"""keras-hub presets (issue: the networks studies use now): ViT, CLIP's vision tower, DINOv2 with registers and
ResNet, each built from a small configuration with random weights and saved as a preset folder, as keras-hub's
own tests build them. Nothing is downloaded."""

from __future__ import annotations

import json
import sys

import keras
import numpy as np
import pandas as pd
import pytest

keras_hub = pytest.importorskip("keras_hub")

import catsel  # noqa: E402
from catsel.apps.cli import main  # noqa: E402
from catsel.errors import ModelError  # noqa: E402
from catsel.network.models import untrained_control  # noqa: E402
from conftest import square_folder  # noqa: E402

SIZE = 32
# the image converters' values of keras-hub's CLIP and DINOv2 presets: x / 255, less the mean, over the std
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _normalising(cls, mean, std, **kwargs):
    return cls(image_size=(SIZE, SIZE), scale=[1 / (255 * s) for s in std], offset=[-m / s for m, s in zip(mean, std)],
               **kwargs)


def _vit():
    return (keras_hub.models.ViTBackbone(image_shape=(SIZE, SIZE, 3), patch_size=8, num_layers=3, num_heads=2,
                                         hidden_dim=16, mlp_dim=32),
            keras_hub.layers.ViTImageConverter(image_size=(SIZE, SIZE), scale=1 / 127.5, offset=-1.0))


def _clip():
    return (keras_hub.models.CLIPVisionEncoder(patch_size=8, hidden_dim=16, num_layers=3, num_heads=2,
                                               intermediate_dim=32, image_shape=(SIZE, SIZE, 3)),
            _normalising(keras_hub.layers.CLIPImageConverter, CLIP_MEAN, CLIP_STD))


def _dinov2():
    return (keras_hub.models.DINOV2Backbone(patch_size=8, num_layers=3, hidden_dim=16, num_heads=2,
                                            intermediate_dim=32, layer_scale_init_value=1.0, num_register_tokens=4,
                                            use_swiglu_ffn=False, image_shape=(SIZE, SIZE, 3),
                                            position_embedding_shape=(SIZE, SIZE)),
            _normalising(keras_hub.layers.DINOV2ImageConverter, IMAGENET_MEAN, IMAGENET_STD))


def _resnet():
    return (keras_hub.models.ResNetBackbone(input_conv_filters=[64], input_conv_kernel_sizes=[3],
                                            stackwise_num_filters=[64, 64], stackwise_num_blocks=[1, 1],
                                            stackwise_num_strides=[1, 2], block_type="basic_block",
                                            use_pre_activation=False, image_shape=(SIZE, SIZE, 3)),
            _normalising(keras_hub.layers.ResNetImageConverter, IMAGENET_MEAN, IMAGENET_STD))


BUILDERS = {"vit": _vit, "clip": _clip, "dinov2": _dinov2, "resnet": _resnet}


def _preset(root, kind: str, seed: int = 0):
    """A small backbone of ``kind`` with random weights and its image converter, saved as a preset folder."""
    keras.utils.set_random_seed(seed)
    backbone, converter = BUILDERS[kind]()
    folder = root / f"{kind}-preset"
    backbone.save_to_preset(str(folder))
    converter.save_to_preset(str(folder))
    return backbone, converter, folder


def _plain_blocks(kind, backbone, x):
    """Each block's output by keras-hub's own layers, called as the backbone calls them (no catsel)."""
    if kind == "clip":
        names = [layer.name for layer in backbone.encoder_layers]
        return names, keras.Model(backbone.inputs, [backbone.get_layer(n).output for n in names])(x)
    if kind == "dinov2":  # keras-hub's own pyramid outputs: stage k is block k's output
        names = [layer.name for layer in backbone.get_layer(backbone.encoder.name).layers]
        outs = keras.Model(backbone.inputs, [backbone.pyramid_outputs[f"stage{k + 1}"] for k in range(3)])(x)
        return names, outs
    # ViT: the blocks, one after the other, in the encoder's order
    encoder = next(layer for layer in backbone.layers if type(layer).__name__ == "ViTEncoder")
    embedding = next(layer for layer in backbone.layers if type(layer).__name__ == "ViTPatchingAndEmbedding")
    h = encoder.dropout(embedding(x))
    outs = []
    for block in encoder.encoder_layers:
        h = block(h)
        outs.append(h)
    return [b.name for b in encoder.encoder_layers], outs


@pytest.mark.parametrize("kind", ["vit", "clip", "dinov2"])
def test_a_hub_transformers_blocks_are_its_token_layers_with_maxima_equal_to_keras_hubs_forward(tmp_path, kind):
    _, converter, folder = _preset(tmp_path, kind)
    amodel = catsel.activation_model(f"hub:{folder}")
    backbone = amodel.network  # keras-hub's network as loaded from the folder: the same weights, no catsel
    images = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    names, outs = _plain_blocks(kind, backbone, converter(images.astype("float32")))
    assert list(amodel.layers) == names  # every block's output, nothing else, by default
    lead = {"vit": 1, "clip": 1, "dinov2": 5}[kind]  # the class token, and DINOv2's 4 registers after it
    maxima, positions = amodel.predict(images)
    for name, out in zip(names, outs):
        patches = np.asarray(out)[:, lead:]
        assert amodel.map_shapes[name] == ((SIZE // 8) ** 2,)
        np.testing.assert_allclose(maxima[name], patches.max(axis=1), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(positions[name], patches.argmax(axis=1))
    # the unfolded network computes what keras-hub's does, to its last output
    flat = amodel.graph.model(amodel.graph.outputs)(converter(images.astype("float32")))
    flat = flat[0] if isinstance(flat, (list, tuple)) else flat
    np.testing.assert_allclose(np.asarray(flat), np.asarray(backbone(converter(images.astype("float32")))),
                               rtol=1e-5, atol=1e-5)
    # the class token apart: a layer of its own, the first token
    cls = catsel.activation_model(f"hub:{folder}", layers=[f"{names[0]}[class]"])
    np.testing.assert_allclose(cls.predict(images)[0][f"{names[0]}[class]"], np.asarray(outs[0])[:, 0],
                               rtol=1e-5, atol=1e-5)
    note = amodel.layers_note()
    assert "3 are transformer blocks, each unit the maximum of a channel over the patch tokens" in note
    assert ("4 register tokens" in note) == (kind == "dinov2")


def test_a_hub_resnet_follows_the_default_layer_rule_and_equals_keras_hub(tmp_path):
    _, converter, folder = _preset(tmp_path, "resnet")
    amodel = catsel.activation_model(f"hub:{folder}")
    backbone = amodel.network
    assert list(amodel.layers) == ["conv1_relu", "stack0_block0_1_relu", "stack0_block0_out", "stack1_block0_1_relu",
                                   "stack1_block0_out"]
    images = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    plain = keras.Model(backbone.inputs, [backbone.get_layer(n).output for n in amodel.layers])(
        converter(images.astype("float32")))
    maxima, _ = amodel.predict(images)
    for name, out in zip(amodel.layers, plain):
        np.testing.assert_allclose(maxima[name], np.asarray(out).max(axis=(1, 2)), rtol=1e-5, atol=1e-5)
        assert (maxima[name] >= 0).all()  # after their activation


@pytest.mark.parametrize("kind", ["clip", "dinov2"])
def test_catsels_input_is_the_image_converters_output(tmp_path, kind):
    _, converter, folder = _preset(tmp_path, kind)
    amodel = catsel.activation_model(f"hub:{folder}")
    assert amodel.preprocess.startswith("converter(") and amodel.image_size == SIZE
    front = keras.Model(amodel.keras_model.inputs, amodel.keras_model.get_layer("catsel_preprocess").output)
    images = np.random.default_rng(2).integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
    np.testing.assert_allclose(np.asarray(front(images)), np.asarray(converter(images)), rtol=0, atol=1e-6)
    # and through catsel's decoding of files: the converter of the very pixels catsel feeds
    folder_images = square_folder(tmp_path / "data", {"a": 2, "b": 2}, seed=0, noise=200, box=(2, 6, 2, 6), value=250,
                                  size=SIZE)
    decoded = np.stack([catsel.load_image(p, SIZE) for p in sorted(folder_images.rglob("*.png"))])
    np.testing.assert_allclose(np.asarray(front(decoded)), np.asarray(converter(decoded)), rtol=0, atol=1e-6)


def test_a_preset_folder_runs_offline_and_the_run_says_how_it_fed_the_network(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("catsel.network.hub.preset.reachable", lambda *a, **k: pytest.fail("no host is asked for a folder"))
    _, _, folder = _preset(tmp_path, "vit")
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 6), seed=0, noise=60, box=(8, 24, 8, 24),
                         value=220, size=SIZE)
    assert main(["layers", f"hub:{folder}"]) == 0
    listed = capsys.readouterr().out
    assert "transformer_block_1[class]" in listed and "class token" in listed
    assert main(["run", str(data), "--out", str(tmp_path / "out"), "--model", f"hub:{folder}", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "image converter" in printed
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["model"] == f"hub:{folder.name}" and record["preprocess"].startswith("converter(scale=[")
    assert list(pd.read_csv(tmp_path / "out" / "layer_summary.csv")["layer"].unique()) == [
        "transformer_block_1", "transformer_block_2", "transformer_block_3"]


def test_a_preset_neither_cached_nor_reachable_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("catsel.network.hub.preset.reachable", lambda *a, **k: False)
    with pytest.raises(ModelError) as caught:
        catsel.activation_model("hub:clip_vit_base_patch16")
    text = str(caught.value)
    assert "\n" not in text and "hub:clip_vit_base_patch16" in text and str(tmp_path / "empty-cache") in text
    assert "--model hub:FOLDER" in text
    assert main(["layers", "hub:dinov2_base"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "hub:dinov2_base is not in keras-hub's cache" in err
    with pytest.raises(ModelError, match="no keras-hub preset"):
        catsel.activation_model("hub:no_such_preset_anywhere")
    for handle in ("kaggle://keras/vit/keras/vit_base_patch16_224_imagenet/3", "hf://google/vit-base-patch16-224"):
        with pytest.raises(ModelError, match=f"hub:{handle} is not in keras-hub's cache"):
            catsel.activation_model(f"hub:{handle}")


def test_the_probe_of_a_presets_host_gives_up_on_a_name_that_does_not_resolve():
    from catsel.network.online import reachable

    assert reachable("catsel-preset-host.invalid", timeout=2) is False  # RFC 6761: never resolves


def test_without_keras_hub_a_hub_name_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    with pytest.raises(ModelError, match=r"catsel\[hub\]"):
        catsel.activation_model("hub:vit_base_patch16_224_imagenet")


def test_the_untrained_control_of_a_preset_is_its_configuration_re_initialised(tmp_path):
    _, _, folder = _preset(tmp_path, "clip")
    trained = catsel.activation_model(f"hub:{folder}")
    untrained = catsel.activation_model(f"hub:{folder}", weights="none", seed=3)
    again = catsel.activation_model(f"hub:{folder}", weights="none", seed=3)
    control = untrained_control(trained, seed=3)
    assert not untrained.trained and not control.trained and "untrained" in untrained.weights_label
    assert untrained.digest() == again.digest() != trained.digest()
    assert control.digest() != trained.digest() and control.layers == trained.layers
    assert type(control.network) is type(trained.network)
    with pytest.raises(ModelError, match="carries its weights in its preset"):
        catsel.activation_model(f"hub:{folder}", weights=str(tmp_path / "w.weights.h5"))


def test_a_lesion_and_a_comparison_run_on_a_hub_vit_beside_a_keras_applications_cnn(tmp_path, capsys):
    _, _, folder = _preset(tmp_path, "vit")
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green", "blue"], 8), seed=0, noise=60,
                         box=(8, 24, 8, 24), value=220, size=SIZE)
    assert main(["run", str(data), "--out", str(tmp_path / "vit"), "--model", f"hub:{folder}", "--no-progress"]) == 0
    assert main(["run", str(data), "--out", str(tmp_path / "vgg"), "--model", "vgg16", "--weights", "none",
                 "--image-size", str(SIZE), "--layers", "block1_conv2,block2_conv2,block3_conv3",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["lesion", str(tmp_path / "vit"), "--category", "red", "--layer", "transformer_block_1",
                 "--units", "top:2", "--repeats", "3"]) == 0
    printed = capsys.readouterr().out
    assert "units of transformer_block_1" in printed
    table = pd.read_csv(tmp_path / "vit" / "lesion-red" / "lesion.csv")
    assert set(table["scored_category"]) == {"red", "green", "blue"}
    assert main(["compare", str(tmp_path / "vit"), str(tmp_path / "vgg"), "--out", str(tmp_path / "cmp")]) == 0
    compared = pd.read_csv(tmp_path / "cmp.csv")
    assert set(compared["network"]) == {f"hub:{folder.name} (the preset's weights)",
                                        "vgg16 (untrained (random init, seed 0))"}
    assert (tmp_path / "cmp").exists()


def test_pictures_and_the_unit_explorer_work_on_a_hub_networks_token_units(tmp_path):
    from catsel.apps import widgets

    _, _, folder = _preset(tmp_path, "dinov2")
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 6), seed=1, noise=60, box=(8, 24, 8, 24),
                         value=220, size=SIZE)
    assert main(["run", str(data), "--out", str(tmp_path / "out"), "--model", f"hub:{folder}", "--no-progress"]) == 0
    acts = catsel.load_activations(tmp_path / "out")
    block = acts.layers[1]
    assert acts.meta.layer(block).receptive_field is None  # a token sees the whole image: top images whole
    assert main(["visualize", str(tmp_path / "out"), "--out", str(tmp_path / "unit.png"), "--layer", block,
                 "--filter", "2", "--steps", "3"]) == 0
    assert (tmp_path / "unit.png").stat().st_size > 0
    explorer = widgets.explore_units(acts, catsel.selectivity(acts), layer=block, unit=2, k=3)
    assert list(explorer.top_rows) == list(np.argsort(-acts[block][:, 2], kind="stable")[:3])


def test_a_preset_without_an_image_converter_asks_for_its_preprocessing(tmp_path):
    keras.utils.set_random_seed(0)
    backbone, _ = _vit()
    backbone.save_to_preset(str(tmp_path / "bare"))
    with pytest.raises(ModelError, match="without an image converter.*--preprocess"):
        catsel.activation_model(f"hub:{tmp_path / 'bare'}")
    assert catsel.activation_model(f"hub:{tmp_path / 'bare'}", preprocess="tf").preprocess == "tf"


def test_a_store_whose_preset_folder_changed_is_not_rebuilt_from_it(tmp_path):
    from catsel.network.models import from_store

    _, _, folder = _preset(tmp_path, "vit")
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 4), seed=0, noise=60, box=(8, 24, 8, 24),
                         value=220, size=SIZE)
    catsel.run(data, tmp_path / "out", model=f"hub:{folder}", progress=False)
    acts = catsel.load_activations(tmp_path / "out")
    assert from_store(acts).digest() == acts.meta.network_digest  # rebuilt from the folder, offline
    keras.utils.set_random_seed(9)  # another network saved over the preset
    other, _ = _vit()
    other.save_to_preset(str(folder))
    with pytest.raises(ModelError, match="preset folder .* is not there as it was"):
        from_store(acts)


def test_a_clip_preset_gives_its_vision_tower_alone(tmp_path):
    keras.utils.set_random_seed(0)
    vision, converter = _clip()
    text = keras_hub.models.CLIPTextEncoder(vocabulary_size=50, embedding_dim=16, hidden_dim=16, num_layers=2,
                                            num_heads=2, intermediate_dim=32, max_sequence_length=8)
    clip = keras_hub.models.CLIPBackbone(vision_encoder=vision, text_encoder=text, projection_dim=8)
    clip.save_to_preset(str(tmp_path / "clip"))
    converter.save_to_preset(str(tmp_path / "clip"))
    amodel = catsel.activation_model(f"hub:{tmp_path / 'clip'}")
    assert type(amodel.network).__name__ == "CLIPVisionEncoder"
    assert len(amodel.layers) == 3 and all("encoder_block" in name for name in amodel.layers)
    images = np.random.default_rng(3).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    blocks = keras.Model(amodel.network.inputs, [amodel.network.get_layer(n).output for n in amodel.layers])(
        converter(images.astype("float32")))
    maxima, _ = amodel.predict(images)
    for name, out in zip(amodel.layers, blocks):
        np.testing.assert_allclose(maxima[name], np.asarray(out)[:, 1:].max(axis=1), rtol=1e-5, atol=1e-5)


def _resnet_of(blocks, width=64):
    return keras_hub.models.ResNetBackbone(input_conv_filters=[64], input_conv_kernel_sizes=[3],
                                           stackwise_num_filters=[64, width], stackwise_num_blocks=blocks,
                                           stackwise_num_strides=[1, 2], block_type="basic_block",
                                           use_pre_activation=False, image_shape=(SIZE, SIZE, 3))


def test_a_preset_without_an_image_converter_is_listed_without_a_pixel_scale(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    folder = tmp_path / "bare"
    _resnet_of([1, 1]).save_to_preset(str(folder))
    table = catsel.layers(f"hub:{folder}")
    assert table["default"].sum() >= 4 and table.loc[table["default"], "layer"].iloc[0].startswith("conv1")
    assert main(["layers", f"hub:{folder}"]) == 0
    assert "stack1_block0" in capsys.readouterr().out
    with pytest.raises(ModelError, match="--preprocess"):  # a capture still needs the scale
        catsel.activation_model(f"hub:{folder}")


def test_a_damaged_image_converter_is_named_as_damaged_not_absent(tmp_path):
    _, _, folder = _preset(tmp_path, "vit")
    (folder / "image_converter.json").write_text('{"class_name": "ViTImageConverter", "config": {"scale"')
    with pytest.raises(ModelError, match=r"image_converter.json is damaged") as caught:
        catsel.activation_model(f"hub:{folder}")
    assert "--preprocess" in str(caught.value) and "\n" not in str(caught.value)


def test_a_preset_with_another_configurations_weights_is_refused_before_anything_is_captured(tmp_path):
    import shutil

    keras.utils.set_random_seed(0)
    shallow, deep, wide = tmp_path / "shallow", tmp_path / "deep", tmp_path / "wide"
    _resnet_of([1, 1]).save_to_preset(str(shallow))
    _resnet_of([2, 1]).save_to_preset(str(deep))  # one block more, of the same widths
    _resnet_of([1, 1], width=128).save_to_preset(str(wide))
    keras_hub.layers.ResNetImageConverter(image_size=(SIZE, SIZE), scale=1 / 255).save_to_preset(str(shallow))
    assert catsel.activation_model(f"hub:{shallow}").trained  # its own weights load
    shutil.copy(deep / "model.weights.h5", shallow / "model.weights.h5")
    with pytest.raises(ModelError, match=r"model.weights.h5 holds 40 arrays and the preset's configuration makes 30"
                                         r"; it belongs to another configuration"):
        catsel.activation_model(f"hub:{shallow}")
    shutil.copy(wide / "model.weights.h5", shallow / "model.weights.h5")
    with pytest.raises(ModelError, match=r"arrays of shapes the preset's configuration does not make"):
        catsel.activation_model(f"hub:{shallow}")
    assert catsel.activation_model(f"hub:{shallow}", "none").layers  # its configuration alone still builds


def test_an_image_converter_with_a_nan_scale_is_refused_before_any_capture(tmp_path):
    _, _, folder = _preset(tmp_path, "vit")
    config = json.loads((folder / "image_converter.json").read_text())
    config["config"]["scale"] = float("nan")
    (folder / "image_converter.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"image converter's scale or offset holds NaN or infinite values"):
        catsel.activation_model(f"hub:{folder}")


def test_a_preset_whose_weights_hold_nan_is_refused_naming_the_variable_before_any_capture(tmp_path):
    """Issue #49: non-finite weights ran the whole capture, then said "the store is damaged", forever."""
    import h5py

    keras.utils.set_random_seed(0)
    folder = tmp_path / "nan"
    _resnet_of([1, 1]).save_to_preset(str(folder))
    keras_hub.layers.ResNetImageConverter(image_size=(SIZE, SIZE), scale=1 / 255).save_to_preset(str(folder))
    with h5py.File(folder / "model.weights.h5", "r+") as f:
        kernels = []
        f.visititems(lambda name, obj: kernels.append(name) if isinstance(obj, h5py.Dataset) and
                     len(obj.shape) == 4 else None)
        data = f[kernels[0]][...]
        data.flat[0] = np.nan
        f[kernels[0]][...] = data
    with pytest.raises(ModelError, match=r"hub:.*nan: the weights '.*' hold NaN or infinite values") as caught:
        catsel.activation_model(f"hub:{folder}")
    assert "\n" not in str(caught.value)
    assert catsel.activation_model(f"hub:{folder}", "none").layers  # the configuration alone, re-initialised


def test_a_saved_keras_model_holding_nan_is_refused_naming_the_variable(tmp_path):
    from helpers import small_cnn

    net = small_cnn(size=12)
    kernel = net.layers[1].get_weights()
    kernel[0].flat[3] = np.inf
    net.layers[1].set_weights(kernel)
    net.save(tmp_path / "net.keras")
    with pytest.raises(ModelError, match=r"net.keras: the weights '.*' hold NaN or infinite values"):
        catsel.activation_model(str(tmp_path / "net.keras"))
