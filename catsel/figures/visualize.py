"""Seeing a filter: its top images and the image regions that drove it.

* :func:`top_images` — the k images of the captured set on which a filter's
  maximum is highest (optionally within one category);
* :func:`receptive_crop` — the region of an image that the filter's maximum
  saw: the unit's receptive field (stored with the capture, computed from the
  model's layers, see :mod:`catsel.network.receptive`) around where the maximum was;
* :func:`plot_top_images`, :func:`plot_crops` — montages as matplotlib figures;
* :func:`thumbnail_grid` — a few images per category of a dataset.

Images are read again from the data folder recorded in the store, the same
way as for the capture (size and fit), so crops line up with the positions.
"""

from __future__ import annotations



import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from ..images.folder import ImageFolder, load_image
from .plots import fit_fonts, palette, title_figure
from ..network.receptive import ReceptiveField
from ..former import former_keyword
from ..store import Activations
from ..selecting.tables import top_k

__all__ = ["top_images", "activity", "field_note", "has_receptive_field", "receptive_field", "receptive_crop", "plot_top_images", "plot_crops", "thumbnail_grid",
           "plot_unit", "UnitDisplay", "representatives", "plot_representatives", "FIRES_ON"]


def top_images(acts: Activations, layer: str, unit: int, k: int = 8, *, category: str | None = None) -> np.ndarray:
    """Rows of the ``k`` images with the highest value of ``unit``, best first.

Images on which the unit sits at its minimum are left out: a silent unit has
no top images, and a near-silent one only the few that drive it.

    Parameters
    ----------
    acts : Activations
    layer : str
    unit : int
        The filter (conv) or unit (dense) of ``layer``.
    k : int, default 8
    category : str, optional
        Only this category's images.

    Returns
    -------
    ndarray of int, shape (min(k, n),)
        Rows of ``acts`` (ties in row order).
    """
    values = np.asarray(acts[layer][:, unit])
    keep = values > values.min()  # an image at the unit's minimum does not drive it
    if category is not None:
        from ..options import check_category

        check_category(category, acts.categories, "the capture", KeyError)
        keep &= acts.labels == acts.categories.index(category)
    rows = np.flatnonzero(keep)
    return rows[top_k(values[rows], k)]


def field_note(acts: Activations, layer: str) -> str | None:
    """What a layer's units see, when it is not a local field: ``None`` for a plain local field.

    Parameters
    ----------
    acts : Activations
    layer : str

    Returns
    -------
    str or None
        One sentence for a dense layer, tokens, a global field, or a local
        field scaled by the whole image (squeeze-excite).
    """
    spec = acts.meta.layer(layer)
    if spec.receptive_field:
        if spec.receptive_field.get("global_context"):
            return (f"{layer} is scaled by the whole image (a squeeze-excite block): its receptive-field crops show "
                    "where a unit looks, not all that changes it")
        return None
    if acts.map_shape(layer) is None:
        return f"{layer} is a dense layer: each unit sees the whole image, so its top images are shown whole"
    return (f"{layer} has no local receptive field (each unit sees the whole image, e.g. after a global pooling, "
            "or tokens): its top images are shown whole")


def has_receptive_field(acts: Activations, layer: str) -> bool:
    """Whether a captured layer's units have a local receptive field (crops can be cut).

    Parameters
    ----------
    acts : Activations
    layer : str

    Returns
    -------
    bool
    """
    spec = acts.meta.layer(layer)
    return bool(spec.receptive_field) and spec.map_shape is not None


def receptive_field(acts: Activations, layer: str) -> ReceptiveField:
    """The receptive field of a captured conv layer, as the store recorded it.

    Parameters
    ----------
    acts : Activations
    layer : str

    Returns
    -------
    ReceptiveField

    Raises
    ------
    ValueError
        For a layer without one (a dense layer sees the whole image).
    """
    if not has_receptive_field(acts, layer):
        raise ValueError(field_note(acts, layer))
    return ReceptiveField(**acts.meta.layer(layer).receptive_field)


def receptive_crop(acts: Activations, layer: str, unit: int, row: int, image: np.ndarray | None = None
                   ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The part of image ``row`` inside the receptive field of ``unit``'s maximum.

    Parameters
    ----------
    acts : Activations
    layer : str
    unit : int
        The filter (conv) or unit (dense) of ``layer``.
    row : int
        The image (a row of ``acts``).
    image : ndarray of uint8, shape (height, width, 3), optional
        The decoded image, when the caller has it already.

    Returns
    -------
    crop : ndarray of uint8, shape (h, w, 3)
    box : tuple of int
        ``(top, left, bottom, right)`` in the network's input pixels (clipped to
        the image; bottom/right exclusive).
    """
    image = acts.image(row) if image is None else image
    field = receptive_field(acts, layer)
    width = acts.map_shape(layer)[1]
    r, c = divmod(int(acts.positions(layer)[row, unit]), width)
    box = field.box(r, c, image.shape[:2])
    top, left, bottom, right = box
    return image[top:bottom, left:right], box


def _trained(acts: Activations, fig) -> bool | None:
    """Whether the figure's network was trained, for its title's mark; a panel inside a figure is marked by the
    figure (None: no mark of its own)."""
    trained = acts.meta.trained if acts.meta is not None else None
    return trained if getattr(fig, "get_figure", None) is None or fig.get_figure(root=True) is fig else None


def _tile(ax, image, title, colour) -> None:
    ax.imshow(image)
    ax.set_title(title, fontsize=8, color=colour)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_top_images(acts: Activations, layer: str, unit: int, *, k: int = 8, category: str | None = None,
                    boxes: bool = True, fig: Figure | None = None) -> Figure:
    """The filter's top images, each titled with its category and value.

    The receptive field of the maximum is outlined on each (conv layers).

    Parameters
    ----------
    acts : Activations
    layer : str
    unit : int
        The filter (conv) or unit (dense) of ``layer``.
    k : int, default 8
    category : str, optional
        Only this category's images.
    boxes : bool, default True
        Outline the receptive field.
    fig : matplotlib Figure, optional
        Drawn into; a new one by default.

    Returns
    -------
    matplotlib Figure
    """
    from matplotlib.patches import Rectangle

    rows = top_images(acts, layer, unit, k, category=category)
    if not len(rows):
        return _no_images(acts, layer, unit, fig)
    cols = min(max(len(rows), 1), 8)
    lines = -(-len(rows) // cols) or 1
    fig = fig or Figure(figsize=(1.6 * cols, 1.9 * lines + 0.4), layout="constrained")
    colours = palette(list(acts.categories))
    conv = has_receptive_field(acts, layer)
    for i, row in enumerate(rows):
        ax = fig.add_subplot(lines, cols, i + 1)
        cat = acts.categories[acts.labels[row]]
        image = acts.image(row)
        _tile(ax, image, f"{cat}\n{acts[layer][row, unit]:.3g}", colours[cat])
        if conv and boxes:
            _, (top, left, bottom, right) = receptive_crop(acts, layer, unit, row, image)
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                                   ec="yellow", lw=1.5))
    title_figure(fig, f"{layer} unit {unit}: top {len(rows)} images" + (f" of {category}" if category else "")
                 + _activity_note(acts, layer, unit), trained=_trained(acts, fig), fontsize=10)
    fit_fonts(fig)
    return fig


def activity(acts: Activations, layer: str, unit: int) -> tuple[int, int]:
    """On how many images a unit is above its minimum, and of how many.

    Parameters
    ----------
    acts : Activations
    layer : str
    unit : int

    Returns
    -------
    active, total : int
    """
    values = np.asarray(acts[layer][:, unit])
    return int((values > values.min()).sum()), len(values)


def _activity_note(acts: Activations, layer: str, unit: int) -> str:
    from ..selecting.indices import MIN_ACTIVE

    active, total = activity(acts, layer, unit)
    if active < MIN_ACTIVE * total:
        return f"\nNEAR-SILENT: above its minimum on {active} of {total} images"
    return ""


def _no_images(acts: Activations, layer: str, unit: int, fig: Figure | None) -> Figure:
    """A panel that says a unit is silent instead of drawing images at its minimum."""
    fig = fig or Figure(figsize=(6, 1.2), layout="constrained")
    value = float(np.asarray(acts[layer][:, unit]).min())
    fig.text(0.5, 0.5, f"{layer} unit {unit} is silent: {value:.3g} on every image, so no image drives it\n"
                       "(its selectivity is 0 and it is never selective)", ha="center", va="center", fontsize=9)
    fit_fonts(fig)
    return fig


def plot_crops(acts: Activations, layer: str, unit: int, *, k: int = 8, per_category: bool = False,
               size: int = 64, fig: Figure | None = None) -> Figure:
    """Receptive-field crops of the filter's top images (one row, or one row per category).

    Parameters
    ----------
    acts : Activations
    layer : str
    unit : int
        The filter (conv) or unit (dense) of ``layer``.
    k : int, default 8
    per_category : bool, default False
        One row of top images per category.
    size : int, default 64
        Side of each shown crop, in pixels.
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib Figure
    """
    groups = [(c, top_images(acts, layer, unit, k, category=c)) for c in acts.categories] if per_category \
        else [(None, top_images(acts, layer, unit, k))]
    cols = max(len(r) for _, r in groups)
    if not cols:
        return _no_images(acts, layer, unit, fig)
    fig = fig or Figure(figsize=(1.2 * cols + 1.2, 1.45 * len(groups) + 0.5), layout="constrained")
    colours = palette(list(acts.categories))
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
            _tile(ax, shown, f"{acts[layer][row, unit]:.3g}", colours[cat])
            ax.set_axis_on()
            if i == 0 and group is not None:
                ax.set_ylabel(group, color=colours[group], fontsize=9)
    title_figure(fig, f"{layer} unit {unit}: receptive-field crops at the maximum"
                 + (", per category" if per_category else ""), trained=_trained(acts, fig), fontsize=10)
    fit_fonts(fig)
    return fig


def thumbnail_grid(folder: ImageFolder, per_category: int = 6, *, size: int = 96, fig: Figure | None = None) -> Figure:
    """The first ``per_category`` readable images of each category, one row per category.

    Parameters
    ----------
    folder : ImageFolder
    per_category : int, default 6
    size : int, default 96
        Side of each thumbnail, in pixels.
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib Figure
    """
    cats = folder.categories
    fig = fig or Figure(figsize=(1.3 * per_category + 1, 1.35 * len(cats)), layout="constrained")
    axes = fig.subplots(len(cats), per_category, squeeze=False)
    colours = palette(list(cats))
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
                ax.set_ylabel(cat, color=colours[cat], fontsize=10)
            shown += 1
        for j in range(shown, per_category):
            axes[r, j].set_axis_off()
    fit_fonts(fig)
    return fig


def _strip(images: list[np.ndarray], side: int = 64, gap: int = 3) -> np.ndarray:
    """Images side by side at one height, white between them (crops differ in size at the image's edges)."""
    # each at the height of the strip, its own shape kept (a non-square input's whole images)
    tiles = [np.asarray(Image.fromarray(im).resize((max(1, round(side * im.shape[1] / im.shape[0])), side),
                                                   Image.Resampling.NEAREST)) for im in images]
    strip = np.full((side, sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1), 3), 255, dtype=np.uint8)
    left = 0
    for tile in tiles:
        strip[:, left:left + tile.shape[1]] = tile if tile.ndim == 3 else tile[..., None]
        left += tile.shape[1] + gap
    return strip


def _draw_maximised(ax, result, title: str) -> None:
    ax.imshow(result.image)
    if result.flat:
        weak = result.typical is not None and result.peak is not None and result.peak < result.typical
        title += "\nFLAT: " + ("weaker than the unit's median image" if weak else "does not drive the unit")
    ax.set_title(title, fontsize=8, color="#b00000" if result.flat else "black")
    ax.set_xticks([])
    ax.set_yticks([])


class UnitDisplay:
    """One unit's three views: its top images, their receptive-field crops, and its activation-maximisation picture.

    Made with :meth:`from_store`; :meth:`plot` computes the picture (the minutes of gradient ascent) and
    draws the panel. The picture stays with the display (``pictures_``), so a flat one can be reported
    and the panel drawn again without computing it twice.

    Parameters
    ----------
    acts : Activations
    layer : str
    unit : int
        The filter (conv) or unit (dense) of ``layer``.
    amodel : Network, optional
        The captured network; rebuilt from the store when omitted.
    k : int, default 6
        Top images.
    steps : int, default 256
        Activation-maximisation steps.
    seed : int, default 0

    Attributes
    ----------
    figure_ : matplotlib Figure
        After :meth:`plot`.
    axes_ : list of matplotlib Axes
        The picture's and its objective trace's.
    pictures_ : list of MaximisationResult
        The activation-maximisation result (one).
    """

    def __init__(self, acts: Activations, layer: str, unit: int, amodel=None, *, k: int = 6, steps: int = 256,
                 seed: int = 0):
        self.acts, self.layer, self.unit, self.amodel = acts, layer, unit, amodel
        self.k, self.steps, self.seed = k, steps, seed
        self.figure_ = None
        self.axes_: list = []
        self.pictures_: list = []

    @classmethod
    def from_store(cls, acts: Activations, layer: str, unit: int, amodel=None, *, k: int = 6, steps: int = 256,
                   seed: int = 0) -> "UnitDisplay":
        """The display of a captured unit, not drawn yet.

        Parameters
        ----------
        acts : Activations
        layer : str
        unit : int
        amodel : Network, optional
        k : int, default 6
        steps : int, default 256
        seed : int, default 0

        Returns
        -------
        UnitDisplay
        """
        return cls(acts, layer, unit, amodel, k=k, steps=steps, seed=seed)

    def plot(self, fig: Figure | None = None, *, progress: bool = False) -> "UnitDisplay":
        """Compute the picture (once) and draw the panel.

        Parameters
        ----------
        fig : matplotlib Figure, optional
        progress : bool, default False
            Show the activation maximisation's progress with the time left.

        Returns
        -------
        UnitDisplay
            Itself, drawn (``figure_``, ``axes_``, ``pictures_``).
        """
        from ..network.maximise import maximise
        from ..network.models import from_store

        acts, layer, unit, k = self.acts, self.layer, self.unit, self.k
        if not self.pictures_:
            self.amodel = self.amodel or from_store(acts)
            self.pictures_ = [maximise(self.amodel, layer, unit, steps=self.steps, seed=self.seed, progress=progress,
                                       typical=float(np.median(acts[layer][:, unit])))]  # flat below the median
        result = self.pictures_[0]
        conv = has_receptive_field(acts, layer)
        fig = fig or Figure(figsize=(max(1.5 * k, 6) + 3.2, 4.6 if conv else 2.6), layout="constrained")
        left, right = fig.subfigures(1, 2, width_ratios=[k * 1.5, 3.2])
        views = left.subfigures(2 if conv else 1, 1, squeeze=False)[:, 0]
        plot_top_images(acts, layer, unit, k=k, fig=views[0])
        if conv:
            plot_crops(acts, layer, unit, k=k, fig=views[1])
        axes = right.subplots(2, 1, height_ratios=[3, 1])
        _draw_maximised(axes[0], result, f"activation maximisation\n{len(result.trace)} steps, seed {self.seed}")
        axes[1].plot(result.trace, lw=1)
        axes[1].set_xlabel("step", fontsize=7)
        axes[1].set_ylabel("objective", fontsize=7)
        axes[1].tick_params(labelsize=6)
        title_figure(fig, f"{layer} unit {unit}", model=acts.model_label, n=len(acts), trained=_trained(acts, fig),
                     fontsize=11)
        fit_fonts(fig)
        self.figure_, self.axes_ = fig, list(axes)
        return self


def plot_unit(acts: Activations, layer: str, unit: int, amodel=None, *, k: int = 6, steps: int = 256,
              seed: int = 0, fig: Figure | None = None, progress: bool = False,
              return_pictures: bool = False) -> Figure | tuple[Figure, list]:
    """One panel with the three views of a unit (:class:`UnitDisplay`), as a Figure.

    Its top images, their receptive-field crops, and an activation-maximisation
    picture (see :func:`catsel.network.maximise.maximise`).

    Parameters
    ----------
    acts : Activations
    layer : str
    unit : int
        The filter (conv) or unit (dense) of ``layer``.
    amodel : Network, optional
        The captured network; rebuilt from the store when omitted.
    k : int, default 6
        Top images.
    steps : int, default 256
        Activation-maximisation steps.
    seed : int, default 0
    fig : matplotlib Figure, optional
    progress : bool, default False
        Show the activation maximisation's progress with the time left.
    return_pictures : bool, default False
        Also return the activation-maximisation result (to report a flat one).

    Returns
    -------
    matplotlib Figure, or (Figure, list of MaximisationResult) with ``return_pictures``
    """
    display = UnitDisplay.from_store(acts, layer, unit, amodel, k=k, steps=steps, seed=seed).plot(fig,
                                                                                                progress=progress)
    return (display.figure_, display.pictures_) if return_pictures else display.figure_


#: A representative unit fires (is above its minimum) on at least this share of its category's own images.
FIRES_ON = 0.25


def representatives(acts: Activations, table, category: str, n_units: int = 4):
    """The units :func:`plot_representatives` shows: per layer, the most selective unit for ``category`` that
    fires on its images, and the ``n_units`` of those furthest above chance, in network order.

    A unit fires on an image when it is above its minimum over all images; a representative unit does so on
    at least :data:`FIRES_ON` of the category's images. A unit selective through a few of them, silent on the
    rest, would make a picture of nothing (a flat one) and stand for the category on a handful of images.

    Parameters
    ----------
    acts : Activations
    table : DataFrame
        From :func:`catsel.selectivity`.
    category : str
    n_units : int, default 4

    Returns
    -------
    DataFrame
        Rows of ``table``.

    Raises
    ------
    ValueError
        When no selective unit fires on the category's images.
    """
    from ..selecting.selection import representative_units

    candidates = representative_units(table, category, per_layer=10)
    if candidates.empty:
        raise ValueError(f"no unit is selective for {category!r} at this threshold")
    own = np.asarray(acts.labels) == acts.categories.index(category)
    keep = []
    for row in candidates.itertuples():
        values = np.asarray(acts[str(row.layer)][:, int(row.unit)], dtype=np.float64)
        keep.append(bool(np.mean(values[own] > values.min()) >= FIRES_ON))
    firing = candidates[np.asarray(keep, dtype=bool)]
    if firing.empty:
        raise ValueError(f"no {category}-selective unit fires on at least {FIRES_ON:.0%} of the {category} images: "
                         "its selective units each answer to a few images only")
    per_layer = firing.groupby("layer", observed=True, sort=True).head(1)
    return per_layer.nlargest(n_units, "above_chance").sort_values("layer")


def plot_representatives(acts: Activations, table, category: str, amodel=None, *, n_units: int = 4,
                         steps: int = 256, seed: int = 0, k: int = 3, fig: Figure | None = None,
                         progress: bool = False, return_pictures: bool = False, top: int | None = None,
                         crops: int | None = None) -> Figure | tuple[Figure, list]:
    """The category's representative filters, like the paper's Figure 3.

    The most selective unit of each layer for ``category`` is found; the ``n_units``
    of those (largest margin above chance) are shown in network order, each as
    an activation-maximisation picture above receptive-field crops of its top
    images.

    Parameters
    ----------
    acts : Activations
    table : DataFrame
        From :func:`catsel.selectivity`.
    category : str
    amodel : Network, optional
        The captured network; rebuilt from the store when omitted.
    n_units : int, default 4
        Units shown.
    steps : int, default 256
        Activation-maximisation steps per filter.
    seed : int, default 0
    k : int, default 3
        Top images (their receptive-field crops) under each unit.
    fig : matplotlib Figure, optional
    progress : bool, default False
        Show the activation maximisation's progress with the time left.
    return_pictures : bool, default False
        Also return the activation-maximisation results, in the panel's order.
    top, crops : int, optional
        Former names of ``n_units`` and ``k`` (catsel 0.1.0, see :mod:`catsel.former`).

    Returns
    -------
    matplotlib Figure, or (Figure, list of MaximisationResult) with ``return_pictures``

    Raises
    ------
    ValueError
        When no unit is selective for ``category``.
    """
    from ..network import maximise
    from ..network.models import from_store

    n_units = former_keyword(n_units, top, new="n_units", old="top")
    k = former_keyword(k, crops, new="k", old="crops")

    chosen = representatives(acts, table, category, n_units)
    amodel = amodel or from_store(acts)
    cols = len(chosen)
    fig = fig or Figure(figsize=(max(2.6 * cols, 5), 4.6), layout="constrained")
    grid = fig.add_gridspec(2, cols, height_ratios=[3, 1.2])
    # the panel's filters optimised together: one batch per step, not one pass per filter
    units = [(str(row.layer), int(row.unit)) for row in chosen.itertuples()]
    pictures = maximise.maximise_many(amodel, units, steps=steps, seed=seed, progress=progress,
                                      typical={(l, u): float(np.median(acts[l][:, u])) for l, u in units})
    for i, (row, result) in enumerate(zip(chosen.itertuples(), pictures)):
        _draw_maximised(fig.add_subplot(grid[0, i]), result,
                        f"{row.layer} / {row.unit}\nS={row.selectivity:.2f} (chance {row.chance:.2f})")
        ax = fig.add_subplot(grid[1, i])
        conv = has_receptive_field(acts, row.layer)
        rows = top_images(acts, row.layer, int(row.unit), k, category=category)
        views = [receptive_crop(acts, row.layer, int(row.unit), r)[0] if conv else acts.image(r) for r in rows]
        if views:
            ax.imshow(_strip(views))
        ax.set_title(f"top {category} images: {'receptive-field crops' if conv else 'whole (its unit sees all)'}"
                     if views else f"no {category} image drives it", fontsize=7)
        ax.set_axis_off()
    from ..selecting.indices import MIN_ACTIVE

    # wrapped to the figure's width: a panel of two filters is narrower than the title's one line
    width = max(20, int(fig.get_figwidth() * 11))
    title_figure(fig, f"Representative {category}-selective filters ({acts.model_label}); units active on fewer "
                 f"than {MIN_ACTIVE:.0%} of the images left out", n=len(acts), trained=_trained(acts, fig),
                 width=width, fontsize=10)
    fit_fonts(fig)
    return (fig, pictures) if return_pictures else fig


