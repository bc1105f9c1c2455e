"""Low-level confounds: image statistics, how much they explain of each unit's preference, a phase-scrambled control."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..selecting.indices import stack_units
from ..selecting.tables import onehot
from ..store import Activations

__all__ = ["image_statistics", "CONFOUND_D", "CONFOUND_GRAYSCALE", "CONFOUND_MIN_IMAGES", "CONFOUND_IMAGES",
           "CONFOUND_AT_LEAST", "confound_check", "untrained_confounds", "confound_audit", "phase_scramble"]


def _low_level(image: np.ndarray) -> list[float]:
    rgb = image.astype(np.float64) / 255.0
    lum = 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(lum - lum.mean()))) ** 2
    h, w = lum.shape
    yy, xx = np.indices((h, w))
    radius = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
    total = spectrum.sum()
    high = spectrum[radius > 0.5].sum() / total if total > 0 else 0.0
    return [lum.mean(), lum.std(), colourfulness, high]


def image_statistics(acts: Activations) -> pd.DataFrame:
    """Low-level statistics of every captured image, as the network saw it.

    Parameters
    ----------
    acts : Activations
        Its images are decoded again from the data folder.

    Returns
    -------
    DataFrame
        One row per image: ``path``, ``category``, ``luminance`` (mean),
        ``contrast`` (RMS of luminance), ``colourfulness`` (Hasler &
        Süsstrunk), ``high_frequency`` (share of the luminance power spectrum
        above half the Nyquist frequency).
    """
    rows = [_low_level(acts.image(i)) for i in range(len(acts))]
    frame = pd.DataFrame(rows, columns=["luminance", "contrast", "colourfulness", "high_frequency"])
    frame.insert(0, "category", [acts.categories[label] for label in acts.labels])
    frame.insert(0, "path", acts.paths)
    return frame


#: When a category's images differ from the others' this much, :func:`confound_check` warns: by Cohen's d
#: (the difference of the means over the pooled standard deviation; 0.8 is "large") for luminance, contrast
#: and colourfulness, and by the share of grayscale images.
CONFOUND_D = 1.0


#: ... and by more than this share of grayscale images.
CONFOUND_GRAYSCALE = 0.5


#: The differences of means are judged only for categories of at least this many images (with four, a d above 1
#: came by chance on the sample data); the share of grayscale images at any number.
CONFOUND_MIN_IMAGES = 8


#: About how many images the check decodes again at most, whatever the number of categories: it runs at the end
#: of every `catsel run`, and 200 images of each of ImageNet's 1,000 classes would take longer than the capture.
CONFOUND_IMAGES = 2400


#: ... and by at least this much on the statistic's own scale (luminance and colourfulness run from 0 to
#: about 1, contrast to about 0.5): images that hardly vary make d large for a difference nobody could see.
CONFOUND_AT_LEAST = {"mean luminance": 0.05, "contrast": 0.03, "colourfulness": 0.05}


def untrained_confounds(summary: pd.DataFrame) -> list[str]:
    """The untrained twin as a confound alarm: the categories an untrained network already tells apart.

    An untrained network's units answer to the pixels alone: where its count
    of a category's units is evidence against its own shuffled-label null
    (``untrained_evidence`` of :func:`catsel.stats.with_baselines`), the
    category's images differ from the others in low-level statistics that
    the network picks up before any training.

    Parameters
    ----------
    summary : DataFrame
        A layer summary with the untrained control and the shuffled-label null.

    Returns
    -------
    list of str
        One sentence per such category, the one with most such layers first
        (empty: none, or no untrained control).
    """
    if "untrained_evidence" not in summary:
        return []
    found = []
    marked = summary[summary["untrained_evidence"].fillna(False).astype(bool)]
    n_layers = summary["layer"].nunique()
    for category, rows in marked.groupby("category", observed=True, sort=False):
        layers = list(rows["layer"].astype(str))
        shown = ", ".join(layers[:4]) + (f" and {len(layers) - 4} more" if len(layers) > 4 else "")
        found.append((len(layers), f"{category}: the untrained network (random weights) already has more "
                                   f"{category}-selective units than chance in {len(layers)} of {n_layers} layers "
                                   f"({shown}), so the {category} images differ from the others in low-level "
                                   "statistics"))
    return [text for _, text in sorted(found, key=lambda f: -f[0])]


def confound_check(acts: Activations, *, per_category: int = 200, total: int = CONFOUND_IMAGES,
                   seed: int = 0) -> list[str]:
    """Cheap low-level statistics per category, and what in them could tell the categories apart alone.

    For up to ``per_category`` images of each category (chosen at random;
    fewer with many categories, so that at most about ``total`` images are
    decoded again, but never fewer than ``catsel.stats.CONFOUND_MIN_IMAGES``):
    mean luminance, contrast and colourfulness (see :func:`image_statistics`)
    and whether the image is grayscale (its three channels equal). A
    category whose mean differs from the other images' by more than
    ``catsel.stats.CONFOUND_D`` pooled standard deviations (and by
    ``catsel.stats.CONFOUND_AT_LEAST`` on the statistic's scale), or whose share of
    grayscale images differs by more than ``catsel.stats.CONFOUND_GRAYSCALE``, is
    named: a filter "selective" for it may respond to that statistic, not
    to the category.

    Parameters
    ----------
    acts : Activations
    per_category : int, default 200
    total : int, default ``catsel.stats.CONFOUND_IMAGES``
    seed : int, default 0

    Returns
    -------
    list of str
        One sentence per finding, the largest first (empty: nothing found).
    """
    per_category = min(per_category, max(CONFOUND_MIN_IMAGES, total // max(len(acts.categories), 1)))
    rng = np.random.default_rng(seed)
    labels = np.asarray(acts.labels)
    rows = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_category]
                           for c in range(len(acts.categories))])
    values, gray = [], []
    for row in rows:
        with warnings.catch_warnings():  # what Pillow says of an image was said once, when it was captured
            warnings.simplefilter("ignore")
            image = acts.image(int(row))
        values.append(_low_level(image)[:3])
        gray.append(bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()))
    values, gray, chosen = np.asarray(values), np.asarray(gray, dtype=float), labels[rows]
    findings = []
    for c, name in enumerate(acts.categories):
        here, rest = chosen == c, chosen != c
        if not here.any() or not rest.any():
            continue
        for k, statistic in enumerate(("mean luminance", "contrast", "colourfulness")):
            if here.sum() < CONFOUND_MIN_IMAGES:  # too few images for a mean difference to say anything
                break
            a, b = values[here, k], values[rest, k]
            pooled = np.sqrt((a.var() * len(a) + b.var() * len(b)) / (len(a) + len(b)))
            d = abs(a.mean() - b.mean()) / pooled if pooled > 0 else (np.inf if a.mean() != b.mean() else 0.0)
            if d > CONFOUND_D and abs(a.mean() - b.mean()) >= CONFOUND_AT_LEAST[statistic]:
                findings.append((d, f"{name} differs from the other categories in {statistic} ({a.mean():.2f} "
                                    f"against {b.mean():.2f}, d = {d:.1f})"))
        share, others = gray[here].mean(), gray[rest].mean()
        if abs(share - others) > CONFOUND_GRAYSCALE:
            findings.append((np.inf, f"{name} differs from the other categories in its share of "
                                                       f"grayscale images ({share:.0%} against {others:.0%})"))
    return [text for _, text in sorted(findings, key=lambda f: -f[0])]


def _r2(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = ((y - design @ coef) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return np.divide(total - residual, total, out=np.zeros_like(total), where=total > 0)


def confound_audit(acts: Activations, statistics: pd.DataFrame | None = None, *, layers=None) -> pd.DataFrame:
    """How much of each unit's category preference low-level statistics explain.

    Per unit, three linear regressions of its maxima over the images:
    ``r2_low_level`` (on the image statistics), ``r2_category`` (on the
    categories), and ``r2_category_beyond`` (what the categories add once the
    low-level statistics are in the model). A unit whose category effect
    vanishes beyond the low-level statistics is explained by them.
    ``share_explained`` = 1 − r2_category_beyond / r2_category.

    Parameters
    ----------
    acts : Activations
    statistics : DataFrame, optional
        From :func:`image_statistics` (computed when not given).
    layers : list of str, optional

    Returns
    -------
    DataFrame
        One row per unit: ``layer``, ``unit``, ``r2_low_level``,
        ``r2_category``, ``r2_category_beyond``, ``share_explained``.
    """
    statistics = statistics if statistics is not None else image_statistics(acts)
    layers, a, sizes = stack_units(acts, layers)
    n = len(acts.labels)
    low = statistics[["luminance", "contrast", "colourfulness", "high_frequency"]].to_numpy(dtype=np.float64)
    low = (low - low.mean(axis=0)) / np.where(low.std(axis=0) > 0, low.std(axis=0), 1.0)
    dummies = onehot(acts.labels, len(acts.categories)).T[:, 1:]  # (images, categories - 1)
    ones = np.ones((n, 1))
    r2_low = _r2(np.hstack([ones, low]), a)
    r2_cat = _r2(np.hstack([ones, dummies]), a)
    r2_both = _r2(np.hstack([ones, low, dummies]), a)
    beyond = np.maximum(r2_both - r2_low, 0.0)
    share = np.divide(r2_cat - np.minimum(beyond, r2_cat), r2_cat, out=np.zeros_like(r2_cat), where=r2_cat > 1e-12)
    layer_of_unit = np.repeat(np.arange(len(layers)), sizes)
    return pd.DataFrame({
        "layer": pd.Categorical.from_codes(layer_of_unit, categories=layers, ordered=True),
        "unit": np.concatenate([np.arange(s) for s in sizes]),
        "r2_low_level": r2_low, "r2_category": r2_cat, "r2_category_beyond": beyond, "share_explained": share,
    })


def phase_scramble(acts_or_folder, out_dir: str | os.PathLike, *, seed: int = 0, size: int | None = None) -> Path:
    """Write a control set: every image with its amplitude spectrum kept and its phases randomised.

    The same random phase field is used for the three colour channels (so
    colours stay plausible); the layout (one sub-folder per category) is
    kept, so the control runs through ``catsel run`` like the original.

    Parameters
    ----------
    acts_or_folder : Activations, ImageFolder or path
        The images to scramble.
    out_dir : str or path
        Where the control set is written (PNG files).
    seed : int, default 0
    size : int, optional
        Side of the written images (default: the capture's or folder's size).

    Returns
    -------
    Path
        The control folder.
    """
    from PIL import Image

    from ..images.folder import ImageFolder, load_image
    from ..options import hw
    from ..paths import inside

    if isinstance(acts_or_folder, Activations):  # each file checked to be the one captured
        paths = acts_or_folder.paths
        sources = [acts_or_folder.image_file(i) for i in range(len(paths))]
        size = size or acts_or_folder.meta.image_size
    else:
        folder = acts_or_folder if isinstance(acts_or_folder, ImageFolder) else ImageFolder(acts_or_folder)
        root, paths = folder.root, folder.relative_paths()
        sources = [inside(root, rel, what="image path", links=True) for rel in paths]
        size = size or folder.image_size
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    # every name joined by the one checked join: read inside the data folder, written inside out_dir
    files = [(source, inside(out_dir, Path(rel).with_suffix(".png").as_posix(), what="image path"))
             for source, rel in zip(sources, paths)]
    for source, target in files:
        image = load_image(source, size).astype(np.float64)
        phase = np.angle(np.fft.fft2(rng.random(hw(size))))
        scrambled = np.empty_like(image)
        for ch in range(3):
            spectrum = np.fft.fft2(image[..., ch])
            scrambled[..., ch] = np.real(np.fft.ifft2(np.abs(spectrum) * np.exp(1j * (np.angle(spectrum) + phase))))
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(np.rint(scrambled), 0, 255).astype(np.uint8)).save(target)
    return out_dir
