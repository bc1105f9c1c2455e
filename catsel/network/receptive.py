"""Receptive fields of conv layers, computed from the model's own layers.

For every layer output the receptive field is described by three numbers, in
input pixels (the usual recurrence, e.g. Araujo et al., "Computing receptive
fields of convolutional neural networks", Distill 2019):

* ``size`` r: side of the square of input pixels that can affect one unit;
* ``jump`` j: distance in input pixels between two neighbouring units;
* ``start`` s: centre, in input pixel coordinates, of the first unit's field.

A layer with kernel k (dilation d: effective k' = d (k − 1) + 1), stride t
and left/top padding p maps (r, j, s) to::

    r' = r + (k' − 1) j        j' = j t        s' = s + ((k' − 1) / 2 − p) j

Conv, depthwise and separable conv, max and average pooling, zero padding and
cropping are understood. Layers that keep the grid pass the field on:
activations, batch and layer normalisation, dropout, a ``Dense`` layer applied
at every position (a 1x1 conv), layer scales. Where branches meet (``Add``,
``Concatenate``, ``Multiply``) the field is the union of theirs. A global
pooling makes the field global (the whole image); where a global branch meets
a local one, as in a squeeze-excite block, the field stays local and is
flagged ``global_context``: the unit is driven by its local field and scaled
by the whole image. Tokens (a vision transformer) and dense layers have no
local field. A layer that changes the grid in a way not listed here gets no
field, and neither do the layers after it, rather than a wrong one.
"""


from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ReceptiveField", "receptive_box", "GLOBAL"]


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a layer's units, in input pixels.

    Attributes
    ----------
    size : float
        Side of the input pixels that can affect one unit (its height, when
        the field is not square).
    jump : float
        Distance in input pixels between two neighbouring units (rows).
    start : float
        Centre, in input pixel coordinates, of the first unit's field (rows).
    global_context : bool
        The unit is also scaled by a global summary of the image (a
        squeeze-excite block upstream): its field is where it looks, but the
        whole image changes its value.
    size_x, jump_x, start_x : float or None
        The same along the columns, where they differ from the rows (a
        1 x 7 kernel, "same" padding on a non-square input); ``None``: as the rows.
    measured : bool
        Measured (the input pixels a unit's gradient reaches, inside the image) rather than computed from
        the layers' kernels: a PyTorch module whose maps pass through an operation that is no module.

    Parameters
    ----------
    size, jump, start : float
    global_context : bool, default False
    size_x, jump_x, start_x : float, optional
    measured : bool, default False
    """
    size: float
    jump: float
    start: float
    global_context: bool = False
    size_x: float | None = None
    jump_x: float | None = None
    start_x: float | None = None
    measured: bool = False

    def axis(self, k: int) -> tuple[float, float, float]:
        """``(size, jump, start)`` along the rows (``k=0``) or the columns (``k=1``).

        Parameters
        ----------
        k : {0, 1}

        Returns
        -------
        tuple of float
        """
        if k == 0 or self.size_x is None:
            return self.size, self.jump, self.start
        return self.size_x, self.jump_x, self.start_x

    @classmethod
    def of_axes(cls, rows: tuple, cols: tuple, global_context: bool = False) -> "ReceptiveField":
        """The field from ``(size, jump, start)`` per axis (the column values kept only where they differ).

        Parameters
        ----------
        rows, cols : tuple of float
        global_context : bool, default False

        Returns
        -------
        ReceptiveField
        """
        if all(abs(a - b) < 1e-9 for a, b in zip(rows, cols)):
            return cls(*rows, global_context)
        return cls(*rows, global_context, *cols)

    def to_json(self) -> dict:
        """``{"size", "jump", "start"}``, with ``global_context`` and the column values only when set.

        Returns
        -------
        dict
            What the store's ``meta.json`` records for a layer.
        """
        data = {"size": self.size, "jump": self.jump, "start": self.start}
        if self.global_context:  # only when set: a store's key stays as it was for the networks without
            data["global_context"] = True
        if self.size_x is not None:
            data.update(size_x=self.size_x, jump_x=self.jump_x, start_x=self.start_x)
        if self.measured:  # only when set, as global_context
            data["measured"] = True
        return data

    def box(self, row: int, col: int, image_size=None) -> tuple[int, int, int, int]:
        """The input pixels seen by the unit at ``(row, col)`` of the map.

        Parameters
        ----------
        row, col : int
        image_size : int or (int, int), optional
            Clip the box to an image of this side, or of this height and width.

        Returns
        -------
        tuple of int
            ``(top, left, bottom, right)``; bottom and right exclusive.
        """
        (sy, jy, y0), (sx, jx, x0) = self.axis(0), self.axis(1)
        cy, cx = y0 + row * jy, x0 + col * jx
        top, left = math.ceil(cy - (sy - 1) / 2 - 1e-9), math.ceil(cx - (sx - 1) / 2 - 1e-9)
        bottom, right = math.floor(cy + (sy - 1) / 2 + 1e-9) + 1, math.floor(cx + (sx - 1) / 2 + 1e-9) + 1
        if image_size is not None:
            from ..options import hw

            height, width = hw(image_size)
            top, left = max(top, 0), max(left, 0)
            bottom, right = min(bottom, height), min(right, width)
        return top, left, bottom, right


#: The field of an output that depends on the whole image (after a global pooling, a flatten, tokens).
GLOBAL = "global"


def receptive_box(field: ReceptiveField, position: int, map_width: int, image_size: int) -> tuple[int, int, int, int]:
    """The image box seen by the unit at a flat position of a map.

    Parameters
    ----------
    field : ReceptiveField
    position : int
        ``row * map_width + col``, as the store keeps it.
    map_width : int
    image_size : int

    Returns
    -------
    tuple of int
        ``(top, left, bottom, right)``, clipped to the image.
    """
    row, col = divmod(int(position), int(map_width))
    return field.box(row, col, image_size)
