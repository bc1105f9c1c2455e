"""Activation maximisation: a picture of what a filter or unit prefers.

Gradient ascent in image space on the mean of a conv filter's map (or on a
dense unit), with the regularisation that makes such pictures readable
(Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017):

* **Fourier parameterisation**: the image is the inverse FFT of a learned
  spectrum whose frequencies are scaled by 1/f, so gradient steps favour
  low frequencies instead of high-frequency noise;
* **decorrelated colour**: the three channels are mixed by the square root of
  ImageNet's colour correlation, so steps move along natural colour axes;
* **transformation robustness**: every step sees the image randomly shifted,
  scaled and rotated, so the picture cannot rely on one exact pixel pattern.

The image passes through a sigmoid (values in [0, 1]), is scaled to
[0, 255] and given the network's own preprocessing. Keras has no
backend-neutral gradient, so :func:`value_and_grad` holds one small step per
backend (TensorFlow's GradientTape, ``jax.value_and_grad``,
``torch.autograd.grad``); everything else is ``keras.ops``. Seeded: the same
seed gives the same picture on the same backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from .models import ActivationModel, Preprocess

__all__ = ["maximise", "Maximised", "value_and_grad"]

# Square root of the colour correlation of ImageNet images (rows: RGB), as
# measured for feature-visualisation work; normalised by its largest column norm.
_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOUR_SQRT /= np.max(np.linalg.norm(_COLOUR_SQRT, axis=0))


@dataclass
class Maximised:
    """Result of :func:`maximise`."""

    image: np.ndarray  # uint8 (size, size, 3)
    trace: np.ndarray  # the objective (mean pre-activation) at every step
    start: float  # the unit's activation (mean over its map) on the starting image
    final: float  # ... and on the final picture
    layer: str
    unit: int


def value_and_grad(fn: Callable[[list], object]) -> Callable[[list], tuple[object, list]]:
    """``fn(params) -> scalar`` → ``g(params) -> (value, gradients)`` on the current Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def step(params):
            with tf.GradientTape() as tape:
                for p in params:
                    tape.watch(p)
                value = fn(params)
            return value, tape.gradient(value, params)

        return step
    if backend == "jax":
        import jax

        grad = jax.value_and_grad(lambda params: fn(list(params)))
        return lambda params: (lambda vg: (vg[0], list(vg[1])))(grad(tuple(params)))
    if backend == "torch":
        import torch

        def step(params):
            params = [p.detach().requires_grad_(True) for p in params]
            value = fn(params)
            return value.detach(), list(torch.autograd.grad(value, params))

        return step
    raise NotImplementedError(f"activation maximisation has no gradient step for the {backend!r} backend")


def _frequency_scale(size: int, decay: float = 1.0) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    return (1.0 / np.maximum(f, 1.0 / size) ** decay).astype(np.float32)


def _affine(rng: np.random.Generator, size: int, jitter: float, scale, rotate: float) -> np.ndarray:
    """A random shift/scale/rotation about the centre, as the 8 numbers of keras.ops.image.affine_transform
    (output pixel → input pixel)."""
    s = rng.uniform(*scale)
    a = math.radians(rng.uniform(-rotate, rotate))
    tx, ty = rng.uniform(-jitter, jitter, 2) * size
    c = (size - 1) / 2
    cos, sin = math.cos(a) / s, math.sin(a) / s
    # input = R/s · (output − centre) + centre + shift
    return np.array([[cos, -sin, c - cos * c + sin * c + tx, sin, cos, c - sin * c - cos * c + ty, 0, 0]],
                    dtype=np.float32)


def _objective_model(network: keras.Model, layer: str) -> tuple[keras.Model, keras.Model]:
    """(pre-activation model, output model) for ``layer``.

    Ascent follows the layer's pre-activation: a ReLU unit that is silent on
    the starting image has a zero gradient there, its pre-activation does not,
    and the ReLU keeps the order of values, so both peak on the same images.
    """
    target = network.get_layer(layer)
    output = keras.Model(network.inputs, target.output)
    activation = getattr(target, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return output, output
    config = {**target.get_config(), "activation": "linear", "name": f"{target.name}_preactivation"}
    linear = type(target).from_config(config)
    pre = linear(target.input)
    for new, old in zip(linear.weights, target.weights):
        new.assign(old.numpy())
    return keras.Model(network.inputs, pre), output


def maximise(
    model: ActivationModel | keras.Model,
    layer: str,
    unit: int,
    *,
    steps: int = 256,
    learning_rate: float = 0.05,
    image_size: int | None = None,
    preprocess: str | None = None,
    parameterisation: str = "fourier",
    decorrelate: bool = True,
    jitter: float = 0.05,
    scale: tuple[float, float] = (0.9, 1.1),
    rotate: float = 10.0,
    seed: int = 0,
) -> Maximised:
    """Make a picture that drives ``unit`` of ``layer`` as high as possible.

    Parameters
    ----------
    model
        An :class:`ActivationModel` (its network, image size and preprocessing
        are used) or a ``keras.Model`` taking preprocessed images.
    layer, unit
        A conv filter (the objective is the mean of its map) or a dense unit.
    steps, learning_rate
        Adam steps on the image parameters.
    parameterisation
        ``"fourier"`` (default) or ``"pixel"`` (plain pixels through a sigmoid).
    decorrelate
        Mix colours along ImageNet's decorrelated axes.
    jitter, scale, rotate
        Random shift (fraction of the size), scale range and rotation (degrees)
        applied at every step; ``jitter=0, scale=(1, 1), rotate=0`` turns
        transformation robustness off.
    seed
        Seeds the starting image and the transformations.

    Returns
    -------
    Maximised
        The picture (uint8), the objective at every step, and its value on the
        starting image.
    """
    if isinstance(model, ActivationModel):
        network, size, mode = model.network, model.image_size, model.preprocess
    else:
        network, size, mode = model, None, "raw"
    size = image_size or size or int(network.inputs[0].shape[1])
    mode = preprocess or mode
    if parameterisation not in ("fourier", "pixel"):
        raise ValueError(f"parameterisation must be 'fourier' or 'pixel', not {parameterisation!r}")
    objective_model, output_model = _objective_model(network, layer)
    channels = int(objective_model.outputs[0].shape[-1])
    if not 0 <= unit < channels:
        raise ValueError(f"{layer} has {channels} units; {unit} is out of range")
    to_input = Preprocess(mode)
    rng = np.random.default_rng(seed)
    colour = ops.convert_to_tensor(_COLOUR_SQRT if decorrelate else np.eye(3, dtype=np.float32))
    freq = ops.convert_to_tensor(_frequency_scale(size)[None, None])  # (1, 1, S, S)

    if parameterisation == "fourier":
        params = [ops.convert_to_tensor(rng.normal(0, 0.01, (1, 3, size, size)).astype(np.float32)) for _ in range(2)]
    else:
        params = [ops.convert_to_tensor(rng.normal(0, 0.01, (1, size, size, 3)).astype(np.float32))]

    def image_of(params):
        if parameterisation == "fourier":
            real, _ = ops.ifft2((params[0] * freq, params[1] * freq))
            x = ops.transpose(real, (0, 2, 3, 1)) * (size / 4.0)  # (1, S, S, 3)
        else:
            x = params[0]
        x = ops.matmul(x, ops.transpose(colour))
        return ops.sigmoid(x)  # [0, 1]

    def objective(params, transform, model=objective_model):
        x = image_of(params) * 255.0
        if transform is not None:
            x = ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="reflect")
        out = model(to_input(x), training=False)
        return ops.mean(out[..., unit])

    def activation(params) -> float:
        """The unit's own output (after its activation) on the untransformed picture."""
        return float(ops.convert_to_numpy(objective(params, None, output_model)))

    grad = value_and_grad(lambda p: -objective(p, current["transform"]))
    current = {"transform": None}
    start = activation(params)
    m = [ops.zeros_like(p) for p in params]
    v = [ops.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    trace = np.empty(steps, dtype=np.float64)
    robust = jitter > 0 or scale != (1, 1) or rotate > 0
    for t in range(1, steps + 1):
        current["transform"] = ops.convert_to_tensor(_affine(rng, size, jitter, scale, rotate)) if robust else None
        value, grads = grad(params)
        trace[t - 1] = -float(ops.convert_to_numpy(value))
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            step = learning_rate * (m[i] / (1 - b1 ** t)) / (ops.sqrt(v[i] / (1 - b2 ** t)) + eps)
            params[i] = params[i] - step
    image = np.asarray(ops.convert_to_numpy(image_of(params))[0] * 255.0)
    return Maximised(image=np.clip(np.rint(image), 0, 255).astype(np.uint8), trace=trace, start=start,
                     final=activation(params), layer=layer, unit=unit)
