"""Time to first result: from a cold start to the layer figure, step by step.

Imports, model build, compile (the first batch), capture of the rest,
selectivity and summary, and the figure, for a study of ``--images`` images
(the sample data recycled). On a GPU the aim is 30 s for 1,200 images.

    python benchmarks/first_result.py [--images 1200] [--precision bfloat16]
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "sample_data"))
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--image-size", type=int, default=None)
    args = parser.parse_args()
    steps = []
    mark = START

    def step(name):
        nonlocal mark
        now = time.perf_counter()
        steps.append((name, now - mark))
        mark = now

    import keras
    from matplotlib.figure import Figure

    import catsel
    from capture_speed import recycled_folder
    step("imports (catsel, Keras and its backend)")
    with tempfile.TemporaryDirectory() as tmp:
        root = recycled_folder(args.data, args.images, Path(tmp))
        amodel = catsel.activation_model("vgg16", None, image_size=args.image_size, precision=args.precision)
        folder = catsel.ImageFolder(root, image_size=amodel.image_size)
        step("model build")
        first = catsel.ImageFolder(root, image_size=amodel.image_size, max_per_category=1)
        catsel.capture(amodel, first, Path(tmp) / "warm", batch_size=args.batch_size, progress=False)
        step("compile (first batch)")
        acts = catsel.capture(amodel, folder, Path(tmp) / "run", batch_size=args.batch_size, progress=False)
        step(f"capture of {len(acts)} images")
        summary = catsel.layer_summary(catsel.selectivity(acts))
        step("selectivity and summary")
        fig = Figure(figsize=(11, 5.5), layout="constrained")
        catsel.layer_proportions(summary, ax=fig.subplots())
        fig.savefig(Path(tmp) / "layer_proportions.png", dpi=120)
        step("figure")
    info = catsel.network.keras.backends.backend_info()
    print(f"vgg16 ({args.precision}), {args.images} images, Keras {keras.__version__} on {info['backend']} "
          f"({info['device']})\n")
    for name, seconds in steps:
        print(f"{name:<40} {seconds:7.1f} s")
    print(f"{'total: time to first result':<40} {sum(s for _, s in steps):7.1f} s")


if __name__ == "__main__":
    main()
