"""Redraw time of the interactive explorers on a full VGG16-sized table.

Activations are synthetic (gamma-distributed maxima for VGG16's 13 conv layers
plus fc1 and fc2: 12,416 units) for 1,200 images in 4 categories, so the
figures measure the widgets, not a capture. Each redraw is timed as a value
change from Python, which is what a slider move triggers in the kernel.

    python benchmarks/widgets_speed.py [--images 1200] [--repeats 15] [--categories 4]

With ``--categories 1000`` (and, say, ``--images 5000``) the table has 12.4 million rows: the threshold
explorer draws the heat map, the layer explorer the 12 categories chosen.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import catsel
from catsel.apps import widgets

VGG16_UNITS = {**{f"block1_conv{i}": 64 for i in (1, 2)}, **{f"block2_conv{i}": 128 for i in (1, 2)},
               **{f"block3_conv{i}": 256 for i in (1, 2, 3)}, **{f"block4_conv{i}": 512 for i in (1, 2, 3)},
               **{f"block5_conv{i}": 512 for i in (1, 2, 3)}, "fc1": 4096, "fc2": 4096}


def synthetic(images: int, categories: int = 4) -> catsel.Activations:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(categories), images // categories)
    maxima = {layer: rng.gamma(1.0 + (labels[:, None] % 4) * 0.02, size=(len(labels), units)).astype(np.float32)
              for layer, units in VGG16_UNITS.items()}
    names = ["face", "i-see-face", "car", "dog"] if categories == 4 else [f"n{c:05d}" for c in range(categories)]
    return catsel.Activations.from_arrays(maxima, labels, names, meta={"model": "vgg16", "weights": "synthetic"})


def timed(change, repeats: int) -> list[float]:
    times = []
    for k in range(repeats):
        t = time.perf_counter()
        change(k)
        times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--categories", type=int, default=4)
    args = parser.parse_args()

    acts = synthetic(args.images, args.categories)
    t = time.perf_counter()
    table = catsel.selectivity(acts)
    print(f"{len(acts)} images, {sum(acts.units.values())} units, {len(table)} table rows; "
          f"selectivity table in {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    th = widgets.explore_thresholds(acts if args.categories <= 12 else table)
    layer = widgets.explore_layer(table)
    filt = widgets.explore_units(acts, table, layer="block5_conv3")
    print(f"explorers built in {time.perf_counter() - t:.2f} s\n")
    cats = tuple(acts.categories)

    rows = [
        ("thresholds: move the threshold slider", timed(lambda k: setattr(th.threshold, "value", 0.02 + 0.01 * k), args.repeats)),
        *([("thresholds: switch the index", timed(lambda k: setattr(th.index, "value", ["unit_contrast", "paper"][k % 2]), args.repeats))]
          if len(th.index.options) > 1 else []),  # a table brings its one index; activations bring all of them
        ("thresholds: choose 2 or 3 categories", timed(lambda k: setattr(th.categories, "value", cats[:2 + k % 2]), args.repeats)),
        *([("thresholds: 2 categories or all (heat map)", timed(lambda k: setattr(th.categories, "value", (cats[:2], cats)[k % 2]), args.repeats)),
           ("thresholds: 100 or 200 categories (heat map)", timed(lambda k: setattr(th.categories, "value", cats[:100 * (1 + k % 2)]), args.repeats))]
          if len(cats) > 12 else [("thresholds: 2 categories or all", timed(lambda k: setattr(th.categories, "value", (cats[:2], cats)[k % 2]), args.repeats))]),
        ("thresholds: type in the category search", timed(lambda k: setattr(th.find, "value", ["n001", "n00", "face", ""][k % 4]), args.repeats)),
        ("layer: choose another layer", timed(lambda k: setattr(layer.layer, "value", ["fc1", "block4_conv3"][k % 2]), args.repeats)),
        ("layer: sort by another category", timed(lambda k: setattr(layer.sort_by, "value", [cats[2], cats[0]][k % 2]), args.repeats)),
        ("layer: move the filter window", timed(lambda k: setattr(layer.window, "value", (8 * k, 8 * k + 47)), args.repeats)),
        ("filter: choose another filter", timed(lambda k: setattr(filt.unit, "value", k + 1), args.repeats)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'redraw':<{width}}  {'median ms':>9}  {'max ms':>7}")
    for name, times in rows:
        print(f"{name:<{width}}  {statistics.median(times):9.0f}  {max(times):7.0f}")


if __name__ == "__main__":
    main()
