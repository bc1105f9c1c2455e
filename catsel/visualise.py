"""Seeing a filter: its top images and the image regions that drove it.

* :func:`top_images` — the k images of the captured set on which a filter's
  maximum is highest (optionally within one category);
* :func:`receptive_crop` — the region of an image that the filter's maximum
  saw: the unit's receptive field (stored with the capture, computed from the
  model's layers, see :mod:`catsel.receptive`) around where the maximum was;
* :func:`plot_top_images`, :func:`plot_crops` — montages as matplotlib figures;
* :func:`thumbnail_grid` — a few images per category of a dataset.

Images are read again from the data folder recorded in the store, the same
way as for the capture (size and fit), so crops line up with the positions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from .data import ImageFolder, load_image
from .plots import _palette
from .receptive import ReceptiveField
from .store import Activations

__all__ = ["top_images", "image_of", "receptive_crop", "plot_top_images", "plot_crops", "thumbnail_grid"]


def top_images(acts: Activations, layer: str, unit: int, k: int = 8, *, category: str | None = None) -> np.ndarray:
    """Rows of the ``k`` images with the highest value of ``unit``, best first."""
    values = np.asarray(acts[layer][:, unit])
    rows = np.arange(len(values))
    if category is not None:
        if category not in acts.categories:
            raise KeyError(f"no category {category!r}; categories: {', '.join(acts.categories)}")
        rows = rows[acts.labels == acts.categories.index(category)]
    order = np.argsort(-values[rows], kind="stable")
    return rows[order[:k]]


def image_of(acts: Activations, row: int) -> np.ndarray:
    """Image ``row`` as the network saw it (uint8, the capture's size and fit)."""
    path = Path(acts.root) / acts.paths[row]
    return load_image(path, int(acts.meta["image_size"]), acts.meta.get("fit", "squash"))


def _field(acts: Activations, layer: str) -> ReceptiveField:
    for spec in acts.meta["layers"]:
        if spec["name"] == layer:
            if not spec.get("receptive_field"):
                raise ValueError(f"layer {layer} has no receptive field (a dense layer sees the whole image)")
            return ReceptiveField(**spec["receptive_field"])
    raise KeyError(f"no layer {layer!r}; captured layers: {', '.join(acts.layers)}")


def receptive_crop(acts: Activations, layer: str, unit: int, row: int, image: np.ndarray | None = None
                   ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The part of image ``row`` inside the receptive field of ``unit``'s maximum.

    Returns the crop and its box ``(top, left, bottom, right)`` in the
    network's input pixels (clipped to the image; bottom/right exclusive).
    """
    image = image_of(acts, row) if image is None else image
    field = _field(acts, layer)
    width = acts.map_shape(layer)[1]
    r, c = divmod(int(acts.positions(layer)[row, unit]), width)
    box = field.box(r, c, image.shape[0])
    top, left, bottom, right = box
    return image[top:bottom, left:right], box


def _tile(ax, image, title, colour) -> None:
    ax.imshow(image)
    ax.set_title(title, fontsize=8, color=colour)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_top_images(acts: Activations, layer: str, unit: int, k: int = 8, *, category: str | None = None,
                    boxes: bool = True, fig: Figure | None = None) -> Figure:
    """The filter's top images, each titled with its category and value; the
    receptive field of the maximum outlined (conv layers)."""
    from matplotlib.patches import Rectangle

    rows = top_images(acts, layer, unit, k, category=category)
    cols = min(max(len(rows), 1), 8)
    lines = -(-len(rows) // cols) or 1
    fig = fig or Figure(figsize=(1.6 * cols, 1.9 * lines + 0.4), layout="constrained")
    palette = _palette(list(acts.categories))
    conv = acts.map_shape(layer) is not None
    for i, row in enumerate(rows):
        ax = fig.add_subplot(lines, cols, i + 1)
        cat = acts.categories[acts.labels[row]]
        image = image_of(acts, row)
        _tile(ax, image, f"{cat}\n{acts[layer][row, unit]:.3g}", palette[cat])
        if conv and boxes:
            _, (top, left, bottom, right) = receptive_crop(acts, layer, unit, row, image)
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                                   ec="yellow", lw=1.5))
    fig.suptitle(f"{layer} filter {unit}: top {len(rows)} images" + (f" of {category}" if category else ""),
                 fontsize=10)
    return fig


def plot_crops(acts: Activations, layer: str, unit: int, k: int = 8, *, per_category: bool = False,
               size: int = 64, fig: Figure | None = None) -> Figure:
    """Receptive-field crops of the filter's top images (one row, or one row per category)."""
    groups = [(c, top_images(acts, layer, unit, k, category=c)) for c in acts.categories] if per_category \
        else [(None, top_images(acts, layer, unit, k))]
    cols = max(len(r) for _, r in groups)
    fig = fig or Figure(figsize=(1.2 * cols + 1.2, 1.45 * len(groups) + 0.5), layout="constrained")
    palette = _palette(list(acts.categories))
    axes = fig.subplots(len(groups), cols, squeeze=False)
    for g, (group, rows) in enumerate(groups):
        for i in range(cols):
            ax = axes[g, i]
            ax.set_axis_off()
            if i >= len(rows):
                continue
            row = rows[i]
            crop, _ = receptive_crop(acts, layer, unit, row)
            shown = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BICUBIC))
            cat = acts.categories[acts.labels[row]]
            _tile(ax, shown, f"{acts[layer][row, unit]:.3g}", palette[cat])
            ax.set_axis_on()
            if i == 0 and group is not None:
                ax.set_ylabel(group, color=palette[group], fontsize=9)
    fig.suptitle(f"{layer} filter {unit}: receptive-field crops at the maximum"
                 + (", per category" if per_category else ""), fontsize=10)
    return fig


def thumbnail_grid(folder: ImageFolder, per_category: int = 6, *, size: int = 96, fig: Figure | None = None) -> Figure:
    """The first ``per_category`` readable images of each category, one row per category."""
    cats = folder.categories
    fig = fig or Figure(figsize=(1.3 * per_category + 1, 1.35 * len(cats)), layout="constrained")
    axes = fig.subplots(len(cats), per_category, squeeze=False)
    palette = _palette(list(cats))
    for r, cat in enumerate(cats):
        indices = [i for i, lab in enumerate(folder.labels) if lab == r]
        shown = 0
        for i in indices:
            if shown == per_category:
                break
            try:
                img = load_image(folder.paths[i], size, folder.fit)
            except Exception:
                continue
            ax = axes[r, shown]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if shown == 0:
                ax.set_ylabel(cat, color=palette[cat], fontsize=10)
            shown += 1
        for j in range(shown, per_category):
            axes[r, j].set_axis_off()
    return fig
