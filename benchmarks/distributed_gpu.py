"""A distributed capture on a GPU machine against a single-process one: bit for bit, and how long.

For the GPU machine (JAX, no TensorFlow): VGG16 (untrained, seed 0) at ``--image-size`` on ``--images``
synthetic images, captured (1) by ``catsel.capture`` in one process and (2) on a local Dask cluster of one
worker process per GPU (``CUDA_VISIBLE_DEVICES`` per worker; dask-cuda's ``LocalCUDACluster`` where it is
installed), each in a fresh process, then each again in the same process into another folder (the network
built and compiled: the steady state, apart from the start-up). The stores are compared array by array; if
they differ, the pair is run again with XLA's deterministic GPU operations. Prints a table; asserts nothing.

    KERAS_BACKEND=jax python benchmarks/distributed_gpu.py [--images 2048] [--image-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, os, sys, time
data, out, mode, size, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
import catsel
amodel = catsel.activation_model("vgg16", "none", image_size=size)
folder = catsel.ImageFolder(data, image_size=size)
client, start = None, 0.0
if mode != "single":
    from distributed import Client, LocalCluster
    t = time.perf_counter()
    gpus = int(mode)
    cluster = LocalCluster(n_workers=gpus, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    client.wait_for_workers(gpus)
    # one GPU per worker, as dask-cuda's LocalCUDACluster gives it
    workers = sorted(client.scheduler_info()["workers"])
    for k, w in enumerate(workers):
        client.run(lambda k=k: os.environ.__setitem__("CUDA_VISIBLE_DEVICES", str(k)), workers=[w])
    start = time.perf_counter() - t
t = time.perf_counter()
acts = catsel.capture(amodel, folder, out, batch_size=batch, progress=False, client=client, block=4 * batch)
seconds = time.perf_counter() - t
# the same capture again into another folder: the workers (and the single process) have built and compiled the
# network already, so this is the steady state, without the start-up that the first capture pays
t = time.perf_counter()
catsel.capture(amodel, folder, out + "-warm", batch_size=batch, progress=False, client=client, block=4 * batch)
warm = time.perf_counter() - t
if client is not None:
    client.close(); cluster.close()
print(json.dumps({"seconds": seconds, "warm": warm, "start": start, "images": len(acts)}))
"""


def compare(a_dir: Path, b_dir: Path) -> tuple[bool, float]:
    import catsel

    a, b = catsel.load_activations(a_dir), catsel.load_activations(b_dir)
    same, worst = True, 0.0
    for layer in a.layers:
        x, y = np.asarray(a[layer]), np.asarray(b[layer])
        same &= np.array_equal(x, y)
        worst = max(worst, float(np.abs(x - y).max()))
        if a.map_shape(layer) is not None:
            same &= np.array_equal(a.positions(layer), b.positions(layer))
    return bool(same), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--gpus", type=int, default=1)
    args = parser.parse_args()
    from PIL import Image

    root = Path(tempfile.mkdtemp(prefix="catsel-gpu-dist-"))
    rng = np.random.default_rng(0)
    for i in range(args.images):
        folder = root / "data" / f"c{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (args.image_size, args.image_size, 3), dtype=np.uint8)).save(
            folder / f"{i:06d}.png")
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # several processes share a GPU
    print(f"{args.images} images, VGG16 at {args.image_size} px, batch {args.batch_size}, {args.gpus} GPU worker(s)")
    print(f"\n{'XLA deterministic':<18} {'capture':<14} {'cluster start s':>15} {'capture s':>10} {'images/s':>9} "
          f"{'again s':>8} {'images/s':>9}")
    for deterministic in (False, True):
        run_env = dict(env)
        if deterministic:
            run_env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
        outs = {}
        for mode in ("single", str(args.gpus)):
            out = root / f"out-{mode}-{int(deterministic)}"
            proc = subprocess.run([sys.executable, "-c", CHILD, str(root / "data"), str(out), mode,
                                   str(args.image_size), str(args.batch_size)], capture_output=True, text=True,
                                  env=run_env)
            if proc.returncode:
                print(f"{mode} failed: {proc.stderr.strip()[-1500:]}")
                return
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            outs[mode] = out
            name = "single process" if mode == "single" else f"Dask, {mode} worker(s)"
            print(f"{str(deterministic):<18} {name:<14} {r['start']:>15.1f} {r['seconds']:>10.1f} "
                  f"{r['images'] / r['seconds']:>9,.0f} {r['warm']:>8.1f} {r['images'] / r['warm']:>9,.0f}",
                  flush=True)
        same, worst = compare(outs["single"], outs[str(args.gpus)])
        print(f"{'':<18} stores equal bit for bit: {same}; largest difference of a maximum: {worst:.3g}", flush=True)
        if same:
            break


if __name__ == "__main__":
    main()
