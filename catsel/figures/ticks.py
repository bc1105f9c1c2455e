"""Layer names on a figure's axis, as many as fit: thinned at draw time by the room they take, never overlapping
(Figure 1, its panels and heat map, the brain figure, the comparison of layer proportions)."""

from __future__ import annotations

__all__ = ["LayerTicks", "layer_ticks"]


class LayerTicks:
    """Layer names on an x axis of layer positions (0 … n-1), thinned by the room they take: at draw time, as
    many names as fit side by side in the axes' width at the labels' font size (every k-th, the last always),
    so that no two overlap at any figure size or layer count. Install with :func:`layer_ticks`.

    Parameters
    ----------
    names : sequence of str
        The layers, in axis order.
    fontsize : float
        The labels' size in points.
    rotation : float
        The labels' angle in degrees (90: upright).
    """

    def __init__(self, names, fontsize: float, rotation: float):
        self.names, self.fontsize, self.rotation = [str(n) for n in names], fontsize, rotation

    def step(self, ax) -> int:
        """How many layers apart the names are, for the axes' current width.

        Parameters
        ----------
        ax : matplotlib Axes

        Returns
        -------
        int
        """
        import math

        n = len(self.names)
        width = max(ax.bbox.width, 1.0)
        room = self.fontsize * ax.figure.dpi / 72 * 1.4  # one label's line height, and a little air
        if self.rotation < 80:  # slanted names take their length's shadow on the axis
            longest = max((len(t) for t in self.names), default=1)
            room = max(room, 0.55 * self.fontsize * ax.figure.dpi / 72 * longest
                       * math.cos(math.radians(self.rotation)) + room * 0.3)
        fits = max(1, int(width // room))
        return max(1, -(-n // fits))

    def ticks(self, ax) -> list[int]:
        """The positions named, for the axes' current width: every :meth:`step`-th, the last always.

        Parameters
        ----------
        ax : matplotlib Axes

        Returns
        -------
        list of int
        """
        n = len(self.names)
        step = self.step(ax)
        ticks = list(range(0, n, step))
        if ticks and ticks[-1] != n - 1:  # the last layer named, in place of a neighbour too close to it
            if (n - 1 - ticks[-1]) / max(step, 1) >= 0.999:
                ticks.append(n - 1)
            else:
                ticks[-1] = n - 1
        return ticks


def layer_ticks(ax, names, *, fontsize: float = 7, rotation: float | None = None) -> LayerTicks:
    """Name an axis of layer positions (0 … n-1) by ``names``, as many as fit (:class:`LayerTicks`).

    Parameters
    ----------
    ax : matplotlib Axes
    names : sequence of str
    fontsize : float, default 7
    rotation : float, optional
        Degrees; default 90: upright names take the least room side by side, and their boxes are the room
        they take.

    Returns
    -------
    LayerTicks
    """
    from matplotlib.ticker import FuncFormatter, Locator

    names = [str(n) for n in names]
    rotation = 90 if rotation is None else rotation
    layout = LayerTicks(names, fontsize, rotation)

    class _Locator(Locator):
        def __call__(self):
            ticks = layout.ticks(self.axis.axes)
            if rotation < 80:  # slanted names end under their tick
                for tick in self.axis.get_major_ticks(len(ticks)):
                    tick.label1.set_horizontalalignment("right")
            return ticks

        def tick_values(self, vmin, vmax):
            return list(range(len(names)))

    def name(value, _):
        k = int(round(value))
        return names[k] if abs(value - k) < 1e-6 and 0 <= k < len(names) else ""

    ax.xaxis.set_major_locator(_Locator())
    ax.xaxis.set_major_formatter(FuncFormatter(name))
    ax.tick_params(axis="x", labelrotation=rotation, labelsize=fontsize)
    ax._catsel_layer_ticks = layout  # what a test or a caller reads back
    return layout
