"""Capture on a Dask cluster: blocks of images, a model per worker, a chunked Zarr store.

The local runner (:mod:`catsel.capturing.local`) streams images through one
model into one writer. For datasets of hundreds of thousands of images, or
several GPUs and machines, the images are cut into **blocks** (default
``BLOCK`` images). Each block is one `dask.distributed` task: the worker
that takes it builds the network once (and keeps it for its later blocks),
decodes the block's images itself (in threads, the next batch while this
one computes), computes them in batches, and writes its rows into the
store's Zarr arrays, whose chunks are the blocks, so that no two
workers write the same chunk. A block's record (``blocks/<first row>.json``)
is written after its rows: a block is whole or absent. A worker that dies
costs only its unfinished block, which the scheduler gives to another
worker; a capture that stops resumes with the blocks that have no record.

The store is read like any other (:func:`catsel.load_activations`), lazily:
statistics read it block by block. Its values equal a single-process
capture's on the same backend and precision, bit for bit: a batch's images
do not change each other's values, and the blocks are cut at batch
boundaries.

The cluster is Dask's, not catsel's: ``Client("tcp://host:8786")`` for a
running scheduler (SLURM through dask-jobqueue, Kubernetes through
dask-kubernetes, see ``docs/scaling.md``), ``"local:N"`` for N worker
processes on this machine, and dask-cuda's ``LocalCUDACluster`` for one
worker per GPU.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CatselError, ImageError, ModelError

__all__ = ["capture_cluster", "capture_block", "connect", "close", "local_workers", "BLOCK"]

#: Images per block (a task, and a chunk of the store's arrays). A multiple of the usual batch sizes.
BLOCK = 1024

# Clusters that connect() started, by their client's id: closed with it (close()).
_MADE: dict[int, Any] = {}

# The networks this worker process has built, by their recipe: built once per worker, not once per block.
_NETWORKS: dict[str, Any] = {}


def connect(scheduler: str):
    """A ``dask.distributed.Client`` for ``"local:N"``, ``"cuda"`` or a scheduler's address.

    Parameters
    ----------
    scheduler : str
        ``"local:N"`` (N worker processes on this machine), ``"cuda"`` (one
        worker per GPU of this machine, with dask-cuda's
        ``LocalCUDACluster``), or an address such as ``"tcp://10.0.0.5:8786"``.

    Returns
    -------
    distributed.Client
        Close it when done (a local cluster closes with it).

    Raises
    ------
    CatselError
        For a malformed value, or when ``dask.distributed`` is not installed.
    """
    local = local_workers(scheduler)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise CatselError("--scheduler needs dask.distributed: pip install \"dask[distributed]\" zarr") from None
    if scheduler == "cuda":  # one worker per GPU of this machine, each seeing its own
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise CatselError("--scheduler cuda needs dask-cuda (pip install dask-cuda); without it, start one "
                              "`dask worker` per GPU with CUDA_VISIBLE_DEVICES set (docs/scaling.md) and give "
                              "the scheduler's address") from None
        cluster = LocalCUDACluster(threads_per_worker=1, dashboard_address=":0")
        client = Client(cluster)
        _MADE[id(client)] = cluster  # closed with the client (see close)
        return client
    if local is not None:
        cluster = LocalCluster(n_workers=local, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
        _MADE[id(client)] = cluster  # closed with the client (see close)
        return client
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:  # distributed raises OSError after its timeout
        raise CatselError(f"the scheduler {scheduler} cannot be reached within {CONNECT_TIMEOUT} s "
                          f"({type(exc).__name__}); start it (`dask scheduler`, then `dask worker ADDRESS`) or check "
                          "the address") from None


#: A scheduler's address: an optional protocol, a host and a port.
_ADDRESS = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?[^\s:/]+:\d{1,5}|(?:[a-z][a-z0-9+.-]*://)?\[[0-9a-fA-F:]+\]:\d{1,5}"
                      r"|inproc://\S+")

#: Seconds to reach a scheduler before saying it cannot be.
CONNECT_TIMEOUT = 10


def local_workers(scheduler: str) -> int | None:
    """The N of ``"local:N"``, or None for a scheduler's address.

    Parameters
    ----------
    scheduler : str

    Returns
    -------
    int or None

    Raises
    ------
    CatselError
        For ``local`` without a positive number.
    """
    if not scheduler.startswith("local"):
        if scheduler != "cuda" and not _ADDRESS.fullmatch(scheduler):
            from ..options import named

            raise CatselError(f"{named('scheduler')} {scheduler!r} is not local:N, cuda or a scheduler's address "
                              "with its port (tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786)")
        return None
    _, _, count = scheduler.partition(":")
    if not count.isdigit() or int(count) < 1:
        from ..options import named

        raise CatselError(f"{named('scheduler')} local:N takes a number of worker processes, e.g. local:2, not "
                          f"{scheduler!r}")
    return int(count)


def close(client) -> None:
    """Close a client made by :func:`connect`, and its local cluster.

    Parameters
    ----------
    client : distributed.Client
    """
    cluster = _MADE.pop(id(client), None)
    client.close()
    if cluster is not None:
        cluster.close()


def _recipe(amodel) -> dict:
    """What a worker needs to build the same network, and the digest of its weights to check it by."""
    if not amodel.rebuild:
        raise ModelError("a network held in memory cannot be sent to the workers; save it (model.save('net.keras')) "
                         "and give its path, or capture without a scheduler")
    return {"model": amodel.rebuild["model"], "weights": amodel.rebuild["weights"], "seed": amodel.rebuild["seed"],
            "layers": list(amodel.layers), "image_size": amodel.image_size, "preprocess": amodel.preprocess,
            "precision": amodel.precision, "digest": amodel.digest(), "arrays": list(amodel.arrays),
            # the one-pass reduction travels (its means are keyed); the others are each worker's own choice for
            # its device, as a single process's would be (their numbers are the same)
            "reduction": "fused" if amodel.reduction == "fused" else None}


def _network(recipe: dict):
    """This worker's activation model for ``recipe``, built on its first block."""
    key = json.dumps({k: v for k, v in recipe.items() if k not in ("arrays", "reduction")}, sort_keys=True)
    if key not in _NETWORKS:
        from ..network.models import activation_model

        amodel = activation_model(recipe["model"], recipe["weights"], recipe["layers"],
                                  image_size=recipe["image_size"], preprocess=recipe["preprocess"],
                                  seed=recipe["seed"], precision=recipe["precision"])
        if amodel.digest() != recipe["digest"]:
            raise ModelError(f"the network built on this worker from {recipe['model']} has other weights than the "
                             "one the capture started with; every worker must see the same model and weights files")
        _NETWORKS[key] = amodel
    # one network per worker, whatever is computed from it
    return _NETWORKS[key].for_arrays(recipe["arrays"], reduction=recipe["reduction"])


# Threads that decode a worker's images (Pillow releases the GIL): made on its first block, kept.
_POOL: dict[str, Any] = {}


def _decoders():
    from concurrent.futures import ThreadPoolExecutor

    if "pool" not in _POOL:
        _POOL["pool"] = ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="catsel-decode")
    return _POOL["pool"]


def capture_block(recipe: dict, store: str, root: str, paths: list, first: int, fit: str, batch_size: int) -> dict:
    """One block: decode its images, compute them in batches, write its rows, then its record.

    The unit of work of a distributed capture, run on a worker.

    Parameters
    ----------
    recipe : dict
        How to build the network (see :func:`capture_cluster`).
    store : str
        The store folder.
    root : str
        The data folder; ``paths`` are relative to it.
    paths : list of str
    first : int
        The block's first row.
    fit : str
    batch_size : int

    Returns
    -------
    dict
        Row → reason, for the block's images that could not be read.
    """
    import zarr

    from ..images.folder import decode_rows
    from ..options import hw
    from ..store import ARRAYS, block_record, write_json

    amodel = _network(recipe)
    size = amodel.image_size
    put, run = amodel.runner()
    pool = _decoders()
    threads = pool._max_workers

    def decode(start: int):
        """Queue the decoding of the batch at ``start`` on the worker's threads (padded as a single process pads)."""
        chunk = [os.path.join(root, p) for p in paths[start:start + batch_size]]
        batch = np.zeros((batch_size, *hw(size), 3), dtype=np.uint8)
        jobs = [pool.submit(decode_rows, [chunk[i] for i in part], batch, int(part[0]), size, fit)
                for part in np.array_split(np.arange(len(chunk)), min(threads, len(chunk))) if len(part)]
        return chunk, batch, jobs

    parts: dict[str, dict[str, list]] = {}
    skipped = {}

    def collect(start: int, chunk: list, errors: list, outputs) -> None:
        arrays = amodel.split_all(outputs)  # the one transfer of the batch's results
        bad = [k for k, e in enumerate(errors) if e is not None]
        for kind, by_layer in arrays.items():
            for name, values in by_layer.items():
                rows = np.array(values[:len(chunk)], dtype=ARRAYS[kind][0])
                rows[bad] = 0  # an image that could not be read leaves a row of zeros, as in the store
                parts.setdefault(kind, {}).setdefault(name, []).append(rows)
        skipped.update({first + start + k: errors[k] for k in bad})

    pending, previous = decode(0), None
    for start in range(0, len(paths), batch_size):
        chunk, batch, jobs = pending
        errors = [e for job in jobs for e in job.result()]
        if start + batch_size < len(paths):  # the next batch decodes while this one computes
            pending = decode(start + batch_size)
        outputs = run(put(batch))  # dispatched; asynchronous on JAX and CUDA
        amodel.fetch_soon(outputs)
        if previous is not None:  # the last batch's results come back while this one computes: fetched at once,
            collect(*previous)    # the device waited for every transfer (the single-process runner's order)
        previous = (start, chunk, errors, outputs)
    if previous is not None:
        collect(*previous)
    crcs = {}
    # every chunk is written, zeros too (zarr leaves out a chunk equal to its fill value): a missing chunk is damage
    with zarr.config.set({"array.write_empty_chunks": True}):
        group = zarr.open_group(os.path.join(store, "arrays.zarr"), mode="r+")
        for kind, by_layer in parts.items():
            for name, rows in by_layer.items():
                block = np.ascontiguousarray(np.concatenate(rows))
                group[f"{kind}/{name}"][first:first + len(paths)] = block
                crcs[f"{kind}/{name}"] = zlib.crc32(block)
    write_json(Path(store) / "blocks" / f"{first:012d}.json", block_record(first, first + len(paths), skipped, crcs))
    return skipped


def capture_cluster(amodel, images, path: Path, meta, rows: list[dict], *, client, batch_size: int, strict: bool,
                    progress: bool) -> int:
    """Capture the blocks of ``images`` that the chunked store at ``path`` lacks, on ``client``'s workers.

    Every block record and chunk already there is checked first (one read
    of the store): a damaged one is named in a warning and its block
    captured again. Arrays that are not the ones ``meta`` describes set the
    store aside.

    Parameters
    ----------
    amodel : Network
        Saved to a file (the workers build it again from its recipe).
    images : ImageFolder
    path : Path
        The store folder.
    meta : StoreMeta
        The capture's ``meta.json``, with ``layout`` ``"zarr"`` and its ``block``.
    rows : list of dict
        Its ``index.csv``.
    client : distributed.Client
    batch_size : int
    strict : bool
        Stop at the first block with an image that cannot be read (the blocks
        finished are kept).
    progress : bool

    Returns
    -------
    int
        Rows this call computed.
    """
    import zarr
    from distributed import as_completed
    from tqdm.auto import tqdm

    from ..errors import StoreError
    from ..store import (ARRAYS, StoreMeta, block_damage, chunked_arrays, open_chunked, open_group, read_record,
                         repair_records, set_aside, write_error, write_index, write_json)

    recipe = _recipe(amodel)
    n, block = meta.n_rows, meta.block
    out = path.parent
    if (path / "meta.json").exists():  # this capture's store (the protocol set any other aside): resumed
        try:
            open_group(path)
            for name, shape in chunked_arrays(meta).items():
                open_chunked(path, name, shape)
            # its records are this capture's own: written again where edited or damaged (as the .npy store's)
            repair_records(path, meta, StoreMeta.from_json(read_record(path / "meta.json"), path / "meta.json"),
                           rows)
        except StoreError as exc:  # arrays that are not the ones meta.json describes: start over
            warnings.warn(f"{str(exc).split(': the store')[0]}: the store is damaged and is captured again",
                          UserWarning, stacklevel=3)
            set_aside(path, None)
    if not (path / "meta.json").exists():
        # every chunk is written whole: a disk without room for them stops here, before any work, in one line
        need = sum(-(-n // block) * block * units * np.dtype(ARRAYS[name.split("/")[0]][0]).itemsize
                   for name, (_, units) in chunked_arrays(meta).items())
        there = out if out.exists() else next(p for p in out.parents if p.exists())
        if shutil.disk_usage(there).free < need:
            raise write_error(out, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "the store", need)
        try:
            if path.exists():  # a store started but never described: nothing in it is trusted
                shutil.rmtree(path)
            path.mkdir(parents=True)
            group = zarr.open_group(str(path / "arrays.zarr"), mode="w")
            for kind, layer, shape, dtype in meta.array_shapes():
                # uncompressed chunks: zstd tripled a block's write time, for little gain on activations
                group.create_array(f"{kind}/{layer}", shape=shape, dtype=dtype, chunks=(block, shape[1]),
                                   fill_value=0, compressors=None)
            (path / "blocks").mkdir(exist_ok=True)
            write_index(path, rows)
            write_json(path / "progress.json", {"rows_done": 0, "complete": False, "skipped": {}})
            write_json(path / "meta.json", meta.to_json())  # last: a store without it is started afresh
        except OSError as exc:  # nothing half-started is left for the next run to refuse
            shutil.rmtree(path, ignore_errors=True)
            raise write_error(out, exc, "the store") from None
    done = {}
    group = zarr.open_group(str(path / "arrays.zarr"), mode="r")
    expected = chunked_arrays(meta)
    for record in sorted((path / "blocks").glob("*.json")):
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry = None
        # every record and block checked before it is trusted (one read of the store), as the .npy store's
        # rows are against their checksums: a damaged one is named and its block captured again
        damage = block_damage(group, entry, expected, n, block) if isinstance(entry, dict) else "it is not JSON"
        if damage is None:
            done[entry["first"]] = {int(k): str(v) for k, v in entry["skipped"].items()}
        else:
            warnings.warn(f"{record}: {damage}: not trusted; its block is captured again", UserWarning,
                          stacklevel=3)
            record.unlink(missing_ok=True)
    todo = [first for first in range(0, n, block) if first not in done]
    paths = [row["path"] for row in rows]
    if strict and any(done.values()):
        return _strict_stop(done, 0)
    bar = tqdm(total=n, initial=n - sum(min(block, n - f) for f in todo), unit="img", desc="capture",
               disable=not progress, dynamic_ncols=True)
    futures = {client.submit(capture_block, recipe, str(path), str(images.root), paths[first:first + block],
                             first, images.fit, batch_size, key=f"catsel-{meta.key[:12]}-{first}", pure=False,
                             retries=2): first for first in todo}
    captured = 0
    try:
        for future in as_completed(futures):
            try:
                done[futures[future]] = {int(k): v for k, v in future.result().items()}
            except OSError as exc:  # a worker could not write its block: the blocks written are kept
                raise write_error(path, exc, "a block of the store") from None
            captured += min(block, n - futures[future])
            bar.update(min(block, n - futures[future]))
            if strict and done[futures[future]]:  # the strict rule: stop at the first unreadable image met
                return _strict_stop(done, captured)
    finally:
        bar.close()
        for future in futures:
            future.cancel()
    skipped = {row: reason for entry in done.values() for row, reason in entry.items()}
    try:
        write_json(path / "progress.json", {"rows_done": n, "complete": True,
                                            "skipped": {str(k): v for k, v in sorted(skipped.items())}})
    except OSError as exc:
        raise write_error(path, exc, "progress.json") from None
    return captured


def _strict_stop(done: dict, captured: int):
    skipped = {row: reason for entry in done.values() for row, reason in entry.items()}
    row = min(skipped)
    raise ImageError(f"{skipped[row]} (strict mode: remove or fix the file, or run without strict; the "
                     f"{sum(1 for _ in done)} blocks captured are saved and will be reused)")
