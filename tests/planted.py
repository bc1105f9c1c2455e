"""A hand-set model with planted colour detectors, and images that answer them (shared by the tests)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

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


def make_planted_folder(tmp_path: Path) -> Path:
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
