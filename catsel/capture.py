"""Capture: stream an image folder through an activation model into a store."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .data import ImageFolder
from .errors import DatasetError, ImageError
from .models import ActivationModel
from .store import ActivationStore, Activations, load_activations

__all__ = ["capture", "store_key"]


def _files_signature(folder: ImageFolder) -> list:
    sig = []
    for rel, path in zip(folder.relative_paths(), folder.paths):
        st = path.stat()
        sig.append([rel, st.st_size, st.st_mtime_ns])
    return sig


def store_key(amodel: ActivationModel, folder: ImageFolder) -> str:
    """Identity of a capture: the images (path, size, modification time), the
    network (architecture and weights), preprocessing, image size, fit and layers.

    The same key means the store can be reused or resumed; any change gives
    another key and a fresh capture.
    """
    payload = {
        "files": _files_signature(folder),
        "categories": list(folder.categories),
        "labels": folder.labels.tolist(),
        "fit": folder.fit,
        # the network by its architecture and weights digest, not its name
        # (Keras numbers unnamed in-memory models differently in each session)
        "model": {k: v for k, v in amodel.describe().items() if k != "model"},
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _decode_pool_size() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def capture(
    amodel: ActivationModel,
    images: ImageFolder | str | os.PathLike,
    out: str | os.PathLike,
    *,
    batch_size: int = 32,
    strict: bool = False,
    progress: bool = True,
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
        (interrupted); a store with another key is moved to
        ``out/activations.previous`` and a fresh capture starts.
    batch_size
        Images per forward pass. The last batch is padded to this size so
        that the compiled forward pass is traced once.
    strict
        Stop at the first image that cannot be read (after saving every
        image before it) instead of skipping it.
    progress
        Show a progress bar (``tqdm.auto``: terminal or notebook).

    Returns
    -------
    Activations
        The store's contents (images that could not be read left out).
    """
    if not isinstance(images, ImageFolder):
        images = ImageFolder(images, image_size=amodel.image_size)
    if images.image_size != amodel.image_size:
        raise ValueError(
            f"the folder is read at {images.image_size}px but the model takes {amodel.image_size}px"
        )
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if strict and images.skipped:
        first = images.skipped[0]
        raise ImageError(f"{first.path}: {first.reason} (strict mode: remove it, or run without strict)")

    out = Path(out)
    meta = {
        "key": store_key(amodel, images),
        "root": str(images.root.resolve()),
        "n_rows": len(images),
        "categories": list(images.categories),
        "fit": images.fit,
        **amodel.describe(),
    }
    index_rows = [
        {"row": i, "path": rel, "category": images.categories[lab], "label": int(lab)}
        for i, (rel, lab) in enumerate(zip(images.relative_paths(), images.labels))
    ]
    store = ActivationStore.open(out / "activations", meta, index_rows)
    try:
        if not store.complete:
            _run(amodel, images, store, batch_size, strict, progress)
    finally:
        store.close()
    acts = load_activations(store.path)
    empty = [c for c, k in acts.counts.items() if k == 0]
    if empty:
        raise DatasetError(
            f"category folder {images.root / empty[0]} has no readable image "
            f"(see {store.path / 'progress.json'} for the reasons); add readable images or remove the folder"
        )
    return acts


def _run(amodel, images: ImageFolder, store: ActivationStore, batch_size: int, strict: bool, progress: bool):
    n = len(images)
    starts = list(range(store.rows_done, n, batch_size))
    pool = ThreadPoolExecutor(_decode_pool_size(), thread_name_prefix="catsel-decode")
    ahead = ThreadPoolExecutor(1, thread_name_prefix="catsel-prefetch")

    def load(first: int):
        idx = range(first, min(first + batch_size, n))
        results = list(pool.map(_try_load, [images] * len(idx), idx))
        batch = np.zeros((batch_size, images.image_size, images.image_size, 3), dtype=np.uint8)
        errors = []
        for k, (img, err) in enumerate(results):
            if img is not None:
                batch[k] = img
            errors.append(err)
        return first, batch, errors

    bar = tqdm(total=n, initial=store.rows_done, unit="img", desc="capture", disable=not progress,
               dynamic_ncols=True)
    try:
        pending = ahead.submit(load, starts[0]) if starts else None
        for i in range(len(starts)):
            first, batch, errors = pending.result()
            pending = ahead.submit(load, starts[i + 1]) if i + 1 < len(starts) else None
            bad = next((k for k, e in enumerate(errors) if e is not None), None)
            if strict and bad is not None:
                if bad:
                    maxima, positions = amodel.predict(batch)
                    store.write(first, _rows(maxima, bad), _rows(positions, bad), errors[:bad])
                raise ImageError(f"{errors[bad]} (strict mode: remove or fix the file, or run without strict; "
                                 f"the {store.rows_done} images before it are saved and will be reused)")
            maxima, positions = amodel.predict(batch)
            k = len(errors)
            store.write(first, _rows(maxima, k), _rows(positions, k), errors)
            bar.update(k)
    finally:
        bar.close()
        ahead.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)


def _try_load(folder: ImageFolder, index: int):
    try:
        return folder.load(index), None
    except ImageError as exc:
        return None, str(exc)


def _rows(arrays: dict, k: int) -> dict:
    return {name: arr[:k] for name, arr in arrays.items()}
