"""The activations store: captured maxima on disk, readable without catsel.

A store is a folder (``OUT/activations/`` for ``catsel run``)::

    activations/
        meta.json            format, version, key, model description, layers,
                             categories, image size, preprocessing, row count
        index.csv            row, path (relative to the data folder), category, label
        progress.json        rows_done, complete, and the skipped rows with reasons
        maxima/<layer>.npy   float32 (rows, units): each unit's maximum per image
        positions/<layer>.npy  int32 (rows, units), conv layers only: where the
                             maximum was, as a flat index row * width + col into
                             the layer's map (map shape in meta.json)

Every array is a plain NumPy ``.npy`` file (``numpy.load(path, mmap_mode="r")``);
nothing is pickled. Rows follow ``index.csv``: one per candidate image, in
the dataset's order. Rows of images that could not be read are zeros and
listed under ``skipped`` in ``progress.json``.

Writes go batch by batch into memory-mapped files; ``progress.json`` is
replaced atomically after each batch is flushed, so an interrupted capture
resumes from the last batch written.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from .errors import StoreError

__all__ = ["Activations", "ActivationStore", "load_activations", "FORMAT", "VERSION"]

FORMAT = "catsel-activations"
VERSION = 1


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class ActivationStore:
    """Writer for one store folder. Used by :func:`catsel.capture`."""

    def __init__(self, path: Path, meta: dict, rows_done: int, skipped: dict[int, str]):
        self.path = path
        self.meta = meta
        self.rows_done = rows_done
        self.skipped = skipped
        self._maxima = {}
        self._positions = {}
        mode = "r+" if rows_done > 0 or self._arrays_exist() else "w+"
        n = meta["n_rows"]
        for layer in meta["layers"]:
            name, units = layer["name"], layer["units"]
            self._maxima[name] = self._open(path / "maxima" / f"{name}.npy", mode, (n, units), np.float32)
            if layer["map_shape"] is not None:
                self._positions[name] = self._open(path / "positions" / f"{name}.npy", mode, (n, units), np.int32)

    def _arrays_exist(self) -> bool:
        return all((self.path / "maxima" / f"{l['name']}.npy").exists() for l in self.meta["layers"])

    @staticmethod
    def _open(path: Path, mode: str, shape, dtype):
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "w+":
            return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        arr = np.lib.format.open_memmap(path, mode="r+")
        if arr.shape != tuple(shape) or arr.dtype != dtype:
            raise StoreError(f"{path} has shape {arr.shape}, expected {tuple(shape)}; delete the store to start afresh")
        return arr

    @classmethod
    def open(cls, path: str | os.PathLike, meta: dict, index_rows: list[dict]) -> "ActivationStore":
        """Open the store at ``path`` for writing, resuming it when its key matches.

        A store with another key (other images, model, weights, preprocessing,
        size or layers) is moved aside to ``<path>.previous`` (replacing an
        older one there), so a mistaken rerun never destroys a finished capture.
        """
        path = Path(path)
        meta = {"format": FORMAT, "version": VERSION, **meta}
        if (path / "meta.json").exists():
            try:
                old = _read_json(path / "meta.json")
                progress = _read_json(path / "progress.json")
            except (OSError, ValueError):
                old, progress = {}, {}
            if old.get("key") == meta["key"] and old.get("format") == FORMAT and progress:
                skipped = {int(k): v for k, v in progress.get("skipped", {}).items()}
                return cls(path, old, int(progress.get("rows_done", 0)), skipped)
            previous = path.with_name(path.name + ".previous")
            if previous.exists():
                shutil.rmtree(previous)
            path.rename(previous)
        elif path.exists() and any(path.iterdir()):
            raise StoreError(f"{path} exists and is not a catsel store; choose another output folder")
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "index.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["row", "path", "category", "label"])
            writer.writeheader()
            writer.writerows(index_rows)
        _write_json(path / "meta.json", meta)
        store = cls(path, meta, 0, {})
        store._write_progress(complete=False)
        return store

    @property
    def complete(self) -> bool:
        return self.rows_done >= self.meta["n_rows"]

    def write(self, first: int, maxima: Mapping[str, np.ndarray], positions: Mapping[str, np.ndarray],
              errors: list[str | None]) -> None:
        """Write rows ``first .. first+len(errors)`` and record progress."""
        if first != self.rows_done:
            raise StoreError(f"rows must be written in order: expected row {self.rows_done}, got {first}")
        stop = first + len(errors)
        for name, arr in self._maxima.items():
            arr[first:stop] = maxima[name]
        for name, arr in self._positions.items():
            arr[first:stop] = positions[name]
        for k, err in enumerate(errors):
            if err is not None:
                for arr in (*self._maxima.values(), *self._positions.values()):
                    arr[first + k] = 0
                self.skipped[first + k] = err
        for arr in (*self._maxima.values(), *self._positions.values()):
            arr.flush()
        self.rows_done = stop
        self._write_progress(complete=self.complete)

    def _write_progress(self, complete: bool) -> None:
        _write_json(
            self.path / "progress.json",
            {"rows_done": self.rows_done, "complete": complete,
             "skipped": {str(k): v for k, v in sorted(self.skipped.items())}},
        )

    def close(self) -> None:
        self._maxima.clear()
        self._positions.clear()


@dataclass
class Activations:
    """Captured activations of one network on one category dataset.

    Attributes
    ----------
    layers : tuple of str
        Layer names in network order.
    labels : numpy.ndarray
        Integer category of each image (index into :attr:`categories`).
    categories : tuple of str
        Category names; ``categories[label]`` is an image's category.
    paths : list of str
        Image paths relative to :attr:`root`.
    root : str
        The data folder the paths are relative to.
    meta : dict
        The store's ``meta.json`` (model, weights, image size, layers...).
    skipped : dict
        Store row → reason, for images that could not be read.

    ``acts[layer]`` is a float32 array ``(n_images, n_units)``;
    ``acts.positions(layer)`` where each conv filter's maximum was.
    """

    path: Path | None
    layers: tuple[str, ...]
    labels: np.ndarray
    categories: tuple[str, ...]
    paths: list[str]
    root: str
    meta: dict
    skipped: dict[int, str]
    _maxima: dict
    _positions: dict

    @classmethod
    def from_arrays(cls, maxima: Mapping[str, np.ndarray], labels, categories, *,
                    paths: list[str] | None = None, meta: dict | None = None) -> "Activations":
        """Activations held in memory (for tests, or arrays from another tool).

        ``maxima`` maps layer names, in network order, to ``(n_images, n_units)`` arrays.
        """
        labels = np.asarray(labels, dtype=np.int32)
        layers = tuple(maxima)
        arrays = {l: np.asarray(maxima[l], dtype=np.float32) for l in layers}
        for l, a in arrays.items():
            if a.ndim != 2 or a.shape[0] != len(labels):
                raise ValueError(f"layer {l}: expected an array (n_images={len(labels)}, units), got {a.shape}")
        base = {"model": "?", "weights": "?", "layers": [
            {"name": l, "units": arrays[l].shape[1], "map_shape": None} for l in layers]}
        return cls(path=None, layers=layers, labels=labels, categories=tuple(categories),
                   paths=list(paths) if paths is not None else [str(i) for i in range(len(labels))],
                   root="", meta={**base, **(meta or {})}, skipped={}, _maxima=arrays, _positions={})

    def __getitem__(self, layer: str) -> np.ndarray:
        if layer not in self._maxima:
            raise KeyError(f"no layer {layer!r}; captured layers: {', '.join(self.layers)}")
        return self._maxima[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.labels)

    def positions(self, layer: str) -> np.ndarray:
        """Flat index (row * width + col) of each conv filter's maximum, per image."""
        if layer not in self._positions:
            raise KeyError(f"layer {layer!r} has no positions (a dense layer, or not captured)")
        return self._positions[layer]

    def map_shape(self, layer: str) -> tuple[int, ...] | None:
        """Spatial shape of a conv layer's map; ``None`` for dense layers."""
        for l in self.meta["layers"]:
            if l["name"] == layer:
                return tuple(l["map_shape"]) if l["map_shape"] else None
        raise KeyError(layer)

    @property
    def units(self) -> dict[str, int]:
        return {l: self._maxima[l].shape[1] for l in self.layers}

    @property
    def counts(self) -> dict[str, int]:
        """Number of captured images per category."""
        n = np.bincount(self.labels, minlength=len(self.categories))
        return {c: int(k) for c, k in zip(self.categories, n)}

    @property
    def model_label(self) -> str:
        return f"{self.meta.get('model', '?')}, {self.meta.get('weights', '?')}"


def load_activations(path: str | os.PathLike, *, mmap: bool = False) -> Activations:
    """Read an activations store (the folder, or the run folder holding ``activations/``).

    Only the rows of images that were read are returned. With ``mmap=True``
    the arrays stay memory-mapped (read-only) instead of loaded in memory.
    """
    path = Path(path)
    if not (path / "meta.json").exists() and (path / "activations" / "meta.json").exists():
        path = path / "activations"
    if not (path / "meta.json").exists():
        raise StoreError(f"{path} is not an activations store (no meta.json); run `catsel run` or catsel.capture first")
    meta = _read_json(path / "meta.json")
    if meta.get("format") != FORMAT:
        raise StoreError(f"{path}/meta.json is not a catsel activations store")
    progress = _read_json(path / "progress.json")
    n = meta["n_rows"]
    if not progress.get("complete") or progress.get("rows_done", 0) < n:
        raise StoreError(
            f"{path} is incomplete ({progress.get('rows_done', 0)} of {n} images); "
            "rerun the same capture to resume it"
        )
    with open(path / "index.csv", newline="", encoding="utf-8") as f:
        index = list(csv.DictReader(f))
    skipped = {int(k): v for k, v in progress.get("skipped", {}).items()}
    keep = np.array([i not in skipped for i in range(n)], dtype=bool)
    labels = np.array([int(r["label"]) for r in index], dtype=np.int32)[keep]
    paths = [r["path"] for r, k in zip(index, keep) if k]
    mode = "r" if mmap else None
    maxima, positions = {}, {}
    for layer in meta["layers"]:
        name = layer["name"]
        arr = np.load(path / "maxima" / f"{name}.npy", mmap_mode=mode)
        maxima[name] = arr if keep.all() else arr[keep]  # no second copy when every image was read
        if layer["map_shape"] is not None:
            pos = np.load(path / "positions" / f"{name}.npy", mmap_mode=mode)
            positions[name] = pos if keep.all() else pos[keep]
    return Activations(
        path=path,
        layers=tuple(l["name"] for l in meta["layers"]),
        labels=labels,
        categories=tuple(meta["categories"]),
        paths=paths,
        root=meta.get("root", ""),
        meta=meta,
        skipped=skipped,
        _maxima=maxima,
        _positions=positions,
    )
