"""Selectivity, the layer summary and the shuffled-label null for 1,000 categories × VGG16's 12,416 units.

Random activations of VGG16's shape (13 conv layers and fc1, fc2: 12,416 units) for ``--images`` images
spread over ``--categories`` categories; each step timed once, with the peak resident memory at the end and
the size of the selectivity table as CSV and as Parquet. Prints a table; asserts nothing.

    python benchmarks/many_categories.py [--categories 1000] [--images 5000]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

import catsel
from catsel import stats
from catsel.store import Activations

VGG16_UNITS = {**{f"block{b}_conv{c}": u for b, convs, u in ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512),
                                                             (5, 3, 512)) for c in range(1, convs + 1)},
               "fc1": 4096, "fc2": 4096}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", type=int, default=1000)
    parser.add_argument("--images", type=int, default=5000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = np.arange(args.images) % args.categories
    maxima = {name: np.maximum(rng.standard_normal((args.images, units), dtype=np.float32), 0)
              for name, units in VGG16_UNITS.items()}
    acts = Activations.from_arrays(maxima, labels, [f"n{c:05d}" for c in range(args.categories)])
    print(f"{args.images:,} images, {args.categories:,} categories, {sum(VGG16_UNITS.values()):,} units, "
          f"{os.cpu_count()} CPU cores\n")
    print(f"{'step':<34} {'seconds':>8}")
    t = time.perf_counter()
    table = catsel.selectivity(acts)
    print(f"{'selectivity (' + format(len(table), ',') + ' rows)':<34} {time.perf_counter() - t:8.1f}", flush=True)
    t = time.perf_counter()
    summary = catsel.layer_summary(table)
    print(f"{'layer summary':<34} {time.perf_counter() - t:8.1f}", flush=True)
    t = time.perf_counter()
    stats.shuffled_baseline(acts, shuffles=20)
    print(f"{'shuffled-label null (20 shuffles)':<34} {time.perf_counter() - t:8.1f}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="catsel-many-"))
    t = time.perf_counter()
    table.to_parquet(folder / "selectivity.parquet", index=False)
    print(f"{'write Parquet':<34} {time.perf_counter() - t:8.1f}", flush=True)
    t = time.perf_counter()
    table.to_csv(folder / "selectivity.csv", index=False)
    print(f"{'write CSV':<34} {time.perf_counter() - t:8.1f}", flush=True)
    sizes = {p.suffix: p.stat().st_size / 2**20 for p in folder.iterdir()}
    print(f"\nselectivity table: {sizes['.parquet']:,.0f} MB as Parquet, {sizes['.csv']:,.0f} MB as CSV; "
          f"summary {len(summary):,} rows; peak resident memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
