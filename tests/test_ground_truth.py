"""The pipeline finds exactly the filters planted in a hand-set model (issue: core pipeline, section 8)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import catsel
from conftest import write_image

SIZE = 16
CATEGORIES = ("blue", "green", "red")
RGB = {"red": (200, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 200)}


def planted_model() -> keras.Model:
    """conv1: 0 red, 1 green, 2 blue detectors; 3 a bright-dot detector (balanced); 4 silent; 5 constant.
    conv2 (stride 2) passes 0-3 on; dense passes conv2's global maxima on."""
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    y = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    g = keras.layers.GlobalMaxPooling2D(name="pool")(y)
    d = keras.layers.Dense(4, activation="relu", name="dense")(g)
    model = keras.Model(inp, d)
    k1, b1 = np.zeros((3, 3, 3, 6)), np.zeros(6)
    k1[1, 1, :, 0] = [1, -1, -1]
    k1[1, 1, :, 1] = [-1, 1, -1]
    k1[1, 1, :, 2] = [-1, -1, 1]
    k1[1, 1, :, 3] = [1 / 3] * 3
    b1[3] = -100.0  # only the bright dot passes
    b1[5] = 1.0  # zero weights and a bias: the same value everywhere
    model.get_layer("conv1").set_weights([k1, b1])
    k2 = np.zeros((3, 3, 6, 4))
    for k in range(4):
        k2[1, 1, k, k] = 1
    model.get_layer("conv2").set_weights([k2, np.zeros(4)])
    model.get_layer("dense").set_weights([np.eye(4), np.zeros(4)])
    return model


@pytest.fixture
def planted_folder(tmp_path):
    """Per category n images: grey noise, a 4x4 patch of the category's colour, and a 2x2 white dot
    whose brightness depends only on the image's index (the same set of dots in every category)."""
    rng = np.random.default_rng(42)
    root = tmp_path / "planted"
    for i in range(8):
        dot = 150 + 12 * i
        for c in CATEGORIES:
            img = rng.integers(0, 50, size=(SIZE, SIZE, 1)).repeat(3, axis=2)
            y, x = rng.integers(0, SIZE - 4, 2)
            img[y:y + 4, x:x + 4] = RGB[c]
            dy, dx = (y + 6) % (SIZE - 2), (x + 6) % (SIZE - 2)
            img[dy:dy + 2, dx:dx + 2] = dot
            write_image(root / c / f"{i}.png", img)
    return root


EXPECTED = {(layer, unit, c) for layer in ("conv1", "conv2", "dense") for unit, c in ((0, "red"), (1, "green"), (2, "blue"))}


@pytest.mark.parametrize("index", ["paper", "contrast"])
def test_pipeline_finds_exactly_the_planted_filters(planted_folder, tmp_path, index):
    amodel = catsel.activation_model(planted_model(), layers=["conv1", "conv2", "dense"])
    assert amodel.preprocess == "raw" and amodel.image_size == SIZE
    acts = catsel.capture(amodel, catsel.ImageFolder(planted_folder, image_size=SIZE), tmp_path / "out",
                          batch_size=5, progress=False)
    table = catsel.selectivity(acts, index=index)
    found = {(r.layer, r.filter, r.category) for r in table[table.selective].itertuples()}
    assert found == EXPECTED
    if index == "paper":
        planted = table.set_index(["layer", "filter", "category"]).loc[sorted(EXPECTED), "selectivity"]
        np.testing.assert_allclose(planted, 1.0, atol=1e-6)
        dot = table[(table.layer == "conv1") & (table["filter"] == 3)]
        np.testing.assert_allclose(dot.selectivity, 1 / 3, atol=1e-6)  # balanced: exactly chance
    units = table.drop_duplicates(["layer", "filter"]).set_index(["layer", "filter"])
    assert units.loc[("conv1", 4), "silent"] and units.loc[("conv1", 5), "constant"]
    assert not units.loc[("conv1", 5), "silent"]
    summary = catsel.layer_summary(table)
    row = summary.query("layer == 'conv1' and category == 'red'").iloc[0]
    assert (row.n_units, row.n_selective, row.n_silent, row.n_constant) == (6, 1, 1, 2)


def test_positions_point_at_the_planted_patch(planted_folder, tmp_path):
    amodel = catsel.activation_model(planted_model(), layers=["conv1"])
    folder = catsel.ImageFolder(planted_folder, image_size=SIZE)
    acts = catsel.capture(amodel, folder, tmp_path / "out", progress=False)
    pos = acts.positions("conv1")
    assert acts.map_shape("conv1") == (SIZE, SIZE)
    for i, (rel, label) in enumerate(zip(acts.paths, acts.labels)):
        category = acts.categories[label]
        detector = ["red", "green", "blue"].index(category)
        r, c = divmod(int(pos[i, detector]), SIZE)
        img = catsel.load_image(planted_folder / rel, SIZE)
        assert tuple(img[r, c]) == RGB[category]
