"""Where a capture's time goes: input, transfer, compute (and which reduction), host side.

Times each stage of catsel's capture apart, per batch, on the current backend:

* compute, with the batch already on the device: the plain network, then the
  network with each conv map reduced to its maximum only, + the maximum's
  position (two max-poolings, or one argmax over the flat map with the
  maximum read at it), + the spatial mean and minimum (what a capture with
  ``summaries=True`` computes);
* transfer: a uint8 batch to the device, and the reduced outputs back to the
  host (split per layer);
* host: a batch read from the decoded cache, and the store's write;
* the whole capture from the decoded cache and from the files, and a
  profile of the capture from the cache (the 12 costliest calls).

Compute variants run in interleaved rounds (median of ``--repeats``), each
timed over all batches with one synchronisation at the end, as a capture runs.

    python benchmarks/capture_profile.py [--images 2560] [--batch-size 256] [--precision bfloat16]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "sample_data"))
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precision", default="bfloat16")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    # imported here, not at the top: decoding workers re-import this script (see catsel.capturing.local)
    import keras
    import numpy as np

    import catsel
    from capture_speed import recycled_folder
    from catsel.network.keras.backends import backend_info, compile_forward
    from catsel.capturing.local import Decoder as _Decoder
    from catsel.network.keras.preprocess import Preprocess
    from catsel.network.keras.reduce import fused_reductions, reduce_maps, spatial_summaries
    from catsel.store import ActivationStore, StoreMeta

    backend = keras.backend.backend()

    def sync(out):
        if backend == "jax":
            import jax
            jax.block_until_ready(out)
        else:  # the last result of the last batch: computed after every other one
            while isinstance(out, (list, tuple)):
                out = out[-1]
            keras.ops.convert_to_numpy(out)

    info = backend_info()
    amodel = catsel.activation_model("vgg16", None, image_size=args.image_size, precision=args.precision)
    net, size, bs = amodel.network, amodel.image_size, args.batch_size
    print(f"vgg16 ({args.precision}), {size}px, batch {bs}, Keras {info['keras']} on {info['backend']} "
          f"({info['device']}), {os.cpu_count()} CPU cores\n")

    def variant(kind):
        images = keras.Input((size, size, 3), dtype="uint8")
        x = Preprocess(amodel.preprocess)(images)
        if kind == "plain":
            return keras.Model(images, net(x))
        inner_outputs = []
        for name in amodel.layers:
            out = net.get_layer(name).output
            if len(out.shape) == 2:
                inner_outputs.append(keras.ops.cast(out, "float32"))
            elif kind == "maximum":
                inner_outputs.append(keras.ops.cast(keras.ops.max(out, axis=(1, 2)), "float32"))
            elif kind in ("position", "argmax"):  # two max-poolings, or one argmax with the maximum read at it
                inner_outputs += list(reduce_maps(out, method="pooling" if kind == "position" else "argmax"))
            elif kind == "fused":  # every kind in one variadic reduction over the map (JAX)
                every = ("maxima", "positions", "means", "minima")
                inner_outputs += keras.layers.Lambda(lambda t: list(fused_reductions(t, every).values()))(out)
            else:  # catsel's own choice of method, and the spatial mean and minimum
                inner_outputs += [*reduce_maps(out), *spatial_summaries(out)]
        inner = keras.Model(net.inputs, inner_outputs)
        return keras.Model(images, inner(x))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = catsel.ImageFolder(recycled_folder(args.data, args.images, tmp), image_size=size)
        n = len(folder) // bs * bs
        cache = tmp / "cache"
        start = time.perf_counter()
        catsel.capture(amodel, folder, tmp / "fill", batch_size=bs, progress=False, cache=cache)
        first = time.perf_counter() - start
        decoder = _Decoder(folder, bs, None, cache)
        uint8 = [decoder.load(i)[1] for i in range(0, n, bs)]

        runners = {}
        for kind, label in [("plain", "plain network (compiled forward)"),
                            ("maximum", "each map's maximum only"),
                            ("position", "+ the maximum's position (two max-poolings)"),
                            ("argmax", "+ the position by argmax, the maximum read at it"),
                            ("summaries", "+ spatial mean and minimum (summaries=True)"),
                            *([("fused", "the same four in one pass (reduction='fused')")]
                              if backend == "jax" else [])]:
            put, run = compile_forward(variant(kind))
            on_device = [put(b) for b in uint8]
            sync(run(on_device[0]))  # compile
            runners[label] = (run, on_device)
        times = {label: [] for label in runners}
        for _ in range(args.repeats):
            for label, (run, on_device) in runners.items():
                sync(on_device)
                t = time.perf_counter()
                outs = [run(b) for b in on_device]
                sync(outs)
                times[label].append(time.perf_counter() - t)
        plain = np.median(times[next(iter(times))])
        print(f"{'stage (per batch of ' + str(bs) + ')':<60} {'ms':>8} {'images/s':>10} {'vs plain':>9}")
        for label, ts in times.items():
            t = float(np.median(ts))
            print(f"compute: {label:<51} {1000 * t / len(uint8):8.2f} {n / t:10.0f} {plain / t:8.2f}x")

        put, run = amodel.runner()

        def each(fn, items):
            t = time.perf_counter()
            for item in items:
                fn(item)
            return (time.perf_counter() - t) / len(items)

        t_put = each(lambda b: sync(put(b)), uint8)
        outs = [run(put(b)) for b in uint8]
        sync(outs)
        arrays = []
        t_fetch = each(lambda o: arrays.append(amodel.split_all(o)), outs)
        t_load = each(lambda i: decoder.load(i), range(0, n, bs))
        decoder.close()
        meta = StoreMeta.from_json({"format": "catsel-activations", "version": 2, "key": "0" * 64, "root": str(tmp),
                                    "n_rows": n, "categories": list(folder.categories), "fit": folder.fit,
                                    "arrays": list(amodel.arrays), **amodel.describe()})
        rows = [{"row": i, "path": f"{i}.jpg", "category": folder.categories[0], "label": 0} for i in range(n)]
        store = ActivationStore.open(tmp / "store", meta, rows)
        k = iter(range(0, n, bs))
        t_write = each(lambda a: store.write(next(k), a, [None] * bs), arrays)
        store.close()
        fetched = [keras.ops.convert_to_numpy(o) for o in (outs[0] if isinstance(outs[0], (list, tuple))
                                                           else [outs[0]])]
        every = amodel.for_arrays(("maxima", "positions", "means", "minima"))
        more = every.run(every.put(uint8[0]))
        more = sum(keras.ops.convert_to_numpy(o).nbytes for o in (more if isinstance(more, (list, tuple)) else [more]))
        print(f"results per batch: {len(fetched)} array(s) leave the device, "
              f"{sum(a.nbytes for a in fetched) / bs / 1024:.1f} KiB per image "
              f"({more / bs / 1024:.1f} KiB with the spatial means and minima)")
        for label, t in [("transfer: a uint8 batch to the device", t_put),
                         ("transfer: the results to the host, split by layer", t_fetch),
                         ("host: a batch from the decoded cache", t_load),
                         ("host: the store's write", t_write)]:
            print(f"{label:<60} {1000 * t:8.2f} {bs / t:10.0f}")

        def capture(name, cache_dir):
            t = time.perf_counter()
            catsel.capture(amodel, folder, tmp / name, batch_size=bs, progress=False, cache=cache_dir)
            return time.perf_counter() - t

        t_cold = capture("cold", None)
        profile = cProfile.Profile()
        profile.enable()
        t_cache = capture("cached", cache)
        profile.disable()
        print(f"\nwhole capture of {len(folder)} images: first (compilation, worker start-up) {first:.1f} s; "
              f"from the files {len(folder) / t_cold:.0f} images/s; from the decoded cache "
              f"{len(folder) / t_cache:.0f} images/s\n")
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(12)
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:4000])


if __name__ == "__main__":
    main()
