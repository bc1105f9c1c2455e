"""Errors that catsel raises for problems a user can fix.

Every message names the file or folder at fault and says what to do about it.
The command line prints these as one line, without a traceback.
"""

from __future__ import annotations

import warnings

__all__ = ["CatselError", "DatasetError", "ImageError", "ModelError", "WeightsUnavailableError",
           "PixelScaleUnknownError", "StoreError", "BrainDataError",
           "ConfoundWarning"]


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


class PixelScaleUnknownError(ModelError):
    """A network comes without an image converter and nobody said how its pixels were scaled (``--preprocess``).
    Its layers can still be listed: the scale does not change them."""


class StoreError(CatselError):
    """An activations store is missing, incomplete or not a catsel store."""


class BrainDataError(CatselError):
    """Brain or behaviour data (RDMs, responses, their image names) cannot be read or matched to a run."""


class ConfoundWarning(UserWarning):
    """A category differs from the others in a low-level property (or its count is as many in the untrained
    network): a unit 'selective' for it may answer to that alone. The command's printout says it with the
    results, so the command does not warn it twice."""


def _one_line(message, category, filename, lineno, line=None) -> str:
    return f"catsel: warning: {message}\n"


def warnings_as_one_line() -> None:
    """Print warnings as ``catsel: warning: MESSAGE``, one line each, in this process.

    Python's default names the source file and line that warned (a path in
    site-packages) and prints that line. catsel's messages name the file at
    fault themselves. The command line and catsel's decoding processes use
    this; a notebook keeps Jupyter's own display.
    """
    warnings.formatwarning = _one_line
