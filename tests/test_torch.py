"""PyTorch networks as they are (issue: PyTorch networks): torchvision and timm models and any torch.nn.Module,
read by forward hooks, with random weights and nothing downloaded."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
from catsel.network.torch.network import without_triton  # noqa: E402

without_triton()  # before torchvision: Triton's LLVM after TensorFlow's ends the process (see the function)
torchvision = pytest.importorskip("torchvision")

import catsel  # noqa: E402
from catsel.apps.cli import main  # noqa: E402
from catsel.errors import ModelError  # noqa: E402
from conftest import square_folder  # noqa: E402

SIZE = 64


def _images(n=3, size=SIZE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
def test_torchvision_maxima_and_positions_equal_a_plain_forward_bit_for_bit(name):
    from torchvision.models.feature_extraction import create_feature_extractor

    net = catsel.activation_model(f"torchvision:{name}", "none", image_size=SIZE)
    images = _images()
    maxima, positions = net.predict(images)
    # the same module's outputs by torchvision's own feature extractor (a traced graph, no hooks), no_grad
    # a unit taken after an activation module its block calls twice (layer1.0.bn1+relu) is that module's first
    # call in torchvision's traced graph (layer1.0.relu; the second is layer1.0.relu_1)
    nodes = {layer: layer.split("+")[0].rsplit(".", 1)[0] + "." + layer.split("+")[1] if "+" in layer else layer
             for layer in net.layers}
    plain = create_feature_extractor(net.module, return_nodes=list(nodes.values())).eval()
    with torch.no_grad():
        outs = plain(net.prepare(torch.from_numpy(images)))
    for layer in net.layers:
        out = outs[nodes[layer]]
        if out.ndim == 4:
            flat = out.flatten(2)
            np.testing.assert_array_equal(maxima[layer], flat.amax(2).numpy())
            np.testing.assert_array_equal(positions[layer], flat.argmax(2).numpy())
            assert net.map_shapes[layer] == tuple(out.shape[2:])
        else:
            np.testing.assert_array_equal(maxima[layer], out.numpy())


def test_vgg16s_defaults_are_its_convs_and_fcs_after_their_relus_and_resnet18s_its_block_outputs():
    vgg = catsel.activation_model("torchvision:vgg16", "none", image_size=SIZE)
    relus = [f"features.{k}" for k in (1, 3, 6, 8, 11, 13, 15, 18, 20, 22, 25, 27, 29)]
    assert list(vgg.layers) == relus + ["classifier.1", "classifier.4"]  # the classifier.6 logits left out
    resnet = catsel.activation_model("torchvision:resnet18", "none", image_size=SIZE)
    # each block's first conv after its batch norm and the block's ReLU (called twice, so applied by the hook);
    # its second conv feeds the residual addition: the block's output
    blocks = [name for i in range(1, 5) for j in range(2) for name in (f"layer{i}.{j}.bn1+relu", f"layer{i}.{j}")]
    assert list(resnet.layers) == ["relu"] + blocks
    maxima, _ = resnet.predict(_images())
    assert all((maxima[layer] >= 0).all() for layer in resnet.layers)  # block outputs, after their ReLU
    table = catsel.layers("torchvision:resnet18", image_size=SIZE).set_index("layer")
    assert table.loc["layer1.0.conv2", "unit taken from"] == "layer1.0"  # into the residual addition
    assert table.loc["layer2.0.downsample.0", "unit taken from"] == "layer2.0"
    assert table.loc["layer1.0.conv1", "unit taken from"] == "layer1.0.bn1+relu"
    assert table.loc["layer1.0.relu", "calls"] == 2 and not table.loc["layer1.0.relu", "default"]
    assert not table.loc["fc", "default"]
    assert "conv or linear modules feed the merge of a residual block" in resnet.layers_note()
    with pytest.raises(ModelError, match="runs 2 times"):
        catsel.activation_model("torchvision:resnet18", "none", ["layer1.0.relu"], image_size=SIZE)


def test_a_timm_vit_has_its_blocks_as_token_layers_with_class_and_register_tokens_apart():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                            reg_tokens=4)
    net = catsel.activation_model(vit, image_size=32, preprocess="tf", layers=None)
    assert list(net.layers) == ["blocks.0", "blocks.1"]
    assert net.map_shapes["blocks.0"] == (16,)  # 4 x 4 patches: the class token and 4 registers left out
    images = _images(size=32)
    maxima, positions = net.predict(images)
    with torch.no_grad():
        tokens = vit.forward_intermediates(net.prepare(torch.from_numpy(images)), indices=[0, 1],
                                           return_prefix_tokens=True, norm=False, output_fmt="NLC",
                                           intermediates_only=True)
    for layer, (patches, prefix) in zip(net.layers, tokens):
        np.testing.assert_allclose(maxima[layer], patches.amax(1).numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(positions[layer], patches.argmax(1).numpy())
        assert prefix.shape[1] == 5
    cls = catsel.activation_model(vit, image_size=32, preprocess="tf", layers=["blocks.1[class]"])
    np.testing.assert_allclose(cls.predict(images)[0]["blocks.1[class]"], tokens[1][1][:, 0].numpy(), rtol=1e-6,
                               atol=1e-6)
    assert "4 register tokens" in net.layers_note()
    from catsel.network.models import untrained_control

    control = untrained_control(net, seed=2)  # drawn again, the parameters no module resets too
    assert not control.trained and not torch.equal(control.module.cls_token.cpu(), vit.cls_token.cpu())
    assert not torch.equal(control.module.blocks[0].attn.qkv.weight.cpu(), vit.blocks[0].attn.qkv.weight.cpu())
    assert torch.equal(control.module.norm.weight.cpu(), torch.ones(192))  # a norm as its constructor makes it


def test_a_keras_vgg16_and_a_torchvision_vgg16_with_the_same_weights_give_the_same_maxima():
    import keras

    tv = torchvision.models.vgg16(weights=None).eval()
    kv = keras.applications.VGG16(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    convs = [m for m in tv.features if isinstance(m, torch.nn.Conv2d)]
    kconvs = [l for l in kv.layers if isinstance(l, keras.layers.Conv2D)]
    for t, k in zip(convs, kconvs):  # a torch kernel (out, in, h, w) is Keras' (h, w, in, out)
        k.set_weights([t.weight.detach().permute(2, 3, 1, 0).numpy(), t.bias.detach().numpy()])
    keras_net = catsel.activation_model(kv, preprocess="torch")
    torch_net = catsel.activation_model(tv, image_size=SIZE, preprocess="torch",
                                        layers=[f"features.{k}" for k in (1, 3, 6, 8, 11, 13, 15, 18, 20, 22, 25, 27,
                                                                         29)])
    images = _images(4)
    km, kp = keras_net.predict(images)
    tm, tp = torch_net.predict(images)
    assert len(keras_net.layers) == len(torch_net.layers) == 13
    for kl, tl in zip(keras_net.layers, torch_net.layers):
        np.testing.assert_allclose(km[kl], tm[tl], rtol=1e-4, atol=1e-4 * np.abs(km[kl]).max())
        assert (kp[kl] == tp[tl]).mean() > 0.98  # the same positions, ties and last bits aside
        assert keras_net.describe()["layers"][keras_net.layers.index(kl)]["receptive_field"] == \
            torch_net.describe()["layers"][torch_net.layers.index(tl)]["receptive_field"]


def _planted_module(size=12):
    """det: 1x1 detectors of red, green, blue (and a silent unit); pass: each as it is; out: their global maxima."""
    det, merge, out = torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 3, 1), torch.nn.Linear(3, 3)
    net = torch.nn.Sequential(det, torch.nn.ReLU(), merge, torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), out)
    with torch.no_grad():
        w = torch.zeros(4, 3, 1, 1)
        for unit in range(3):
            w[unit, :, 0, 0] = -1.0 / 255
            w[unit, unit, 0, 0] = 1.0 / 255
        det.weight.copy_(w)
        det.bias.zero_()
        m = torch.zeros(3, 4, 1, 1)
        for unit in range(3):
            m[unit, unit, 0, 0] = 1.0
        merge.weight.copy_(m)
        merge.bias.zero_()
        out.weight.copy_(torch.eye(3))
        out.bias.zero_()
    return net


def test_a_lesion_of_a_planted_torch_module_drops_red_only(tmp_path):
    from catsel import lesion

    size = 12
    rng = np.random.default_rng(0)
    from conftest import write_image

    colours = {"red": (220, 0, 0), "green": (0, 220, 0), "blue": (0, 0, 220), "none": None}
    for name, rgb in colours.items():
        for i in range(12):
            img = rng.integers(60, 120, size=(size, size, 1)).repeat(3, axis=2)
            if rgb is not None:
                y, x = rng.integers(0, size - 4, 2)
                img[y:y + 4, x:x + 4] = rgb
            write_image(tmp_path / "data" / name / f"{i:02d}.png", img)
    net = _planted_module(size)
    result = catsel.run(tmp_path / "data", tmp_path / "out", model=net, preprocess="raw", image_size=size,
                        layers=["1", "2", "5"], progress=False)
    table = lesion(result, "red", layer="1", units="top:1", repeats=5, model=net).set_index("scored_category")
    assert table.loc["red", "drop_selected"] > 0.6
    assert table.drop(index="red")["drop_selected"].abs().max() < 0.2


def test_resnet18s_receptive_fields_hold_what_the_gradient_reaches(tmp_path):
    net = catsel.activation_model("torchvision:resnet18", "none", image_size=SIZE)
    fields = {d["name"]: d["receptive_field"] for d in net.describe()["layers"]}
    assert fields["relu"] == {"size": 7.0, "jump": 2.0, "start": 0.0}  # the 7x7 stride-2 stem, padding 3
    from catsel.network.receptive import ReceptiveField

    module = net.module
    for layer in ("relu", "layer1.0", "layer2.1", "layer3.0"):
        field = ReceptiveField(**fields[layer])
        got = []
        handle = dict(module.named_modules())[layer].register_forward_hook(lambda m, a, o: got.append(o))
        reached = np.zeros((SIZE, SIZE), bool)
        for seed in range(4):  # brute force: which pixels move the centre unit's output, over random images
            x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed), requires_grad=True)
            got.clear()
            module(x)
            out = got[0]
            row, col = out.shape[2] // 2, out.shape[3] // 2
            out[0, :, row, col].sum().backward()
            reached |= (x.grad.abs().sum(1)[0] > 0).numpy()
        handle.remove()
        top, left, bottom, right = field.box(row, col, SIZE)
        rows, cols = np.nonzero(reached)
        assert rows.min() >= top and rows.max() < bottom and cols.min() >= left and cols.max() < right
        # and the field is no wider than the pixels reached, but for the max pool's unreached corners
        assert (rows.max() - rows.min() + 1) >= 0.75 * (bottom - top)


def test_a_state_dict_file_is_loaded_with_weights_only_and_a_pickled_object_is_refused(tmp_path):
    torch.manual_seed(5)
    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "resnet18.pt")
    net = catsel.activation_model("torchvision:resnet18", str(tmp_path / "resnet18.pt"), image_size=SIZE)
    assert net.trained and net.rebuild["weights_sha256"]
    for key, value in source.state_dict().items():
        assert torch.equal(net.module.state_dict()[key].cpu(), value)
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pt")  # a module object, pickled
    with pytest.raises(ModelError) as caught:
        catsel.activation_model("torchvision:resnet18", str(tmp_path / "pickled.pt"), image_size=SIZE)
    assert "weights_only=True" in str(caught.value) and "\n" not in str(caught.value)


def test_a_state_dict_holding_nan_is_refused_before_any_capture_naming_the_tensor(tmp_path):
    torch.manual_seed(5)
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["layer2.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "diverged.pt")
    with pytest.raises(ModelError, match=r"the tensor 'layer2.0.conv1.weight' holds NaN or infinite values") as caught:
        catsel.activation_model("torchvision:resnet18", str(tmp_path / "diverged.pt"), image_size=SIZE)
    assert "damaged store" not in str(caught.value) and "\n" not in str(caught.value)


def test_auto_weights_out_of_reach_run_the_untrained_network_loudly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr("catsel.network.torch.build.reachable", lambda *a, **k: False)
    net = catsel.activation_model("torchvision:vgg16", "auto", image_size=SIZE)
    assert not net.trained and "download.pytorch.org" in net.fallback_reason
    assert "RUNNING THE UNTRAINED NETWORK" in capsys.readouterr().err
    with pytest.raises(ModelError, match="cannot be reached"):
        catsel.activation_model("torchvision:vgg16", "pretrained", image_size=SIZE)


def test_a_missing_library_or_name_is_one_line(monkeypatch):
    with pytest.raises(ModelError, match="torchvision has no model 'vgg17'"):
        catsel.activation_model("torchvision:vgg17", "none")
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ModelError, match=r"pip install 'catsel\[torch\]'"):
        catsel.activation_model("torchvision:vgg16", "none")


def test_the_command_runs_a_torchvision_network_end_to_end_and_records_pytorch(tmp_path, capsys):
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 6), seed=0, noise=60, box=(8, 24, 8, 24),
                         value=220, size=32)
    assert main(["layers", "torchvision:resnet18", "--image-size", "32"]) == 0
    assert "layer4.1" in capsys.readouterr().out
    assert main(["run", str(data), "--out", str(tmp_path / "out"), "--model", "torchvision:resnet18", "--weights",
                 "none", "--image-size", "32", "--no-progress"]) == 0
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["model"] == "torchvision:resnet18" and record["keras_backend"].startswith("pytorch")
    layers = list(pd.read_csv(tmp_path / "out" / "layer_summary.csv")["layer"].unique())
    assert layers[:3] == ["relu", "layer1.0.bn1+relu", "layer1.0"]
    acts = catsel.load_activations(tmp_path / "out")
    from catsel.network.models import from_store, untrained_control

    rebuilt = from_store(acts)  # the recipe: the same constructor and seed
    assert rebuilt.digest() == acts.meta.network_digest
    control = untrained_control(rebuilt, seed=1)
    assert not control.trained and control.digest() != rebuilt.digest() and control.layers == rebuilt.layers


def test_activation_maximisation_by_autograd_finds_a_planted_units_colour_and_visualize_runs(tmp_path):
    from catsel.network.maximise import maximise

    net = catsel.activation_model(_planted_module(), image_size=24, preprocess="raw", layers=["1", "2"])
    picture = maximise(net, "1", 0, steps=128, seed=0)  # unit 0 of the ReLU after det: red less green and blue
    assert not picture.flat and picture.final > picture.start
    red, green, blue = picture.image.reshape(-1, 3).mean(axis=0)
    assert red > max(green, blue) + 10, (red, green, blue)  # as the Keras planted filter's test asks
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 6), seed=0, noise=60, box=(8, 24, 8, 24),
                         value=220, size=32)
    assert main(["run", str(data), "--out", str(tmp_path / "out"), "--model", "torchvision:resnet18", "--weights",
                 "none", "--image-size", "32", "--no-progress"]) == 0
    assert main(["visualize", str(tmp_path / "out"), "--out", str(tmp_path / "unit.png"), "--layer", "layer1.0",
                 "--filter", "2", "--steps", "3"]) == 0
    assert (tmp_path / "unit.png").stat().st_size > 0


def test_a_torchvision_vgg16_and_a_keras_vgg16_are_compared_on_one_figure(tmp_path, capsys):
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green", "blue"], 8), seed=0, noise=60,
                         box=(8, 24, 8, 24), value=220, size=32)
    assert main(["run", str(data), "--out", str(tmp_path / "torch"), "--model", "torchvision:vgg16", "--weights",
                 "none", "--image-size", "32", "--layers", "features.3,features.8,features.15,features.22",
                 "--no-progress"]) == 0
    assert main(["run", str(data), "--out", str(tmp_path / "keras"), "--model", "vgg16", "--weights", "none",
                 "--image-size", "32", "--layers", "block1_conv2,block2_conv2,block3_conv3,block4_conv3",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "torch"), str(tmp_path / "keras"), "--out", str(tmp_path / "cmp")]) == 0
    compared = pd.read_csv(tmp_path / "cmp.csv")
    assert set(compared["network"]) == {"torchvision:vgg16 (untrained (random init, seed 0))",
                                        "vgg16 (untrained (random init, seed 0))"}
    record = json.loads((tmp_path / "torch" / "run.json").read_text())
    depth = record["relative_depth"]
    assert list(depth) == ["features.3", "features.8", "features.15", "features.22"]
    assert all(0 < a < b < 1 for a, b in zip(list(depth.values()), list(depth.values())[1:]))


@pytest.mark.slow
def test_the_dask_runner_rebuilds_a_torchvision_network_on_its_workers(tmp_path):
    pytest.importorskip("distributed")
    from catsel.capturing.cluster import close, connect

    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 8), seed=0, noise=60, box=(8, 24, 8, 24),
                         value=220, size=32)
    net = catsel.activation_model("torchvision:resnet18", "none", image_size=32)
    folder = catsel.ImageFolder(data, image_size=32)
    single = catsel.capture(net, folder, tmp_path / "single", batch_size=4, progress=False)
    client = connect("local:2")
    try:
        acts = catsel.capture(net, folder, tmp_path / "two", batch_size=4, client=client, block=8, progress=False)
    finally:
        close(client)
    for layer in single.layers:
        np.testing.assert_array_equal(acts[layer], single[layer])
        np.testing.assert_array_equal(acts.positions(layer), single.positions(layer))


def test_no_hook_keeps_a_map_once_the_batch_is_reduced():
    import gc
    import weakref

    net = catsel.activation_model("torchvision:vgg16", "none", ["features.1", "features.8"], image_size=32)
    maps = []
    watch = dict(net.module.named_modules())["features.8"].register_forward_hook(
        lambda m, a, o: maps.append(weakref.ref(o)))
    try:
        out = net.run(net.put(_images(2, size=32)))
    finally:
        watch.remove()
    gc.collect()
    assert maps and maps[0]() is None  # the map is gone; only its maxima and positions are left
    assert tuple(out.shape) == (2, 2 * (64 + 128))  # one buffer: maxima then positions of both layers


class _Concatenating(torch.nn.Module):
    """conv a (3x3) → ReLU; conv b (3x3) on it; their concatenation (an operation, no module) → conv c (3x3) →
    ReLU: c's field cannot be computed from the modules, and is 7 pixels (a, b, c in a row)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1),
                                  torch.nn.Conv2d(8, 4, 3, padding=1))
        self.relu_a, self.relu_c = torch.nn.ReLU(), torch.nn.ReLU()

    def forward(self, x):
        x = self.relu_a(self.a(x))
        return self.relu_c(self.c(torch.cat([x, self.b(x)], dim=1)))


class _Pooling(_Concatenating):
    """As :class:`_Concatenating`, with a pooling function (no module) in place of b: the field is 7 pixels."""

    def forward(self, x):
        x = self.relu_a(self.a(x))
        return self.relu_c(self.c(torch.cat([x, F.avg_pool2d(x, 3, stride=1, padding=1)], dim=1)))


def test_a_field_that_cannot_be_computed_is_measured_by_the_gradient_and_said_so():
    torch.manual_seed(0)
    net = catsel.activation_model(_Pooling(), image_size=16, preprocess="raw")
    fields = {d["name"]: d["receptive_field"] for d in net.describe()["layers"]}
    assert fields["relu_a"] == {"size": 3.0, "jump": 1.0, "start": 0.0}  # computed from the kernel
    assert fields["relu_c"]["measured"] is True and fields["relu_c"]["size"] == 7.0 and fields["relu_c"]["jump"] == 1.0
    assert fields["relu_c"]["start"] == 0.0


def test_a_field_is_computed_through_a_concatenation_and_an_addition_of_channels():
    torch.manual_seed(0)
    net = catsel.activation_model(_Concatenating(), image_size=16, preprocess="raw")
    fields = {d["name"]: d["receptive_field"] for d in net.describe()["layers"]}
    assert fields["relu_c"] == {"size": 7.0, "jump": 1.0, "start": 0.0}  # a, b, c in a row, not measured


def test_a_module_in_memory_runs_with_its_preprocessing_said(tmp_path, capsys):
    data = square_folder(tmp_path / "data", dict.fromkeys(["red", "green"], 4), seed=0, noise=60, box=(2, 8, 2, 8),
                         value=220, size=12)
    result = catsel.run(data, tmp_path / "out", model=_planted_module(), image_size=12, progress=False)
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["preprocess"] == "raw" and result.activations.layers == ("1", "2")
    said = json.dumps(record)
    assert "nothing says otherwise for a module held in memory" in said
    tv = catsel.activation_model("torchvision:vgg16", "none", image_size=32)
    from catsel.network.models import describe_preprocessing

    assert describe_preprocessing(tv).endswith("what torchvision:vgg16's library gives its pretrained weights")


def test_a_lesion_cut_reads_out_each_maps_own_images_and_refuses_a_layer_a_skip_connection_bypasses():
    from catsel.errors import CatselError

    net = catsel.activation_model("torchvision:resnet18", "none", ["layer1.0", "layer2.0"], image_size=32)
    with pytest.raises(CatselError, match="skip connection"):  # layer1.0's identity path goes around its conv2
        net.cut_at("layer1.0.conv2", "layer1.1")
    maps_of, readout_of = net.cut_at("layer1.0", "layer2.0", batch_size=2)
    images = _images(6, size=32)
    maps = maps_of(images)
    whole = net.predict(images)[0]["layer2.0"]
    np.testing.assert_allclose(readout_of(maps[[4, 1]]), whole[[4, 1]], rtol=1e-5, atol=1e-5)  # a fold's rows


def test_a_lesion_cut_passes_as_many_images_as_the_largest_module_output_allows(monkeypatch):
    """Each pass of a cut runs the whole module op by op: as many images as keep its largest output (here the
    stem's 64 channels at 16 x 16 px, 64 KiB an image) under ``PASS_BYTES``, with the same numbers."""
    import catsel.network.interface as interface

    net = catsel.activation_model("torchvision:resnet18", "none", ["layer1.0", "layer2.0"], image_size=32)
    images = _images(5, size=32)
    maps_of, readout_of = net.cut_at("layer1.0", "layer2.0")
    maps, read = maps_of(images), readout_of(maps_of(images))
    seen = []
    real = net.put
    monkeypatch.setattr(net, "put", lambda x: (seen.append(len(x)), real(x))[1])
    monkeypatch.setattr(interface, "PASS_BYTES", 2 * 64 * 16 * 16 * 4)
    maps_of, readout_of = net.cut_at("layer1.0", "layer2.0")
    seen.clear()
    parted = maps_of(images)
    assert seen == [2, 2, 1]
    np.testing.assert_allclose(parted, maps, rtol=1e-5, atol=1e-6)
    # issue #50: a read-out pass runs the modules before the layer on one image, and none after the read-out
    seen.clear()
    after = []
    handle = net.module.layer3.register_forward_hook(lambda *a: after.append(1))
    np.testing.assert_allclose(readout_of(parted), read, rtol=1e-5, atol=1e-5)
    handle.remove()
    assert seen == [1, 1, 1] and after == []


@pytest.mark.parametrize("name", ["vit_tiny*", "resnet?8", "resnet[15]8"])
def test_a_timm_name_with_a_pattern_is_refused_in_one_line_with_the_names_it_matches(name, capsys):
    pytest.importorskip("timm")
    with pytest.raises(ModelError, match=r"is a pattern, not a model: .*give one name"):
        catsel.activation_model(f"timm:{name}", "none", image_size=32)
    assert main(["layers", f"timm:{name}"]) == 2
    assert "is a pattern, not a model" in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["channels_last", "contiguous", "last_axis"])
def test_a_maximum_tied_across_rows_and_columns_is_the_first_in_row_major_order_in_either_layout(layout):
    """Issue #50: maxima and positions in one pass of adaptive max pooling (12 times faster than max(dim) across
    the channels-last layout). Ties keep the first position in row-major order, as the Keras path and the proofs
    read them; an all-equal map is position 0."""

    class Pattern(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if layout == "last_axis":  # a linear module on a grid: channels last, as ConvNeXt's (the identity)
                self.grid = torch.nn.Linear(3, 3)
                with torch.no_grad():
                    self.grid.weight.copy_(torch.eye(3))
                    self.grid.bias.zero_()
            else:
                self.grid = torch.nn.Identity()

        def forward(self, x):
            maps = torch.zeros(x.shape[0], 3, 6, 7)
            maps[:, 0, 2, 5] = maps[:, 0, 4, 1] = 3.0  # rows 2 and 4: the first is (2, 5)
            maps[:, 1, 3, 6] = maps[:, 1, 3, 2] = 2.0  # one row: (3, 2)
            maps = maps + x.mean() * 0  # from the images, so the network runs
            if layout == "channels_last":
                maps = maps.contiguous(memory_format=torch.channels_last)
            return self.grid(maps.permute(0, 2, 3, 1) if layout == "last_axis" else maps)

    net = catsel.activation_model(Pattern(), layers=["grid"], image_size=16, preprocess="raw")
    assert net.channels_last("grid") == (layout == "last_axis")
    maxima, positions = net.predict(_images(2, size=16))
    assert positions["grid"].tolist() == [[2 * 7 + 5, 3 * 7 + 2, 0]] * 2
    assert maxima["grid"].tolist() == [[3.0, 2.0, 0.0]] * 2
