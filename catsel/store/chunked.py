"""The chunked (Zarr) format: arrays cut in blocks of images, a record with checksums per block."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..paths import inside
from .files import read_record
from .meta import ARRAYS, StoreMeta, is_int

__all__ = ["open_chunked", "open_group", "tree_damage", "chunked_arrays", "block_record", "block_damage",
           "check_blocks", "WRITTEN_CODECS"]


#: How catsel writes a chunked array's bytes (``zarr.json``'s codecs): raw, little-endian, uncompressed.
WRITTEN_CODECS = [{"name": "bytes", "configuration": {"endian": "little"}}]


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
    damage = tree_damage(where)
    if damage is not None:
        raise StoreError(damage)
    try:
        array = zarr.open_array(str(where), mode="r")
    except Exception as exc:  # zarr raises several kinds for a missing or damaged array
        raise StoreError(f"{where} cannot be opened ({type(exc).__name__}): the store is damaged; rerun the capture "
                         "to repair it") from None
    if tuple(array.shape) != tuple(shape) or np.dtype(array.dtype) != np.dtype(dtype):
        raise StoreError(f"{where} holds an array of shape {tuple(array.shape)} and type {array.dtype}, not "
                         f"{tuple(shape)}: the store is damaged; rerun the capture to repair it")
    # how its bytes are read must be how catsel wrote them: a byte order or a codec edited in zarr.json reads the
    # same checksummed bytes as other numbers (-2.99e35 for a float written little-endian, read big-endian)
    try:
        codecs = [dict(c) for c in array.metadata.to_dict().get("codecs", ())]
    except Exception:  # an older or foreign format's metadata
        codecs = None
    if codecs != WRITTEN_CODECS or array.chunks[1:] != tuple(shape[1:]):
        raise StoreError(f"{where}/zarr.json does not describe the array as catsel writes it (codecs {codecs}, "
                         f"chunks {tuple(array.chunks)}): the store is damaged or edited; rerun the capture to "
                         "repair it")
    return array


def tree_damage(where: Path) -> str | None:
    """What is wrong with the files of a chunked array (None if nothing): a link, or a folder where a chunk
    belongs (catsel's chunks are plain files, at ``c/<row block>/<column block>``).

    Parameters
    ----------
    where : Path

    Returns
    -------
    str or None
        One line naming the file.
    """
    for folder, folders, files in os.walk(where):
        for entry in folders + files:  # no chunk or description read through a link
            if os.path.islink(os.path.join(folder, entry)):
                return (f"{os.path.join(folder, entry)} is a symbolic link: a store's chunks are its own files; the "
                        "store was edited: rerun the capture to repair it")
        parts = os.path.relpath(folder, where).split(os.sep)
        if parts[0] == "c" and len(parts) == 3:  # c/<row block>/<column block>: a 2-D array's chunk file
            return (f"{folder} is a folder where a chunk belongs: the store is damaged; rerun the capture to "
                    "repair it")
    return None


def open_group(path: Path, mode: str = "r"):
    """The store's Zarr group (``arrays.zarr``), or one line saying it cannot be opened.

    Parameters
    ----------
    path : Path
        The store folder.
    mode : str, default "r"

    Returns
    -------
    zarr.Group
    """
    import zarr

    where = inside(path, "arrays.zarr", what="arrays' folder")
    try:
        return zarr.open_group(str(where), mode=mode)
    except Exception as exc:  # GroupNotFoundError for a deleted zarr.json, and what a damaged one makes zarr raise
        raise StoreError(f"{where} cannot be opened ({type(exc).__name__}): the store is damaged; rerun the capture "
                         "to repair it") from None


def chunked_arrays(meta: "StoreMeta") -> dict:
    """``"<kind>/<layer>"`` → (rows, units) of every array a store of ``meta`` holds.

    Parameters
    ----------
    meta : StoreMeta

    Returns
    -------
    dict
    """
    return {f"{kind}/{layer}": shape for kind, layer, shape, _ in meta.array_shapes()}


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


def check_blocks(path: Path, meta: "StoreMeta", arrays: dict, verify: bool) -> None:
    """A chunked store's blocks, checked when it is read: every record whole, every chunk there (and, with
    ``verify``, every chunk's rows against the checksums its record holds)."""
    n, block = meta.n_rows, meta.block
    if not is_int(block, 1, 2**31):
        raise StoreError(f"{path / 'meta.json'}: block is {block!r}, not a number of images; the store is damaged: "
                         "rerun the capture to repair it")
    group = open_group(path)
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
    recorded = read_record(path / "progress.json").get("skipped", {})
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
