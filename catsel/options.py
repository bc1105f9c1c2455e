"""The choices a user makes, and their validation in one place.

Every option that several parts of catsel accept (the library's functions,
``catsel run``, the notebooks' parameters) is checked here, so that the
same bad value gets the same one-line message wherever it is given. This
module imports nothing heavy: the command checks its options before Keras
starts.
"""

from __future__ import annotations

import contextlib
import math
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Sequence

from .errors import CatselError

__all__ = ["did_you_mean", "check_category", "check_folds", "converter_values", "check_preprocess", "THRESHOLD", "INDEX", "LEVEL", "SHUFFLES", "PREPROCESS_MODES", "PRECISIONS", "FITS", "TABLE_FORMATS", "FDR_METHODS", "SELECT_BY",
           "MAX_SIDE", "SAVED_SUFFIXES", "check_choice", "check_positive", "check_finite", "check_seed", "check_fraction",
           "image_shape", "hw", "size_text", "is_saved_model", "check_weights", "check_output_folder", "check_path",
           "check_layers"]

#: The paper's rule: a unit is selective for a category when its index exceeds the category's chance level by
#: more than this. Every signature and record that takes a threshold defaults to it.
THRESHOLD = 0.01

#: The paper's index (eq. 2). Every signature and record that takes an index defaults to it.
INDEX = "paper"

#: The level of every test catsel reports: a layer's count is evidence of selectivity when its q-value over
#: the run's layers and categories is at or below it, and a unit significant when its q-value is below it.
LEVEL = 0.05

#: Label shuffles of the shuffled-label null: enough that one count among 50 layer x category cells can reach
#: :data:`LEVEL` after the correction (the p-value of a count is at least 1 / (shuffles + 1)).
SHUFFLES = 1000

#: Preprocessing modes: what the network expects its 0-255 RGB input to become.
PREPROCESS_MODES = ("caffe", "tf", "torch", "raw")

#: Computation precisions (``mixed_<precision>`` Keras policies besides float32).
PRECISIONS = ("float32", "bfloat16", "float16")

#: How an image is brought to the network's square input.
FITS = ("squash", "crop")

#: False-discovery-rate corrections of the p-values.
FDR_METHODS = ("bh", "by")

#: How the selectivity table is written: Parquet when it is large (:data:`catsel.study.pipeline.PARQUET_ABOVE` rows),
#: else CSV; or always one of them.
TABLE_FORMATS = ("auto", "csv", "parquet")

#: What makes a unit selective: the index threshold (the paper's rule), a q-value below alpha, or both.
SELECT_BY = ("threshold", "q", "both", "pairwise")


def check_choice(name: str, value: Any, choices: Sequence[str], error: type[Exception] = CatselError) -> Any:
    """``value`` if it is one of ``choices``, else ``error`` naming the option and the valid values.

    Parameters
    ----------
    name : str
        The option's name, as the user wrote it (``"index"``, ``"--fit"``).
    value : object
    choices : sequence of str
    error : exception class, default CatselError

    Returns
    -------
    object
        ``value``, unchanged.
    """
    if value not in choices:
        raise error(f"unknown {name} {value!r}; use one of {', '.join(map(str, choices))}")
    return value


def check_positive(name: str, value: Any, *, optional: bool = True) -> Any:
    """``value`` if it is a positive integer (or ``None`` when ``optional``), else :class:`CatselError`.

    Parameters
    ----------
    name : str
    value : int or None
    optional : bool, default True

    Returns
    -------
    int or None
    """
    if value is None and optional:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CatselError(f"{name} must be a positive integer, not {value!r}")
    return value


def check_finite(name: str, value: Any) -> float:
    """``value`` if it is a finite number, else :class:`CatselError` (NaN, an infinity, a string).

    Parameters
    ----------
    name : str
    value : float

    Returns
    -------
    float
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CatselError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def check_seed(name: str, value: Any) -> int:
    """``value`` if it is a whole number of 0 or more (what NumPy and Keras take as a seed), else :class:`CatselError`.

    Parameters
    ----------
    name : str
    value : int

    Returns
    -------
    int
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CatselError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return value


def check_fraction(name: str, value: Any) -> float:
    """``value`` if it lies strictly between 0 and 1, else :class:`CatselError`.

    Parameters
    ----------
    name : str
    value : float

    Returns
    -------
    float
    """
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise CatselError(f"{name} must lie between 0 and 1, not {value}")
    return float(value)


#: The largest image side catsel takes (pixels).
MAX_SIDE = 8192


def image_shape(value: Any, name: str = "image size") -> "int | tuple[int, int] | None":
    """An image size as catsel keeps it: ``N`` for a square, ``(height, width)`` otherwise, or ``None``.

    Takes an integer, ``"N"``, ``"HxW"`` (the command line's ``--image-size 48x96``), or a pair.

    Parameters
    ----------
    value : int, str, pair of int, or None
    name : str, default "image size"
        Named in the error.

    Returns
    -------
    int, (int, int) or None

    Raises
    ------
    CatselError
        When ``value`` is none of these, or a side is under 8 pixels.
    """
    if value is None:
        return None
    parts = value
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").split("x")
        try:
            parts = [int(p) for p in parts]
        except ValueError:
            parts = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) == int(value):
        parts = [int(value)]
    elif isinstance(value, (tuple, list)) and all(isinstance(p, int) and not isinstance(p, bool) for p in value):
        parts = list(value)
    else:
        parts = None
    if not parts or len(parts) > 2:
        raise CatselError(f"{name} must be a number of pixels (64) or height x width (48x96), not {value!r}")
    if min(parts) < 8:
        raise CatselError(f"{name} {value!r} is too small; use at least 8 pixels a side")
    if max(parts) > MAX_SIDE:  # refused before any work: such a network's maps would not fit in memory
        raise CatselError(f"{name} {value!r} is too large; use at most {MAX_SIDE} pixels a side")
    if len(parts) == 1 or parts[0] == parts[1]:
        return int(parts[0])
    return int(parts[0]), int(parts[1])


def check_folds(folds: Any, labels, categories, *, flag: str = "--folds") -> int:
    """Folds stratified by category, checked against the data before any work: each fold holds an image of every
    category, so there are at most as many folds as the smallest category has images.

    Parameters
    ----------
    folds : int
    labels : array of int
        Each image's category.
    categories : sequence of str
    flag : str, default "--folds"
        The option named in the message.

    Returns
    -------
    int
    """
    import numpy as np

    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise CatselError(f"folds {folds!r}: give a whole number of at least 2 ({flag}, folds= from Python)")
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=len(categories))
    smallest = int(np.argmin(counts))
    if folds > counts[smallest]:
        raise CatselError(f"folds {folds}: category {categories[smallest]} has {int(counts[smallest])} images, and "
                          f"every fold needs one of each category; give {flag} {max(2, int(counts[smallest]))} or "
                          "fewer (folds= from Python), or more images of it")
    return int(folds)


def check_category(category: Any, categories, where: str = "the run", error: type[Exception] = CatselError) -> str:
    """A category named by the user, checked against the run's: a wrong one is one line with the closest first.

    Parameters
    ----------
    category : str
    categories : sequence of str
    where : str, default "the run"
        Whose categories, in the message.
    error : exception type, default CatselError

    Returns
    -------
    str
    """
    categories = [str(c) for c in categories]
    if str(category) not in categories:
        raise error(f"no category {category!r} in {where}{did_you_mean(str(category), categories)}")
    return str(category)


def did_you_mean(wrong: str, names, shown: int = 10) -> str:
    """What to say of a name not found: the closest names first ("did you mean ...?"), then at most ``shown``
    of the valid ones.

    Parameters
    ----------
    wrong : str
    names : sequence of str
    shown : int, default 10

    Returns
    -------
    str
        ``"; did you mean A or B?; valid names include ..."``, ready to end a line.
    """
    import difflib

    names = [str(n) for n in names]
    near = difflib.get_close_matches(str(wrong), names, n=3, cutoff=0.6)
    rest = [n for n in names if n not in near][:shown]
    more = f" and {len(names) - len(near) - len(rest)} more" if len(names) > len(near) + len(rest) else ""
    return ((f"; did you mean {' or '.join(near)}?" if near else "")
            + (f"; valid names include {', '.join(rest)}{more}" if rest else ""))


def hw(size: Any) -> tuple[int, int]:
    """``(height, width)`` of an image size (an integer is a square).

    Parameters
    ----------
    size : int or (int, int)

    Returns
    -------
    (int, int)
    """
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def size_text(size: Any) -> str:
    """``"64 px"`` or ``"48x96 px"`` (height x width), for summaries and titles.

    Parameters
    ----------
    size : int or (int, int)

    Returns
    -------
    str
    """
    height, width = hw(size)
    return f"{height} px" if height == width else f"{height}x{width} px"


# How a setting is named in an error: as the Python keyword (``fit``), or, while the command line builds its
# settings, as its option (``--fit``). One message, written once, reads right from both.
_AS_OPTIONS: ContextVar[bool] = ContextVar("catsel_as_options", default=False)


def named(keyword: str) -> str:
    """A setting's name as its caller wrote it: ``image_size`` from Python, ``--image-size`` from the command line.

    Parameters
    ----------
    keyword : str
        The keyword of :class:`catsel.Settings`.

    Returns
    -------
    str
    """
    return f"--{keyword.replace('_', '-')}" if _AS_OPTIONS.get() else keyword


@contextlib.contextmanager
def as_options():
    """Name settings by their command-line options in the errors raised inside the block (see :func:`named`)."""
    token = _AS_OPTIONS.set(True)
    try:
        yield
    finally:
        _AS_OPTIONS.reset(token)


#: File endings of a saved Keras model (``.keras``; legacy HDF5).
SAVED_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_saved_model(model) -> bool:
    """Whether ``model`` names a saved model (a file, or a TensorFlow SavedModel folder) rather than an application.

    Parameters
    ----------
    model : str or path

    Returns
    -------
    bool
    """
    path = Path(str(model))
    return path.suffix.lower() in SAVED_SUFFIXES or path.is_file() or (path / "saved_model.pb").is_file()


def check_weights(model, weights, error: type[Exception] = CatselError) -> None:
    """Refuse weights asked for a network that carries its own (a saved model, a model in memory).

    Such weights were ignored without a word, and the record named the model's own; ``"auto"`` (the
    default) and ``None`` (what a store's recipe records for such a model) mean the model's own weights.

    Parameters
    ----------
    model : str, path or model
    weights : object
    error : exception class, default CatselError

    Raises
    ------
    CatselError (or ``error``)
        One line naming the option.
    """
    if weights is None or (isinstance(weights, str) and weights == "auto"):
        return
    if isinstance(model, (str, os.PathLike)) and not is_saved_model(model):
        return
    what = Path(str(model)).name if isinstance(model, (str, os.PathLike)) else "a model held in memory"
    null = named("null") if named("null").startswith("--") else "null=True"
    raise error(f"{what} carries its own weights: {named('weights')} {weights!r} cannot apply to it; leave "
                f"{named('weights')} out (its untrained control comes with {null})")


def check_path(name: str, value: Any, what: str = "a folder") -> Path:
    """``value`` as a path if it is one (a string or path object, not empty), else :class:`CatselError`.

    Parameters
    ----------
    name : str
        The option or keyword, as its caller wrote it.
    value : str or path
    what : str, default "a folder"
        What the path should name, for the message.

    Returns
    -------
    pathlib.Path
    """
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise CatselError(f"{name} must name {what}, not {value!r}")
    return Path(value)


def check_layers(name: str, value: Any) -> list[str] | None:
    """Layer names as a list: one name given alone is one layer (``"c1"`` is not the layers ``c`` and ``1``).

    Parameters
    ----------
    name : str
    value : str, sequence of str or None

    Returns
    -------
    list of str or None
    """
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    try:
        names = list(names)
    except TypeError:
        raise CatselError(f"{name} takes layer names (a list of str, or one str), not {value!r}") from None
    wrong = [n for n in names if not isinstance(n, str) or not n]
    if wrong:
        raise CatselError(f"{name} takes layer names (a list of str, or one str); {wrong[0]!r} is not one")
    if not names:
        raise CatselError(f"{name} is empty: name at least one layer, or leave it out for the default layers")
    return names


def check_output_folder(out) -> Path:
    """The output folder a run writes into: a non-empty path (``Path("")`` would be the current folder).

    Parameters
    ----------
    out : str or path

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CatselError
        One line naming the option.
    """
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise CatselError(f"{named('out')} is empty: name the output folder (it is created)")
    return Path(out)


def converter_values(mode: str, error: type[Exception] = CatselError) -> tuple[list[float], list[float]] | None:
    """The per-channel scale and offset of an image converter's preprocessing
    (:func:`catsel.network.pixels.converter_mode`); ``None`` for any other mode.

    Parameters
    ----------
    mode : str
    error : exception class, default CatselError

    Returns
    -------
    (scale, offset) or None
    """
    import re

    if not isinstance(mode, str) or not mode.startswith("converter("):
        return None
    found = re.fullmatch(r"converter\(scale=\[([^\]]*)\], offset=\[([^\]]*)\]\)", mode)
    try:
        scale, offset = ([float(v) for v in part.split(",")] for part in found.groups())
    except (AttributeError, ValueError):
        raise error(f"unreadable preprocessing {mode!r}: an image converter's is "
                    "'converter(scale=[a, b, c], offset=[d, e, f])'") from None
    if len(scale) != 3 or len(offset) != 3:
        raise error(f"unreadable preprocessing {mode!r}: three scales and three offsets (RGB)")
    return scale, offset


def check_preprocess(mode: str, error: type[Exception] = CatselError, name: str = "preprocessing") -> str:
    """``mode`` if it is a named preprocessing (:data:`PREPROCESS_MODES`) or an image converter's, else
    ``error`` naming them.

    Parameters
    ----------
    mode : str
    error : exception class, default CatselError
    name : str, default "preprocessing"
        The option's name, as the user wrote it.

    Returns
    -------
    str
    """
    if converter_values(mode, error) is None:
        check_choice(name, mode, PREPROCESS_MODES, error)
    return mode
