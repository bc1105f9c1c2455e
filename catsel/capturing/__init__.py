"""Capture: an image folder through an activation model into a store, by one protocol and two runners.

:func:`capture` is the protocol, the one place that decides what a capture
is and what an earlier store is worth:

- the capture's identity (``catsel.capturing.key.store_key``), the same
  whichever layout keeps the arrays, its ``meta.json`` and its ``index.csv``;
- the output folder's lock, taken once, here;
- an earlier store: another capture's (or a damaged one) is set aside in
  ``activations.history/``; a finished store of this capture is reused, in
  either layout; an unfinished one of this layout is resumed (each runner
  checks every row or block it keeps against its checksum first);
- the strict rule (see :func:`capture`).

The runners only compute and write: :mod:`catsel.capturing.local` (one
process, ``.npy`` rows) and :mod:`catsel.capturing.cluster` (a Dask cluster,
Zarr chunks). Neither imports the other.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..images.folder import ImageFolder
from ..errors import DatasetError, ImageError, ModelError, StoreError
from ..options import size_text
from ..paths import inside
from ..store import (FORMAT, MAIN_ARRAYS, NPY, PART, SUMMARIES, VERSION, ZARR, Activations, StoreMeta, folder_lock,
                     index_rows, load_activations, read_record, say, set_aside)
from .key import decoded_cache_key, files_signature, store_key

if TYPE_CHECKING:
    from ..network.interface import Network

__all__ = ["capture", "check_categories"]


def capture(
    amodel: "Network",
    images: ImageFolder | str | os.PathLike,
    out: str | os.PathLike,
    *,
    batch_size: int = 32,
    strict: bool = False,
    progress: bool = True,
    workers: int | None = None,
    cache: str | os.PathLike | None = None,
    devices: str | int | Sequence[str] | None = None,
    verify: bool = False,
    client=None,
    block: int | None = None,
    summaries: bool = False,
) -> Activations:
    """Run every image through ``amodel`` and keep each unit's maximum.

    Parameters
    ----------
    amodel
        From :func:`catsel.activation_model`.
    images
        An :class:`ImageFolder` or the path of a category folder (then read at
        the model's image size).
    out
        Folder to write the store into (as ``out/activations``). A store
        already there with the same key is reused (complete) or resumed
        (interrupted); a store with another key is kept in
        ``out/activations.history/`` (and moved back when its configuration
        is captured again) and a fresh capture starts.
    batch_size
        Images per forward pass. The last batch is padded to this size so
        that the compiled forward pass is traced once.
    strict
        Stop at the first image that cannot be read instead of skipping it:
        a file that is not an image stops it before any work; an image that
        cannot be decoded stops it where it is met, with every row computed
        before it saved (one process: the images before it; a cluster: the
        blocks finished) and reused by the rerun.
    progress
        Show a progress bar (``tqdm.auto``: terminal or notebook).
    workers
        Decoding workers (default: one per CPU core): processes for runs of
        512 images or more (started once, and kept for the session's later
        captures), threads below that.
    cache
        A folder for decoded images (uint8 at the model's size): the first
        capture fills it, later captures of the same images at the same size
        read it instead of decoding.
    devices
        ``None`` (default): the backend's default device. ``"all"``, a number
        ``n`` or a list of names (``["gpu:0", "gpu:1"]``): split each batch
        over those devices (Keras' data parallelism; JAX backend only, see
        :meth:`catsel.network.interface.Network.split_over`). ``batch_size`` must be a
        multiple of their number. The numbers do not depend on it.
    verify
        Recognise the images of an earlier capture by their contents (a
        SHA-256 digest of every file) rather than by size and modification
        time (see ``catsel.capturing.key.store_key``).
    client
        A ``dask.distributed.Client``: capture on its cluster's workers, in
        blocks of images, into a chunked (Zarr) store
        (:mod:`catsel.capturing.cluster`). ``workers``,
        ``cache`` and ``devices`` are then the workers' own business.
    block
        With ``client``: images per block (default
        ``catsel.capturing.cluster.BLOCK``).
    summaries
        Also keep each conv filter's spatial mean and minimum per image
        (``acts.means(layer)``, ``acts.minima(layer)``), which the ``repo``
        index needs. Off by default: they cost a pass over every map and a
        third or more of what each batch sends back from the device. A store
        captured without them gets them from an extra pass that computes only
        them, into the store's ``summaries/`` part (resumable as any capture).

    Returns
    -------
    Activations
        The store's contents (images that could not be read left out).
    """
    if not isinstance(images, ImageFolder):
        images = ImageFolder(images, image_size=amodel.image_size)
    if images.image_size != amodel.image_size:
        raise ValueError(
            f"the folder is read at {size_text(images.image_size)} but the model takes {size_text(amodel.image_size)}"
        )
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if strict and images.skipped:
        first = images.skipped[0]
        raise ImageError(f"{first.path}: {first.reason} (strict mode: remove it, or run without strict)")
    chosen = None
    if client is None:
        chosen = amodel.split_over(devices)
        if chosen and batch_size % len(chosen):
            k = len(chosen)
            raise ModelError(f"batch size {batch_size} does not split evenly over {k} devices; "
                             f"use a multiple of {k}, such as {-(-batch_size // k) * k}")
    else:
        from .cluster import BLOCK

        block = -(-(block or BLOCK) // batch_size) * batch_size  # blocks start on batch boundaries
    wanted = MAIN_ARRAYS + (SUMMARIES if summaries else ())
    out = Path(out)
    files = files_signature(images, verify)  # once: the store's key and the decoded cache's name the same files
    meta = StoreMeta.from_json({
        "format": FORMAT,
        "version": VERSION,
        "key": store_key(amodel, images, verify, signature=files),
        "root": str(images.root.resolve()),
        "n_rows": len(images),
        "categories": list(images.categories),
        "fit": images.fit,
        "layout": NPY if client is None else ZARR,
        "block": None if client is None else block,
        "arrays": list(wanted),
        **amodel.describe(),
    })
    rows = index_rows(images.relative_paths(), images.labels, images.categories, files, images.paths)
    path = out / "activations"

    def run(store: Path, meta: StoreMeta) -> int:
        """One pass of the network over the images into ``store``, computing the kinds ``meta.arrays`` names."""
        computing = amodel.for_arrays(meta.arrays)
        if client is None:
            from .local import capture_local

            return capture_local(computing, images, store, meta, rows, runner=computing.runner(chosen),
                                 batch_size=batch_size, strict=strict, progress=progress, workers=workers,
                                 cache=cache, cache_key=decoded_cache_key(images, verify, signature=files))
        from .cluster import capture_cluster

        return capture_cluster(computing, images, store, meta, rows, client=client,
                               batch_size=batch_size, strict=strict, progress=progress)

    with folder_lock(out):  # one capture at a time into a folder: taken here, once
        meta, finished = _earlier_store(path, meta)
        captured = 0 if finished is not None else run(path, meta)
        missing = tuple(k for k in wanted if k not in (finished.meta if finished is not None else meta).arrays)
        if missing and any(layer.map_shape is not None for layer in meta.layers):
            # a store captured without them: an extra pass computes only them, into a part of its own, which is
            # resumed, or reused after its checksums are checked, as a store is
            where = inside(path, PART, source=path / "meta.json", what="part")  # never through a link outside
            part, done = _earlier_store(where, replace(meta, arrays=missing),
                                        whole=lambda: _with_part(path, missing))
            if done is None:
                if not _finished(where):
                    say(f"the capture in {path} has no spatial {' or '.join(missing)}: an extra pass computes them")
                captured += run(where, part)
            finished = None
        if captured:
            _check_readable(path, images)  # a category none of whose images could be read: its folder named
        try:
            acts = finished if finished is not None else load_activations(path)
        except StoreError as exc:
            if captured:  # computed just now: not a record of an earlier run
                raise
            # a store reused as finished whose records do not hold together when read: set aside, captured again
            warnings.warn(f"{str(exc).split('; ')[0]}: the store is set aside and captured again", UserWarning,
                          stacklevel=3)
            set_aside(path, None)
            captured = run(path, meta)
            _check_readable(path, images)
            acts = load_activations(path)
    acts.captured = captured  # rows this call computed (a resumed or reused store counts less)
    check_categories(acts, images)
    return acts


def _earlier_store(path: Path, meta: StoreMeta, whole=None) -> tuple[StoreMeta, Activations | None]:
    """What an earlier store at ``path`` is worth to this capture: the meta to capture with, and the store
    itself when it is a finished capture of the same images and network in the other layout (read and checked
    by ``whole()``, default ``load_activations(path, verify=True)``; ``None`` when it is not whole).

    A store of this capture in this layout is resumed with the kinds of array it was started with (the capture
    adds the others afterwards, in an extra pass)."""
    if not (path / "meta.json").exists():
        return meta, None
    try:
        old = StoreMeta.from_json(read_record(path / "meta.json"), path / "meta.json")
    except (OSError, ValueError, TypeError, AttributeError, StoreError) as exc:
        warnings.warn(f"{str(exc).split('; ')[0]}: the store is set aside and the capture starts over",
                      UserWarning, stacklevel=4)
        set_aside(path, None)
        return meta, None
    if old.key != meta.key:
        set_aside(path, old)
        return meta, None
    if old.layout == meta.layout:  # this capture's own store: the runner resumes or reuses it
        return replace(meta, arrays=old.arrays, block=old.block if meta.layout == ZARR else None), None
    try:  # the same capture in the other layout: reused when finished and whole
        acts = whole() if whole is not None else load_activations(path, verify=True)
    except StoreError:
        acts = None
    if acts is not None:
        say(f"the finished capture in {path} ({old.layout} layout) is reused as it is")
        return meta, acts
    set_aside(path, old)
    return meta, None


def _with_part(path: Path, kinds: tuple) -> Activations | None:
    """The store at ``path`` read with its part, every array checked against its checksums, when the part holds
    ``kinds`` (a damaged part is named in a warning and left out)."""
    acts = load_activations(path, verify=True)
    return acts if all(k in acts.arrays for k in kinds) else None


def _finished(path: Path) -> bool:
    try:
        return read_record(path / "progress.json").get("complete") is True
    except (OSError, ValueError, AttributeError, StoreError):
        return False


def _check_readable(path: Path, images: ImageFolder) -> None:
    """:func:`check_categories` from the store's own progress, before the store is read."""
    skipped = {int(k) for k in read_record(path / "progress.json").get("skipped", {})}
    kept = {label for row, label in enumerate(images.labels) if row not in skipped}
    empty = [c for k, c in enumerate(images.categories) if k not in kept]
    if empty:
        raise DatasetError(
            f"category folder {images.root / empty[0]} has no readable image "
            f"(see {path / 'progress.json'} for the reasons); add readable images or remove the folder"
        )


def check_categories(acts: Activations, images: ImageFolder) -> None:
    """A category none of whose images could be read is an error that names its folder.

    Parameters
    ----------
    acts : Activations
    images : ImageFolder

    Raises
    ------
    DatasetError
    """
    empty = [c for c, k in acts.counts.items() if k == 0]
    if empty:
        raise DatasetError(
            f"category folder {images.root / empty[0]} has no readable image "
            f"(see {acts.path / 'progress.json'} for the reasons); add readable images or remove the folder"
        )
