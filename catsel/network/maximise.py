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
backend-neutral gradient, so :func:`catsel.network.backends.value_and_grad` holds one
small step per backend (TensorFlow's GradientTape, ``jax.value_and_grad``,
``torch.autograd.grad``); the step itself is Keras' Adam, and everything else
is ``keras.ops``. Seeded: the same seed gives the same picture on the same backend.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import keras
import numpy as np
from keras import ops
from tqdm.auto import tqdm

from .backends import on_accelerator, value_and_grad
from .graph import Graph, graph_of
from ..options import hw, image_shape
from .models import ActivationModel
from .preprocess import Preprocess
from .units import base_layer, leading_tokens

__all__ = ["maximise", "maximise_many", "Maximised", "Robustness", "WEAKER"]

# Square root of the colour correlation of ImageNet images (rows: RGB), as
# measured for feature-visualisation work; normalised by its largest column norm.
_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOUR_SQRT /= np.max(np.linalg.norm(_COLOUR_SQRT, axis=0))


@dataclass
class Maximised:
    """Result of :func:`maximise`.

    Parameters
    ----------
    image : ndarray of uint8, shape (size, size, 3)
    trace : ndarray of float64, shape (steps,)
        The objective (mean pre-activation) at every step.
    start, final : float
        The unit's activation (mean over its map) on the starting and the final picture.
    layer : str
    unit : int
    flat : bool
        The picture failed: it does not drive the unit above its value on the
        starting noise, or (where the unit's activations on real images are
        known, ``typical``) its maximum stays below the unit's median maximum
        on the dataset.
    peak : float or None
        The unit's maximum over its map on the final picture (what the store keeps per image).
    typical : float or None
        The unit's median maximum over the dataset's images, the bar a picture must reach.
    retried : bool
        A first attempt was flat and the picture was made once more without transformations (the better of
        the two is kept).
    """

    image: np.ndarray
    trace: np.ndarray
    start: float
    final: float
    layer: str
    unit: int
    flat: bool = False
    peak: float | None = None
    typical: float | None = None
    retried: bool = False



def _frequency_scale(size, decay: float = 1.0) -> np.ndarray:
    height, width = hw(size)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    return (1.0 / np.maximum(f, 1.0 / max(height, width)) ** decay).astype(np.float32)


def _affine(rng: np.random.Generator, size: int, robustness: "Robustness") -> np.ndarray:
    """A random shift/scale/rotation about the centre, as the 8 numbers of keras.ops.image.affine_transform
    (output pixel → input pixel)."""
    s = rng.uniform(*robustness.scale)
    a = math.radians(rng.uniform(-robustness.rotate, robustness.rotate))
    height, width = hw(size)
    tx, ty = rng.uniform(-robustness.jitter, robustness.jitter, 2) * (width, height)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = math.cos(a) / s, math.sin(a) / s
    # input = R/s · (output − centre) + centre + shift
    return np.array([[cos, -sin, cx - cos * cx + sin * cy + tx, sin, cos, cy - sin * cx - cos * cy + ty, 0, 0]],
                    dtype=np.float32)


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


@dataclass(frozen=True)
class Robustness:
    """The random transformations applied to the picture at every step (transformation robustness).

    Parameters
    ----------
    jitter : float, default 0.05
        Largest shift, as a fraction of the image size.
    scale : (float, float), default (0.9, 1.1)
        Range of the random scale factor.
    rotate : float, default 10.0
        Largest rotation, in degrees.

    ``Robustness.off()`` applies none of them.
    """

    jitter: float = 0.05
    scale: tuple[float, float] = (0.9, 1.1)
    rotate: float = 10.0

    @classmethod
    def off(cls) -> "Robustness":
        """No transformation: the picture is optimised as it is."""
        return cls(jitter=0.0, scale=(1.0, 1.0), rotate=0.0)

    @property
    def active(self) -> bool:
        return self.jitter > 0 or tuple(self.scale) != (1, 1) or self.rotate > 0


#: The transformations of a second attempt at a flat picture: none. At small sizes a shift or rotation of a
#: few pixels moves the picture away from what the unit sees, and a unit that the first attempt left off its
#: starting noise (64 px, block5_conv2/388 of VGG16) rose without them.
WEAKER = Robustness.off()


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
    robustness: Robustness | None = Robustness(),
    seed: int = 0,
    progress: bool = False,
    typical: float | None = None,
) -> Maximised:
    """Make a picture that drives ``unit`` of ``layer`` as high as possible.

    Parameters
    ----------
    model : ActivationModel or keras.Model
        An :class:`~catsel.ActivationModel` (its network, image size and
        preprocessing are used) or a ``keras.Model`` taking preprocessed images.
    layer : str
    unit : int
        A conv filter (the objective is the mean of its map) or a dense unit.
    steps : int, default 256
        Steps of Keras' Adam optimiser on the image parameters.
    learning_rate : float, default 0.05
    image_size : int, optional
        Side of the picture (default: the model's input size).
    preprocess : {"caffe", "tf", "torch", "raw"}, optional
        Default: the activation model's, or ``"raw"`` for a ``keras.Model``.
    parameterisation : {"fourier", "pixel"}
        ``"fourier"`` (default) or ``"pixel"`` (plain pixels through a sigmoid).
    decorrelate : bool, default True
        Mix colours along ImageNet's decorrelated axes.
    robustness : Robustness or None
        The random shift, scale and rotation applied at every step; ``None``
        (or ``Robustness.off()``) turns transformation robustness off.
    seed : int, default 0
        Seeds the starting image and the transformations.
    progress : bool, default False
        Show a progress bar with the time left (``tqdm``).
    typical : float, optional
        The unit's median maximum over a dataset's images (``np.median(acts[layer][:, unit])``): a picture
        whose maximum stays below it is flat, and is made once more with weaker transformations.

    Returns
    -------
    Maximised
        The picture (uint8, shape ``(size, size, 3)``), the objective at every
        step, and the unit's activation on the starting and final pictures.
        When the unit was not driven above its starting value (a unit that
        nothing drives, or too few steps), ``flat`` is True: the figures of
        :mod:`catsel.figures.visualize` and ``catsel visualize`` say so.

    See Also
    --------
    maximise_many : Several units at once, in one batch.
    """
    return maximise_many(model, [(layer, unit)], steps=steps, learning_rate=learning_rate, image_size=image_size,
                         preprocess=preprocess, parameterisation=parameterisation, decorrelate=decorrelate,
                         robustness=robustness, seed=seed, progress=progress, batch=True,
                         typical=None if typical is None else {(layer, unit): typical})[0]


def maximise_many(
    model: ActivationModel | keras.Model,
    units: Sequence[tuple[str, int]],
    *,
    steps: int = 256,
    learning_rate: float = 0.05,
    image_size: int | None = None,
    preprocess: str | None = None,
    parameterisation: str = "fourier",
    decorrelate: bool = True,
    robustness: Robustness | None = Robustness(),
    seed: int = 0,
    progress: bool = False,
    batch: bool | None = None,
    typical: Mapping | None = None,
) -> list[Maximised]:
    """Pictures for several units at once: on a GPU, one batch through the network per step.

    Each picture is the one :func:`maximise` makes for its unit alone (the
    same start and transformations from ``seed``; Adam works element by
    element), up to floating-point rounding. In one batch, a panel of filters
    costs one forward and backward pass of a batch per step instead of one
    pass per filter. The units may belong to different layers.

    Parameters
    ----------
    model : ActivationModel or keras.Model
        As for :func:`maximise`.
    units : sequence of (str, int)
        ``(layer, unit)`` pairs.
    steps, learning_rate, image_size, preprocess, parameterisation, decorrelate, robustness, seed
        As for :func:`maximise`, the same for every unit.
    progress : bool, default False
        Show a progress bar with the time left.
    batch : bool, optional
        Optimise the units in one batch (the default on a GPU), or one after
        another (the default on a CPU). Measured in
        ``benchmarks/maximise_speed.py``: on a CPU a batch costs as much as
        its units apart, or more, since a unit of an early layer alone needs
        only the layers up to its own.
    typical : mapping of (str, int) to float, optional
        Each unit's median maximum over a dataset's images (see :func:`maximise`).

    Returns
    -------
    list of Maximised
        One per pair, in order. A flat picture is made once more with the
        transformations off (:data:`WEAKER`); the better of the two is kept
        (``retried``), still marked flat when it still fails.
    """
    units = [(str(layer), int(unit)) for layer, unit in units]
    if not units:
        return []
    settings = dict(steps=steps, learning_rate=learning_rate, image_size=image_size, preprocess=preprocess,
                    parameterisation=parameterisation, decorrelate=decorrelate, robustness=robustness, seed=seed,
                    progress=progress)
    if batch is None:
        batch = on_accelerator()

    def run(chosen, **changed):
        options = {**settings, **changed}
        if batch:
            made = _maximise_batch(model, chosen, **options)
        else:  # one after another: the time of the first says how long the others take
            made = []
            for unit in chosen:
                started = time.perf_counter()
                made.append(_maximise_batch(model, [unit], **options)[0])
                if progress and len(made) == 1 and len(chosen) > 1:
                    left = (time.perf_counter() - started) * (len(chosen) - 1)
                    about = f"{left / 60:.1f} min" if left >= 60 else f"{max(left, 1):.0f} s"
                    tqdm.write(f"pictures: {len(chosen) - 1} more to make, about {about} (the first took "
                               f"{time.perf_counter() - started:.0f} s)", file=sys.stderr)
        for result in made:  # judged against the unit on real images, where that is known
            result.typical = None if typical is None else typical.get((result.layer, result.unit))
            result.flat = result.flat or (result.typical is not None and result.peak < result.typical)
        return made

    results = run(units)
    again = [i for i, r in enumerate(results) if r.flat]
    if again and robustness is not None and robustness.active:  # once more, without the transformations
        if progress:  # a second bar for the same unit, said why
            for i in again:
                r = results[i]
                why = (f"its maximum {r.peak:.3g} is below the unit's median on the dataset ({r.typical:.3g})"
                       if r.typical is not None and r.peak < r.typical else
                       f"it does not drive the unit ({r.start:.3g} on the starting noise, {r.final:.3g} at the end)")
                tqdm.write(f"picture of {r.layer}/{r.unit} came out flat: {why}; made once more without the "
                           "random transformations", file=sys.stderr)
        for i, second in zip(again, run([units[i] for i in again], robustness=WEAKER)):
            if not second.flat or (second.peak or 0.0) > (results[i].peak or 0.0):
                results[i] = second
            results[i].retried = True
    return results


def _maximise_batch(model, units: list[tuple[str, int]], *, steps: int, learning_rate: float,
                    image_size: int | None, preprocess: str | None, parameterisation: str, decorrelate: bool,
                    robustness: Robustness | None, seed: int, progress: bool) -> list[Maximised]:
    """:func:`maximise_many` in one batch."""
    if not isinstance(model, (ActivationModel, keras.Model)):  # a PyTorch module: the same picture, by autograd
        from .torch_maximise import maximise_torch

        if parameterisation not in ("fourier", "pixel"):
            raise ValueError(f"parameterisation must be 'fourier' or 'pixel', not {parameterisation!r}")
        robustness = robustness or Robustness.off()
        return maximise_torch(model, units, steps=steps, learning_rate=learning_rate, image_size=image_size,
                              preprocess=preprocess, parameterisation=parameterisation, decorrelate=decorrelate,
                              seed=seed, progress=progress, colour=_COLOUR_SQRT, frequency=_frequency_scale,
                              affine=(lambda rng, size: _affine(rng, size, robustness)) if robustness.active
                              else None, result=Maximised)
    if isinstance(model, ActivationModel):
        network, size, mode, graph = model.network, model.image_size, model.preprocess, model.graph
    else:
        network, size, mode, graph = model, None, "raw", graph_of(model)
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
    colour = ops.convert_to_tensor(_COLOUR_SQRT if decorrelate else np.eye(3, dtype=np.float32))
    freq = ops.convert_to_tensor(_frequency_scale(size)[None, None])  # (1, 1, S, S)

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
    for t in tqdm(range(steps), desc=what, unit="step", disable=not progress, leave=False, dynamic_ncols=True):
        current["transform"] = (ops.convert_to_tensor(np.concatenate([_affine(rng, size, robustness)
                                                                      for rng in rngs]))
                                if robustness.active else None)
        (_, values), grads = grad([v.value for v in variables])
        trace[t] = ops.convert_to_numpy(values)
        optimiser.apply(grads, variables)
    images = np.asarray(ops.convert_to_numpy(to_image([v.value for v in variables])) * 255.0)
    final, peak = activations(), peaks()
    return [Maximised(image=np.clip(np.rint(images[b]), 0, 255).astype(np.uint8), trace=trace[:, b],
                      start=float(start[b]), final=float(final[b]), layer=layer, unit=unit,
                      flat=not final[b] > start[b], peak=float(peak[b]))
            for b, (layer, unit) in enumerate(units)]
