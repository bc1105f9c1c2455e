"""A synthetic folder of many small images captured single-process and on a local Dask cluster.

Writes ``--images`` PNG files of ``--size`` px (once; kept under ``--dir``) in ``--categories`` folders,
then captures them with a small conv net saved to a ``.keras`` file: single-process (``catsel.capture``,
decoding processes), and on a local Dask cluster of ``--workers`` worker processes (``client=``, blocks of
``--block`` images). Each in a fresh process, timed end to end (the cluster's start included, and shown
apart). Prints a table; asserts nothing.

    python benchmarks/distributed_capture.py [--images 100000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import catsel
data, model, out, workers, block, size = sys.argv[1:7]
amodel = catsel.activation_model(model, image_size=int(size))
folder = catsel.ImageFolder(data, image_size=int(size))
client, started = None, 0.0
if int(workers):
    from catsel.capturing.cluster import connect
    t = time.perf_counter()
    client = connect(f"local:{workers}")
    client.wait_for_workers(int(workers))
    started = time.perf_counter() - t
t = time.perf_counter()
acts = catsel.capture(amodel, folder, out, batch_size=64, progress=False, client=client, block=int(block))
seconds = time.perf_counter() - t
if client is not None:
    from catsel.capturing.cluster import close
    close(client)
print(json.dumps({"seconds": seconds, "start": started, "images": len(acts)}))
"""


def write_folder(root: Path, n: int, categories: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"c{i % categories:03d}"
        if i < categories:
            folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:07d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--block", type=int, default=2048)
    parser.add_argument("--dir", default="build/distributed-benchmark")
    args = parser.parse_args()
    import keras

    base = Path(args.dir)
    data = base / f"images-{args.images}-{args.size}px"
    if not data.exists():
        t = time.perf_counter()
        write_folder(data, args.images, args.categories, args.size)
        print(f"wrote {args.images:,} images in {time.perf_counter() - t:.0f} s")
    model = base / "net.keras"
    if not model.exists():
        keras.utils.set_random_seed(0)
        inp = keras.Input((args.size, args.size, 3))
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        keras.Model(inp, keras.layers.Dense(args.categories)(x)).save(model)
    print(f"{args.images:,} images of {args.size} px, a small conv net, {os.cpu_count()} CPU cores, "
          f"Keras {keras.__version__} on {keras.backend.backend()}\n")
    print(f"{'capture':<28} {'cluster start s':>15} {'capture s':>10} {'images/s':>9}")
    for workers in (0, args.workers):
        out = base / f"out-{workers}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(data), str(model), str(out), str(workers),
                               str(args.block), str(args.size)], capture_output=True, text=True)
        if proc.returncode:
            print(f"{workers} workers failed: {proc.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        name = "single process" if not workers else f"local Dask, {workers} workers"
        print(f"{name:<28} {r['start']:>15.1f} {r['seconds']:>10.1f} {r['images'] / r['seconds']:>9,.0f}", flush=True)


if __name__ == "__main__":
    main()
