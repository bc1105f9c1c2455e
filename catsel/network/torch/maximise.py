"""Activation maximisation of a PyTorch module's units, by autograd: :mod:`catsel.network.maximise` in torch.

The same picture as for a Keras network: a Fourier parameterisation scaled by 1/f, decorrelated colour,
a sigmoid to [0, 255], the network's own preprocessing, and at every step a random shift, scale and rotation
(the same draws as the Keras version: :func:`catsel.network.maximise.maximise_many` hands them over), with
``torch.optim.Adam`` on the parameters. The objective is the mean of the unit's map (its patch tokens, or the
unit itself), read by a forward hook; for a unit captured after an activation module (a ReLU), the hook reads
the activation's input, so that a unit silent on the starting noise still has a gradient.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from ...options import hw, image_shape
from ..picture import COLOUR_SQRT, Convergence, Maximised, Robustness, frequency_scale, random_affine
from .trace import module_of, per_unit

__all__ = ["maximise_batch", "maximise_torch"]


def maximise_batch(network, units: list[tuple[str, int]], *, steps: int, learning_rate: float, image_size,
                   preprocess: str | None, parameterisation: str, decorrelate: bool, robustness: Robustness | None,
                   seed: int, progress: bool, converge: bool = True) -> list:
    """:func:`catsel.network.maximise.maximise_many` in one batch, for a
    :class:`~catsel.network.torch.network.TorchNetwork`: the face's picture, colours and transformations handed
    to :func:`maximise_torch`.

    Parameters
    ----------
    network : TorchNetwork
    units : list of (str, int)
    steps, learning_rate, image_size, preprocess, parameterisation, decorrelate, robustness, seed, progress, converge
        As :func:`catsel.network.maximise.maximise_many` takes them.

    Returns
    -------
    list of Maximised
    """
    if parameterisation not in ("fourier", "pixel"):
        raise ValueError(f"parameterisation must be 'fourier' or 'pixel', not {parameterisation!r}")
    robustness = robustness or Robustness.off()
    return maximise_torch(network, units, steps=steps, learning_rate=learning_rate, image_size=image_size,
                          preprocess=preprocess, parameterisation=parameterisation, decorrelate=decorrelate,
                          seed=seed, progress=progress, colour=COLOUR_SQRT, frequency=frequency_scale,
                          affine=(lambda rng, size: random_affine(rng, size, robustness)) if robustness.active
                          else None, result=Maximised, converge=converge)


def maximise_torch(network, units: list[tuple[str, int]], *, steps: int, learning_rate: float, image_size,
                   preprocess: str | None, parameterisation: str, decorrelate: bool, seed: int, progress: bool,
                   colour: np.ndarray, frequency: Callable, affine: Callable | None, result: type,
                   converge: bool = True) -> list:
    """Pictures of ``units`` of a :class:`~catsel.network.torch.network.TorchNetwork`, in one batch.

    Parameters
    ----------
    network : TorchNetwork
    units : list of (str, int)
    steps : int
    learning_rate : float
    image_size : int, (int, int) or None
    preprocess : str or None
    parameterisation : {"fourier", "pixel"}
    decorrelate : bool
    seed : int
    progress : bool
    converge : bool, default True
        Stop each picture when it has converged (:class:`catsel.network.picture.Convergence`).
    colour : ndarray, shape (3, 3)
        The colour decorrelation matrix.
    frequency : callable
        Size → the 1/f scale of the Fourier parameters.
    affine : callable or None
        ``(rng, size)`` → one transformation (8 numbers, output pixel to input pixel); None: no transformations.
    result : type
        :class:`catsel.network.maximise.Maximised`.

    Returns
    -------
    list of Maximised
    """
    import torch
    import torch.nn.functional as F

    from .trace import preprocess_torch

    size = image_shape(image_size) or network.image_size
    height, width = hw(size)
    mode = preprocess or network.preprocess
    device = network.device
    modules = dict(network.module.named_modules())
    for name, _ in units:
        if module_of(name) not in modules:
            raise ValueError(f"no module named {name!r} in {network.source}")
    rngs = [np.random.default_rng(seed) for _ in units]
    shapes = [(1, 3, height, width)] * 2 if parameterisation == "fourier" else [(1, height, width, 3)]
    starts = [[rng.normal(0, 0.01, shape).astype(np.float32) for shape in shapes] for rng in rngs]
    params = [torch.tensor(np.concatenate([start[i] for start in starts]), device=device, requires_grad=True)
              for i in range(len(shapes))]
    mix = torch.tensor(colour if decorrelate else np.eye(3, dtype=np.float32), device=device)
    freq = torch.tensor(frequency(size)[None, None], device=device)
    rows_y, cols_x = torch.meshgrid(torch.arange(height, dtype=torch.float32, device=device),
                                    torch.arange(width, dtype=torch.float32, device=device), indexing="ij")

    def to_image(ps):
        if parameterisation == "fourier":
            x = torch.fft.ifft2(torch.complex(ps[0] * freq, ps[1] * freq)).real
            x = x.permute(0, 2, 3, 1) * (math.sqrt(height * width) / 4.0)
        else:
            x = ps[0]
        return torch.sigmoid(x @ mix.T)  # (B, H, W, 3) in [0, 1]

    def transformed(x, transforms):
        """keras.ops.image.affine_transform's bilinear, reflecting transform, by grid_sample."""
        t = torch.tensor(transforms, device=device)
        xin = t[:, 0, None, None] * cols_x + t[:, 1, None, None] * rows_y + t[:, 2, None, None]
        yin = t[:, 3, None, None] * cols_x + t[:, 4, None, None] * rows_y + t[:, 5, None, None]
        grid = torch.stack([2 * xin / max(width - 1, 1) - 1, 2 * yin / max(height - 1, 1) - 1], dim=-1)
        return F.grid_sample(x.permute(0, 3, 1, 2), grid, mode="bilinear", padding_mode="reflection",
                             align_corners=True)

    layers = list(dict.fromkeys(name for name, _ in units))

    def read(x_nchw, before: bool):
        """Each captured layer's output (or, for an activation module, its input) on a batch."""
        got: dict[str, object] = {}
        hooks = []
        for name in layers:
            module = modules[module_of(name)]
            post = network.post(name)
            if before and per_unit(module) and "Norm" not in type(module).__name__:  # an activation
                hooks.append(module.register_forward_pre_hook(
                    lambda m, a, name=name: got.__setitem__(name, a[0].clone())))
            elif post is not None and not before:  # "bn1+relu": the activation the forward applies after it
                hooks.append(module.register_forward_hook(
                    lambda m, a, o, name=name, post=post: got.__setitem__(name, post(o))))
            else:  # (before the activation a "bn1+relu" applies, for the gradient)
                hooks.append(module.register_forward_hook(lambda m, a, o, name=name: got.__setitem__(name, o)))
        try:
            network.module(preprocess_torch(x_nchw, mode))
        finally:
            for h in hooks:
                h.remove()
        return got

    def values(outs, reduce_max: bool = False):
        total = []
        for b, (name, unit) in enumerate(units):
            out = network.batch_first(name, outs[name])[b:b + 1]
            if name.endswith("[class]"):
                v = out[:, 0, unit]
            elif out.ndim == 4:
                m = out[..., unit] if network.channels_last(name) else out[:, unit]
                v = m.amax(dim=(1, 2)) if reduce_max else m.mean(dim=(1, 2))
            elif out.ndim == 3:
                m = out[:, sum(network.leading_tokens(name)):, unit]
                v = m.amax(dim=1) if reduce_max else m.mean(dim=1)
            else:
                v = out[:, unit]
            total.append(v)
        return torch.cat(total)

    def measure(before: bool, reduce_max: bool = False) -> np.ndarray:
        with torch.no_grad():
            x = (to_image(params) * 255.0).permute(0, 3, 1, 2)
            return values(read(x, before), reduce_max).cpu().numpy()

    start = measure(False)
    optimiser = torch.optim.Adam(params, lr=learning_rate, eps=1e-8)
    trace = np.empty((steps, len(units)), dtype=np.float64)
    what = f"picture of {units[0][0]}/{units[0][1]}" if len(units) == 1 else f"pictures of {len(units)} units"
    stopped = Convergence(steps, len(units), converge)
    for t in tqdm(range(steps), desc=what, unit="step", disable=not progress, leave=False, dynamic_ncols=True):
        optimiser.zero_grad()
        x = to_image(params) * 255.0
        if affine is not None:
            x = transformed(x, np.concatenate([affine(rng, size) for rng in rngs])[:, :6])
        else:
            x = x.permute(0, 3, 1, 2)
        objective = values(read(x, True))
        (-objective.sum()).backward()
        optimiser.step()
        trace[t] = objective.detach().cpu().numpy()
        if stopped.after(trace, t, lambda: [p.detach().cpu().numpy() for p in params]):
            break
    with torch.no_grad():
        for b, kept in stopped.kept.items():  # each picture as it was when it converged
            for p, value in zip(params, kept):
                p[b] = torch.from_numpy(value).to(p.device)
        images = (to_image(params) * 255.0).cpu().numpy()
    final, peak = measure(False), measure(False, reduce_max=True)
    return [result(image=np.clip(np.rint(images[b]), 0, 255).astype(np.uint8), trace=trace[:stopped.steps[b], b],
                   start=float(start[b]), final=float(final[b]), layer=layer, unit=unit,
                   flat=not final[b] > start[b], peak=float(peak[b]))
            for b, (layer, unit) in enumerate(units)]
