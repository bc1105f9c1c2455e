"""Capture: stream an image folder through an activation model into a store.

The pipeline keeps the device busy: while batch i is computed, batch i+1 is
already decoded (by worker threads, or processes for large runs) and sent to
the device, as uint8 (preprocessing runs on the device). An optional decoded
image cache (uint8 at the model's resolution, on disk) lets a second capture
over the same images, another layer set, another model, the untrained
control, skip decoding altogether.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import multiprocessing
import os
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from .options import hw, size_text
from .data import DECODING, ImageFolder, decode_into, decode_rows, watch_parent
from .errors import DatasetError, ImageError, ModelError
from .backends import resolve_devices
from .models import ActivationModel
from .store import (_FULL, FORMAT, VERSION, ActivationStore, Activations, StoreMeta, _array_damage, _no_space,
                    _read_json, _write_json, folder_lock, index_rows, load_activations, take_blocks)

__all__ = ["capture", "store_key", "decoded_cache_key"]

#: Below this many images, decoding uses threads (process start-up would cost more than it saves).
PROCESS_THRESHOLD = 512

# Decoding processes, by their number, kept from one capture to the next of the same Python session.
# Starting them costs seconds: each spawned worker imports the caller's main script again, with whatever
# that script imports at its top (Keras and its backend, typically; 8 s for 16 workers on the GPU machine of
# docs/performance.md). Idle workers hold no images; they end with the session.
_POOLS: dict[int, ProcessPoolExecutor] = {}


def _process_pool(workers: int) -> ProcessPoolExecutor:
    pool = _POOLS.get(workers)
    if pool is None or getattr(pool, "_broken", False):
        # spawn: the workers import catsel.data only, never the parent's TensorFlow threads
        pool = _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=watch_parent, initargs=(os.getpid(),))
    return pool


@atexit.register
def _stop_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


def _files_signature(folder: ImageFolder, verify: bool = False) -> list:
    sig = []
    for rel, path in zip(folder.relative_paths(), folder.paths):
        if verify:  # the bytes themselves
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            sig.append([rel, digest.hexdigest()])
        else:
            st = path.stat()
            sig.append([rel, st.st_size, st.st_mtime_ns])
    return sig


def store_key(amodel: ActivationModel, folder: ImageFolder, verify: bool = False,
              signature: list | None = None) -> str:
    """Identity of a capture.

    The images (path, size, modification time; or, with ``verify``, path and
    contents), the network (architecture and weights), preprocessing,
    precision, image size, fit and layers. The same key means the store can
    be reused or resumed; any change gives another key and a fresh capture.

    Parameters
    ----------
    amodel : ActivationModel
    folder : ImageFolder
    verify : bool, default False
        Key the images by a SHA-256 digest of their contents instead of their
        size and modification time: an edit that keeps both is noticed, at
        the cost of reading every file.
    signature : list, optional
        The files' identity, when the caller has computed it already.

    Returns
    -------
    str
        A SHA-256 hex digest.
    """
    payload = {
        "files": signature if signature is not None else _files_signature(folder, verify),
        "categories": list(folder.categories),
        "labels": folder.labels.tolist(),
        "fit": folder.fit,
        "decoding": DECODING,
        "store_version": VERSION,  # what a store holds changed with its version: an older one is not resumed
        # the network by its architecture and weights digest, not its name
        # (Keras numbers unnamed in-memory models differently in each session)
        "model": {k: v for k, v in amodel.describe().items() if k != "model"},
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def decoded_cache_key(folder: ImageFolder, verify: bool = False, signature: list | None = None) -> str:
    """Identity of a folder's decoded images: the files, the size and the fit.

    The files are identified as the store key identifies them: by size and
    modification time, or with ``verify`` by their contents, so a capture
    with ``verify`` never reuses pixels decoded from an earlier version of a
    file.

    Parameters
    ----------
    folder : ImageFolder
    verify : bool, default False
    signature : list, optional
        The files' identity, when the caller has computed it already.

    Returns
    -------
    str
        20 hex digits, part of the cache's file names.
    """
    files = signature if signature is not None else _files_signature(folder, verify)
    payload = {"files": files, "size": folder.image_size, "fit": folder.fit, "decoding": DECODING}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


class _Decoder:
    """Decoded batches of a folder: from worker threads or processes, through an optional disk cache."""

    def __init__(self, folder: ImageFolder, batch_size: int, workers: int | None, cache: Path | None,
                 cache_key: str | None = None):
        self.folder, self.batch_size = folder, batch_size
        self.cache_key = cache_key
        n = len(folder)
        workers = workers if workers is not None else max(1, os.cpu_count() or 1)
        if workers > 1 and n >= PROCESS_THRESHOLD:
            self.pool: Executor = _process_pool(workers)
            self.chunks, self.processes = workers, True
        else:
            self.processes = False
            self.pool = ThreadPoolExecutor(max(1, min(workers, 8)), thread_name_prefix="catsel-decode")
            self.chunks = max(1, min(workers, 8))
        self.cache_images = None
        self._pending: dict[int, tuple] = {}
        self._buffers: list = []  # shared memory of the processes, created as needed, reused
        self._free: list = []
        if cache is not None:
            self._open_cache(Path(cache))

    def _open_cache(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        key = self.cache_key or decoded_cache_key(self.folder)
        s, n = self.folder.image_size, len(self.folder)
        images, done, state = (folder / f"decoded-{key}.npy", folder / f"decoded-{key}-done.npy",
                               folder / f"decoded-{key}.json")
        shapes = {images: ((n, *hw(s), 3), np.uint8), done: ((n,), np.bool_)}
        damaged = [f"{path} {damage}" for path, (shape, dtype) in shapes.items()
                   for damage in [_array_damage(path, shape, dtype)[0]] if damage is not None]
        if state.exists() and not damaged:  # sizes checked first: NumPy would extend a short file with zeros
            self.cache_images = np.lib.format.open_memmap(images, mode="r+")
            self.cache_done = np.lib.format.open_memmap(done, mode="r+")
            self.cache_errors = _read_json(state)["errors"]
        else:
            if state.exists():
                warnings.warn(f"{damaged[0]}: the decoded cache is not trusted; its images are decoded again",
                              UserWarning, stacklevel=4)
            state.unlink(missing_ok=True)  # a stop before the first batch is written leaves no cache to trust
            need = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in shapes.values())
            try:
                for path, (shape, dtype) in shapes.items():
                    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
                    with open(path, "r+b") as f:
                        take_blocks(f.fileno(), array.offset + array.nbytes)
                    setattr(self, "cache_images" if path == images else "cache_done", array)
            except OSError as exc:
                if exc.errno in _FULL:
                    raise _no_space(folder, "the decoded cache", need) from None
                raise
            self.cache_errors = {}
        self.cache_state_path = state

    def _cached(self, first: int) -> bool:
        stop = min(first + self.batch_size, len(self.folder))
        return self.cache_images is not None and bool(self.cache_done[first:stop].all())

    def _submit(self, first: int):
        """Queue the decoding of the batch at ``first`` on the workers.

        Threads decode straight into the batch; processes into a shared-memory
        buffer, taken from the decoder's free buffers (reused from batch to
        batch, so that no fresh memory is faulted in for each one).
        """
        stop = min(first + self.batch_size, len(self.folder))
        paths = [str(p) for p in self.folder.paths[first:stop]]
        parts = [part for part in np.array_split(np.arange(len(paths)), min(self.chunks, len(paths))) if len(part)]
        s = self.folder.image_size
        shape = (self.batch_size, *hw(s), 3)
        if not self.processes:
            batch = np.zeros(shape, dtype=np.uint8)
            jobs = [self.pool.submit(decode_rows, [paths[i] for i in part], batch, int(part[0]), s, self.folder.fit)
                    for part in parts]
            return batch, len(paths), jobs
        shm = self._free.pop() if self._free else self._new_buffer(shape)
        jobs = [self.pool.submit(decode_into, shm.name, shape, int(part[0]), [paths[i] for i in part],
                                 s, self.folder.fit) for part in parts]
        return shm, len(paths), jobs

    def _new_buffer(self, shape: tuple[int, ...]):
        from multiprocessing import shared_memory

        shm = shared_memory.SharedMemory(create=True, size=int(np.prod(shape)))
        self._buffers.append(shm)
        return shm

    def _collect(self, pending) -> tuple[np.ndarray, list[str | None]]:
        target, count, jobs = pending
        if isinstance(target, np.ndarray):  # threads wrote into the batch itself
            return target, [e for job in jobs for e in job.result()]
        if not self.processes:  # queued before a fall-back to threads
            self._free.append(target)
            raise BrokenProcessPool("decoding processes were replaced by threads")
        try:  # processes wrote theirs into shared memory: only error messages came back
            errors = [e for job in jobs for e in job.result()]
            s = self.folder.image_size
            batch = np.empty((self.batch_size, *hw(s), 3), dtype=np.uint8)
            shared = np.ndarray(batch.shape, dtype=np.uint8, buffer=target.buf)
            batch[:count] = shared[:count]
            batch[count:] = 0
            del shared
        finally:
            self._free.append(target)
        return batch, errors

    def load(self, first: int):
        """The batch at ``first`` (uint8, padded to the batch size) and each image's error or None.

        The next batch is queued before this one is collected, so the workers never wait.
        """
        n = len(self.folder)
        stop = min(first + self.batch_size, n)
        if self._cached(first):
            s = self.folder.image_size
            batch = np.zeros((self.batch_size, *hw(s), 3), dtype=np.uint8)
            batch[: stop - first] = self.cache_images[first:stop]
            return first, batch, [self.cache_errors.get(str(i)) for i in range(first, stop)]
        pending = self._pending.pop(first, None) or self._submit(first)
        upcoming = first + self.batch_size
        if upcoming < n and upcoming not in self._pending and not self._cached(upcoming):
            self._pending[upcoming] = self._submit(upcoming)
        try:
            batch, errors = self._collect(pending)
        except BrokenProcessPool:
            self._use_threads()
            batch, errors = self._collect(self._submit(first))
        if self.cache_images is not None:
            self.cache_images[first:stop] = batch[: stop - first]
            self.cache_images.flush()
            self.cache_errors.update({str(first + i): e for i, e in enumerate(errors) if e})
            _write_json(self.cache_state_path, {"errors": self.cache_errors})
            self.cache_done[first:stop] = True  # marked after the pixels are on disk
            self.cache_done.flush()
        return first, batch, errors

    def _use_threads(self) -> None:
        """Worker processes died (typically: a script without ``if __name__ == "__main__":``,
        which every worker re-runs); finish with threads."""
        warnings.warn("catsel's decoding processes stopped; decoding goes on in threads. In a script, put the "
                      "capture under `if __name__ == \"__main__\":` so that worker processes can start.",
                      RuntimeWarning, stacklevel=3)
        self._release_pending()
        self.pool.shutdown(wait=False, cancel_futures=True)
        _POOLS.pop(self.chunks, None)
        self.pool = ThreadPoolExecutor(max(1, min(self.chunks, 8)), thread_name_prefix="catsel-decode")
        self.processes = False

    def _release_pending(self) -> None:
        for target, _, jobs in self._pending.values():  # batches queued but never used
            for job in jobs:
                job.cancel()
            for job in jobs:
                if not job.cancelled():
                    try:
                        job.result()  # a worker may still be writing into the buffer
                    except Exception:  # the batch is dropped anyway
                        pass
            if not isinstance(target, np.ndarray):
                self._free.append(target)
        self._pending.clear()

    def close(self) -> None:
        self._release_pending()
        if not self.processes:  # decoding processes stay for the session's next capture
            self.pool.shutdown(wait=True, cancel_futures=True)
        for shm in self._buffers:
            shm.close()
            shm.unlink()
        self._buffers, self._free = [], []


def capture(
    amodel: ActivationModel,
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
        Stop at the first image that cannot be read (after saving every
        image before it) instead of skipping it.
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
        :func:`catsel.backends.resolve_devices`). ``batch_size`` must be a
        multiple of their number. The numbers do not depend on it.
    verify
        Recognise the images of an earlier capture by their contents (a
        SHA-256 digest of every file) rather than by size and modification
        time (see :func:`store_key`).
    client
        A ``dask.distributed.Client``: capture on its cluster's workers, in
        blocks of images, into a chunked (Zarr) store
        (:func:`catsel.distributed.capture_distributed`). ``workers``,
        ``cache`` and ``devices`` are then the workers' own business.
    block
        With ``client``: images per block (default
        :data:`catsel.distributed.BLOCK`).

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
    if client is not None:
        from .distributed import BLOCK, capture_distributed

        acts = capture_distributed(amodel, images, out, client=client, block=block or BLOCK, batch_size=batch_size,
                                   strict=strict, progress=progress, verify=verify)
        _check_categories(acts, images)
        return acts
    chosen = resolve_devices(devices)
    if chosen and batch_size % len(chosen):
        k = len(chosen)
        raise ModelError(f"batch size {batch_size} does not split evenly over {k} devices; "
                         f"use a multiple of {k}, such as {-(-batch_size // k) * k}")
    put, run = amodel.runner(chosen)

    out = Path(out)
    files = _files_signature(images, verify)  # once: the store's key and the decoded cache's name the same files
    meta = StoreMeta.from_json({
        "format": FORMAT,
        "version": VERSION,
        "key": store_key(amodel, images, verify, signature=files),
        "root": str(images.root.resolve()),
        "n_rows": len(images),
        "categories": list(images.categories),
        "fit": images.fit,
        **amodel.describe(),
    })
    rows = index_rows(images.relative_paths(), images.labels, images.categories, files, images.paths)
    with folder_lock(out):  # one capture at a time into a folder
        store = ActivationStore.open(out / "activations", meta, rows)
        reused = store.rows_done
        try:
            if not store.complete:
                decoder = _Decoder(images, batch_size, workers, Path(cache) if cache is not None else None,
                                   decoded_cache_key(images, verify, signature=files))
                try:
                    _run(amodel, (put, run), decoder, store, strict, progress)
                finally:
                    decoder.close()
        finally:
            store.close()
        acts = load_activations(store.path)
    acts.captured = store.rows_done - reused  # rows this call computed (a resumed or reused store counts less)
    _check_categories(acts, images)
    return acts


def _check_categories(acts: Activations, images: ImageFolder) -> None:
    """A category none of whose images could be read is an error that names its folder."""
    empty = [c for c, k in acts.counts.items() if k == 0]
    if empty:
        raise DatasetError(
            f"category folder {images.root / empty[0]} has no readable image "
            f"(see {acts.path / 'progress.json'} for the reasons); add readable images or remove the folder"
        )


def _run(amodel: ActivationModel, runner, decoder: _Decoder, store: ActivationStore, strict: bool, progress: bool):
    """Capture every batch not yet in the store.

    Three batches are in flight: batch *i + 1* is decoded and sent to the
    device while batch *i* computes, and batch *i - 1*'s results come back to
    the host and are written meanwhile, so that on JAX and CUDA the device
    need not wait for the host: fetching and writing a batch of 256 took
    longer on the GPU machine than VGG16 computing one (docs/performance.md).
    """
    n = len(decoder.folder)
    starts = list(range(store.rows_done, n, decoder.batch_size))
    if not starts:
        return
    ahead = ThreadPoolExecutor(1, thread_name_prefix="catsel-prefetch")
    bar = tqdm(total=n, initial=store.rows_done, unit="img", desc="capture", disable=not progress,
               dynamic_ncols=True)

    def finish(first: int, errors: list, outputs) -> None:
        arrays = amodel.split_all(outputs)
        bad = next((k for k, e in enumerate(errors) if e is not None), None)
        if strict and bad is not None:
            if bad:
                store.write(first, _rows(arrays, bad), errors[:bad])
            raise ImageError(f"{errors[bad]} (strict mode: remove or fix the file, or run without strict; "
                             f"the {store.rows_done} images before it are saved and will be reused)")
        store.write(first, _rows(arrays, len(errors)), errors)
        bar.update(len(errors))

    try:
        first, batch, errors = decoder.load(starts[0])
        put, run = runner
        on_device = put(batch)
        pending = ahead.submit(decoder.load, starts[1]) if len(starts) > 1 else None
        previous = None
        for i in range(len(starts)):
            try:
                outputs = run(on_device)  # dispatched; asynchronous on JAX and CUDA
            except BaseException:
                if previous is not None:  # computed before the failure: kept
                    finish(*previous)
                raise
            _fetch_soon(outputs)
            if pending is not None:  # the next batch goes to the device while this one computes
                upcoming = pending.result()
                on_device = put(upcoming[1])
                pending = ahead.submit(decoder.load, starts[i + 2]) if i + 2 < len(starts) else None
            if previous is not None:  # the last batch's results, while this one computes
                finish(*previous)
            previous = (first, errors, outputs)
            if i + 1 < len(starts):
                first, batch, errors = upcoming
        finish(*previous)
    finally:
        bar.close()
        ahead.shutdown(wait=True, cancel_futures=True)


def _fetch_soon(outputs) -> None:
    """Start copying a batch's results to the host as soon as they are computed (JAX arrays can)."""
    for out in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        copy = getattr(out, "copy_to_host_async", None)
        if copy is not None:
            copy()


def _rows(arrays: dict, k: int) -> dict:
    """The first ``k`` rows of every array (the batch was padded to its full size)."""
    return {kind: {name: arr[:k] for name, arr in by_layer.items()} for kind, by_layer in arrays.items()}
