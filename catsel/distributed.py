"""Moved to :mod:`catsel.capturing.cluster`; kept for one release."""

from __future__ import annotations

from .capturing.cluster import BLOCK, capture_block, close, connect, local_workers

__all__ = ["BLOCK", "capture_block", "close", "connect", "local_workers"]
