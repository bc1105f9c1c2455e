"""Moved to :mod:`catsel.capturing` (the protocol) and :mod:`catsel.capturing.key`; kept for one release."""

from __future__ import annotations

from .capturing import capture
from .capturing.key import decoded_cache_key, store_key

__all__ = ["capture", "store_key", "decoded_cache_key"]
