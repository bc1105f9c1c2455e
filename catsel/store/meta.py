"""What a store is: its ``meta.json`` (:class:`StoreMeta`), checked when read, and its ``index.csv``."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from ..errors import StoreError
from ..network.kinds import ARRAYS, MAIN_ARRAYS, SUMMARIES  # the network's kinds of result, kept as computed
from ..paths import is_digest, plain_name

__all__ = ["capture_key", "recorded_key", "STORE_FIELDS", "FORMAT", "VERSION", "ARRAYS", "MAIN_ARRAYS", "SUMMARIES", "PART", "NPY", "ZARR", "LAYOUTS", "LayerSpec",
           "StoreMeta", "is_int", "meta_problem", "INDEX_COLUMNS", "index_rows", "write_index", "recorded_rows"]

FORMAT = "catsel-activations"
VERSION = 2  # 2: conv layers also keep each filter's spatial mean and minimum

#: The folder, inside a store, of the extra pass that adds arrays to a finished store: a store of its own (the same
#: key, its own ``meta.json``, progress and checksums, either layout), read with the store it completes.
PART = "summaries"

#: The two layouts of a store's arrays (:attr:`StoreMeta.layout`): ``.npy`` files of rows written in place
#: (:mod:`catsel.store.npy`, one process), and Zarr arrays chunked in blocks of images
#: (:mod:`catsel.store.chunked`, a Dask cluster). The same capture has the same key in either.
NPY = "npy"
ZARR = "zarr"
LAYOUTS = (NPY, ZARR)


@dataclass(frozen=True)
class LayerSpec:
    """One captured layer, as the store records it.

    Parameters
    ----------
    name : str
    units : int
        Filters (conv) or units (dense).
    map_shape : tuple of int or None
        Spatial shape of a conv layer's map ``(height, width)``; ``None`` for
        a dense layer.
    receptive_field : dict or None
        ``{"size", "jump", "start"}`` in input pixels, where known.
    """

    name: str
    units: int
    map_shape: tuple[int, ...] | None = None
    receptive_field: dict | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "LayerSpec":
        """The spec from a layer's entry in ``meta.json``.

        Parameters
        ----------
        data : mapping
            ``name``, ``units``, ``map_shape`` and ``receptive_field``.

        Returns
        -------
        LayerSpec
        """
        shape = data.get("map_shape")
        return cls(name=str(data["name"]), units=int(data["units"]),
                   map_shape=tuple(int(d) for d in shape) if shape else None,
                   receptive_field=data.get("receptive_field") or None)

    def to_json(self) -> dict:
        """The layer's entry in ``meta.json``.

        Returns
        -------
        dict
        """
        return {"name": self.name, "units": self.units,
                "map_shape": list(self.map_shape) if self.map_shape else None,
                "receptive_field": self.receptive_field}


@dataclass(frozen=True)
class StoreMeta:
    """The contents of a store's ``meta.json``: written by :func:`catsel.capture`, read everywhere else.

    Parameters
    ----------
    key : str
        Identity of the capture (images, network, preprocessing, size, layers).
    n_rows : int
        Candidate images, one row each in the arrays.
    categories : tuple of str
    root : str
        The data folder; ``index.csv`` paths are relative to it.
    layers : tuple of LayerSpec
        In network order.
    model, weights : str
        The network's name and a label of its weights (``"ImageNet"``, ``"untrained ..."``).
    trained : bool
        False for an untrained (randomly initialised) network.
    image_size : int or (int, int)
        Side of the square input, or its ``(height, width)``, in pixels.
    fit : str
        ``"squash"`` or ``"crop"``.
    preprocess : str
        ``"caffe"``, ``"tf"``, ``"torch"`` or ``"raw"``.
    precision : str
    rebuild : dict or None
        How to rebuild the network (model, weights, seed); ``None`` for a model held in memory.
    network_digest : str or None
        Hash of the architecture and weights.
    format, version
        ``"catsel-activations"`` and the store format's version.
    layout : {"npy", "zarr"}
        How the arrays are kept: ``NPY`` or ``ZARR``.
    block : int or None
        Images per chunk, for the ``"zarr"`` layout.
    arrays : tuple of str
        The kinds of :data:`ARRAYS` the store (or its ``summaries/`` part) holds, in that order. A
        ``meta.json`` written before catsel recorded it holds all four (version 2) or the maxima and
        positions (version 1).
    extra : dict
        Keys of ``meta.json`` this version of catsel does not know, kept as they are.
    """

    key: str = ""
    n_rows: int = 0
    categories: tuple[str, ...] = ()
    root: str = ""
    layers: tuple[LayerSpec, ...] = ()
    model: str = "?"
    weights: str = "?"
    trained: bool = True
    image_size: int | tuple[int, int] = 0
    fit: str = "squash"
    preprocess: str = "raw"
    precision: str = "float32"
    rebuild: dict | None = None
    network_digest: str | None = None
    format: str = FORMAT
    version: int = VERSION
    layout: str = NPY
    block: int | None = None
    arrays: tuple[str, ...] = tuple(ARRAYS)
    extra: dict = field(default_factory=dict)  # keys of meta.json this version does not know, kept as they are

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str | os.PathLike = "meta.json") -> "StoreMeta":
        """Read the JSON object of ``meta.json``.

        Parameters
        ----------
        data : mapping
        source : str or path, default "meta.json"
            Named in the error message.

        Returns
        -------
        StoreMeta

        Raises
        ------
        StoreError
            Naming ``source``, when it is not a catsel store's ``meta.json`` or is damaged.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise StoreError(f"{source} is not a catsel activations store's meta.json")
        known = {f.name for f in fields(cls)} - {"extra", "layers", "categories"}
        if isinstance(data.get("image_size"), list):  # a non-square size, (height, width)
            data = {**data, "image_size": tuple(data["image_size"])}
        if isinstance(data.get("arrays"), list):
            data = {**data, "arrays": tuple(data["arrays"])}
        elif "arrays" not in data:  # written before the field: version 2 kept all four arrays, version 1 two
            data = {**data, "arrays": MAIN_ARRAYS if data.get("version") == 1 else tuple(ARRAYS)}
        try:
            meta = cls(**{k: v for k, v in data.items() if k in known},
                       layers=tuple(LayerSpec.from_json(l) for l in data.get("layers", [])),
                       categories=tuple(data.get("categories", ())),
                       extra={k: v for k, v in data.items() if k not in known | {"layers", "categories"}})
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{source} is damaged ({exc!r}); delete the store and capture again") from None
        problem = meta_problem(meta)
        if problem:
            raise StoreError(f"{source}: {problem}; the file was edited or damaged: capture again into a new folder")
        # names that become paths: the key names a kept store's folder, a layer its array files
        if not is_digest(meta.key):
            raise StoreError(f"{source}: its key {str(meta.key)[:80]!r} is not a SHA-256 digest; the file was edited "
                             "or damaged: capture again into a new folder")
        for layer in meta.layers:
            if not plain_name(layer.name):
                raise StoreError(f"{source}: the layer name {layer.name[:80]!r} is not a plain name; the file was "
                                 "edited or damaged: capture again into a new folder")
        return meta

    def to_json(self) -> dict:
        """The JSON object written to ``meta.json`` (the format readable without catsel).

        Returns
        -------
        dict
        """
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("extra", "layers")}
        data["arrays"] = list(self.arrays)
        if isinstance(self.image_size, tuple):
            data["image_size"] = list(self.image_size)
        data["categories"] = list(self.categories)
        data["layers"] = [l.to_json() for l in self.layers]
        return {**self.extra, **data}

    def layer(self, name: str) -> LayerSpec:
        """The spec of a captured layer.

        Parameters
        ----------
        name : str

        Returns
        -------
        LayerSpec

        Raises
        ------
        KeyError
            Listing the captured layers, when ``name`` is not one.
        """
        for spec in self.layers:
            if spec.name == name:
                return spec
        raise KeyError(f"no layer {name!r}; captured layers: {', '.join(l.name for l in self.layers)}")

    @property
    def label(self) -> str:
        """``"model, weights"``, for figure titles."""
        return f"{self.model}, {self.weights}"

    def kinds(self, layer: LayerSpec) -> tuple[str, ...]:
        """The kinds of array the store holds for ``layer``: a dense layer has no positions, means or minima.

        Parameters
        ----------
        layer : LayerSpec

        Returns
        -------
        tuple of str
        """
        return tuple(k for k in self.arrays if ARRAYS[k][1] or layer.map_shape is not None)

    def array_shapes(self):
        """Each array the store holds: ``(kind, layer, (rows, units), dtype)``, layer by layer."""
        for layer in self.layers:
            for kind in self.kinds(layer):
                yield kind, layer.name, (self.n_rows, layer.units), ARRAYS[kind][0]


def is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def meta_problem(meta: StoreMeta) -> str | None:
    """What is wrong with the types or ranges of a meta.json's fields, or None."""
    if not is_int(meta.n_rows, 0, 10**10):
        return f"n_rows {meta.n_rows!r} is not a count of images"
    size = meta.image_size
    sides = list(size) if isinstance(size, tuple) else [size]
    if not (len(sides) in (1, 2) and all(is_int(v, 0, 16384) for v in sides)):  # 0: an in-memory store
        return f"image_size {size!r} is not a size in pixels (at most 16384)"
    if not all(isinstance(c, str) for c in meta.categories) or len(set(meta.categories)) != len(meta.categories):
        return "categories are not distinct names"
    for key in ("model", "weights", "fit", "preprocess", "precision", "root"):
        if not isinstance(getattr(meta, key), str):
            return f"{key} {getattr(meta, key)!r} is not text"
    for layer in meta.layers:
        shape = layer.map_shape or ()
        if not is_int(layer.units, 1, 10**7) or not all(is_int(d, 1, 10**6) for d in shape):
            return f"layer {layer.name!r} has {layer.units!r} units and map {layer.map_shape!r}"
    arrays = meta.arrays
    if not (isinstance(arrays, tuple) and arrays and all(isinstance(k, str) and k in ARRAYS for k in arrays)
            and list(arrays) == [k for k in ARRAYS if k in arrays]):
        return f"arrays {arrays!r} are not kinds of {', '.join(ARRAYS)}, each once, in that order"
    if meta.layout not in LAYOUTS:
        return f"layout is {meta.layout!r}, not one of {', '.join(LAYOUTS)}"
    if meta.layout == ZARR and not is_int(meta.block, 1, 2**31):
        return f"block is {meta.block!r}, not a number of images"
    return None


#: The columns of ``index.csv``. ``size`` and ``mtime_ns`` (or ``sha256``, for a capture that keys its images by
#: their contents) identify each file as it was captured: an image is read back only when the file found is that
#: file, so ``meta.json``'s ``root`` is never trusted to point at the data.
INDEX_COLUMNS = ["row", "path", "category", "label", "size", "mtime_ns", "sha256"]


def index_rows(relative_paths, labels, categories, signature: list, files=None) -> list[dict]:
    """The rows of ``index.csv`` for a capture, one per candidate image.

    Parameters
    ----------
    relative_paths : sequence of str
        Each image's path relative to the data folder.
    labels : sequence of int
    categories : sequence of str
    signature : list
        Per image ``[path, size, mtime_ns]`` or ``[path, sha256]``, as the
        store's key names the files (``catsel.capturing.key.store_key``).
    files : sequence of path, optional
        The images' files, for their sizes when ``signature`` holds digests.

    Returns
    -------
    list of dict
    """
    rows = []
    files = list(files) if files is not None else [None] * len(signature)
    for i, (rel, lab, sig, file) in enumerate(zip(relative_paths, labels, signature, files)):
        row = {"row": i, "path": rel, "category": categories[lab], "label": int(lab)}
        if len(sig) == 3:
            row.update(size=int(sig[1]), mtime_ns=int(sig[2]))
        else:  # keyed by contents: the size too, so that no file of another size is ever read to compare
            row.update(size=os.stat(file).st_size, sha256=sig[1])
        rows.append(row)
    return rows


#: The fields of ``meta.json`` that describe the store, not the network (the network's are in the key).
STORE_FIELDS = ("format", "version", "key", "root", "n_rows", "categories", "fit", "layout", "block", "arrays",
                "model")


def capture_key(files: list, categories, labels, fit: str, model: dict, version: int = VERSION) -> str:
    """A capture's identity from what makes its numbers: the one place the store key is computed.

    Parameters
    ----------
    files : list
        Each image's ``[path, size, mtime_ns]`` or ``[path, sha256]``, path relative to the data folder.
    categories : sequence of str
    labels : sequence of int
        Every candidate image's label.
    fit : str
    model : dict
        The network's description (``Network.describe()`` without ``model``, its display name).
    version : int
        The store version.

    Returns
    -------
    str
        A SHA-256 hex digest.
    """
    import hashlib
    import json

    from ..images.folder import DECODING

    payload = {
        "files": files,
        "categories": list(categories),
        "labels": [int(label) for label in labels],
        "fit": fit,
        "decoding": DECODING,
        "store_version": version,  # what a store holds changed with its version: an older one is not resumed
        # the network by its architecture and weights digest, not its name
        # (Keras numbers unnamed in-memory models differently in each session)
        "model": model,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def recorded_key(meta: dict, index: list[dict]) -> str:
    """The key a store's own records give: ``meta.json`` (as read) and the rows of ``index.csv``.

    Equal to the key ``meta.json`` records for a store as catsel wrote it; an edit of either record (a layer's
    map shape or receptive field, its recipe, a category, a row's path or label) gives another.

    Parameters
    ----------
    meta : dict
    index : list of dict

    Returns
    -------
    str
    """
    files = [[r["path"], r["sha256"]] if r.get("sha256") else [r["path"], int(r["size"]), int(r["mtime_ns"])]
             for r in index]
    model = {k: v for k, v in meta.items() if k not in STORE_FIELDS}
    return capture_key(files, meta["categories"], [int(r["label"]) for r in index], meta["fit"], model,
                       meta["version"])


def write_index(path: Path, index_rows: list[dict]) -> None:
    """``index.csv``: row, path, category, label and the file's identity of every candidate image."""
    # paths keep the file system's bytes: a name that is not UTF-8 is written as its bytes and read back the same
    with open(path / "index.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(index_rows)


def recorded_rows(progress: dict, n: int, path: Path) -> int:
    rows = progress.get("rows_done", 0)
    if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows <= n:
        raise StoreError(f"{path} says rows_done = {rows!r}, not a number of rows from 0 to {n}; the store is "
                         "damaged: rerun the capture to repair it")
    return rows


