"""Capture speed against the forward pass of the same network, in one table.

For each precision and batch size, images/s of:

* plain forward, compiled: the network's own compiled call (jit on JAX,
  tf.function on TensorFlow, no_grad on PyTorch) on preprocessed batches
  already on the device: the yardstick (1.00x);
* plain forward, predict_on_batch: Keras' generic call on a float32 NumPy batch;
* catsel forward: the activation model (uint8 in, preprocessing, per-filter
  maximum and position in the graph) on batches streamed from the host, the
  next one sent while the current one computes;
* catsel capture from files, cold: ``catsel.capture`` end to end (decoding,
  forward, store) with nothing cached;
* catsel capture from the decoded cache: the same, a second time, reading the
  decoded images from disk (another layer set, model or control);
* full maps to the host, max in NumPy (float32, the first batch size only);
* keract's get_activations, where keract is installed and runs.

Images are the bundled sample data, or ``--data`` (recycled to ``--images``).
Weights do not change the speed: offline, the untrained network is used.

    python benchmarks/capture_speed.py --images 64 --batch-sizes 16 --precisions float32,bfloat16
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
from catsel.models import Preprocess, _compile, backend_info

REPO = Path(__file__).resolve().parents[1]


def recycled_folder(data: str, n: int, tmp: Path) -> Path:
    """A category folder of ``n`` images made of links to ``data``'s images (recycled as needed)."""
    source = catsel.ImageFolder(data, image_size=8)
    root = tmp / "images"
    per = -(-n // len(source.categories))
    for c, category in enumerate(source.categories):
        files = [p for p, lab in zip(source.paths, source.labels) if lab == c]
        (root / category).mkdir(parents=True)
        for i in range(per):
            src = files[i % len(files)]
            (root / category / f"{i:06d}{src.suffix}").symlink_to(src.resolve())
    return root


def rate(fn, batches, repeats: int) -> float:
    fn(batches[0])  # compile / warm up
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        fn(batches)
        best = max(best, sum(len(b) for b in batches) / (time.perf_counter() - t))
    return best


def streamed(put, run, fetch):
    """Run every batch, sending the next to the device while the current one computes."""
    def go(batches):
        if not isinstance(batches, list):
            batches = [batches]
        current = put(batches[0])
        for i in range(len(batches)):
            out = run(current)
            if i + 1 < len(batches):
                current = put(batches[i + 1])
            fetch(out)
    return go


def to_numpy(out):
    return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "sample_data"))
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-sizes", default="16")
    parser.add_argument("--precisions", default="float32")
    parser.add_argument("--repeats", type=int, default=2, help="best of N timed passes")
    parser.add_argument("--skip-full-maps", action="store_true")
    args = parser.parse_args()

    weights = None if args.weights == "none" else args.weights
    info = backend_info()
    print(f"{args.model}, {args.images} images, Keras {info['keras']} on {info['backend']} ({info['device']}), "
          f"{os.cpu_count()} CPU cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = recycled_folder(args.data, args.images, tmp)
        for precision in args.precisions.split(","):
            amodel = catsel.activation_model(args.model, weights, image_size=args.image_size, precision=precision)
            size = amodel.image_size
            folder = catsel.ImageFolder(root, image_size=size)
            for bs in [int(b) for b in args.batch_sizes.split(",")]:
                n = len(folder) // bs * bs
                images = np.stack([folder.load(i) for i in range(n)])
                uint8 = [images[i:i + bs] for i in range(0, n, bs)]
                floats = [keras.ops.convert_to_numpy(Preprocess(amodel.preprocess)(b)) for b in uint8]
                put, run = _compile(amodel.network)
                on_device = [put(b) for b in floats]
                plain = rate(lambda bs_: [to_numpy(run(b)) for b in (bs_ if isinstance(bs_, list) else [bs_])],
                             on_device, args.repeats)
                label = f"{precision}, batch {bs}"
                rows.append((label, "plain forward, compiled, batch on the device", plain, plain))
                rows.append((label, "plain forward, predict_on_batch",
                             rate(lambda b_: [amodel.network.predict_on_batch(b) for b in (b_ if isinstance(b_, list) else [b_])],
                                  floats, args.repeats), plain))
                rows.append((label, "catsel forward, uint8 streamed from the host",
                             rate(streamed(amodel.put, amodel.run, amodel.split), uint8, args.repeats), plain))
                for name, cache in (("catsel capture from files, cold", None),
                                    ("catsel capture from the decoded cache", tmp / f"cache-{precision}-{bs}")):
                    if cache is not None:  # fill the cache first
                        catsel.capture(amodel, folder, tmp / f"fill-{precision}-{bs}", batch_size=bs,
                                       progress=False, cache=cache)
                    best = 0.0
                    for r in range(args.repeats):
                        t = time.perf_counter()
                        acts = catsel.capture(amodel, folder, tmp / f"{name[-4:]}-{precision}-{bs}-{r}", batch_size=bs,
                                              progress=False, cache=cache)
                        best = max(best, len(acts) / (time.perf_counter() - t))
                    rows.append((label, name, best, plain))
                if precision == "float32" and bs == int(args.batch_sizes.split(",")[0]) and not args.skip_full_maps:
                    full = keras.Model(amodel.network.inputs,
                                       [amodel.network.get_layer(l).output for l in amodel.layers])

                    def full_maps(b_):
                        for b in (b_ if isinstance(b_, list) else [b_]):
                            for o in to_numpy(full.predict_on_batch(b)):
                                o.max(axis=tuple(range(1, o.ndim - 1))) if o.ndim > 2 else o

                    rows.append((label, "full maps to the host, max in NumPy", rate(full_maps, floats[:2], 1), plain))
                    rows.append((label, "keract get_activations", _keract(amodel, floats), plain))
    width = max(len(r[1]) for r in rows)
    print(f"\n{'setting':<18} {'path':<{width}}  {'images/s':>9}  {'vs compiled':>11}")
    for label, name, value, plain in rows:
        shown = f"{value:9.1f}  {value / plain:10.2f}x" if value == value else "  did not run"
        print(f"{label:<18} {name:<{width}}  {shown}")


def _keract(amodel, floats) -> float:
    """keract's get_activations on the same layers, or NaN where keract is missing or fails."""
    try:
        import keract
    except ImportError:
        return float("nan")
    try:
        def go(b_):
            for b in (b_ if isinstance(b_, list) else [b_]):
                keract.get_activations(amodel.network, b, layer_names=list(amodel.layers))
        return rate(go, floats[:2], 1)
    except Exception as exc:  # keract targets tf.keras; report rather than crash
        print(f"keract did not run: {type(exc).__name__}: {str(exc)[:120]}")
        return float("nan")


if __name__ == "__main__":
    main()
