"""What a lesion study of one VGG16 layer costs: `catsel.lesion` on the bundled sample data.

A run of VGG16 (untrained: the weights cannot be downloaded here; the cost is the same with ImageNet's) on
the sample data, then a lesion of one category's selective units in one layer, read out at the last
captured layer, with ``--repeats`` random sets: the table gives the seconds of the run and of the lesion, and
the number of forward passes the lesion made (from the lesioned layer on: 1 + 1 + repeats per fold, over
each held-out fold's images).

    python benchmarks/lesion_cost.py --image-size 64 --layer block4_conv3 --repeats 20
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import catsel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--layer", default="block4_conv3")
    parser.add_argument("--category", default="face")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    layers = [args.layer, "block5_conv3"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = catsel.run(ROOT / "sample_data", Path(tmp) / "run", weights="none", image_size=args.image_size,
                            layers=layers, progress=False)
        t_run = time.perf_counter() - t0
        t0 = time.perf_counter()
        table = catsel.lesion(Path(tmp) / "run", args.category, layer=args.layer, repeats=args.repeats)
        t_lesion = time.perf_counter() - t0
    n = len(result.activations)
    print(f"VGG16 (untrained), {n} images at {args.image_size} px, lesion of {args.category} units in {args.layer}, "
          f"read out at block5_conv3, {args.repeats} random sets, 5 folds")
    print(f"| step | seconds |\n|---|---|\n| run (capture and statistics) | {t_run:.1f} |\n"
          f"| lesion (network rebuilt, {n * (args.repeats + 2)} image passes from {args.layer}) | {t_lesion:.1f} |")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
