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

The first five paths are timed in interleaved rounds (each round runs each
path once, in turn) and the table shows each path's median images/s and the
median of its per-round ratio to the compiled forward pass, so that a slow
spell of a shared machine does not favour one path. ``--devices all`` splits
each batch over every GPU (JAX).

Images are the bundled sample data, or ``--data`` (recycled to ``--images``).
Weights do not change the speed: offline, the untrained network is used.

    python benchmarks/capture_speed.py --images 64 --batch-sizes 16 --precisions float32,bfloat16
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import catsel
from catsel.network.keras.backends import backend_info, compile_forward, resolve_devices
from catsel.network.keras.preprocess import Preprocess

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


def timed(fn, batches) -> float:
    """Images/s of one pass of ``fn`` over ``batches``."""
    t = time.perf_counter()
    fn(batches)
    return sum(len(b) for b in batches) / (time.perf_counter() - t)


def rate(fn, batches, repeats: int) -> float:
    """Best of ``repeats`` passes, after a warm-up (for the paths measured once, outside the rounds)."""
    fn(batches[:1])
    return max(timed(fn, batches) for _ in range(repeats))


def rounds(paths: dict, repeats: int) -> dict:
    """Median images/s of each path and its median ratio to the first path, over interleaved rounds.

    ``paths`` maps a name to ``(fn, batches, warm)``: ``fn(batches)`` is one
    pass, and ``warm`` says whether it needs a first untimed pass.

    Every round times each path once, in turn, so that a slow spell of a shared
    machine weighs on all of them alike; the ratio is taken within each round.
    """
    for fn, batches, warm in paths.values():
        if warm:
            fn(batches[:1])  # compile, warm up
    times = {name: [] for name in paths}
    for _ in range(repeats):
        for name, (fn, batches, _) in paths.items():
            times[name].append(timed(fn, batches))
    first = np.asarray(times[next(iter(paths))])
    return {name: (float(np.median(v)), float(np.median(np.asarray(v) / first))) for name, v in times.items()}


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
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds; the table shows each path's median (default 3)")
    parser.add_argument("--devices", default=None,
                        help="split batches over several devices: all or a number (JAX only; default: one)")
    parser.add_argument("--skip-full-maps", action="store_true")
    args = parser.parse_args()
    if args.devices is not None and args.devices != "all":
        args.devices = int(args.devices)

    weights = None if args.weights == "none" else args.weights
    info = backend_info()
    print(f"{args.model}, {args.images} images, Keras {info['keras']} on {info['backend']} ({info['device']}), "
          f"{os.cpu_count()} CPU cores")
    rows = []
    passes = itertools.count()
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
                put, run = compile_forward(amodel.network, resolve_devices(args.devices))
                on_device = [put(b) for b in floats]

                def from_files(cache):
                    def go(b_):
                        # a fresh output folder each pass: a finished store would be reused, not recomputed
                        catsel.capture(amodel, folder, tmp / f"run-{next(passes)}", batch_size=bs, progress=False,
                                       cache=cache, devices=args.devices)
                    return go

                cache = tmp / f"cache-{precision}-{bs}"
                catsel.capture(amodel, folder, tmp / f"fill-{precision}-{bs}", batch_size=bs, progress=False,
                               cache=cache, devices=args.devices)  # fill the decoded cache
                everything = [[None] * n]  # a capture pass counts the n images
                paths = {
                    "plain forward, compiled, batch on the device":
                        (lambda b_: [to_numpy(run(b)) for b in b_], on_device, True),
                    "plain forward, predict_on_batch":
                        (lambda b_: [amodel.network.predict_on_batch(b) for b in b_], floats, True),
                    "catsel forward, uint8 streamed from the host":
                        (streamed(*amodel.runner(args.devices), amodel.split), uint8, True),
                    # compiled by the cache-filling capture above
                    "catsel capture from files, cold": (from_files(None), everything, False),
                    "catsel capture from the decoded cache": (from_files(cache), everything, False),
                }
                label = f"{precision}, batch {bs}"
                plain = None
                for name, (value, ratio) in rounds(paths, args.repeats).items():
                    plain = plain or value
                    rows.append((label, name, value, ratio))
                if precision == "float32" and bs == int(args.batch_sizes.split(",")[0]) and not args.skip_full_maps:
                    full = keras.Model(amodel.network.inputs,
                                       [amodel.network.get_layer(l).output for l in amodel.layers])

                    def full_maps(b_):
                        for b in (b_ if isinstance(b_, list) else [b_]):
                            for o in to_numpy(full.predict_on_batch(b)):
                                o.max(axis=tuple(range(1, o.ndim - 1))) if o.ndim > 2 else o

                    full_rate = rate(full_maps, floats[:2], 1)
                    rows.append((label, "full maps to the host, max in NumPy", full_rate, full_rate / plain))
                    keract_rate = _keract(amodel, floats)
                    rows.append((label, "keract get_activations", keract_rate, keract_rate / plain))
    width = max(len(r[1]) for r in rows)
    print(f"\n{'setting':<18} {'path':<{width}}  {'images/s':>9}  {'vs compiled':>11}")
    for label, name, value, ratio in rows:
        shown = f"{value:9.1f}  {ratio:10.2f}x" if value == value else "  did not run"
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
