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
                             spatial mean, for a capture asked for them (summaries)
        minima/<layer>.npy   float32 (rows, units), conv layers only: the map's
                             spatial minimum, likewise
        summaries/           the means and minima added later by an extra pass:
                             a store of its own (same key, its own meta.json,
                             progress.json and checksums, either layout)

``meta.json``'s ``arrays`` lists the kinds a store (or its part) holds; a
store written before it was recorded holds all four. Every array is a plain
NumPy ``.npy`` file (``numpy.load(path, mmap_mode="r")``); nothing is
pickled. Rows follow ``index.csv``: one per candidate image, in the
dataset's order. Rows of images that could not be read are zeros and
listed under ``skipped`` in ``progress.json``.

Each batch's rows are written into the ``.npy`` files at their place. Every
``SAVE_EVERY`` seconds, and at the end or when a capture stops, the files
are flushed to disk and then ``progress.json`` is replaced atomically, so an
interrupted capture resumes from the last rows saved.

A chunked store (``layout`` ``"zarr"`` in ``meta.json``, written by a Dask
cluster) keeps the same arrays as Zarr arrays under ``arrays.zarr/<kind>/<layer>``,
chunked in blocks of images, with a record per block under ``blocks/`` (its
rows' checksums); everything else is the same, and so is the store's key.

The modules: :mod:`.meta` (``meta.json`` and ``index.csv``), :mod:`.files`
(writing files whole, one line for a failed write), :mod:`.lock` (one run per
output folder), :mod:`.history` (earlier configurations kept), :mod:`.npy`
and :mod:`.chunked` (the two layouts), :mod:`.activations` (reading a store).
Only :class:`Activations`, :func:`load_activations` and :class:`StoreMeta` are
public (``catsel.Activations``...); the rest is catsel's own.
"""

from __future__ import annotations

from .activations import MMAP_ABOVE, Activations, load_activations
from .chunked import block_damage, block_record, check_blocks, chunked_arrays, open_chunked, open_group, tree_damage
from .files import (FULL, atomic_write, changed_outputs, no_space, output_digests, read_record, reusable, say,
                    sweep_temporaries, take_blocks, write_error, write_json)
from .history import KEEP_STORES, set_aside
from .lock import LOCK_NAME, folder_lock
from .meta import (ARRAYS, FORMAT, INDEX_COLUMNS, LAYOUTS, MAIN_ARRAYS, NPY, PART, SUMMARIES, VERSION, ZARR,
                   LayerSpec, StoreMeta, index_rows, recorded_rows, write_index)
from .npy import SAVE_EVERY, ActivationStore, array_damage, array_file, repair_records, rows_crc

__all__ = ["Activations", "ActivationStore", "StoreMeta", "LayerSpec", "load_activations", "folder_lock", "index_rows",
           "FORMAT", "VERSION", "ARRAYS", "MAIN_ARRAYS", "SUMMARIES", "PART", "NPY", "ZARR", "LAYOUTS", "SAVE_EVERY",
           "LOCK_NAME", "KEEP_STORES",
           "MMAP_ABOVE", "INDEX_COLUMNS", "atomic_write", "set_aside", "block_record", "block_damage", "check_blocks",
           "chunked_arrays", "open_chunked", "write_error", "write_json", "write_index", "read_record", "no_space",
           "take_blocks", "say", "FULL", "array_damage", "array_file", "rows_crc", "recorded_rows", "sweep_temporaries", "open_group", "tree_damage",
           "repair_records", "output_digests", "changed_outputs", "reusable"]
