"""What a lesion study of one VGG16 layer costs: `catsel.lesion` on the bundled sample data.

A run of VGG16 (untrained: the weights cannot be downloaded here; the cost is the same with ImageNet's) on
the sample data, then a lesion of one category's selective units in one layer, read out at the last
captured layer, with ``--repeats`` random sets: the table gives the seconds of the run and of the lesion, and
the number of forward passes the lesion made (from the lesioned layer on: 1 + 1 + repeats per fold, over
each held-out fold's images).

    python benchmarks/lesion_cost.py --image-size 64 --layer block4_conv3 --repeats 20

``--model`` takes any network catsel captures (``torchvision:efficientnet_b0``, untrained), with
``--layer`` and ``--readout`` among its modules; ``--images N`` recycles the sample data to N images (issue
#50's EfficientNet-sized lesion: 530 images, 20 random sets, 5 folds).

    python benchmarks/lesion_cost.py --model torchvision:efficientnet_b0 --image-size 224 --images 530 \
        --layer features.4 --readout features.8
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
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--readout", default="block5_conv3")
    parser.add_argument("--images", type=int, help="the sample data recycled to this many images")
    args = parser.parse_args()
    layers = [args.layer, args.readout]
    with tempfile.TemporaryDirectory() as tmp:
        data = ROOT / "sample_data"
        if args.images:
            import shutil

            files = sorted(p for p in data.rglob("*") if p.is_file() and p.parent != data)
            for k in range(args.images):
                source = files[k % len(files)]
                target = Path(tmp) / "data" / source.parent.name / f"{k:05d}{source.suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)
            data = Path(tmp) / "data"
        t0 = time.perf_counter()
        result = catsel.run(data, Path(tmp) / "run", model=args.model, weights="none", image_size=args.image_size,
                            layers=layers, progress=False)
        t_run = time.perf_counter() - t0
        t0 = time.perf_counter()
        table = catsel.lesion(Path(tmp) / "run", args.category, layer=args.layer, readout=args.readout,
                              repeats=args.repeats, progress=True)
        t_lesion = time.perf_counter() - t0
    n = len(result.activations)
    print(f"{args.model} (untrained), {n} images at {args.image_size} px, lesion of {args.category} units in "
          f"{args.layer}, read out at {args.readout}, {args.repeats} random sets, 5 folds")
    print(f"| step | seconds |\n|---|---|\n| run (capture and statistics) | {t_run:.1f} |\n"
          f"| lesion (network rebuilt, {n * (args.repeats + 2)} image passes from {args.layer}) | {t_lesion:.1f} |")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
