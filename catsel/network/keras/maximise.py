"""Activation maximisation of a Keras network's units (:mod:`catsel.network.maximise` says what the picture is).

Keras has no backend-neutral gradient, so :func:`catsel.network.keras.backends.value_and_grad` holds one small
step per backend (TensorFlow's GradientTape, ``jax.value_and_grad``, ``torch.autograd.grad``); the step itself is
Keras' Adam, and everything else is ``keras.ops``.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
from keras import ops
from tqdm.auto import tqdm

from ...options import hw, image_shape
from ..picture import COLOUR_SQRT, Convergence, Maximised, Robustness, frequency_scale, random_affine
from ..tokens import base_layer
from .backends import on_accelerator, value_and_grad
from .graph import Graph, graph_of
from .preprocess import Preprocess
from .units import leading_tokens

__all__ = ["maximise_batch", "KerasMaximiser"]


class KerasMaximiser:
    """A ``keras.Model`` given as it is (preprocessed images in), as :func:`catsel.network.maximise.maximise`
    takes it."""

    def __init__(self, model: keras.Model):
        self.model = model

    def on_accelerator(self) -> bool:
        return on_accelerator()

    def maximise_batch(self, units, **options):
        return maximise_batch(self.model, units, **options)


def _objective_models(graph: Graph, layers: Sequence[str]) -> tuple[keras.Model, keras.Model]:
    """(pre-activation model, output model), each with one output per layer of ``layers``.

    Ascent follows each layer's pre-activation: a ReLU unit that is silent on
    the starting image has a zero gradient there, its pre-activation does not,
    and the ReLU keeps the order of values, so both peak on the same images.
    """
    pre, out, built = [], [], {}
    for layer in layers:
        node = graph.node(base_layer(layer))
        target = node.layer
        if node.name not in built:  # a layer and its class token share one pre-activation copy
            output = before = node.output
            activation = getattr(target, "activation", None)
            if activation is not None and activation is not keras.activations.linear and not node.model:
                config = {**target.get_config(), "activation": "linear", "name": f"catsel_preactivation_{len(built)}"}
                linear = type(target).from_config(config)
                before = linear(node.inputs[0])
                for new, old in zip(linear.weights, target.weights):
                    new.assign(old.numpy())
            built[node.name] = output, before
        output, before = built[node.name]
        skip = sum(leading_tokens(graph, output.shape))
        if layer != base_layer(layer):  # the class token's units
            output, before = output[:, 0], before[:, 0]
        elif skip:  # a token layer's patch tokens, as captured
            output, before = output[:, skip:], before[:, skip:]
        pre.append(before)
        out.append(output)
    return graph.model(pre), graph.model(out)


def maximise_batch(model, units: list[tuple[str, int]], *, steps: int, learning_rate: float,
                    image_size: int | None, preprocess: str | None, parameterisation: str, decorrelate: bool,
                    robustness: Robustness | None, seed: int, progress: bool,
                    converge: bool = True) -> list[Maximised]:
    """:func:`catsel.network.maximise.maximise_many` in one batch, for an activation model or a ``keras.Model``."""
    if isinstance(model, keras.Model):
        network, size, mode, graph = model, None, "raw", graph_of(model)
    else:
        network, size, mode, graph = model.network, model.image_size, model.preprocess, model.graph
    size = image_shape(image_size) or size or image_shape(tuple(int(d) for d in network.inputs[0].shape[1:3]))
    height, width = hw(size)
    mode = preprocess or mode
    if parameterisation not in ("fourier", "pixel"):
        raise ValueError(f"parameterisation must be 'fourier' or 'pixel', not {parameterisation!r}")
    robustness = robustness or Robustness.off()
    layers = list(dict.fromkeys(layer for layer, _ in units))
    objective_model, output_model = _objective_models(graph, layers)
    # one-hot masks: masks[j][b, c] = 1 where element b of the batch is unit c of layers[j]
    masks = []
    for j, layer in enumerate(layers):
        channels = int(objective_model.outputs[j].shape[-1])
        mask = np.zeros((len(units), channels), dtype=np.float32)
        for b, (name, unit) in enumerate(units):
            if name == layer:
                if not 0 <= unit < channels:
                    raise ValueError(f"{layer} has {channels} units; {unit} is out of range")
                mask[b, unit] = 1.0
        masks.append(ops.convert_to_tensor(mask))
    to_input = Preprocess(mode, int(graph.inputs[0].shape[-1]))  # float pictures: a differentiable luma
    rngs = [np.random.default_rng(seed) for _ in units]  # each picture's own draws, as if made alone
    colour = ops.convert_to_tensor(COLOUR_SQRT if decorrelate else np.eye(3, dtype=np.float32))
    freq = ops.convert_to_tensor(frequency_scale(size)[None, None])  # (1, 1, S, S)

    shapes = [(1, 3, height, width)] * 2 if parameterisation == "fourier" else [(1, height, width, 3)]
    starts = [[rng.normal(0, 0.01, shape).astype(np.float32) for shape in shapes] for rng in rngs]
    variables = [keras.Variable(np.concatenate([start[i] for start in starts]), trainable=True)
                 for i in range(len(shapes))]

    def to_image(params):
        """The pictures in [0, 1], shape (B, S, S, 3), from their parameters."""
        if parameterisation == "fourier":
            real, _ = ops.ifft2((params[0] * freq, params[1] * freq))
            x = ops.transpose(real, (0, 2, 3, 1)) * (math.sqrt(height * width) / 4.0)  # (B, H, W, 3)
        else:
            x = params[0]
        x = ops.matmul(x, ops.transpose(colour))
        return ops.sigmoid(x)

    def objectives(params, transform, model=objective_model):
        """Each picture's objective: the mean of its unit's map (or its dense unit), shape (B,)."""
        x = to_image(params) * 255.0
        if transform is not None:
            x = ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="reflect")
        outs = model(to_input(x), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        total = 0.0
        for out, mask in zip(outs, masks):
            means = ops.mean(out, axis=tuple(range(1, len(out.shape) - 1))) if len(out.shape) > 2 else out
            total = total + ops.sum(means * mask, axis=-1)
        return total

    def activations() -> np.ndarray:
        """Each unit's own output (after its activation) on its untransformed picture."""
        return np.asarray(ops.convert_to_numpy(objectives([v.value for v in variables], None, output_model)))

    def peaks() -> np.ndarray:
        """Each unit's maximum over its map (a dense unit's value) on its untransformed picture, as captured."""
        outs = output_model(to_input(to_image([v.value for v in variables]) * 255.0), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        total = 0.0
        for out, mask in zip(outs, masks):
            top = ops.max(out, axis=tuple(range(1, len(out.shape) - 1))) if len(out.shape) > 2 else out
            total = total + ops.sum(top * mask, axis=-1)
        return np.asarray(ops.convert_to_numpy(total))

    def loss(params):
        values = objectives(params, current["transform"])
        return -ops.sum(values), values  # the pictures are independent: their gradients do not mix

    grad = value_and_grad(loss, has_aux=True)
    current = {"transform": None}
    start = activations()
    optimiser = keras.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-8)
    optimiser.build(variables)
    trace = np.empty((steps, len(units)), dtype=np.float64)
    what = f"picture of {units[0][0]}/{units[0][1]}" if len(units) == 1 else f"pictures of {len(units)} units"
    stopped = Convergence(steps, len(units), converge)
    for t in tqdm(range(steps), desc=what, unit="step", disable=not progress, leave=False, dynamic_ncols=True):
        current["transform"] = (ops.convert_to_tensor(np.concatenate([random_affine(rng, size, robustness)
                                                                      for rng in rngs]))
                                if robustness.active else None)
        (_, values), grads = grad([v.value for v in variables])
        trace[t] = ops.convert_to_numpy(values)
        optimiser.apply(grads, variables)
        if stopped.after(trace, t, lambda: [ops.convert_to_numpy(v.value) for v in variables]):
            break
    if stopped.kept:  # each picture as it was when it converged
        for i, v in enumerate(variables):
            value = np.array(ops.convert_to_numpy(v.value))
            for b, kept in stopped.kept.items():
                value[b] = kept[i]
            v.assign(value)
    images = np.asarray(ops.convert_to_numpy(to_image([v.value for v in variables])) * 255.0)
    final, peak = activations(), peaks()
    return [Maximised(image=np.clip(np.rint(images[b]), 0, 255).astype(np.uint8), trace=trace[:stopped.steps[b], b],
                      start=float(start[b]), final=float(final[b]), layer=layer, unit=unit,
                      flat=not final[b] > start[b], peak=float(peak[b]))
            for b, (layer, unit) in enumerate(units)]
