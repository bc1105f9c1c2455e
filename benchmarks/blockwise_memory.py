"""Peak memory of the statistics on large stores: block by block against the whole computation.

Writes a store-sized array of N images × U units (float32, block by block, never whole in memory) under
``--dir``, then, each in a fresh process, times and measures the peak resident memory of
``catsel.selectivity`` + ``layer_summary`` and of the shuffled-label null (20 shuffles), read block by
block from the memory-mapped array. The whole computation is run too where it fits (``--whole-up-to``).
Prints a table; asserts nothing.

    python benchmarks/blockwise_memory.py [--images 10000,100000,1000000] [--units 1000] [--categories 4]
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
import json, resource, sys, time
import numpy as np
import catsel
from catsel import stats
from catsel.store import Activations

path, n, categories, blockwise = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
maxima = np.load(path, mmap_mode="r")
labels = np.random.default_rng(0).integers(0, categories, n)
acts = Activations.from_arrays({"layer": maxima}, labels, [f"c{i}" for i in range(categories)])
t = time.perf_counter()
summary = catsel.layer_summary(catsel.selectivity(acts, blockwise=blockwise))
selectivity_s = time.perf_counter() - t
t = time.perf_counter()
null = stats.shuffled_baseline(acts, shuffles=20, blockwise=blockwise)
null_s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"selectivity_s": selectivity_s, "null_s": null_s, "peak_mb": peak,
                  "proportion": float(summary["proportion"].mean())}))
"""


def write_store(path: Path, n: int, units: int, block: int = 10_000) -> None:
    rng = np.random.default_rng(0)
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, units))
    for start in range(0, n, block):
        stop = min(start + block, n)
        values = rng.standard_normal((stop - start, units), dtype=np.float32)
        array[start:stop] = np.maximum(values, 0)  # ReLU-like: many zeros
    array.flush()
    del array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="10000,100000,1000000")
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=4)
    parser.add_argument("--whole-up-to", type=int, default=100_000, help="run the whole computation up to N images")
    parser.add_argument("--dir", default=None, help="where to write the arrays (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="catsel-blockwise-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{args.units} units, {args.categories} categories, {os.cpu_count()} CPU cores; block: "
          f"catsel.selecting.blocks.BLOCK_BYTES of float64")
    print(f"\n{'images':>9} {'store MB':>9} {'how':>7} {'selectivity s':>14} {'null s':>7} {'peak RSS MB':>12}")
    for n in (int(x) for x in args.images.split(",")):
        path = folder / f"maxima-{n}.npy"
        if not path.exists():
            write_store(path, n, args.units)
        for blockwise in (False, True):
            if not blockwise and n > args.whole_up_to:
                continue
            proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(n), str(args.categories),
                                   "1" if blockwise else "0"], capture_output=True, text=True)
            if proc.returncode:
                print(f"{n:>9,} failed: {proc.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{n:>9,} {path.stat().st_size / 2**20:>9,.0f} {'blocks' if blockwise else 'whole':>7} "
                  f"{r['selectivity_s']:>14.1f} {r['null_s']:>7.1f} {r['peak_mb']:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
