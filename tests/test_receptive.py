"""Receptive fields from the layers match a brute-force measurement (issue: filter visualisation)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from catsel.receptive import receptive_fields

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
