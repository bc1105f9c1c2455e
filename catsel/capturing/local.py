"""The local runner: one process streams the images through the network into a ``.npy`` store.

The device is kept busy: while batch i is computed, batch i+1 is already
decoded (by worker threads, or processes for large runs) and sent to the
device, as uint8 (preprocessing runs on the device), and batch i-1's results
are written. An optional decoded-image cache (:mod:`catsel.store.cache`) lets
a second capture of the same images skip decoding altogether.

The protocol around it (key, meta, index, lock, reuse, the strict rule) is
:func:`catsel.capturing.capture`'s.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from ..images.folder import ImageFolder, decode_into, decode_rows, watch_parent
from ..errors import ImageError
from ..options import hw
from ..store import ActivationStore, StoreMeta
from ..store.cache import DecodedCache
from .key import decoded_cache_key

if TYPE_CHECKING:
    from ..network.interface import Network

__all__ = ["PROCESS_THRESHOLD", "Decoder", "capture_local"]

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
        # spawn: the workers import catsel.images.folder only, never the parent's TensorFlow threads
        pool = _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=watch_parent, initargs=(os.getpid(),))
    return pool


@atexit.register
def _stop_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


class Decoder:
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
        self.cache = None
        self._pending: dict[int, tuple] = {}
        self._buffers: list = []  # shared memory of the processes, created as needed, reused
        self._free: list = []
        if cache is not None:
            self.cache = DecodedCache(Path(cache), cache_key or decoded_cache_key(folder), n, folder.image_size)

    def _cached(self, first: int) -> bool:
        stop = min(first + self.batch_size, len(self.folder))
        return self.cache is not None and self.cache.has(first, stop)

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
            return first, batch, self.cache.read(first, stop, batch)
        pending = self._pending.pop(first, None) or self._submit(first)
        upcoming = first + self.batch_size
        if upcoming < n and upcoming not in self._pending and not self._cached(upcoming):
            self._pending[upcoming] = self._submit(upcoming)
        try:
            batch, errors = self._collect(pending)
        except BrokenProcessPool:
            self._use_threads()
            batch, errors = self._collect(self._submit(first))
        if self.cache is not None:
            self.cache.write(first, batch, errors)
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


def capture_local(amodel, images: ImageFolder, path: Path, meta: StoreMeta, rows: list[dict], *, runner,
                  batch_size: int, strict: bool, progress: bool, workers: int | None, cache, cache_key: str) -> int:
    """Capture the rows of ``images`` that the store at ``path`` lacks, in this process.

    Parameters
    ----------
    amodel : Network
    images : ImageFolder
    path : Path
        The store folder.
    meta : StoreMeta
        The capture's ``meta.json``.
    rows : list of dict
        Its ``index.csv``.
    runner : (put, run)
        From :meth:`catsel.network.interface.Network.runner`.
    batch_size : int
    strict : bool
        Stop at the first image that cannot be read, after saving the rows before it.
    progress : bool
    workers : int or None
    cache : path or None
        The decoded-image cache's folder.
    cache_key : str
        The images' identity in that cache.

    Returns
    -------
    int
        Rows this call computed.
    """
    store = ActivationStore.open(path, meta, rows)
    reused = store.rows_done
    try:
        if not store.complete:
            decoder = Decoder(images, batch_size, workers, Path(cache) if cache is not None else None, cache_key)
            try:
                _run(amodel, runner, decoder, store, strict, progress)
            finally:
                decoder.close()
    finally:
        store.close()
    return store.rows_done - reused


#: Batches whose results may wait for the writer thread at once (each holds one batch of results in memory).
WRITES_AHEAD = 2


class _Writer:
    """The store's writes, in order, on a thread of their own: the host never waits for the disk while the
    device has work (a batch's results are written while the next batches compute).

    Once a write fails (a full disk, an unreadable image in strict mode) the later ones are dropped unwritten,
    and the error is raised in the capturing thread at its next :meth:`submit` or at :meth:`drain`.
    """

    def __init__(self, write):
        self._write = write
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="catsel-write")
        self._queued: list = []
        self._failed = False

    def _guarded(self, *args) -> None:
        if self._failed:  # an earlier write failed: nothing after it is written
            return
        try:
            self._write(*args)
        except BaseException:
            self._failed = True
            raise

    def submit(self, *args) -> None:
        """Queue a write; first wait for the oldest when :data:`WRITES_AHEAD` are waiting (and raise its error)."""
        while len(self._queued) >= WRITES_AHEAD:
            self._queued.pop(0).result()
        self._queued.append(self._pool.submit(self._guarded, *args))

    def drain(self) -> None:
        """Wait for every queued write; raise the first error."""
        try:
            while self._queued:
                self._queued.pop(0).result()
        finally:
            self._pool.shutdown(wait=True)

    def settle(self) -> None:
        """Let the queued writes end (after another error, which is the one raised), keeping what they wrote."""
        for job in self._queued:
            try:
                job.result()
            except BaseException:  # the capture is stopping for another reason, said by its own error
                pass
        self._queued.clear()
        self._pool.shutdown(wait=True)


def _run(amodel: "Network", runner, decoder: Decoder, store: ActivationStore, strict: bool, progress: bool):
    """Capture every batch not yet in the store.

    Batches are in flight at every stage at once: batch *i + 1* is decoded and sent to the device while batch
    *i* computes, and the results of the batches before it come back to the host and are written by a thread
    of their own (:class:`_Writer`), so that the device need not wait for the host or the disk: fetching and
    writing a batch of 256 took longer on the GPU machine than VGG16 computing one (docs/performance.md).
    """
    n = len(decoder.folder)
    starts = list(range(store.rows_done, n, decoder.batch_size))
    if not starts:
        return
    ahead = ThreadPoolExecutor(1, thread_name_prefix="catsel-prefetch")
    bar = tqdm(total=n, initial=store.rows_done, unit="img", desc="capture", disable=not progress,
               dynamic_ncols=True)

    def finish(first: int, errors: list, outputs) -> None:
        arrays = amodel.split_all(outputs)  # the one transfer of the batch's results
        bad = next((k for k, e in enumerate(errors) if e is not None), None)
        if strict and bad is not None:
            if bad:
                store.write(first, _rows(arrays, bad), errors[:bad])
            raise ImageError(f"{errors[bad]} (strict mode: remove or fix the file, or run without strict; "
                             f"the {store.rows_done} images before it are saved and will be reused)")
        store.write(first, _rows(arrays, len(errors)), errors)
        bar.update(len(errors))

    writer = _Writer(finish)
    try:
        first, batch, errors = decoder.load(starts[0])
        put, run = runner
        on_device = put(batch)
        pending = ahead.submit(decoder.load, starts[1]) if len(starts) > 1 else None
        for i in range(len(starts)):
            outputs = run(on_device)  # dispatched; asynchronous on JAX and CUDA
            amodel.fetch_soon(outputs)
            writer.submit(first, errors, outputs)  # written while the next batches compute
            if pending is not None:  # the next batch goes to the device while this one computes
                first, batch, errors = pending.result()
                on_device = put(batch)
                pending = ahead.submit(decoder.load, starts[i + 2]) if i + 2 < len(starts) else None
        writer.drain()
    except BaseException:
        writer.settle()  # what was computed before the failure is kept
        raise
    finally:
        bar.close()
        ahead.shutdown(wait=True, cancel_futures=True)


def _rows(arrays: dict, k: int) -> dict:
    """The first ``k`` rows of every array (the batch was padded to its full size)."""
    return {kind: {name: arr[:k] for name, arr in by_layer.items()} for kind, by_layer in arrays.items()}
