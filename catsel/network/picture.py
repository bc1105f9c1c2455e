"""What a picture of a unit is, framework-free: its result (:class:`Maximised`), the random transformations
(:class:`Robustness`), the colour decorrelation and the 1/f frequency scale that every source's gradient ascent
uses (:mod:`catsel.network.maximise` says how the picture is made)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..options import hw

__all__ = ["Maximised", "Robustness", "WEAKER", "COLOUR_SQRT", "WINDOW", "CONVERGED", "frequency_scale",
           "random_affine", "converged", "Convergence"]


#: Steps over which a picture's progress is judged (the random transformations make one step's objective noisy).
WINDOW = 32

#: A picture has converged when its objective over the last :data:`WINDOW` steps gained less than this share of
#: its value over the :data:`WINDOW` steps before: it stops there, not after a fixed number of steps.
CONVERGED = 0.01


def converged(trace: np.ndarray, t: int) -> np.ndarray:
    """Which pictures have converged after step ``t`` (checked every :data:`WINDOW` steps, from the second on).

    Parameters
    ----------
    trace : ndarray, shape (steps, pictures)
        The objective at every step so far.
    t : int
        The step just made.

    Returns
    -------
    ndarray of bool, shape (pictures,)
    """
    n = t + 1
    if n < 2 * WINDOW or n % WINDOW:
        return np.zeros(trace.shape[1], dtype=bool)
    last, before = trace[n - WINDOW:n].mean(axis=0), trace[n - 2 * WINDOW:n - WINDOW].mean(axis=0)
    return last - before <= CONVERGED * np.maximum(np.abs(before), np.abs(last))


class Convergence:
    """The pictures of one batch as each converges: the step it stopped at, and its parameters then.

    A picture that has converged keeps its parameters of that step, whatever the others in the batch go on to
    do; each picture is then the one it would be alone (pictures in a batch do not mix).

    Parameters
    ----------
    steps : int
        The most steps.
    pictures : int
    stop : bool
        Stop on convergence; False: every picture takes ``steps`` steps.
    """

    def __init__(self, steps: int, pictures: int, stop: bool = True):
        self.steps = np.full(pictures, steps)
        self.done = np.zeros(pictures, dtype=bool)
        self.kept: dict[int, list] = {}
        self.stop = stop

    def after(self, trace: np.ndarray, t: int, rows) -> bool:
        """Note the pictures that converged at step ``t`` (``rows()`` gives each parameter's rows now); True
        when every picture has."""
        if not self.stop:
            return False
        new = converged(trace, t) & ~self.done
        if new.any():
            values = rows()
            for b in np.flatnonzero(new):
                self.kept[int(b)] = [np.array(v[b]) for v in values]
                self.steps[b] = t + 1
            self.done |= new
        return bool(self.done.all())


# Square root of the colour correlation of ImageNet images (rows: RGB), as
# measured for feature-visualisation work; normalised by its largest column norm.
COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
COLOUR_SQRT /= np.max(np.linalg.norm(COLOUR_SQRT, axis=0))


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



def frequency_scale(size, decay: float = 1.0) -> np.ndarray:
    """The 1/f scale of a Fourier-parameterised picture's frequencies.

    Parameters
    ----------
    size : int or (int, int)
        The picture's side, or its ``(height, width)``.
    decay : float, default 1.0
        The power of 1/f.

    Returns
    -------
    ndarray of float32, shape (height, width)
    """
    height, width = hw(size)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    return (1.0 / np.maximum(f, 1.0 / max(height, width)) ** decay).astype(np.float32)


def random_affine(rng: np.random.Generator, size: int, robustness: "Robustness") -> np.ndarray:
    """A random shift, scale and rotation about the centre (output pixel to input pixel).

    Parameters
    ----------
    rng : numpy.random.Generator
    size : int or (int, int)
        The picture's side, or its ``(height, width)``.
    robustness : Robustness
        The largest shift, the scale range and the largest rotation.

    Returns
    -------
    ndarray of float32, shape (1, 8)
        As ``keras.ops.image.affine_transform`` takes them.
    """
    s = rng.uniform(*robustness.scale)
    a = math.radians(rng.uniform(-robustness.rotate, robustness.rotate))
    height, width = hw(size)
    tx, ty = rng.uniform(-robustness.jitter, robustness.jitter, 2) * (width, height)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = math.cos(a) / s, math.sin(a) / s
    # input = R/s · (output − centre) + centre + shift
    return np.array([[cos, -sin, cx - cos * cx + sin * cy + tx, sin, cos, cy - sin * cx - cos * cy + ty, 0, 0]],
                    dtype=np.float32)


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
