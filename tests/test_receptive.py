"""Receptive fields from the layers match a brute-force measurement (issue: filter visualisation)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from catsel.network.keras.fields import receptive_fields

SIZE = 17


def _ones_model(spec) -> keras.Model:
    """Linear convs with all-ones kernels and max pools: an input pixel reaches exactly the
    output units whose receptive field contains it."""
    inp = keras.Input((SIZE, SIZE, 1))
    x = inp
    for kind, k, stride, padding in spec:
        if kind == "conv":
            x = keras.layers.Conv2D(1, k, strides=stride, padding=padding, use_bias=False,
                                    kernel_initializer="ones")(x)
        elif kind == "dil":
            x = keras.layers.Conv2D(1, k, dilation_rate=2, padding=padding, use_bias=False,
                                    kernel_initializer="ones")(x)
        elif kind == "pool":
            x = keras.layers.MaxPooling2D(k, strides=stride, padding=padding)(x)
        elif kind == "zpad":
            x = keras.layers.ZeroPadding2D(k)(x)
    return keras.Model(inp, x)


SPECS = {
    "vgg-like": [("conv", 3, 1, "same"), ("conv", 3, 1, "same"), ("pool", 2, 2, "valid"), ("conv", 3, 1, "same")],
    "strided-valid": [("conv", 5, 2, "valid"), ("conv", 3, 2, "valid")],
    "strided-same": [("conv", 4, 2, "same"), ("pool", 3, 2, "same"), ("conv", 3, 1, "same")],
    "padding-dilation": [("zpad", 2, 1, ""), ("conv", 3, 2, "valid"), ("dil", 3, 1, "same")],
}


@pytest.mark.parametrize("name", list(SPECS))
def test_receptive_boxes_match_brute_force(name):
    model = _ones_model(SPECS[name])
    field = receptive_fields(model)[model.layers[-1].name]
    deltas = np.zeros((SIZE * SIZE, SIZE, SIZE, 1), np.float32)
    deltas[np.arange(SIZE * SIZE), np.arange(SIZE * SIZE) // SIZE, np.arange(SIZE * SIZE) % SIZE, 0] = 1.0
    reached = np.asarray(model.predict_on_batch(deltas))[..., 0] > 0  # (pixels, H, W)
    h, w = reached.shape[1:]
    for row in range(h):
        for col in range(w):
            pixels = np.flatnonzero(reached[:, row, col])
            if not len(pixels):
                continue  # a unit that sees only padding
            rows, cols = pixels // SIZE, pixels % SIZE
            expected = (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
            assert field.box(row, col, SIZE) == expected, (row, col)


def test_vgg16_receptive_fields_are_the_known_ones():
    fields = receptive_fields(keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3)))
    assert (fields["block1_conv1"].size, fields["block1_conv1"].jump) == (3, 1)
    assert (fields["block3_conv3"].size, fields["block3_conv3"].jump) == (40, 4)
    assert (fields["block5_conv3"].size, fields["block5_conv3"].jump) == (196, 16)
    assert fields["block5_pool"].size == 212


ARCHITECTURES = ["ResNet50", "MobileNetV2", "EfficientNetB0", "ConvNeXtTiny", "DenseNet121"]


def _reached(network, layers, size=32, bump=25.0, images=2):
    """Brute force: for each layer, which input rows and which input columns change each unit.

    An image, then the same image with one whole row (or column) raised, and lowered, by ``bump``:
    a row reaches a unit when the unit's value changes either way, for any of ``images`` random images
    (a maximum pooling passes on the largest value only: another image, another largest). Returns {layer: (rows (size, H, W), cols (size, H, W))}.
    """
    rng = np.random.default_rng(0)
    probe = keras.Model(network.inputs, [network.get_layer(name).output for name in layers])
    result = {}
    for _ in range(images):
        base = rng.uniform(0, 1, (1, size, size, 3)).astype(np.float32)
        batch = np.repeat(base, 1 + 4 * size, axis=0)
        for k, sign in enumerate((1.0, -1.0)):
            for i in range(size):
                batch[1 + 2 * k * size + i, i, :, :] += sign * bump
                batch[1 + (2 * k + 1) * size + i, :, i, :] += sign * bump
        outputs = probe.predict_on_batch(batch)
        for name, out in zip(layers, outputs if isinstance(outputs, list) else [outputs]):
            out = np.asarray(out, dtype=np.float64)
            changed = (np.abs(out[1:] - out[:1]) > 1e-5 * (np.abs(out[0]).max() + 1e-9)).any(axis=-1)
            changed = changed.reshape(2, 2, size, *changed.shape[1:]).any(axis=0)  # either sign
            rows, cols = result.get(name, (False, False))
            result[name] = (rows | changed[0], cols | changed[1])
    return result


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_receptive_fields_of_standard_architectures_match_brute_force(architecture):
    from catsel.network.keras.fields import global_layers

    size = 32
    keras.utils.set_random_seed(0)
    network = getattr(keras.applications, architecture)(weights=None, include_top=False, input_shape=(size, size, 3))
    # The field is the layer graph's, whatever the weights and activations. A ReLU closed on every image (random
    # weights close some paths for good) or a saturated ReLU6 would hide a path from the brute force: the
    # rectifying activations are made linear, and ConvNeXt's layer scales (1e-6, too faint to measure) 1.
    for layer in network.layers:
        if type(layer).__name__ == "LayerScale":
            for v in layer.weights:
                v.assign(np.ones(v.shape, v.dtype))
        if isinstance(layer, keras.layers.ReLU):
            layer.max_value, layer.negative_slope = None, 1.0
        elif getattr(getattr(layer, "activation", None), "__name__", "") in ("relu", "relu6", "swish", "silu", "gelu"):
            layer.activation = keras.activations.linear  # a squeeze-excite's sigmoid stays: it keeps values bounded
    fields = receptive_fields(network)
    spatial = [l.name for l in network.layers if len(l.output.shape) == 4 and not isinstance(l, keras.layers.InputLayer)]
    assert not [name for name in spatial if name not in fields and name not in global_layers(network)]
    # a padding layer's border units see only padding (its field is checked through the layers after it)
    checked = [n for n in spatial[:: max(1, len(spatial) // 40)] + [spatial[-1]]
               if not isinstance(network.get_layer(n), keras.layers.ZeroPadding2D)]
    reached = _reached(network, [n for n in checked if n in fields], size)
    for name, (rows, cols) in reached.items():
        field = fields[name]
        h, w = rows.shape[1:]
        for r in sorted({0, h // 2, h - 1}):
            for c in sorted({0, w // 2, w - 1}):
                top, left, bottom, right = field.box(r, c, size)
                seen_rows, seen_cols = np.flatnonzero(rows[:, r, c]), np.flatnonzero(cols[:, r, c])
                if field.global_context:  # scaled by the whole image: every row and column reaches it
                    assert len(seen_rows) == size and len(seen_cols) == size, name
                    continue
                assert (seen_rows.min(), seen_rows.max() + 1) == (top, bottom), (name, r, c, "rows")
                assert (seen_cols.min(), seen_cols.max() + 1) == (left, right), (name, r, c, "columns")


def _sequential():
    return keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.MaxPooling2D(), keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
                             keras.layers.Flatten(), keras.layers.Dense(3)])


def test_a_saved_sequential_model_keeps_its_receptive_fields(tmp_path, colour_folder):
    import catsel
    from catsel.figures.visualize import receptive_crop

    built = _sequential()
    built.save(tmp_path / "net.keras")
    loaded = keras.models.load_model(tmp_path / "net.keras")
    expected = receptive_fields(built)
    assert receptive_fields(loaded) == expected and expected["c2"].size == 8  # 3, pool 2, then 3 at step 2
    acts = catsel.capture(catsel.activation_model(str(tmp_path / "net.keras"), layers=["c2"]),
                          catsel.ImageFolder(colour_folder, image_size=16), tmp_path / "out", progress=False)
    crop, box = receptive_crop(acts, "c2", 0, 0)
    assert crop.shape[:2] == (box[2] - box[0], box[3] - box[1]) and 0 < crop.shape[0] <= 8


def _squeeze_excite():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)
    s = keras.layers.Conv2D(4, 1, activation="sigmoid", name="excite")(s)
    y = keras.layers.Multiply(name="scaled")([x, s])
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="after")(y)
    return keras.Model(inp, keras.layers.GlobalAveragePooling2D(name="pool")(y))


def test_squeeze_excite_is_flagged_and_a_global_layer_is_said_so_before_any_work(tmp_path, colour_folder, capsys):
    import catsel
    from catsel.apps.cli import main
    from catsel.network.keras.fields import global_layers
    from catsel.figures.visualize import field_note, plot_unit

    network = _squeeze_excite()
    fields = receptive_fields(network)
    assert not fields["conv"].global_context and fields["conv"].size == 3
    assert fields["scaled"].global_context and fields["scaled"].size == 3  # where it looks, scaled by all
    assert fields["after"].global_context and fields["after"].size == 5
    assert global_layers(network) == ["squeeze", "excite", "pool"]
    network.save(tmp_path / "se.keras")
    out = tmp_path / "run"
    assert main(["run", str(colour_folder), "--out", str(out), "--model", str(tmp_path / "se.keras"),
                 "--image-size", "16", "--layers", "conv,scaled,excite", "--no-progress"]) == 0
    acts = catsel.load_activations(out)
    assert field_note(acts, "conv") is None
    assert "squeeze-excite" in field_note(acts, "scaled")
    assert "no local receptive field" in field_note(acts, "excite")
    capsys.readouterr()
    assert main(["visualize", str(out), "--layer", "excite", "--unit", "0", "--steps", "2",
                 "--out", str(tmp_path / "excite.png")]) == 0  # top images and the picture, no crops
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("Note: excite has no local receptive field") and (tmp_path / "excite.png").exists()
    fig, pictures = plot_unit(acts, "scaled", 0, steps=2, return_pictures=True)
    assert len(pictures) == 1
