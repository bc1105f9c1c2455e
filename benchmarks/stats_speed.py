"""Speed of catsel.stats on a full VGG16-sized capture (synthetic maxima).

    python benchmarks/stats_speed.py [--images 1200] [--permutations 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from widgets_speed import synthetic  # noqa: E402

from catsel import stats  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    acts = synthetic(args.images)
    units = sum(acts.units.values())
    print(f"{len(acts)} images, {units} units, {len(acts.categories)} categories")
    rows = []
    for name, call in [
        (f"permutation test, {args.permutations} permutations", lambda: stats.permutation_test(acts, permutations=args.permutations)),
        ("must-beat rank-sum tests", lambda: stats.must_beat(acts)),
        (f"bootstrap intervals, {args.bootstrap} resamples", lambda: stats.bootstrap_proportions(acts, n_boot=args.bootstrap)),
        ("shuffled-label baseline, 20 shuffles", lambda: stats.shuffled_baseline(acts)),
        ("split-half reliability", lambda: stats.split_half(acts)),
        ("linear probe, 5 folds, 15 layers", lambda: stats.linear_probe(acts)),
    ]:
        t = time.perf_counter()
        call()
        rows.append((name, time.perf_counter() - t))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'computation':<{width}}  {'seconds':>8}")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:8.1f}")


if __name__ == "__main__":
    main()
