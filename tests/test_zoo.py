"""A stratified sample of the zoo sweep (benchmarks/zoo.py): architectures of every family and the module patterns
labs write, each checked as the sweep checks it (the default layers against the rule, the capture against a
plain forward pass, receptive fields, the listing). Random weights, small images."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import catsel  # noqa: E402
from catsel.errors import ModelError  # noqa: E402
from catsel.network.torch.proof import prove  # noqa: E402
from torch_patterns import PATTERNS  # noqa: E402

# by family: plain CNNs, residual, depthwise and squeeze-excitation, channels-last norms, windowed attention,
# class, distillation and register tokens, class-attention, hybrids, functional activations (timm's NFNets)
TORCHVISION = ["vgg11", "resnet18", "densenet121", "googlenet", "mobilenet_v3_small", "efficientnet_b0",
               "convnext_tiny", "swin_t", "regnet_y_400mf", "shufflenet_v2_x0_5", "squeezenet1_1", "mnasnet0_5",
               "vit_b_32", "maxvit_t"]
TIMM = ["vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "vit_small_patch14_reg4_dinov2",
        "cait_xxs24_224", "swin_tiny_patch4_window7_224", "convnext_atto", "efficientnet_b0", "resnet18d",
        "levit_128s", "coatnet_nano_rw_224", "davit_tiny", "regnetx_002", "ghostnet_100", "poolformer_s12",
        "nf_regnet_b0", "mobilevit_xxs", "repvit_m1", "lambda_resnet26t", "skresnet18"]


def _images(size, n=2):
    height, width = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(0).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def _network(name):
    try:
        return catsel.activation_model(name, "none", image_size=64)
    except ModelError as exc:
        if "does not run on a batch" not in str(exc):
            raise
        return catsel.activation_model(name, "none")  # the architecture's own size


@pytest.mark.parametrize("name", [f"torchvision:{n}" for n in TORCHVISION] + [f"timm:{n}" for n in TIMM])
def test_a_zoo_network_takes_its_default_layers_by_the_rule_and_captures_what_a_plain_forward_gives(name):
    torch.manual_seed(0)
    network = _network(name)
    proof = prove(network, _images(network.image_size))
    assert proof.passed, proof.reason()
    assert proof.layers >= 2 and proof.worst <= 1e-5


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_a_module_pattern_labs_write_is_served_as_the_rule_says(pattern):
    module, size = PATTERNS[pattern]()
    network = catsel.activation_model(module, image_size=size)
    proof = prove(network, _images(size))
    assert proof.passed, proof.reason()


def test_a_conv_subclass_holding_its_padding_module_is_a_conv_with_its_field_computed():
    module, size = PATTERNS["conv_subclass_with_padding_child"]()
    network = catsel.activation_model(module, image_size=size)
    # the stem conv (a Conv2d subclass whose padding is a child module) after its batch norm and the Swish
    # module the network calls again in each block: applied by the capture
    assert network.layers[0] == "_bn0+_swish"
    assert "_blocks.0._bn1+_swish" in network.layers and "_blocks.0" in network.layers  # depthwise; the block
    table = catsel.layers(network).set_index("layer")
    assert table.loc["_conv_stem", "unit taken from"] == "_bn0+_swish"
    field = {d["name"]: d["receptive_field"] for d in network.describe()["layers"]}["_bn0+_swish"]
    # a 3x3 conv of stride 2 with static "same" padding (none before, 1 pixel after on 32 px, as TensorFlow
    # pads): the first unit sees pixels 0 to 2, centred on pixel 1
    assert field == {"size": 3.0, "jump": 2.0, "start": 1.0}
    maxima, _ = network.predict(_images(size))
    swish = torch.nn.functional.silu
    with torch.no_grad():
        x = network.prepare(network.put(_images(size)))
        expected = swish(module._bn0(module._conv_stem(x))).amax(dim=(2, 3)).numpy()
    np.testing.assert_allclose(maxima["_bn0+_swish"], expected, rtol=1e-5, atol=1e-6)


def test_functional_activations_are_applied_with_their_arguments():
    module, size = PATTERNS["functional_activations"]()
    network = catsel.activation_model(module, image_size=size)
    assert network.layers == ("bn1+relu", "conv2+relu", "conv3+relu", "conv4+leaky_relu")
    maxima, _ = network.predict(_images(size))
    with torch.no_grad():
        x = network.prepare(network.put(_images(size)))
        x = torch.relu(module.conv2(torch.relu(module.bn1(module.conv1(x)))))
        out = torch.nn.functional.leaky_relu(module.conv4(module.conv3(x).relu()), 0.2)
    np.testing.assert_allclose(maxima["conv4+leaky_relu"], out.amax(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    # the slope the forward passes (0.2, not F.leaky_relu's default 0.01): the minima show it
    minima = network.for_arrays(("maxima", "minima"))
    low = minima.split_all(minima.run(minima.put(_images(size))))["minima"]["conv4+leaky_relu"]
    np.testing.assert_allclose(low, out.amin(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    assert (low < -0.05).any()


@pytest.mark.parametrize("pattern", ["returns_tuple", "returns_dict"])
def test_a_forward_returning_a_tuple_or_a_dict_has_its_logits_left_out_as_the_classifier(pattern):
    module, size = PATTERNS[pattern]()
    network = catsel.activation_model(module, image_size=size)
    assert "fc" not in network.layers and network.layers[-1] == "conv4+leaky_relu"


def test_a_layer_folded_into_windows_is_refused_by_name_in_one_line():
    network = catsel.activation_model("timm:swin_tiny_patch4_window7_224", "none")
    from catsel.network.torch.trace import batched

    windowed = next(c.name for c in network._calls if c.shape is not None and len(c.shape) == 3
                    and not batched(c.shape))
    with pytest.raises(ModelError, match="does not hold one row per image"):
        catsel.activation_model("timm:swin_tiny_patch4_window7_224", "none", [windowed])
