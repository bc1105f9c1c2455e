"""The effect of mixed precision on selectivity, against float32.

Captures the same images with the same network in float32 and in the lower
precisions, and compares: the largest difference of a maximum (relative to
the unit's range over the images, for units that vary in float32), the
largest difference of the selectivity index, the unit x category pairs (and
units) whose `selective` decision changes, and the silent units (constant in
float32, so S = 0) that the lower precision wakes: their tiny activity gets
stretched to [0, 1] by eq. 1.

    python benchmarks/precision_effect.py [--image-size 112] [--precisions bfloat16,float16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import catsel
from catsel.network.keras.backends import backend_info

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "sample_data"))
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--precisions", default="bfloat16,float16")
    parser.add_argument("--threshold", type=float, default=0.01)
    args = parser.parse_args()
    weights = None if args.weights == "none" else args.weights
    info = backend_info()
    print(f"{args.model}, {args.image_size}px, Keras {info['keras']} on {info['backend']} ({info['device']})")
    with tempfile.TemporaryDirectory() as tmp:
        def run(precision):
            amodel = catsel.activation_model(args.model, weights, image_size=args.image_size, precision=precision)
            folder = catsel.ImageFolder(args.data, image_size=amodel.image_size)
            acts = catsel.capture(amodel, folder, Path(tmp) / precision, progress=False)
            return acts, catsel.selectivity(acts, threshold=args.threshold)

        base_acts, base = run("float32")
        print(f"{len(base_acts)} images, {sum(base_acts.units.values())} units\n")
        print(f"{'precision':<10} {'max rel. diff of a maximum':>27} {'max |dS|':>9} "
              f"{'pairs changing':>15} {'units changing':>15} {'silent units woken':>18}")
        for precision in args.precisions.split(","):
            try:
                acts, table = run(precision)
            except Exception as exc:  # a backend without kernels for this precision
                print(f"{precision:<10} did not run: {type(exc).__name__}: {str(exc)[:100]}")
                continue
            rel, woken = 0.0, 0
            for l in acts.layers:  # relative to each unit's range over the images
                spread = np.ptp(base_acts[l], axis=0)
                live = spread > 0
                if live.any():
                    rel = max(rel, float(np.max(np.abs(acts[l] - base_acts[l])[:, live] / spread[live])))
                # units constant in float32 (silent, S = 0) that vary in the lower precision
                woken += int((~live & (np.ptp(acts[l], axis=0) > 0)).sum())
            ds = float(np.max(np.abs(table["selectivity"].to_numpy() - base["selectivity"].to_numpy())))
            flips = table["selective"].to_numpy() != base["selective"].to_numpy()
            units = table.loc[flips, ["layer", "unit"]].drop_duplicates()
            print(f"{precision:<10} {rel:27.4f} {ds:9.4f} {int(flips.sum()):>8} of {len(table):<6}"
                  f"{len(units):>8} of {len(base) // len(base_acts.categories)}{woken:>8}")


if __name__ == "__main__":
    main()
