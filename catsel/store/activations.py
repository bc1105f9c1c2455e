"""Captured activations as the statistics read them: :class:`Activations` and :func:`load_activations`."""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ..errors import StoreError
from ..paths import file_digest, inside, is_digest, plain_name, shown
from .chunked import check_blocks, open_chunked
from .files import read_record
from .meta import ARRAYS, PART, SUMMARIES, ZARR, LayerSpec, StoreMeta, recorded_key, recorded_rows
from .npy import array_damage, array_file, row_damage, scan_rows

__all__ = ["Activations", "MMAP_ABOVE", "load_activations"]


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
    _identity, _root_given
        Each image's file as captured, and whether ``root`` is the caller's (see :meth:`image_file`).
    _rows : ndarray, optional
        The rows of the files that hold read images, when the arrays are
        whole files (memory-mapped, or chunked) that also hold skipped ones.
    _taken : dict
        Those rows, read once per array.
    _held : tuple of str, optional
        The kinds of array a store holds with its part (see :attr:`arrays`).

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
    _held: tuple | None = field(default=None, repr=False)  # the kinds of array a store holds (see arrays)

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
        if self.path is None:
            raise StoreError(f"these activations have no spatial {kind} for {layer} (given without them); pass "
                             f"{kind}= to Activations.from_arrays")
        raise StoreError(f"{self.path} has no spatial {kind} for {layer} (captured without them); capture again with "
                         "summaries=True (catsel.capture), or run `catsel run` with an index that needs them (--index "
                         "repo), on the same output folder: an extra pass adds them to the store")

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
        from ..images.folder import load_image

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
    def arrays(self) -> tuple[str, ...]:
        """The kinds of array these activations hold (of ``maxima``, ``positions``, ``means``, ``minima``).

        A store captured without the spatial means and minima holds them once a capture that asks for them
        (``summaries=True``) has finished its extra pass.
        """
        if self._held is not None:
            return self._held
        held = {"maxima": self._maxima, "positions": self._positions, "means": self._means, "minima": self._minima}
        return tuple(kind for kind, by_layer in held.items() if kind == "maxima" or by_layer)

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
        (default: when the maxima take more than ``MMAP_ABOVE`` bytes).
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
    from ..options import check_path

    path = check_path("path", path, "a store or run folder")
    if not path.exists():  # a typo of a run folder's name: said as such, not as a folder without a store
        raise StoreError(f"{path} does not exist; give the output folder of `catsel run` (or of catsel.capture)")
    if not (path / "meta.json").exists() and (path / "activations" / "meta.json").exists():
        path = inside(path, "activations", what="store folder")  # a link out of the run folder is refused
    if not (path / "meta.json").exists():
        raise StoreError(f"{path} is not an activations store (no meta.json); run `catsel run` or catsel.capture first")
    for record in ("meta.json", "progress.json", "index.csv", "arrays.zarr"):  # read, never through a link out
        inside(path, record, what="record")
    recorded = read_record(path / "meta.json")
    meta = StoreMeta.from_json(recorded, path / "meta.json")
    progress = read_record(path / "progress.json")
    n = meta.n_rows
    rows_done = recorded_rows(progress, n, path / "progress.json")
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
        # the index and meta.json must tell one story: rows in order, each label naming its row's category, and
        # each image inside its category's folder (categories reordered and labels swapped together agree with
        # each other, not with the folders)
        for row, r in enumerate(index):
            label = int(r["label"])
            named = meta.categories[label] if 0 <= label < len(meta.categories) else None
            if int(r["row"]) != row or named != r["category"]:
                raise StoreError(f"{path / 'index.csv'}: row {row} ({str(r['path'])[:80]!r}) says category "
                                 f"{str(r['category'])[:40]!r} with label {label}, but meta.json's categories "
                                 f"give {named!r}; the index or meta.json was edited or damaged: capture again")
            if shown(str(r["path"]).split("/", 1)[0]) != named:  # a category is its folder's name, as shown
                raise StoreError(f"{path / 'index.csv'}: row {row}'s image {str(r['path'])[:80]!r} is not in the "
                                 f"folder of its category {str(named)[:40]!r}; the index or meta.json was edited or "
                                 "damaged: capture again")
        if len(set(paths_all)) != len(paths_all):
            raise StoreError(f"{path / 'index.csv'} lists an image twice; the index was edited or damaged: "
                             "capture again")
        # the records together must give the key they were captured under: an edit of the network's description
        # (a map shape, a receptive field, the recipe) or of the images' is found here, before any figure is drawn
        # (an older store without the files' identities in its index cannot give it: it is read as before)
        if len(index) == n and all(identity_all) and recorded_key(recorded, index) != meta.key:
            raise StoreError(f"{path}: meta.json and index.csv no longer give the store's key: one was edited or "
                             "damaged (or another catsel version wrote them); rerun the capture to repair it")
    except (OSError, ValueError, TypeError, KeyError, AttributeError, csv.Error) as exc:  # csv.Error: a field
        raise StoreError(f"{damaged} ({type(exc).__name__}: {str(exc)[:80]})") from None  # past its size limit
    if len(index) != n or (len(labels_all) and not 0 <= labels_all.min() <= labels_all.max() < len(meta.categories)):
        raise StoreError(f"{damaged} ({len(index)} rows for {n} images)")
    keep = np.array([i not in skipped for i in range(n)], dtype=bool)
    if any(not 0 <= i < n for i in skipped) or n and not set(range(len(meta.categories))) <= set(labels_all[keep]):
        # a capture always keeps an image of every category (or stops, naming the folder): this one does not
        raise StoreError(f"{path / 'progress.json'} skips rows that are not the store's, or every image of a "
                         "category; the store was edited or damaged: rerun the capture to repair it")
    labels = labels_all[keep]
    paths = [p for p, k in zip(paths_all, keep) if k]
    identity = [p for p, k in zip(identity_all, keep) if k]
    root = meta.root if data_dir is None else str(Path(data_dir).resolve())
    if data_dir is not None and not Path(root).is_dir():
        raise StoreError(f"data_dir {data_dir} is not a folder; pass the folder the images were captured from")
    found = {"_identity": identity, "_root_given": data_dir is not None}
    if mmap is None:
        mmap = n * sum(layer.units for layer in meta.layers) * 4 > MMAP_ABOVE
    whole = mmap or meta.layout == ZARR  # every row kept in the arrays, the skipped ones left out as they are read
    arrays = _read_arrays(path, meta, progress, keep, mmap, verify, whole)
    held = set(meta.arrays)
    if not set(SUMMARIES) <= held:
        for kind, by_layer in _read_part(path, meta, skipped, keep, mmap, verify, whole).items():
            arrays[kind].update(by_layer)
            held.add(kind)
    found["_held"] = tuple(k for k in ARRAYS if k in held)
    found["_rows"] = None if keep.all() or not whole else np.flatnonzero(keep)
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
        **found,
    )


def _read_arrays(path: Path, meta: StoreMeta, progress: dict, keep: np.ndarray, mmap: bool, verify: bool,
                 whole: bool) -> dict[str, dict[str, np.ndarray]]:
    """The arrays of a store (or of its part) as ``meta.arrays`` lists them, each checked before it is trusted:
    all their rows (``whole``), or only those of the images that were read (``keep``)."""
    arrays: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in ARRAYS}
    if meta.layout == ZARR:  # a chunked store, written in blocks (catsel.capturing.cluster)
        for kind, layer, shape, _ in meta.array_shapes():
            arrays[kind][layer] = open_chunked(path, f"{kind}/{layer}", shape)
        check_blocks(path, meta, arrays, verify)
        if not whole and not keep.all():  # the part of a store read into memory
            arrays = {kind: {layer: np.asarray(a)[keep] for layer, a in by_layer.items()}
                      for kind, by_layer in arrays.items()}
        return arrays
    for kind, layer, shape, dtype in meta.array_shapes():
        file = array_file(path, kind, layer)
        damage, _ = array_damage(file, shape, dtype)
        if damage is None and verify:
            crcs = progress.get("crc32") if isinstance(progress.get("crc32"), dict) else {}
            damage = row_damage(*scan_rows(file, shape[0], shape[1] * np.dtype(dtype).itemsize, dtype),
                                crcs.get(f"{kind}/{layer}.npy"), shape[0])
        if damage is not None:
            raise StoreError(f"{file} {damage}: the store is damaged; rerun the capture to repair it")
        arr = np.load(file, mmap_mode="r" if mmap else None)
        # no second copy when every image was read; memory-mapped, the skipped rows are left out as read
        arrays[kind][layer] = arr if keep.all() or whole else arr[keep]
    return arrays


def _read_part(path: Path, meta: StoreMeta, skipped: dict, keep: np.ndarray, mmap: bool, verify: bool,
               whole: bool) -> dict[str, dict[str, np.ndarray]]:
    """The arrays of the store's ``summaries/`` part (see :data:`PART`), when it is finished and of this capture.

    A part that is unfinished is left out: the arrays it will hold are then missing, and the error that asks for
    them says how to finish it. A part that is damaged or of another capture is left out with a warning.
    """
    part = inside(path, PART, source=path / "meta.json", what="part")
    if part.is_symlink() or not (part / "meta.json").is_file():
        return {}
    try:
        own = StoreMeta.from_json(read_record(part / "meta.json"), part / "meta.json")
        progress = read_record(part / "progress.json")
        if not progress.get("complete") or recorded_rows(progress, own.n_rows, part / "progress.json") < own.n_rows:
            return {}
        if (own.key, own.n_rows, own.layers) != (meta.key, meta.n_rows, meta.layers):
            raise StoreError(f"{part / 'meta.json'} describes another capture than {path / 'meta.json'}")
        if {int(k): str(v) for k, v in progress.get("skipped", {}).items()} != skipped:
            raise StoreError(f"{part / 'progress.json'}: its unreadable images differ from the store's")
        arrays = _read_arrays(part, own, progress, keep, mmap, verify, whole)
        return {kind: arrays[kind] for kind in own.arrays if kind in SUMMARIES and kind not in meta.arrays}
    except (OSError, ValueError, TypeError, AttributeError, StoreError) as exc:
        warnings.warn(f"{str(exc).split('; ')[0]}: its arrays are not used (the capture that asks for them "
                      "captures them again)", UserWarning, stacklevel=3)
        return {}
