"""The ``.npy`` format: one file per array, rows written in place, a CRC-32 per file in ``progress.json``."""

from __future__ import annotations

import os
import shutil
import stat
import time
import warnings
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import StoreError
from ..paths import inside
from .files import FULL, atomic_write, no_space, read_record, say, take_blocks, write_error, write_json
from .history import set_aside
from .meta import ARRAYS, INDEX_COLUMNS, StoreMeta, recorded_rows, write_index

__all__ = ["SAVE_EVERY", "read_header", "array_damage", "rows_crc", "scan_rows", "row_damage", "array_file", "ActivationStore", "RowFile"]

#: Seconds between two saves of a capture in progress (the arrays flushed to disk, then progress.json).
#: Flushing every array after every batch held a capture on the GPU machine to the speed of its disk; a
#: stopped capture redoes at most this many seconds of work.
SAVE_EVERY = 2.0


def read_header(f) -> tuple:
    """Shape, Fortran order and dtype from an open ``.npy`` file, leaving it at the first row."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(f)


def array_damage(path: Path, shape: tuple[int, ...], dtype) -> tuple[str | None, int]:
    """What is wrong with an array file of the store (None if nothing), and how many whole rows it still holds.

    Read from the ``.npy`` header and the file's size, without opening the array: NumPy extends a short
    file that is opened for writing, and would hand back zeros for the missing rows.
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return "is missing", 0
    if not stat.S_ISREG(st.st_mode):  # a folder or a link where the array file should be
        return f"is not a file ({'a link' if stat.S_ISLNK(st.st_mode) else 'a folder'})", 0
    size = st.st_size
    if size == 0:
        return "is empty (0 bytes)", 0
    try:
        with open(path, "rb") as f:
            found_shape, fortran, found_dtype = read_header(f)
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


def rows_crc(path: Path, rows: int, row_bytes: int) -> int:
    """CRC-32 of the first ``rows`` rows of an array file (read from its ``.npy`` header on)."""
    return scan_rows(path, rows, row_bytes)[0]


def scan_rows(path: Path, rows: int, row_bytes: int, dtype=None) -> tuple[int, bool]:
    """CRC-32 of the first ``rows`` rows of an array file, and whether they are finite, in one read.

    A maximum, mean or minimum that is NaN or infinite is damage: the networks catsel captures give finite
    values, and a NaN would silently count as a unit that is never selective.

    Parameters
    ----------
    path : Path
    rows : int
    row_bytes : int
    dtype : numpy dtype, optional
        The array's; a floating one is checked for finite values.

    Returns
    -------
    (int, bool)
    """
    floating = dtype is not None and np.issubdtype(np.dtype(dtype), np.floating)
    finite = True
    with open(path, "rb") as f:
        read_header(f)
        crc, left = 0, rows * row_bytes
        while left:
            chunk = f.read(min(left, 1 << 24))  # a multiple of every item size: whole values in each chunk
            if not chunk:
                break
            crc, left = zlib.crc32(chunk, crc), left - len(chunk)
            if floating and finite:
                finite = bool(np.isfinite(np.frombuffer(chunk, dtype=dtype)).all())
    return crc, finite


def row_damage(crc: int, finite: bool, recorded, rows: int) -> str | None:
    """What is wrong with an array file's rows given their scan (:func:`scan_rows`) and ``progress.json``'s
    checksum of them; ``None`` when they are the rows that were written.

    A checksum is required: a store without one is old or edited, never trusted.
    """
    if rows and not isinstance(recorded, int):
        return "has no checksum in progress.json (an old or edited store)"
    if rows and crc != recorded:
        return "does not hold the rows that were written (its checksum differs)"
    if not finite:
        return "holds values that are not finite (NaN or infinite: damage, or a network whose values overflow)"
    return None


def array_file(store: Path, kind: str, layer: str) -> Path:
    """The ``.npy`` file of one layer's array of a store: ``STORE/KIND/LAYER.npy``, checked to lie inside."""
    return inside(store, f"{kind}/{layer}.npy", source=store / "meta.json", what="layer name")


def _started_store(path: Path) -> bool:
    """Whether a folder without ``meta.json`` holds only what a store writes before it (``index.csv``,
    ``progress.json``, its arrays' folders, temporary files): a start that was cut short, not a user's folder."""
    from .meta import PART

    names = {"index.csv", "progress.json", "arrays.zarr", PART, *ARRAYS}
    return all(entry.name in names or (entry.name.startswith(".") and entry.name.endswith(".tmp"))
               for entry in path.iterdir())


def repair_records(path: Path, meta: StoreMeta, old: StoreMeta, index_rows: list[dict]) -> None:
    """Write ``index.csv`` and ``meta.json`` of a store being resumed or reused again from the capture's own
    records where they differ (each replaced whole, :func:`atomic_write`), saying which.

    Parameters
    ----------
    path : Path
        The store folder.
    meta : StoreMeta
        The capture's own (with the store's kinds of array and block).
    old : StoreMeta
        What the store's ``meta.json`` says now.
    index_rows : list of dict
        The capture's ``index.csv``.
    """
    import csv
    import io

    written = io.StringIO(newline="")
    writer = csv.DictWriter(written, fieldnames=INDEX_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(index_rows)
    try:
        current = (path / "index.csv").read_bytes().decode("utf-8", errors="surrogateescape")
    except OSError:
        current = None
    repaired = []
    if current != written.getvalue():
        with atomic_write(path / "index.csv") as tmp:
            tmp.write_bytes(written.getvalue().encode("utf-8", errors="surrogateescape"))
        repaired.append("index.csv")
    if old.to_json() != meta.to_json():
        write_json(path / "meta.json", meta.to_json())
        repaired.append("meta.json")
    if repaired:
        say(f"{path}: {' and '.join(repaired)} did not match this capture (edited or damaged): written again "
            "from it; the arrays are checked against them")


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
        self._arrays: dict[str, dict[str, RowFile]] = {kind: {} for kind in ARRAYS}
        mode = "r+" if rows_done > 0 or self._arrays_exist() else "w+"
        if mode == "r+":
            mode = self._check_arrays(rows_done)
        need = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for _, shape, dtype in self._files())
        try:
            for kind, layer, shape, dtype in meta.array_shapes():
                self._arrays[kind][layer] = self._open(array_file(path, kind, layer), mode, shape, dtype)
        except OSError as exc:
            if exc.errno in FULL:
                raise no_space(path, "the store", need) from None
            raise

    def _name(self, path: Path) -> str:
        return path.relative_to(self.path).as_posix()

    def _files(self):
        """Each array file of the store: path, shape and dtype."""
        for kind, layer, shape, dtype in self.meta.array_shapes():
            yield array_file(self.path, kind, layer), shape, dtype

    def _check_arrays(self, rows_done: int) -> str:
        """Check every array file before a capture resumes into it; never extend or trust a damaged one.

        A short file keeps its whole rows, and the capture goes on after the
        last row that every file still holds; any other damage starts it over.
        Each damaged file is named in a warning. Returns the mode to open the
        files in.
        """
        keep, damaged = rows_done, []
        for path, shape, dtype in self._files():
            damage, whole = array_damage(path, shape, dtype)
            if damage is not None:
                damaged.append((path, shape, dtype, damage))
                keep = min(keep, whole if "shorter" in damage else 0)
        if not damaged:  # sizes intact: the rows must be those that were written
            for path, shape, dtype in self._files():
                name = self._name(path)
                crc, finite = scan_rows(path, rows_done, shape[1] * np.dtype(dtype).itemsize, dtype)
                recorded = self._recorded_crc.get(name)
                damage = row_damage(crc, finite, recorded, rows_done)
                if damage is not None:
                    damaged.append((path, shape, dtype, damage))
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
            self._crc[self._name(path)] = rows_crc(path, keep, shape[1] * np.dtype(dtype).itemsize) if keep else 0
        self._write_progress(complete=False)  # before any file changes: a stop now resumes from `keep`
        if keep == 0:
            return "w+"
        for path, shape, dtype, _ in damaged:  # short files, headers intact: back to their size
            with open(path, "r+b") as f:
                read_header(f)
                f.truncate(f.tell() + shape[0] * shape[1] * np.dtype(dtype).itemsize)
        return "r+"

    def _arrays_exist(self) -> bool:
        return all(path.exists() for path, _, _ in self._files())

    @staticmethod
    def _open(path: Path, mode: str, shape, dtype) -> "RowFile":
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "w+" and (path.is_symlink() or path.is_dir()):  # damage where the file goes: removed, never
            if path.is_symlink() or not path.is_dir():                # followed
                path.unlink()
            else:
                shutil.rmtree(path)
        if mode == "w+":  # NumPy writes the .npy header and sizes the file
            arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        else:
            arr = np.lib.format.open_memmap(path, mode="r+")
            if arr.shape != tuple(shape) or arr.dtype != dtype:
                raise StoreError(f"{path} has shape {arr.shape}, expected {tuple(shape)}; "
                                 "delete the store to start afresh")
        rows = RowFile(path, arr.offset, arr.dtype, int(shape[1]))
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
                old = StoreMeta.from_json(read_record(path / "meta.json"), path / "meta.json")
                progress = read_record(path / "progress.json")
                rows_done = recorded_rows(progress, old.n_rows, path / "progress.json")
                skipped = {int(k): str(v) for k, v in progress.get("skipped", {}).items()}
            except (OSError, ValueError, TypeError, AttributeError, StoreError) as exc:
                warnings.warn(f"{str(exc).split('; ')[0]}: the store is set aside and the capture starts over",
                              UserWarning, stacklevel=3)
                old, progress = None, {}
            if old is not None and old.key == meta.key and progress:
                crc = progress.get("crc32") if isinstance(progress.get("crc32"), dict) else None
                # the same images, network and settings: index.csv and meta.json are this capture's own, so they
                # are written again from it (an edited or damaged record is repaired, never trusted); the arrays
                # are then checked against them, row by row
                own = replace(meta, arrays=old.arrays, block=old.block)
                repair_records(path, own, old, index_rows)
                return cls(path, own, rows_done, skipped, crc)
            set_aside(path, old)
        elif path.exists() and any(path.iterdir()):
            if not _started_store(path):
                raise StoreError(f"{path} exists and is not a catsel store; choose another output folder")
            # what a store's start wrote before it was cut short (a full disk, a kill): catsel's own files only
            say(f"{path} holds the start of a capture that was cut short (no meta.json): it is started again")
            for entry in list(path.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        kept = inside(history, meta.key[:16], what="kept store's name")
        if (kept / "meta.json").exists() and not kept.is_symlink():
            try:
                kept_meta = StoreMeta.from_json(read_record(kept / "meta.json"))
                same = kept_meta.key == meta.key and kept_meta.layout == meta.layout
            except (ValueError, TypeError, AttributeError, StoreError):
                same = False
            if same:
                if path.exists():
                    path.rmdir()  # empty
                kept.rename(path)
                say(f"reusing the capture of this configuration kept in {kept}")
                return cls.open(path, meta, index_rows)
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
            write_index(path, index_rows)
            write_json(path / "meta.json", meta.to_json())  # written last: its presence makes the folder a store
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
            Each kind the store holds (``meta.arrays``, of :data:`ARRAYS`), by layer; more are ignored.
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
        write_json(
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


class RowFile:
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
            if exc.errno in FULL:
                raise no_space(self.path.parent, str(self.path)) from None
            raise

    def flush(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
