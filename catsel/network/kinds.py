"""The kinds of result a network gives per unit and image, as the capture computes them and the store keeps them."""

from __future__ import annotations

import numpy as np

__all__ = ["ARRAYS", "MAIN_ARRAYS", "SUMMARIES"]

#: Per-image arrays a store keeps: name → (dtype, kept for dense layers too). ``maxima`` is each unit's
#: maximum over its map (a dense unit's value); ``positions`` where it was; ``means`` and ``minima`` the
#: map's spatial mean and minimum (what the public code's index needs).
ARRAYS = {"maxima": (np.float32, True), "positions": (np.int32, False), "means": (np.float32, False),
          "minima": (np.float32, False)}

#: What every capture keeps. The spatial means and minima (:data:`SUMMARIES`) cost a pass over each map and a
#: third of the bytes moved off the device: they are captured only when asked for (an index that needs them),
#: in the same pass for a new store, or in an extra pass of their own, into the store's ``summaries/`` part,
#: for a store captured without them. ``meta.json``'s ``arrays`` says which a store (or part) holds.
MAIN_ARRAYS = ("maxima", "positions")
SUMMARIES = ("means", "minima")
