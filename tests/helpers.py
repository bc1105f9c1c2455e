"""Small hand-set models and activations shared by the tests (the planted model is in planted.py)."""

from __future__ import annotations

import keras
import numpy as np

from catsel import Activations

# 5 images, unequal categories: two of "a", three of "b".
LABELS = [0, 0, 1, 1, 1]
UNITS = np.array([
    [1, 0, 5, 0],
    [3, 0, 5, 0],
    [0, 0, 5, 2],
    [0, 0, 5, 2],
    [2, 0, 5, 2],
], dtype=np.float32)  # unit 0 prefers a; 1 silent; 2 constant; 3 only b


def hand_set_acts() -> Activations:
    """UNITS as two layers: ``conv`` (units 0, 1) and ``fc`` (units 2, 3), categories ``a`` and ``b``."""
    return Activations.from_arrays({"conv": UNITS[:, :2], "fc": UNITS[:, 2:]}, LABELS, ["a", "b"],
                                   meta={"model": "toy", "weights": "hand-set"})


def small_cnn(size=12, seed=0) -> keras.Model:
    """Strided and padded convs, a pooling layer and two dense layers."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="valid", activation="relu", name="c2")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(7, 2, padding="same", name="c3")(x)  # linear: negative maxima too
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu", name="fc")(x)
    out = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="small_cnn")


def font_with(path, characters: str, family: str = "Catsel Test Glyphs"):
    """Write a TrueType font (fontTools, a dependency of matplotlib) whose only glyphs are boxes for ``characters``."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def box():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0))
        pen.lineTo((100, 700))
        pen.lineTo((800, 700))
        pen.lineTo((800, 0))
        pen.closePath()
        return pen.glyph()

    names = {ord(c): f"u{ord(c):04X}" for c in characters}
    order = [".notdef", "space", *names.values()]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({0x20: "space", **names})
    fb.setupGlyf({n: TTGlyphPen(None).glyph() if n == "space" else box() for n in order})
    fb.setupHorizontalMetrics({n: (900, 100) for n in order})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    fb.setupPost()
    fb.save(str(path))
    return path


@keras.saving.register_keras_serializable(package="catsel_tests")
class ClassToken(keras.layers.Layer):
    """A learned class token put before the patch tokens, as in a ViT."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal", name="token")

    def call(self, x):
        batch = keras.ops.shape(x)[0]
        return keras.ops.concatenate([keras.ops.broadcast_to(self.token, (batch, 1, x.shape[-1])), x], axis=1)


@keras.saving.register_keras_serializable(package="catsel_tests")
class PositionEmbedding(keras.layers.Layer):
    """A learned position embedding added to every token."""

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(1, *input_shape[1:]), initializer="random_normal", name="positions")

    def call(self, x):
        return x + self.positions


def small_vit(size: int = 16, patch: int = 4, dim: int = 16, heads: int = 2, blocks: int = 2,
              classes: int = 3, seed: int = 0) -> "keras.Model":
    """A vision transformer with default layer names: patches, a class token, pre-norm encoder blocks."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(dim, patch, strides=patch)(inp)  # patch embedding
    x = keras.layers.Reshape(((size // patch) ** 2, dim))(x)
    x = PositionEmbedding()(ClassToken()(x))
    for _ in range(blocks):
        y = keras.layers.LayerNormalization()(x)
        y = keras.layers.MultiHeadAttention(heads, dim // heads)(y, y)
        x = keras.layers.Add()([x, y])
        y = keras.layers.LayerNormalization()(x)
        y = keras.layers.Dense(2 * dim, activation="gelu")(y)
        y = keras.layers.Dense(dim)(y)
        x = keras.layers.Add()([x, y])
    x = keras.layers.LayerNormalization()(x)
    return keras.Model(inp, keras.layers.Dense(classes)(x[:, 0]))  # the head reads the class token


def packed_against_unpacked() -> list[str]:
    """Each case where the one-buffer transfer (:class:`catsel.network.packing.Piece`) gives other bits than one float32
    output per kind, on this process's Keras backend: float32, the two mixed precisions (with a float32 head),
    and a map too large for 16-bit positions. Empty when every array of every case is bitwise the same."""
    import numpy as np

    from catsel.network import models
    from catsel.network.keras import model

    def differ(a, b, label):
        return [f"{label}: {kind} of {layer}" for kind in b for layer in b[kind]
                if layer not in a[kind] or a[kind][layer].dtype != b[kind][layer].dtype
                or not np.array_equal(a[kind][layer].view(np.uint8), b[kind][layer].view(np.uint8))]

    def compare(net, size, layers, label):
        every = ("maxima", "positions", "means", "minima")
        base = models.activation_model(net, layers=layers, image_size=size, preprocess="raw")
        packed = base.for_arrays(every)
        plain = model._wrap(packed.network, list(packed.layers), packed.image_size, packed.preprocess,
                             packed.source, packed.weights_label, packed.trained, graph=packed.graph, pack=False,
                             arrays=every)
        assert packed.packing is not None and plain.packing is None and len(packed.keras_model.outputs) == 1
        x = np.random.default_rng(0).integers(0, 256, (5, size, size, 3), dtype=np.uint8)
        a, b = packed.split_all(packed.run(packed.put(x))), plain.split_all(plain.run(plain.put(x)))
        # the models that compute only some kinds (the default, and the extra pass's) give the same bits
        main = base.split_all(base.run(base.put(x)))
        extra = base.for_arrays(("means", "minima"))
        summaries = extra.split_all(extra.run(extra.put(x)))
        return (differ(a, b, label) + differ(b, main, f"{label}, maxima and positions only")
                + differ(b, summaries, f"{label}, means and minima only")
                + [f"{label}: the extra pass computes {kind}" for kind in ("maxima", "positions") if summaries[kind]]
                + [f"{label}: the main pass computes {kind}" for kind in ("means", "minima") if main[kind]])

    wrong = []
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        keras.config.set_dtype_policy(policy)
        try:
            keras.utils.set_random_seed(1)
            inp = keras.Input((14, 14, 3))
            x = keras.layers.Conv2D(5, 3, activation="relu", name="c1")(inp)
            x = keras.layers.Conv2D(7, 3, strides=2, name="c2")(x)  # linear: negative maxima and minima
            x = keras.layers.Dense(4, name="fc")(keras.layers.Flatten()(x))
            out = keras.layers.Dense(3, dtype="float32", name="head")(x)  # a float32 layer in a mixed network
            wrong += compare(keras.Model(inp, out), 14, ["c1", "c2", "fc", "head"], policy)
        finally:
            keras.config.set_dtype_policy("float32")
    inp = keras.Input((260, 260, 3))  # 67,600 positions: more than 16 bits hold
    x = keras.layers.Conv2D(2, 3, padding="same", name="wide")(inp)
    out = keras.layers.Dense(2, name="d")(keras.layers.GlobalMaxPooling2D()(x))
    wrong += compare(keras.Model(inp, out), 260, ["wide", "d"], "large map")
    return wrong


def fused_against_separate() -> dict:
    """On JAX: the one-pass reduction (``activation_model(..., reduction="fused")``) against the separate ones, in
    float32 and bfloat16, on maps with ties, constant maps and negative values. Returns the arrays that differ
    in their bits (maxima, positions, minima: none should), the largest relative difference of a mean, and what
    each model adds to the store's key."""
    import numpy as np

    from catsel.network import models

    keyed = []

    def arrays(net, reduction):
        amodel = models.activation_model(net, layers=["c1", "c2", "fc"], image_size=10, preprocess="raw",
                                         reduction=reduction).for_arrays(("maxima", "positions", "means", "minima"))
        keyed.append(amodel.describe().get("reduction"))
        x = np.random.default_rng(0).integers(0, 4, (6, 10, 10, 3), dtype=np.uint8)  # few values: many ties
        x[0] = 0  # a constant image: constant maps
        return amodel.split_all(amodel.run(amodel.put(x)))

    differ, worst = [], 0.0
    for policy in ("float32", "mixed_bfloat16"):
        keras.config.set_dtype_policy(policy)
        try:
            keras.utils.set_random_seed(2)
            inp = keras.Input((10, 10, 3))
            x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)  # zeros: ties
            x = keras.layers.Conv2D(5, 3, name="c2")(x)  # linear: negative values
            out = keras.layers.Dense(3, name="fc")(keras.layers.Flatten()(x))
            net = keras.Model(inp, out)
        finally:
            keras.config.set_dtype_policy("float32")
        fused, separate = arrays(net, "fused"), arrays(net, "argmax")  # both: the first maximum, row-major
        for kind in ("maxima", "positions", "minima"):
            for layer, values in separate[kind].items():
                if not np.array_equal(values.view(np.uint8), fused[kind][layer].view(np.uint8)):
                    differ.append(f"{policy}: {kind} of {layer}")
        for layer, values in separate["means"].items():
            scale = np.maximum(np.abs(values), 1e-30)
            worst = max(worst, float(np.max(np.abs(fused["means"][layer] - values) / scale)))
    return {"differ": differ, "mean_error": worst, "keyed": keyed}
