"""Renamed :mod:`catsel.visualize` (one spelling, as the command's); this name is kept for one release."""

from __future__ import annotations

from .visualize import *  # noqa: F401,F403
from .visualize import __all__  # noqa: F401
