"""Peak host memory and store size for a capture of 10,000 images.

Runs a real capture of ``--images`` images (the sample data recycled through
links) and reports the process's peak resident memory and the store's size
on disk, with the store size of the same images for VGG16's default layers
at 224 px computed from the store's layout (float32 maxima for 12,416 units,
int32 positions for the 4,224 conv filters).

    python benchmarks/memory_10k.py [--images 10000] [--image-size 32]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "sample_data"))
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    import catsel
    from capture_speed import recycled_folder

    amodel = catsel.activation_model("vgg16", None, image_size=args.image_size)
    units = sum(amodel.units.values())
    with tempfile.TemporaryDirectory() as tmp:
        root = recycled_folder(args.data, args.images, Path(tmp))
        folder = catsel.ImageFolder(root, image_size=amodel.image_size)
        before = _peak_mib()
        t = time.perf_counter()
        acts = catsel.capture(amodel, folder, Path(tmp) / "run", batch_size=args.batch_size, progress=False)
        seconds = time.perf_counter() - t
        store = sum(p.stat().st_size for p in (Path(tmp) / "run" / "activations").rglob("*") if p.is_file())
    full_units, conv_filters = 12_416, 4_224
    full = args.images * (full_units + 3 * conv_filters) * 4  # maxima; positions, means and minima of conv layers
    print(f"vgg16 at {args.image_size}px, {len(amodel.layers)} layers ({units} units), "
          f"{len(acts)} images in {seconds:.0f} s, compilation and worker start-up included ({len(acts) / seconds:.0f} images/s)\n")
    print(f"peak resident memory before the capture        {before:8.0f} MiB")
    print(f"peak resident memory after the capture         {_peak_mib():8.0f} MiB")
    print(f"store on disk                                  {store / 2**20:8.0f} MiB")
    print(f"store for VGG16's 15 default layers at 224 px  {full / 2**20:8.0f} MiB "
          f"({args.images} x ({full_units} maxima + 3 x {conv_filters} positions, means, minima) x 4 bytes)")


if __name__ == "__main__":
    main()
