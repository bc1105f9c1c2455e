"""The activations store: captured maxima on disk, readable without catsel.

A store is a folder (``OUT/activations/`` for ``catsel run``)::

    activations/
        meta.json            format, version, key, model description, layers,
                             categories, image size, preprocessing, row count
        index.csv            row, path (relative to the data folder), category, label,
                             and the file as captured: size and mtime_ns, or sha256
                             for a capture keyed by contents (``verify``)
        progress.json        rows_done, complete, and the skipped rows with reasons
        maxima/<layer>.npy   float32 (rows, units): each unit's maximum per image
        positions/<layer>.npy  int32 (rows, units), conv layers only: where the
                             maximum was, as a flat index row * width + col into
                             the layer's map (map shape in meta.json)
        means/<layer>.npy    float32 (rows, units), conv layers only: the map's
                             spatial mean (format version 2)
        minima/<layer>.npy   float32 (rows, units), conv layers only: the map's
                             spatial minimum (format version 2)

Every array is a plain NumPy ``.npy`` file (``numpy.load(path, mmap_mode="r")``);
nothing is pickled. Rows follow ``index.csv``: one per candidate image, in
the dataset's order. Rows of images that could not be read are zeros and
listed under ``skipped`` in ``progress.json``.

Each batch's rows are written into the ``.npy`` files at their place. Every
:data:`SAVE_EVERY` seconds, and at the end or when a capture stops, the files
are flushed to disk and then ``progress.json`` is replaced atomically, so an
interrupted capture resumes from the last rows saved.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .errors import StoreError
from .paths import file_digest, inside, is_digest, plain_name, shown

__all__ = ["Activations", "ActivationStore", "StoreMeta", "LayerSpec", "load_activations", "folder_lock", "index_rows",
           "FORMAT",           "VERSION", "ARRAYS", "SAVE_EVERY", "LOCK_NAME", "KEEP_STORES", "replaced_atomically", "set_aside", "ZARR",
           "MMAP_ABOVE", "block_record", "block_damage", "chunked_arrays", "open_chunked"]

FORMAT = "catsel-activations"
VERSION = 2  # 2: conv layers also keep each filter's spatial mean and minimum
#: Seconds between two saves of a capture in progress (the arrays flushed to disk, then progress.json).
#: Flushing every array after every batch held a capture on the GPU machine to the speed of its disk; a
#: stopped capture redoes at most this many seconds of work.
SAVE_EVERY = 2.0

#: Per-image arrays a store keeps: name → (dtype, kept for dense layers too). ``maxima`` is each unit's
#: maximum over its map (a dense unit's value); ``positions`` where it was; ``means`` and ``minima`` the
#: map's spatial mean and minimum (what the public code's index needs).
ARRAYS = {"maxima": (np.float32, True), "positions": (np.int32, False), "means": (np.float32, False),
          "minima": (np.float32, False)}


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
        try:
            meta = cls(**{k: v for k, v in data.items() if k in known},
                       layers=tuple(LayerSpec.from_json(l) for l in data.get("layers", [])),
                       categories=tuple(data.get("categories", ())),
                       extra={k: v for k, v in data.items() if k not in known | {"layers", "categories"}})
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{source} is damaged ({exc!r}); delete the store and capture again") from None
        problem = _meta_problem(meta)
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


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _meta_problem(meta: StoreMeta) -> str | None:
    """What is wrong with the types or ranges of a meta.json's fields, or None."""
    if not _is_int(meta.n_rows, 0, 10**10):
        return f"n_rows {meta.n_rows!r} is not a count of images"
    size = meta.image_size
    sides = list(size) if isinstance(size, tuple) else [size]
    if not (len(sides) in (1, 2) and all(_is_int(v, 0, 16384) for v in sides)):  # 0: an in-memory store
        return f"image_size {size!r} is not a size in pixels (at most 16384)"
    if not all(isinstance(c, str) for c in meta.categories) or len(set(meta.categories)) != len(meta.categories):
        return "categories are not distinct names"
    for key in ("model", "weights", "fit", "preprocess", "precision", "root"):
        if not isinstance(getattr(meta, key), str):
            return f"{key} {getattr(meta, key)!r} is not text"
    for layer in meta.layers:
        shape = layer.map_shape or ()
        if not _is_int(layer.units, 1, 10**7) or not all(_is_int(d, 1, 10**6) for d in shape):
            return f"layer {layer.name!r} has {layer.units!r} units and map {layer.map_shape!r}"
    return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # a process's temporary file is its own
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
        store's key names the files (:func:`catsel.engine.store_key`).
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


def _write_index(path: Path, index_rows: list[dict]) -> None:
    """``index.csv``: row, path, category, label and the file's identity of every candidate image."""
    # paths keep the file system's bytes: a name that is not UTF-8 is written as its bytes and read back the same
    with open(path / "index.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(index_rows)


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def take_blocks(fd: int, size: int) -> None:
    """Allocate a file's disk blocks now, not as rows arrive (``posix_fallocate`` where there is one).

    NumPy sizes a new ``.npy`` file sparsely; a memory map over it dies of
    ``SIGBUS`` when the disk fills while it is written. With the blocks taken
    at the start, a full disk stops there, with one line (:func:`_no_space`).
    """
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)


def _size(n: int) -> str:
    """A number of bytes in words: ``"3.2 GB"``, ``"41 MB"``, ``"120 KB"``."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}" if n < 10 * scale else f"{n / scale:,.0f} {unit}"
    return f"{n / 1024:,.0f} KB"


def _no_space(folder: Path, what: str, need: int | None = None) -> StoreError:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    needs = f"{what} needs {_size(need)} and " if need else f"writing {what}: "
    return StoreError(f"no space left on the disk of {folder}: {needs}{_size(free)} are free; free some "
                      "space or choose another output folder (everything saved before is kept)")


def write_error(folder: Path, exc: OSError, what: str = "the store", need: int | None = None) -> StoreError:
    """One line for an error writing ``what`` into ``folder``: a full disk (with the sizes), or a folder that
    cannot be written (read-only, no permission)."""
    if exc.errno in _FULL:
        return _no_space(folder, what, need)
    return StoreError(f"{folder} cannot be written ({exc.strerror or exc}): choose an output folder you can "
                      "write to (everything saved before is kept)")


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike):
    """Write a file under a temporary name beside it, then rename it into place.

    A reader never sees a half-written file, and a full disk leaves the
    earlier file as it was, with one line that says so.

    Parameters
    ----------
    path : str or path
        The file to write.

    Yields
    ------
    pathlib.Path
        The temporary path to write to.

    Raises
    ------
    StoreError
        When the disk is full.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _FULL:
            raise _no_space(path.parent, path.name) from None
        raise


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_record(path: Path) -> dict:
    """A JSON record of the store, or one line saying what is wrong with it."""
    try:
        data = _read_json(path)
    except FileNotFoundError:
        raise StoreError(f"{path} is missing: the store is damaged; rerun the capture to repair it") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} cannot be read ({type(exc).__name__}: {str(exc)[:80]}); the store is damaged: "
                         "rerun the capture to repair it") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path} does not hold a record; the store is damaged: rerun the capture to repair it")
    return data


def _rows_done(progress: dict, n: int, path: Path) -> int:
    rows = progress.get("rows_done", 0)
    if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows <= n:
        raise StoreError(f"{path} says rows_done = {rows!r}, not a number of rows from 0 to {n}; the store is "
                         "damaged: rerun the capture to repair it")
    return rows


def _read_header(f) -> tuple:
    """Shape, Fortran order and dtype from an open ``.npy`` file, leaving it at the first row."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(f)


def _array_damage(path: Path, shape: tuple[int, ...], dtype) -> tuple[str | None, int]:
    """What is wrong with an array file of the store (None if nothing), and how many whole rows it still holds.

    Read from the ``.npy`` header and the file's size, without opening the array: NumPy extends a short
    file that is opened for writing, and would hand back zeros for the missing rows.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "is missing", 0
    if size == 0:
        return "is empty (0 bytes)", 0
    try:
        with open(path, "rb") as f:
            found_shape, fortran, found_dtype = _read_header(f)
            offset = f.tell()
    except (OSError, ValueError, EOFError, SyntaxError, TypeError) as exc:  # NumPy parses the header as Python
        return f"is not a NumPy array file ({type(exc).__name__}: {str(exc)[:60]})", 0
    except Exception as exc:  # tokenize.TokenError, and whatever else a malformed header makes the parser raise
        return f"is not a NumPy array file ({type(exc).__name__})", 0
    if tuple(found_shape) != tuple(shape) or np.dtype(found_dtype) != np.dtype(dtype) or fortran:
        return f"holds an array of shape {tuple(found_shape)} and type {found_dtype}, not {tuple(shape)}", 0
    row = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
    expected = offset + shape[0] * row
    if size < expected:
        return f"is shorter than its header says ({size:,} of {expected:,} bytes)", (size - offset) // row
    if size > expected:
        return f"is longer than its header says ({size:,} of {expected:,} bytes)", 0
    return None, shape[0]


def _rows_crc(path: Path, rows: int, row_bytes: int) -> int:
    """CRC-32 of the first ``rows`` rows of an array file (read from its ``.npy`` header on)."""
    with open(path, "rb") as f:
        _read_header(f)
        crc, left = 0, rows * row_bytes
        while left:
            chunk = f.read(min(left, 1 << 24))
            if not chunk:
                break
            crc, left = zlib.crc32(chunk, crc), left - len(chunk)
    return crc


#: How many earlier captures (other configurations) an output folder keeps in ``activations.history/``.
KEEP_STORES = 5


def array_file(store: Path, kind: str, layer: str) -> Path:
    """The ``.npy`` file of one layer's array of a store: ``STORE/KIND/LAYER.npy``, checked to lie inside."""
    return inside(store, f"{kind}/{layer}.npy", source=store / "meta.json", what="layer name")


def _say(message: str) -> None:
    print(f"catsel: {message}", file=sys.stderr, flush=True)


def set_aside(path: Path, old: "StoreMeta | None") -> None:
    """Move another configuration's store (or a damaged one, ``old=None``) into ``<path>.history/``, saying so.

    Parameters
    ----------
    path : Path
        The store folder.
    old : StoreMeta or None
        Its metadata, when it could be read.
    """
    history = path.with_name(path.name + ".history")
    if old is not None and not is_digest(old.key):  # a meta.json read without its checks: never a path from it
        old = None
    name = old.key[:16] if old is not None else f"damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    history.mkdir(exist_ok=True)
    kept = inside(history, name, what="kept store's name")
    if kept.is_symlink() or kept.is_file():
        kept.unlink()
    elif kept.exists():
        shutil.rmtree(kept)
    path.rename(kept)
    os.utime(kept)  # when it was set aside: the order in which kept stores are pruned
    what = f"{old.model}, {old.weights}, {old.n_rows} images" if old is not None else "damaged"
    _say(f"the capture in {path} ({what}) is another configuration's: kept in {kept}")
    _prune(history, keep=KEEP_STORES)


def _prune(history: Path, keep: int) -> None:
    """Keep the ``keep`` most recently set aside stores of ``history``."""
    stores = sorted((p for p in history.iterdir() if p.is_dir() and not p.is_symlink()),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stores[keep:]:
        shutil.rmtree(old)
        _say(f"removed the oldest kept capture, {old} (more than {keep} kept)")


#: The lock file that a capture or a run holds in its output folder.
LOCK_NAME = ".catsel.lock"
_HELD: dict[str, list] = {}  # output folders this process holds: resolved path -> [file descriptor, depth]


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike):
    """Hold an output folder for this process alone, for as long as the ``with`` block runs.

    An operating-system lock (``flock``) on ``FOLDER/.catsel.lock``: a second
    capture or run into the same folder stops at once with one line naming
    the process that holds it, instead of both writing the same files. The
    lock ends with the process, so a run that was killed leaves nothing to
    clean up. The same process may take it again inside the block
    (:func:`catsel.run` holds it around :func:`catsel.capture`). Where the
    system has no ``fcntl`` (Windows), there is no lock.

    Parameters
    ----------
    folder : str or path
        The output folder (created if need be).

    Yields
    ------
    pathlib.Path
        The folder.

    Raises
    ------
    StoreError
        When another process holds the folder.
    """
    folder = Path(folder)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield folder
        return
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"{folder} is a file; give a folder for the output")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder.parent, exc, f"the output folder {folder.name}") from None
    key = str(folder.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield folder
        finally:
            _HELD[key][1] -= 1
        return
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a full disk, a read-only output folder
        raise write_error(folder, exc, "the output folder's lock") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise StoreError(f"{folder} is in use by another catsel run ({holder}); wait for it to finish, "
                         "or choose another output folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
    _HELD[key] = [fd, 1]
    try:
        yield folder
    finally:
        _HELD.pop(key)
        if created and [p.name for p in folder.iterdir()] == [LOCK_NAME]:  # a run that failed leaves no folder
            (folder / LOCK_NAME).unlink()
            folder.rmdir()
        os.close(fd)  # releases the lock


class ActivationStore:
    """Writer for one store folder. Used by :func:`catsel.capture`; open one with :meth:`ActivationStore.open`.

    Parameters
    ----------
    path : Path
        The store folder.
    meta : StoreMeta
    rows_done : int
        Rows already written (a resumed capture).
    skipped : dict of int to str
        Rows of images that could not be read, with the reasons.
    checksums : mapping of str to int, optional
        The CRC-32 recorded for each array file's rows (``progress.json``),
        checked before a capture resumes.
    """

    def __init__(self, path: Path, meta: StoreMeta, rows_done: int, skipped: dict[int, str],
                 checksums: Mapping[str, Any] | None = None):
        self.path = path
        self.meta = meta
        self.rows_done = rows_done
        self.skipped = skipped
        self._recorded, self._saved = rows_done, time.monotonic()
        self._recorded_crc = dict(checksums or {})
        self._crc = {self._name(f): 0 for f, _, _ in self._files()}  # of each file's rows so far
        self._arrays: dict[str, dict[str, _RowFile]] = {kind: {} for kind in ARRAYS}
        mode = "r+" if rows_done > 0 or self._arrays_exist() else "w+"
        n = meta.n_rows
        if mode == "r+":
            mode = self._check_arrays(rows_done)
        need = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for _, shape, dtype in self._files())
        try:
            for layer in meta.layers:
                for kind, (dtype, dense_too) in ARRAYS.items():
                    if dense_too or layer.map_shape is not None:
                        self._arrays[kind][layer.name] = self._open(array_file(path, kind, layer.name), mode,
                                                                    (n, layer.units), dtype)
        except OSError as exc:
            if exc.errno in _FULL:
                raise _no_space(path, "the store", need) from None
            raise

    def _name(self, path: Path) -> str:
        return path.relative_to(self.path).as_posix()

    def _files(self):
        """Each array file of the store: path, shape and dtype."""
        for layer in self.meta.layers:
            for kind, (dtype, dense_too) in ARRAYS.items():
                if dense_too or layer.map_shape is not None:
                    yield array_file(self.path, kind, layer.name), (self.meta.n_rows, layer.units), dtype

    def _check_arrays(self, rows_done: int) -> str:
        """Check every array file before a capture resumes into it; never extend or trust a damaged one.

        A short file keeps its whole rows, and the capture goes on after the
        last row that every file still holds; any other damage starts it over.
        Each damaged file is named in a warning. Returns the mode to open the
        files in.
        """
        keep, damaged = rows_done, []
        for path, shape, dtype in self._files():
            damage, whole = _array_damage(path, shape, dtype)
            if damage is not None:
                damaged.append((path, shape, dtype, damage))
                keep = min(keep, whole if "shorter" in damage else 0)
        if not damaged:  # sizes intact: the rows must be those that were written
            for path, shape, dtype in self._files():
                name = self._name(path)
                crc = _rows_crc(path, rows_done, shape[1] * np.dtype(dtype).itemsize)
                recorded = self._recorded_crc.get(name)
                if recorded is not None and crc != recorded:
                    damaged.append((path, shape, dtype, "does not hold the rows that were written (its checksum "
                                                        "differs)"))
                    keep = 0
                self._crc[name] = crc
        if not damaged:
            return "r+"
        for path, _, _, damage in damaged:
            warnings.warn(f"{path} {damage}: not trusted; the capture goes on from row {keep}", UserWarning,
                          stacklevel=5)
        self.rows_done = self._recorded = keep
        self.skipped = {k: v for k, v in self.skipped.items() if k < keep}
        for path, shape, dtype in self._files():  # the checksums of the rows kept
            self._crc[self._name(path)] = _rows_crc(path, keep, shape[1] * np.dtype(dtype).itemsize) if keep else 0
        self._write_progress(complete=False)  # before any file changes: a stop now resumes from `keep`
        if keep == 0:
            return "w+"
        for path, shape, dtype, _ in damaged:  # short files, headers intact: back to their size
            with open(path, "r+b") as f:
                _read_header(f)
                f.truncate(f.tell() + shape[0] * shape[1] * np.dtype(dtype).itemsize)
        return "r+"

    def _arrays_exist(self) -> bool:
        return all(array_file(self.path, "maxima", l.name).exists() for l in self.meta.layers)

    @staticmethod
    def _open(path: Path, mode: str, shape, dtype) -> "_RowFile":
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "w+":  # NumPy writes the .npy header and sizes the file
            arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        else:
            arr = np.lib.format.open_memmap(path, mode="r+")
            if arr.shape != tuple(shape) or arr.dtype != dtype:
                raise StoreError(f"{path} has shape {arr.shape}, expected {tuple(shape)}; "
                                 "delete the store to start afresh")
        rows = _RowFile(path, arr.offset, arr.dtype, int(shape[1]))
        del arr
        if mode == "w+":
            take_blocks(rows.fd, rows.offset + int(np.prod(shape)) * rows.dtype.itemsize)
        return rows

    @classmethod
    def open(cls, path: str | os.PathLike, meta: StoreMeta, index_rows: list[dict]) -> "ActivationStore":
        """Open the store at ``path`` for writing, resuming it when its key matches.

        A store with another key (other images, model, weights, preprocessing,
        size or layers) is kept, not destroyed: it moves to
        ``<path>.history/<key>/`` (the :data:`KEEP_STORES` most recent ones
        are kept), and a later capture with that configuration moves it back
        instead of computing it again. Each move is said in one line on
        standard error.

        Parameters
        ----------
        path : str or path
        meta : StoreMeta
            The capture's metadata (its ``key`` decides reuse).
        index_rows : list of dict
            ``row``, ``path``, ``category``, ``label`` per image: ``index.csv``.

        Returns
        -------
        ActivationStore
        """
        path = Path(path)
        history = path.with_name(path.name + ".history")
        if (path / "meta.json").exists():
            try:
                old = StoreMeta.from_json(_read_record(path / "meta.json"), path / "meta.json")
                progress = _read_record(path / "progress.json")
                rows_done = _rows_done(progress, old.n_rows, path / "progress.json")
                skipped = {int(k): str(v) for k, v in progress.get("skipped", {}).items()}
            except (OSError, ValueError, TypeError, AttributeError, StoreError) as exc:
                warnings.warn(f"{str(exc).split('; ')[0]}: the store is set aside and the capture starts over",
                              UserWarning, stacklevel=3)
                old, progress = None, {}
            if old is not None and old.key == meta.key and progress:
                crc = progress.get("crc32") if isinstance(progress.get("crc32"), dict) else None
                return cls(path, old, rows_done, skipped, crc)
            set_aside(path, old)
        elif path.exists() and any(path.iterdir()):
            raise StoreError(f"{path} exists and is not a catsel store; choose another output folder")
        kept = inside(history, meta.key[:16], what="kept store's name")
        if (kept / "meta.json").exists() and not kept.is_symlink():
            try:
                same = StoreMeta.from_json(_read_record(kept / "meta.json")).key == meta.key
            except (ValueError, TypeError, AttributeError, StoreError):
                same = False
            if same:
                if path.exists():
                    path.rmdir()  # empty
                kept.rename(path)
                _say(f"reusing the capture of this configuration kept in {kept}")
                return cls.open(path, meta, index_rows)
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
            _write_index(path, index_rows)
            _write_json(path / "meta.json", meta.to_json())  # written last: its presence makes the folder a store
            store = cls(path, meta, 0, {})
            store._write_progress(complete=False)
        except OSError as exc:  # a full disk or a read-only folder: leave nothing that the next run would refuse
            if created and not (path / "progress.json").exists():
                shutil.rmtree(path, ignore_errors=True)
            raise write_error(path.parent, exc) from None
        return store

    @property
    def complete(self) -> bool:
        return self.rows_done >= self.meta.n_rows

    def write(self, first: int, arrays: Mapping[str, Mapping[str, np.ndarray]], errors: list[str | None]) -> None:
        """Write rows ``first .. first + len(errors)`` and record the progress.

        Parameters
        ----------
        first : int
            Must be the next row not yet written.
        arrays : mapping of str to mapping of str to ndarray, shape (n, units)
            ``maxima``, ``positions``, ``means``, ``minima`` (see :data:`ARRAYS`), each by layer.
        errors : list of str or None
            Per row, why its image could not be read (its row is then zeros).
        """
        if first != self.rows_done:
            raise StoreError(f"rows must be written in order: expected row {self.rows_done}, got {first}")
        stop = first + len(errors)
        bad = [k for k, err in enumerate(errors) if err is not None]
        for kind, by_layer in self._arrays.items():
            for name, rows in by_layer.items():
                block = np.ascontiguousarray(arrays[kind][name], dtype=rows.dtype)
                if bad:  # an image that could not be read leaves a row of zeros
                    block = block.copy()
                    block[bad] = 0
                rows.write(first, block)
                key = f"{kind}/{name}.npy"
                self._crc[key] = zlib.crc32(memoryview(block).cast("B"), self._crc[key])
        for k in bad:
            self.skipped[first + k] = errors[k]
        self.rows_done = stop
        if self.complete or time.monotonic() - self._saved >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        """Flush the rows written so far to disk, then record them in ``progress.json``.

        The record never runs ahead of the data: a capture stopped in any way
        (``kill -9`` included) resumes from the last recorded row.
        """
        for by_layer in self._arrays.values():
            for rows in by_layer.values():
                rows.flush()
        self._write_progress(complete=self.complete)
        self._recorded, self._saved = self.rows_done, time.monotonic()

    def _write_progress(self, complete: bool) -> None:
        _write_json(
            self.path / "progress.json",
            {"rows_done": self.rows_done, "complete": complete,
             "skipped": {str(k): v for k, v in sorted(self.skipped.items())},
             # CRC-32 of each array file's rows 0 .. rows_done, checked before a capture resumes or reuses it
             "crc32": dict(sorted(self._crc.items()))},
        )

    def close(self) -> None:
        """Record the rows written since the last :meth:`save`, and close the files."""
        if self.rows_done > self._recorded:
            self.save()
        for by_layer in self._arrays.values():
            for rows in by_layer.values():
                rows.close()
            by_layer.clear()


class _RowFile:
    """One array of the store, written a block of rows at a time with ``os.pwrite``.

    Not through a memory map: assigning 25 MB of rows into fresh pages of a
    memory-mapped file took 38 ms per batch of 256 VGG16 images on the GPU
    machine (a page fault per 4 KiB), longer than the network's forward pass.
    A plain write at the rows' offset hands the bytes to the page cache at once.
    """

    def __init__(self, path: Path, offset: int, dtype, units: int):
        self.path, self.offset, self.dtype, self.units = path, int(offset), np.dtype(dtype), units
        self.fd = os.open(path, os.O_RDWR)

    def write(self, first: int, block: np.ndarray) -> None:
        view = memoryview(block).cast("B")
        position = self.offset + first * self.units * self.dtype.itemsize
        try:
            while view:  # a write may take fewer bytes than asked
                done = os.pwrite(self.fd, view, position)
                view, position = view[done:], position + done
        except OSError as exc:
            if exc.errno in _FULL:
                raise _no_space(self.path.parent, str(self.path)) from None
            raise

    def flush(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class Activations:
    """Captured activations of one network on one category dataset.

    Made by :func:`catsel.capture`, :func:`catsel.load_activations` or
    :meth:`Activations.from_arrays`, not built by hand.

    Parameters
    ----------
    path : Path or None
        The store folder (``None`` for activations held in memory).
    layers : tuple of str
        Layer names in network order.
    labels : numpy.ndarray
        Integer category of each image (index into ``categories``).
    categories : tuple of str
        Category names; ``categories[label]`` is an image's category.
    paths : list of str
        Image paths relative to ``root``.
    root : str
        The data folder the paths are relative to.
    meta : StoreMeta
        The store's ``meta.json`` (model, weights, image size, layers...).
    skipped : dict
        Store row → reason, for images that could not be read.
    captured : int
        Rows the capture that returned these activations computed (0 when the
        store was reused, or read with :func:`load_activations`).
    _maxima, _positions, _means, _minima : dict of str to ndarray
        The arrays by layer; read them as ``acts[layer]``, ``acts.positions(layer)``,
        ``acts.means(layer)`` and ``acts.minima(layer)``.
    _rows : ndarray, optional
        The rows of the files that hold read images, when the arrays are
        whole files (memory-mapped, or chunked) that also hold skipped ones.
    _taken : dict
        Those rows, read once per array.

    ``acts[layer]`` is a float32 array ``(n_images, n_units)``;
    ``acts.positions(layer)`` where each conv filter's maximum was.
    """

    path: Path | None
    layers: tuple[str, ...]
    labels: np.ndarray
    categories: tuple[str, ...]
    paths: list[str]
    root: str
    meta: StoreMeta
    skipped: dict[int, str]
    _maxima: dict
    _positions: dict
    _means: dict = field(default_factory=dict)
    _minima: dict = field(default_factory=dict)
    captured: int = 0
    _rows: np.ndarray | None = field(default=None, repr=False)  # kept file rows, when the arrays are whole files
    #: per image, the file's identity as captured (size and mtime_ns, or sha256); None where none was recorded
    _identity: list | None = field(default=None, repr=False)
    #: whether ``root`` is a folder the caller gave (not one read from meta.json)
    _root_given: bool = field(default=False, repr=False)
    _taken: dict = field(default_factory=dict, repr=False)  # those rows, read once per array

    def _kept(self, arrays: dict, layer: str) -> np.ndarray:
        """An array of ``arrays`` for ``layer``, without the rows of images that were not read.

        A chunked (Zarr) store's array is read whole here, once; :meth:`rows` reads blocks of it.
        """
        if self._rows is None and isinstance(arrays[layer], np.ndarray):
            return arrays[layer]
        if self._rows is None:
            key = (id(arrays), layer)
            if key not in self._taken:
                self._taken[key] = np.asarray(arrays[layer])
            return self._taken[key]
        key = (id(arrays), layer)
        if key not in self._taken:
            array = arrays[layer]
            self._taken[key] = np.asarray(array)[self._rows] if not isinstance(array, np.ndarray) else array[self._rows]
        return self._taken[key]

    def rows(self, layer: str, start: int, stop: int) -> np.ndarray:
        """Images ``start`` to ``stop`` of a layer, read from disk alone when the store is memory-mapped.

        What block-wise statistics read: a memory-mapped store
        (``load_activations(..., mmap=True)``) is never read whole.

        Parameters
        ----------
        layer : str
        start, stop : int
            Rows of ``acts[layer]``.

        Returns
        -------
        ndarray of float32, shape (stop - start, n_units)
        """
        if layer not in self._maxima:
            raise KeyError(f"no layer {layer!r}; captured layers: {', '.join(self.layers)}")
        array = self._maxima[layer]
        first, last = (start, stop) if self._rows is None else (
            (int(self._rows[start]), int(self._rows[stop - 1]) + 1) if stop > start else (0, 0))
        if isinstance(array, np.memmap) and array.flags.c_contiguous and getattr(array, "filename", None):
            # read from the file, not through the map: a map keeps every page it touched resident, and a pass
            # over a large store would hold all of it in memory
            row = array.shape[1] * array.dtype.itemsize
            span = np.fromfile(array.filename, dtype=array.dtype, count=(last - first) * array.shape[1],
                               offset=array.offset + first * row).reshape(last - first, array.shape[1])
        else:
            span = np.asarray(array[first:last])
        return span if self._rows is None else span[self._rows[start:stop] - first]

    @classmethod
    def from_arrays(cls, maxima: Mapping[str, np.ndarray], labels, categories, *,
                    paths: list[str] | None = None, meta: dict | None = None,
                    means: Mapping[str, np.ndarray] | None = None,
                    minima: Mapping[str, np.ndarray] | None = None) -> "Activations":
        """Activations held in memory (for tests, or arrays from another tool).

        Parameters
        ----------
        maxima : mapping of str to array-like, shape (n_images, n_units)
            Layer names, in network order, to their units' values.
        labels : array-like of int, shape (n_images,)
        categories : sequence of str
        paths : list of str, optional
            Image paths (default: the row numbers).
        meta : dict, optional
            Fields of :class:`StoreMeta` to set (``model``, ``weights``, ...).
        means, minima : mapping of str to array-like, shape (n_images, n_units), optional
            Each conv filter's spatial mean and minimum, by layer.

        Returns
        -------
        Activations
        """
        labels = np.asarray(labels, dtype=np.int32)
        layers = tuple(maxima)
        arrays = {l: maxima[l] if isinstance(maxima[l], np.memmap) and maxima[l].dtype == np.float32  # stays lazy
                  else np.asarray(maxima[l], dtype=np.float32) for l in layers}
        for l, a in arrays.items():
            if a.ndim != 2 or a.shape[0] != len(labels):
                raise ValueError(f"layer {l}: expected an array (n_images={len(labels)}, units), got {a.shape}")
        settings = dict(meta or {})
        specs = settings.pop("layers", None)
        specs = tuple(LayerSpec.from_json(l) for l in specs) if specs else tuple(
            LayerSpec(l, arrays[l].shape[1]) for l in layers)
        known = {f.name for f in fields(StoreMeta)}
        meta = StoreMeta(n_rows=len(labels), categories=tuple(categories), layers=specs,
                         **{k: v for k, v in settings.items() if k in known and k != "categories"},
                         extra={k: v for k, v in settings.items() if k not in known})
        return cls(path=None, layers=layers, labels=labels, categories=tuple(categories),
                   paths=list(paths) if paths is not None else [str(i) for i in range(len(labels))],
                   root=meta.root, meta=meta, skipped={}, _maxima=arrays, _positions={},
                   _means={l: np.asarray(v, dtype=np.float32) for l, v in (means or {}).items()},
                   _minima={l: np.asarray(v, dtype=np.float32) for l, v in (minima or {}).items()})

    def __getitem__(self, layer: str) -> np.ndarray:
        if layer not in self._maxima:
            raise KeyError(f"no layer {layer!r}; captured layers: {', '.join(self.layers)}")
        return self._kept(self._maxima, layer)

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}: {n}" for c, n in self.counts.items())
        return (f"Activations({self.meta.label}: {len(self)} images ({counts}), {len(self.layers)} layers, "
                f"{sum(self.units.values())} units{f', {len(self.skipped)} skipped' if self.skipped else ''})")

    def positions(self, layer: str) -> np.ndarray:
        """Where each conv filter's maximum was, per image.

        Parameters
        ----------
        layer : str

        Returns
        -------
        ndarray of int32, shape (n_images, n_units)
            Flat index ``row * width + col`` into the layer's map.
        """
        if layer not in self._positions:
            raise KeyError(f"layer {layer!r} has no positions (a dense layer, or not captured)")
        return self._kept(self._positions, layer)

    def means(self, layer: str) -> np.ndarray:
        """Each filter's spatial mean over its map, per image (a dense unit: its value).

        Parameters
        ----------
        layer : str

        Returns
        -------
        ndarray of float32, shape (n_images, n_units)

        Raises
        ------
        StoreError
            For a store captured before catsel kept spatial means.
        """
        return self._summary(self._means, layer, "means")

    def minima(self, layer: str) -> np.ndarray:
        """Each filter's spatial minimum over its map, per image (a dense unit: its value).

        Parameters
        ----------
        layer : str

        Returns
        -------
        ndarray of float32, shape (n_images, n_units)

        Raises
        ------
        StoreError
            For a store captured before catsel kept spatial minima.
        """
        return self._summary(self._minima, layer, "minima")

    def _summary(self, arrays: dict, layer: str, kind: str) -> np.ndarray:
        if layer in arrays:
            return self._kept(arrays, layer)
        if self.map_shape(layer) is None:
            return self[layer]  # a dense unit has no map: its value is its mean and its minimum
        raise StoreError(f"{self.path or 'these activations'} have no spatial {kind} for {layer} (captured before "
                         "catsel kept them, or given without them); capture again to use this index")

    def map_shape(self, layer: str) -> tuple[int, ...] | None:
        """Spatial shape of a layer's map.

        Parameters
        ----------
        layer : str

        Returns
        -------
        tuple of int or None
            ``(height, width)``; ``None`` for a dense layer.
        """
        return self.meta.layer(layer).map_shape

    def image(self, row: int) -> np.ndarray:
        """Image ``row`` as the network saw it.

        Parameters
        ----------
        row : int
            Index into ``paths`` (and the arrays).

        Returns
        -------
        ndarray of uint8, shape (height, width, 3)
            Decoded from the data folder at the capture's size and fit.
        """
        from .data import load_image

        return load_image(self.image_file(row), self.meta.image_size, self.meta.fit)

    def image_file(self, row: int) -> Path:
        """The file of image ``row``, checked to be the file that was captured.

        The path lies inside the data folder, and the file found there has
        the size and modification time (or, for a capture keyed by contents,
        the SHA-256) that ``index.csv`` recorded. ``meta.json``'s ``root`` is
        plain text that anyone can edit: it is never trusted to say where
        the images are. A data folder passed by the caller
        (``load_activations(..., data_dir=)``) is trusted, and its files are
        checked by size only (a copy keeps sizes, not times).

        Parameters
        ----------
        row : int
            Index into ``paths``.

        Returns
        -------
        Path

        Raises
        ------
        StoreError
            When the path leads out of the data folder, or the file found is
            not the one captured.
        """
        index = None if self.path is None else self.path / "index.csv"
        file = inside(self.root, self.paths[row], source=index, what="image path", links=True)
        if self.path is None:  # activations built in memory: their root is the caller's
            return file
        known = self._identity[row] if self._identity is not None else None
        if known is None and not self._root_given:
            raise StoreError(f"{index} records no file identities (a store from an earlier catsel): its images are "
                             "not read from meta.json's root; pass data_dir= (catsel report/visualize --data) the folder they were "
                             "captured from, or capture again")
        fix = (f"the data folder changed since the capture, or {self.path / 'meta.json'}'s root was edited; pass "
               "data_dir= (catsel report/visualize --data) the folder the images were captured from, or capture again")
        try:
            st = file.stat()
        except OSError:
            raise StoreError(f"{file} (row {row} of {index}) is missing: {fix}") from None
        if known is None:
            return file
        if "sha256" in known:  # the size first: a file of another size is never read
            same = st.st_size == known["size"] and file_digest(file) == known["sha256"]
        else:
            same = st.st_size == known["size"] and (self._root_given or st.st_mtime_ns == known["mtime_ns"])
        if not same:
            raise StoreError(f"{file} is not the image captured as row {row} of {index} (its "
                             f"{'contents' if 'sha256' in known else 'size or time'} differ): {fix}")
        return file

    def skipped_files(self) -> list[dict]:
        """The images of the store that could not be read.

        Returns
        -------
        list of dict
            ``{"path": absolute path, "reason": why}`` per skipped image, in row order.
        """
        if not self.skipped or self.path is None:
            return []
        with open(self.path / "index.csv", newline="", encoding="utf-8", errors="surrogateescape") as f:
            rows = {int(r["row"]): r["path"] for r in csv.DictReader(f)}
        return [{"path": shown(str(Path(self.root) / rows[i])), "reason": shown(reason)}
                for i, reason in sorted(self.skipped.items())]

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
        """``"model, weights"``, for figure titles."""
        return self.meta.label


#: The ``layout`` of a chunked store in ``meta.json``: Zarr arrays under ``arrays.zarr/<kind>/<layer>``, chunked
#: in blocks of images (see :mod:`catsel.distributed`).
ZARR = "zarr"


def open_chunked(path: Path, name: str, shape: tuple[int, int]):
    """One array of a chunked store, ``"<kind>/<layer>"``, opened read-only and checked against its meta.

    Lazy: chunks are read as they are sliced.

    Parameters
    ----------
    path : Path
        The store folder.
    name : str
        ``"<kind>/<layer>"``.
    shape : tuple of int
        (rows, units), as ``meta.json`` says.

    Returns
    -------
    zarr.Array

    Raises
    ------
    StoreError
        When the array is missing, damaged, or of another shape or type.
    """
    import zarr

    where = inside(path / "arrays.zarr", name, source=path / "meta.json", what="layer name")
    dtype = ARRAYS[name.split("/")[0]][0]
    try:
        array = zarr.open_array(str(where), mode="r")
    except Exception as exc:  # zarr raises several kinds for a missing or damaged array
        raise StoreError(f"{where} cannot be opened ({type(exc).__name__}): the store is damaged; rerun the capture "
                         "to repair it") from None
    if tuple(array.shape) != tuple(shape) or np.dtype(array.dtype) != np.dtype(dtype):
        raise StoreError(f"{where} holds an array of shape {tuple(array.shape)} and type {array.dtype}, not "
                         f"{tuple(shape)}: the store is damaged; rerun the capture to repair it")
    return array


def chunked_arrays(meta: "StoreMeta") -> dict:
    """``"<kind>/<layer>"`` → (rows, units) of every array a store of ``meta`` holds.

    Parameters
    ----------
    meta : StoreMeta

    Returns
    -------
    dict
    """
    n = meta.n_rows
    return {f"{kind}/{layer.name}": (n, layer.units) for layer in meta.layers
            for kind, (_, dense_too) in ARRAYS.items() if dense_too or layer.map_shape is not None}


def _record_digest(record: dict) -> str:
    body = {k: record[k] for k in ("first", "stop", "skipped", "crc32")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def block_record(first: int, stop: int, skipped: dict, crcs: dict) -> dict:
    """A block's record (``blocks/<first row>.json``), written after its rows.

    It names the block's rows and unreadable images, the CRC-32 of each of
    its arrays' rows as written (the same check the ``.npy`` store keeps in
    ``progress.json``), and a digest of itself, so that an edited or damaged
    record is found rather than trusted.

    Parameters
    ----------
    first, stop : int
        The block's rows.
    skipped : dict
        Row → reason, for its images that could not be read.
    crcs : dict
        ``"<kind>/<layer>"`` → CRC-32 of that array's rows of the block.

    Returns
    -------
    dict
    """
    record = {"first": int(first), "stop": int(stop), "skipped": {str(k): str(v) for k, v in skipped.items()},
              "crc32": {k: int(v) for k, v in sorted(crcs.items())}}
    record["digest"] = _record_digest(record)
    return record


def block_damage(group, record: dict, expected: dict, n: int, block: int, *, check_rows: bool = True) -> str | None:
    """What is wrong with a block of a chunked store, or None when its record and rows are as written.

    Parameters
    ----------
    group : zarr.Group
        The store's ``arrays.zarr``.
    record : dict
        The block's record, as read.
    expected : dict
        ``"<kind>/<layer>"`` → (rows, units) of every array of the store.
    n : int
        Rows of the store.
    block : int
        The store's block size.
    check_rows : bool, default True
        Read the block's rows and compare their checksums (else the record alone).

    Returns
    -------
    str or None
    """
    try:
        first, stop = record["first"], record["stop"]
        ok = (isinstance(first, int) and isinstance(stop, int) and first % block == 0 and 0 <= first < n
              and stop == min(first + block, n) and record.get("digest") == _record_digest(record)
              and isinstance(record["crc32"], dict) and set(record["crc32"]) == set(expected)
              and all(isinstance(k, str) and k.isdigit() and first <= int(k) < stop for k in record["skipped"]))
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        return "its record was edited or damaged"
    if not check_rows:
        return None
    for name, crc in record["crc32"].items():
        try:
            rows = np.ascontiguousarray(group[name][first:stop])
        except Exception as exc:  # zarr raises several kinds for a missing, short or foreign chunk
            return f"its chunk of {name} cannot be read ({type(exc).__name__})"
        if zlib.crc32(rows) != crc:
            return f"its chunk of {name} does not hold the rows that were written (its checksum differs)"
    return None


def _check_blocks(path: Path, meta: "StoreMeta", arrays: dict, verify: bool) -> None:
    """A chunked store's blocks, checked when it is read: every record whole, every chunk there (and, with
    ``verify``, every chunk's rows against the checksums its record holds)."""
    import zarr

    n, block = meta.n_rows, meta.extra.get("block")
    if not _is_int(block, 1, 2**31):
        raise StoreError(f"{path / 'meta.json'}: block is {block!r}, not a number of images; the store is damaged: "
                         "rerun the capture to repair it")
    group = zarr.open_group(str(path / "arrays.zarr"), mode="r")
    expected = chunked_arrays(meta)
    skipped = {}
    for first in range(0, n, block):
        record = path / "blocks" / f"{first:012d}.json"
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry = None
        damage = (block_damage(group, entry, expected, n, block, check_rows=verify) if isinstance(entry, dict)
                  else "it is missing or not JSON")
        if damage is None and entry["first"] != first:
            damage = f"it names the block at row {entry['first']}"
        if damage is not None:
            raise StoreError(f"{record}: {damage}: the store is damaged; rerun the capture to repair it")
        skipped.update(entry["skipped"])
    recorded = _read_record(path / "progress.json").get("skipped", {})
    if recorded != skipped:
        raise StoreError(f"{path / 'progress.json'}: its unreadable images differ from those its blocks' records "
                         "name; the store is damaged: rerun the capture to repair it")
    for kind, by_layer in arrays.items():
        for layer, array in by_layer.items():
            # uncompressed chunks, every one written: their bytes are known. zarr reads a missing chunk as zeros
            # and a short one as a raw reshape error: neither is trusted
            where = inside(path / "arrays.zarr", f"{kind}/{layer}", source=path / "meta.json", what="layer name")
            payload = array.nbytes_stored() - (where / "zarr.json").stat().st_size
            if payload != array.nchunks * int(np.prod(array.chunks)) * array.dtype.itemsize:
                raise StoreError(f"{where}: a chunk is missing or of another size; the store is damaged: rerun the "
                                 "capture to repair it")


#: A store whose maxima take more than this many bytes is memory-mapped when read (unless asked otherwise):
#: statistics then read it block by block instead of holding it in memory.
MMAP_ABOVE = 2**30


def load_activations(path: str | os.PathLike, *, mmap: bool | None = None, verify: bool = False,
                     data_dir: str | os.PathLike | None = None) -> Activations:
    """Read an activations store.

    Only the rows of images that were read are returned.

    Parameters
    ----------
    path : str or path
        The store folder, or the run folder holding ``activations/``.
    mmap : bool, optional
        Keep the arrays memory-mapped (read-only) instead of loading them
        (default: when the maxima take more than :data:`MMAP_ABOVE` bytes).
    verify : bool, default False
        Check every array file against the CRC-32 recorded when it was
        written (reads the whole store; a capture that resumes or reuses a
        store always checks).
    data_dir : str or path, optional
        Where the images are, when not where they were captured (a run folder
        from a colleague, a moved data folder). By default they are read from
        the folder ``meta.json`` records, and only when each file is the one
        captured (its size and modification time, as ``index.csv`` records).

    Returns
    -------
    Activations

    Raises
    ------
    StoreError
        When ``path`` holds no store, or an incomplete one.
    """
    path = Path(path)
    if not (path / "meta.json").exists() and (path / "activations" / "meta.json").exists():
        path = path / "activations"
    if not (path / "meta.json").exists():
        raise StoreError(f"{path} is not an activations store (no meta.json); run `catsel run` or catsel.capture first")
    meta = StoreMeta.from_json(_read_record(path / "meta.json"), path / "meta.json")
    progress = _read_record(path / "progress.json")
    n = meta.n_rows
    rows_done = _rows_done(progress, n, path / "progress.json")
    if not progress.get("complete") or rows_done < n:
        raise StoreError(
            f"{path} is incomplete ({rows_done} of {n} images); "
            "rerun the same capture to resume it"
        )
    damaged = f"{path / 'index.csv'} is damaged; rerun the capture to repair it"
    try:
        with open(path / "index.csv", newline="", encoding="utf-8", errors="surrogateescape") as f:
            index = list(csv.DictReader(f))
        skipped = {int(k): str(v) for k, v in progress.get("skipped", {}).items()}
        labels_all = np.array([int(r["label"]) for r in index], dtype=np.int32)
        paths_all = [str(r["path"]) for r in index]
        identity_all = []  # each file as captured: what lets an image be read back from the recorded root
        for r in index:
            if r.get("sha256"):
                if not is_digest(r["sha256"]):
                    raise ValueError(f"row {r['row']}: sha256 is not a digest")
                identity_all.append({"sha256": r["sha256"], "size": int(r["size"])})
            elif r.get("size") not in (None, "") and r.get("mtime_ns") not in (None, ""):
                identity_all.append({"size": int(r["size"]), "mtime_ns": int(r["mtime_ns"])})
            else:
                identity_all.append(None)
        for row, rel in enumerate(paths_all):  # plain text that becomes paths: relative, inside the data folder
            if not plain_name(rel) or os.path.isabs(rel):
                raise StoreError(f"{path / 'index.csv'}: the path of row {row}, {rel[:80]!r}, is not a plain name "
                                 "inside the data folder; the index was edited or damaged: capture again")
        # the index and meta.json must tell one story: rows in order, each label naming its row's category
        for row, r in enumerate(index):
            label = int(r["label"])
            named = meta.categories[label] if 0 <= label < len(meta.categories) else None
            if int(r["row"]) != row or named != r["category"]:
                raise StoreError(f"{path / 'index.csv'}: row {row} ({str(r['path'])[:80]!r}) says category "
                                 f"{str(r['category'])[:40]!r} with label {label}, but meta.json's categories "
                                 f"give {named!r}; the index or meta.json was edited or damaged: capture again")
        if len(set(paths_all)) != len(paths_all):
            raise StoreError(f"{path / 'index.csv'} lists an image twice; the index was edited or damaged: "
                             "capture again")
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreError(f"{damaged} ({type(exc).__name__}: {str(exc)[:80]})") from None
    if len(index) != n or (len(labels_all) and not 0 <= labels_all.min() <= labels_all.max() < len(meta.categories)):
        raise StoreError(f"{damaged} ({len(index)} rows for {n} images)")
    keep = np.array([i not in skipped for i in range(n)], dtype=bool)
    labels = labels_all[keep]
    paths = [p for p, k in zip(paths_all, keep) if k]
    identity = [p for p, k in zip(identity_all, keep) if k]
    root = meta.root if data_dir is None else str(Path(data_dir).resolve())
    if data_dir is not None and not Path(root).is_dir():
        raise StoreError(f"data_dir {data_dir} is not a folder; pass the folder the images were captured from")
    found = {"_identity": identity, "_root_given": data_dir is not None}
    if mmap is None:
        mmap = n * sum(layer.units for layer in meta.layers) * 4 > MMAP_ABOVE
    mode = "r" if mmap else None
    arrays: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in ARRAYS}
    if meta.extra.get("layout") == ZARR:  # a chunked store, written in blocks (catsel.distributed)
        for layer in meta.layers:
            for kind, (dtype, dense_too) in ARRAYS.items():
                if dense_too or layer.map_shape is not None:
                    arrays[kind][layer.name] = open_chunked(path, f"{kind}/{layer.name}", (n, layer.units))
        _check_blocks(path, meta, arrays, verify)
        return Activations(path=path, layers=tuple(l.name for l in meta.layers), labels=labels,
                           categories=meta.categories, paths=paths, root=root, meta=meta, skipped=skipped,
                           _maxima=arrays["maxima"], _positions=arrays["positions"], _means=arrays["means"],
                           _minima=arrays["minima"], _rows=None if keep.all() else np.flatnonzero(keep), **found)
    for layer in meta.layers:
        for kind, (dtype, dense_too) in ARRAYS.items():
            file = array_file(path, kind, layer.name)
            if not (dense_too or layer.map_shape is not None) or (kind in ("means", "minima") and not file.exists()):
                continue  # a version-1 store has no spatial means and minima
            damage, _ = _array_damage(file, (n, layer.units), dtype)
            recorded = (progress.get("crc32") or {}).get(f"{kind}/{layer.name}.npy") if verify else None
            if damage is None and recorded is not None and \
                    _rows_crc(file, n, layer.units * np.dtype(dtype).itemsize) != recorded:
                damage = "does not hold the rows that were written (its checksum differs)"
            if damage is not None:
                raise StoreError(f"{file} {damage}: the store is damaged; rerun the capture to repair it")
            arr = np.load(file, mmap_mode=mode)
            # no second copy when every image was read; memory-mapped, the skipped rows are left out as read
            arrays[kind][layer.name] = arr if keep.all() or mmap else arr[keep]
    return Activations(
        path=path,
        layers=tuple(l.name for l in meta.layers),
        labels=labels,
        categories=meta.categories,
        paths=paths,
        root=root,
        meta=meta,
        skipped=skipped,
        _maxima=arrays["maxima"],
        _positions=arrays["positions"],
        _means=arrays["means"],
        _minima=arrays["minima"],
        _rows=None if keep.all() or not mmap else np.flatnonzero(keep),
        **found,
    )
