"""Errors that catsel raises for problems a user can fix.

Every message names the file or folder at fault and says what to do about it.
The command line prints these as one line, without a traceback.
"""

from __future__ import annotations

__all__ = ["CatselError", "DatasetError", "ImageError", "ModelError", "WeightsUnavailableError", "StoreError"]


class CatselError(Exception):
    """A problem with the user's input or set-up (not a bug in catsel)."""


class DatasetError(CatselError):
    """The image folder cannot be used as a category dataset."""


class ImageError(CatselError):
    """One image file cannot be read (raised with ``strict=True``)."""


class ModelError(CatselError):
    """The model, its layers or its weights cannot be used as asked."""


class WeightsUnavailableError(ModelError):
    """ImageNet weights are neither in Keras' cache nor downloadable."""


class StoreError(CatselError):
    """An activations store is missing, incomplete or not a catsel store."""
