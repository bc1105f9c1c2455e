"""The record of a run, ``run.json``: typed, written whole, checked once when read.

:class:`RunRecord` is to ``run.json`` what :class:`catsel.StoreMeta` is to a
store's ``meta.json``: every parameter that a figure, the printout or the
report names is a field (the number of label shuffles of the null
included), each field's type is checked when the file is read, so a wrong
one is one line naming it, and :meth:`catsel.Settings.from_record` gives back
the run's settings field by field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from ..errors import StoreError
from ..paths import is_digest
from ..options import INDEX, THRESHOLD

__all__ = ["RunRecord"]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _count(low: int = 0):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _text(v) -> bool:
    return isinstance(v, str)


def _texts(v) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)


def _flag(v) -> bool:
    return isinstance(v, bool)


def _side(v) -> bool:
    sides = v if isinstance(v, (list, tuple)) else [v]
    return len(sides) in (1, 2) and all(_count(1)(x) and x <= 16384 for x in sides)


def _digest(v) -> bool:
    return is_digest(v)


def _skipped(v) -> bool:
    return isinstance(v, (list, tuple)) and all(
        isinstance(s, dict) and isinstance(s.get("path"), str) and isinstance(s.get("reason"), str) for s in v)


#: What each field of ``run.json`` must be (``None`` is allowed where the field's default is ``None``).
_CHECKS = {
    "catsel_version": _text, "data_dir": _text, "model": _text, "weights": _text, "trained": _flag,
    "weights_requested": _text, "weights_fallback_reason": _text, "layers": _texts, "layers_note": _text,
    "relative_depth": lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
    "image_size": _side, "colour": _text, "fit": _text, "preprocess": _text, "preprocessing": _text,
    "keras_version": _text, "keras_backend": _text, "device": _text, "batch_size": _count(1), "precision": _text,
    "index": _text, "threshold": _number, "select_by": _text, "pairwise_test": _text, "permutations": _count(1), "fdr": _text,
    "alpha": lambda v: _number(v) and 0 < v < 1, "bootstrap": _count(1), "split_half": _flag,
    "null_baselines": _flag, "shuffled_null": _flag, "shuffles": _count(1), "untrained_seeds": _count(1), "localizer": _text, "seed": _count(0), "confounds": _texts,
    "images_per_category": lambda v: isinstance(v, dict) and all(_count(0)(n) for n in v.values()),
    "skipped": _skipped, "scheduler": _text, "capture_seconds": _number, "images_captured": _count(0),
    "images_per_second": _number, "total_seconds": _number, "outputs": _texts,
    "files": lambda v: isinstance(v, dict) and all(is_digest(d) for d in v.values()),
    "store_key": _digest, "untrained_key": _digest,
}


@dataclass(frozen=True)
class RunRecord:
    """A run's record, as written to ``run.json`` (:func:`catsel.run`) and read back (:func:`catsel.load_run`).

    It reads like the JSON object too (``record["threshold"]``,
    ``record.get("bootstrap")``).

    Parameters
    ----------
    catsel_version, keras_version, keras_backend, device : str
        What ran it.
    data_dir : str
        The data folder (bytes that are not UTF-8 shown as ``\\xNN``).
    model, weights : str
        The network and a label of its weights.
    trained : bool
        False for an untrained network.
    weights_requested, weights_fallback_reason : str or None
        The weights asked for, and why others were used.
    layers : tuple of str
        The layers captured; ``layers_note`` says which were left out and why.
    layers_note : str or None
    relative_depth : dict
        Layer → depth from 0 (input) to 1 (output), what ``catsel compare`` plots against.
    image_size : int or (int, int)
    colour : str
        ``"RGB"`` or ``"grayscale"``.
    fit, preprocess, preprocessing, precision : str
        How the images were read and given to the network (``preprocessing`` in words).
    batch_size : int
    index : str
    threshold : float
    select_by : str
    pairwise_test : str or None
        The test of the pairwise rule (``select_by="pairwise"``).
    permutations, bootstrap : int or None
    fdr : str or None
    alpha : float or None
    split_half, null_baselines, shuffled_null : bool
        Which baselines were computed.
    shuffles : int or None
        Label shuffles of the shuffled-label null (``None`` in records written before it was recorded).
    untrained_seeds : int or None
        Initialisations of the untrained control (with ``null``).
    localizer : str or None
        The folder of independent images the units were chosen on.
    seed : int
        Seed of the untrained control.
    confounds : tuple of str
        Low-level differences between the categories that could tell them apart alone
        (:func:`catsel.stats.confound_check`).
    images_per_category : dict
    skipped : tuple of dict
        ``{"path", "reason"}`` per file left out.
    scheduler : str or None
    capture_seconds, images_per_second, total_seconds : float or None
    images_captured : int or None
        Rows this run computed (a reused store's are not counted).
    outputs : tuple of str
        The files the run wrote.
    files : dict or None
        File → SHA-256 of each file of the run, checked when the run is read back.
    store_key, untrained_key : str or None
        The keys of the stores the run was computed from.
    extra : dict
        Fields this version of catsel does not know, kept as they are.
    """

    catsel_version: str | None = None
    data_dir: str | None = None
    model: str = "?"
    weights: str = "?"
    trained: bool = True
    weights_requested: str | None = None
    weights_fallback_reason: str | None = None
    layers: tuple = ()
    layers_note: str | None = None
    relative_depth: dict = field(default_factory=dict)
    image_size: Any = None
    colour: str = "RGB"
    fit: str = "squash"
    preprocess: str | None = None
    preprocessing: str | None = None
    keras_version: str | None = None
    keras_backend: str | None = None
    device: str | None = None
    batch_size: int = 32
    precision: str = "float32"
    index: str = INDEX
    threshold: float = THRESHOLD
    select_by: str = "threshold"
    pairwise_test: str | None = None
    permutations: int | None = None
    fdr: str | None = None
    alpha: float | None = None
    bootstrap: int | None = None
    split_half: bool = False
    null_baselines: bool = False
    shuffled_null: bool = False
    shuffles: int | None = None
    untrained_seeds: int | None = None
    localizer: str | None = None
    seed: int = 0
    confounds: tuple = ()
    images_per_category: dict = field(default_factory=dict)
    skipped: tuple = ()
    scheduler: str | None = None
    capture_seconds: float | None = None
    images_captured: int | None = None
    images_per_second: float | None = None
    total_seconds: float | None = None
    outputs: tuple = ()
    files: dict | None = None
    store_key: str | None = None
    untrained_key: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str | os.PathLike = "run.json") -> "RunRecord":
        """A record from the JSON object of ``run.json``, every field checked.

        Parameters
        ----------
        data : mapping
        source : str or path, default "run.json"
            Named in the error message.

        Returns
        -------
        RunRecord

        Raises
        ------
        StoreError
            One line naming the field that holds what catsel did not write there.
        """
        if not isinstance(data, Mapping):
            raise StoreError(f"{source} is not a run record; rerun `catsel run` to write it again")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {}
        for name in known & set(data):
            value = data[name]
            default_none = next(f for f in fields(cls) if f.name == name).default is None
            if (value is None and not default_none) or (value is not None and not _CHECKS[name](value)):
                raise StoreError(f"{source}: the field {name!r} holds {json.dumps(value)[:60]}, which catsel did "
                                 "not write there; the record was edited or damaged: rerun `catsel run` to write it "
                                 "again")
            if isinstance(value, list) and name in ("layers", "outputs", "skipped", "image_size", "confounds"):
                value = tuple(value)
            values[name] = value
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def read(cls, path: str | os.PathLike) -> "RunRecord":
        """Read and check ``run.json``.

        Parameters
        ----------
        path : str or path

        Returns
        -------
        RunRecord

        Raises
        ------
        StoreError
            When it cannot be read, or a field is wrong.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested thousands of levels deep
            raise StoreError(f"{path} cannot be read ({exc}); rerun `catsel run` to write it again") from None
        return cls.from_json(data, path)

    def to_json(self) -> dict:
        """The JSON object written to ``run.json``.

        Returns
        -------
        dict
        """
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for name in ("layers", "outputs", "skipped", "image_size", "confounds"):
            if isinstance(data[name], tuple):
                data[name] = list(data[name])
        return {**self.extra, **data}

    def __getitem__(self, name: str):
        if name in self.extra:
            return self.extra[name]
        if name not in {f.name for f in fields(self)} or name == "extra":
            raise KeyError(name)
        value = getattr(self, name)
        return list(value) if isinstance(value, tuple) else value

    def get(self, name: str, default=None):
        """A field by its name in ``run.json``, like a dict's ``get``.

        Parameters
        ----------
        name : str
        default : object, optional

        Returns
        -------
        object
        """
        try:
            value = self[name]
        except KeyError:
            return default
        return default if value is None else value
