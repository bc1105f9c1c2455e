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
[0, 255] and given the network's own preprocessing. Each source makes the pictures with its own framework's gradient (a network's
``maximise_batch``): a Keras network by :mod:`catsel.network.keras.maximise` (one small step per backend,
Keras' Adam, ``keras.ops``), a PyTorch module by :mod:`catsel.network.torch.maximise` (autograd, torch's
Adam), with the same parameterisation, colours and transformations, which live here. This module imports no
framework. Seeded: the same seed gives the same picture on the same backend.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping, Sequence

from tqdm.auto import tqdm

from .picture import WEAKER, Maximised, Robustness

__all__ = ["maximise", "maximise_many", "Maximised", "Robustness", "WEAKER"]

def maximise(
    model: Any,
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
    converge: bool = True,
) -> Maximised:
    """Make a picture that drives ``unit`` of ``layer`` as high as possible.

    Parameters
    ----------
    model : Network or keras.Model
        A network of :func:`catsel.activation_model` (its image size and
        preprocessing are used: a Keras network's by Keras' own gradient, a
        PyTorch module's by autograd) or a ``keras.Model`` taking preprocessed
        images.
    layer : str
    unit : int
        A conv filter (the objective is the mean of its map) or a dense unit.
    steps : int, default 256
        The most steps of Adam on the image parameters (Keras' optimiser, or torch's for a PyTorch module).
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
    converge : bool, default True
        Stop when the picture has converged: its objective over the last 32 steps gained less than 1 % over the
        32 before (``catsel.network.picture.CONVERGED``), checked from step 64 on; its ``trace`` then holds
        the steps it took. False: every one of ``steps``.

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
                         typical=None if typical is None else {(layer, unit): typical}, converge=converge)[0]


def maximise_many(
    model: Any,
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
    converge: bool = True,
) -> list[Maximised]:
    """Pictures for several units at once: on a GPU, one batch through the network per step.

    Each picture is the one :func:`maximise` makes for its unit alone (the
    same start and transformations from ``seed``; Adam works element by
    element), up to floating-point rounding. In one batch, a panel of filters
    costs one forward and backward pass of a batch per step instead of one
    pass per filter. The units may belong to different layers.

    Parameters
    ----------
    model : Network or keras.Model
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
    converge : bool, default True
        Stop each picture when it has converged (see :func:`maximise`); a picture in a batch keeps what it had
        then, so it is still the one it gets alone.

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
                    progress=progress, converge=converge)
    if batch is None:
        batch = _maximiser(model).on_accelerator()

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

    if progress and steps > 16:  # how long, before the minutes: a few steps of the first batch, timed
        probe = units if batch else units[:1]
        started = time.perf_counter()
        _maximise_batch(model, probe, **{**settings, "steps": 8, "progress": False})
        per_step = (time.perf_counter() - started) / 8
        total = per_step * steps * (1 if batch else len(units))
        about = f"{total / 60:.1f} min" if total >= 60 else f"{max(total, 1):.0f} s"
        tqdm.write(f"pictures: {len(units)} unit(s) x {steps} steps{' at most' if converge else ''}: about {about}, "
                   "measured on 8 steps"
                   + ("" if batch else " of the first"), file=sys.stderr)
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


def _maximiser(model):
    """What makes the pictures of ``model``: the network itself (its ``maximise_batch`` and
    ``on_accelerator``), or, for a ``keras.Model`` given as it is, the Keras source's maker."""
    if callable(getattr(model, "maximise_batch", None)):
        return model
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        from .keras.maximise import KerasMaximiser

        return KerasMaximiser(model)
    raise TypeError(f"pictures are made of a network of catsel.activation_model or a keras.Model, not "
                    f"{type(model).__name__}")


def _maximise_batch(model, units: list[tuple[str, int]], **options) -> list[Maximised]:
    """:func:`maximise_many` in one batch, by the network's own framework."""
    return _maximiser(model).maximise_batch(units, **options)
