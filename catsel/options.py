"""The choices a user makes, and their validation in one place.

Every option that several parts of catsel accept (the library's functions,
``catsel run``, the notebooks' parameters) is checked here, so that the
same bad value gets the same one-line message wherever it is given. This
module imports nothing heavy: the command checks its options before Keras
starts.
"""

from __future__ import annotations

from typing import Any, Sequence

from .errors import CatselError

__all__ = ["PREPROCESS_MODES", "PRECISIONS", "FITS", "TABLE_FORMATS", "FDR_METHODS", "SELECT_BY", "check_choice", "check_positive",
           "check_fraction"]

#: Preprocessing modes: what the network expects its 0-255 RGB input to become.
PREPROCESS_MODES = ("caffe", "tf", "torch", "raw")

#: Computation precisions (``mixed_<precision>`` Keras policies besides float32).
PRECISIONS = ("float32", "bfloat16", "float16")

#: How an image is brought to the network's square input.
FITS = ("squash", "crop")

#: False-discovery-rate corrections of the p-values.
FDR_METHODS = ("bh", "by")

#: How the selectivity table is written: Parquet when it is large (:data:`catsel.pipeline.PARQUET_ABOVE` rows),
#: else CSV; or always one of them.
TABLE_FORMATS = ("auto", "csv", "parquet")

#: What makes a unit selective: the index threshold (the paper's rule), a q-value below alpha, or both.
SELECT_BY = ("threshold", "q", "both")


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
