"""Capture speed against the plain forward pass of the same network.

Prints images/s for:

* plain forward: ``network.predict_on_batch`` on preprocessed float32 batches
  (the network's own output, the classifier included, no reduction);
* catsel forward: the activation model on the same images as uint8 (preprocessing,
  per-filter max and argmax in the graph), decoded images already in memory;
* catsel capture: ``catsel.capture`` from the image files (decoding, the
  forward pass and writing the store, end to end);
* full maps: every layer's map copied to the host and reduced with NumPy.

Run on the bundled sample data (weights are irrelevant to speed; offline, the
untrained network is used):

    python benchmarks/capture_speed.py --images 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import catsel
from catsel.models import Preprocess

REPO = Path(__file__).resolve().parents[1]


def _rate(fn, batches, repeats: int) -> float:
    fn(batches[0])  # compile / warm up
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for b in batches:
            fn(b)
        best = max(best, sum(len(b) for b in batches) / (time.perf_counter() - t))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "sample_data"))
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="best of N timed passes")
    parser.add_argument("--skip-full-maps", action="store_true")
    args = parser.parse_args()

    amodel = catsel.activation_model(args.model, None if args.weights == "none" else args.weights,
                                     image_size=args.image_size)
    per_cat = -(-args.images // 4)
    folder = catsel.ImageFolder(args.data, image_size=amodel.image_size, max_per_category=per_cat)
    n = min(args.images, len(folder)) // args.batch_size * args.batch_size
    images = np.stack([folder.load(i) for i in range(n)])
    uint8_batches = [images[i:i + args.batch_size] for i in range(0, n, args.batch_size)]
    pre = Preprocess(amodel.preprocess)
    float_batches = [keras.ops.convert_to_numpy(pre(b)) for b in uint8_batches]

    print(f"{args.model} ({amodel.weights}), {amodel.image_size}px, {len(amodel.layers)} layers captured, "
          f"{n} images, batch {args.batch_size}, Keras {keras.__version__} on {keras.backend.backend()}, "
          f"{os.cpu_count()} CPU cores")
    rows = []
    plain = _rate(amodel.network.predict_on_batch, float_batches, args.repeats)
    rows.append(("plain forward (predict_on_batch)", plain))
    rows.append(("catsel forward (max + position in graph)", _rate(amodel.predict, uint8_batches, args.repeats)))

    with tempfile.TemporaryDirectory() as tmp:
        sub = catsel.ImageFolder(args.data, image_size=amodel.image_size, max_per_category=per_cat)
        amodel.predict(uint8_batches[0])
        best = 0.0
        for r in range(args.repeats):
            t = time.perf_counter()
            acts = catsel.capture(amodel, sub, Path(tmp) / f"r{r}", batch_size=args.batch_size, progress=False)
            best = max(best, len(acts) / (time.perf_counter() - t))
        rows.append((f"catsel capture from files ({len(acts)} images, store written)", best))

    if not args.skip_full_maps:
        full = keras.Model(amodel.network.inputs, [amodel.network.get_layer(l).output for l in amodel.layers])

        def full_maps(batch):
            outs = full.predict_on_batch(batch)
            return [np.asarray(o).max(axis=tuple(range(1, np.ndim(o) - 1))) if np.ndim(o) > 2 else o for o in outs]

        rows.append(("full maps to host, max in NumPy", _rate(full_maps, float_batches, 1)))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'path':<{width}}  {'images/s':>9}  {'vs plain':>8}")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:9.2f}  {rate / plain:7.2f}x")


if __name__ == "__main__":
    main()
