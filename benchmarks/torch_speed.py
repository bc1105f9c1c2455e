"""Capture speed of a torchvision network through catsel, against a plain ``torch.no_grad()`` forward pass.

For torchvision's VGG16 (random weights: weights do not change the speed) at 224 px, images/s of:

* plain forward, ``torch.no_grad()``: the module on preprocessed float32 batches already on the device, its
  logits out (the yardstick, 1.00x);
* catsel forward, uint8 in: :meth:`catsel.network.torch.network.TorchNetwork.run` on uint8 batches (preprocessing on
  the device, each default layer reduced to its maxima and positions inside its hook, one buffer out);
* catsel capture from files, cold: ``catsel.capture`` end to end (decoding, forward, store);
* full maps to the host by hooks, max in NumPy: what a hook extractor that keeps each layer's output does
  (each of the same layers' maps copied out, then reduced), as feature extractors built on hooks do.

Paths are timed in interleaved rounds (each round runs each path once) and the table gives each path's median
images/s and the median of its per-round ratio to the plain forward pass (``benchmarks/capture_speed.py``'s
method). Images are the bundled sample data, recycled to ``--images``.

    python benchmarks/torch_speed.py --images 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from capture_speed import recycled_folder, rounds  # noqa: E402  (the same timing method)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:vgg16")
    parser.add_argument("--data", default=str(HERE.parent / "sample_data"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import catsel
    from catsel.network.torch.network import without_triton

    without_triton()
    import torch

    net = catsel.activation_model(args.model, "none", image_size=args.image_size)
    print(f"{args.model} at {args.image_size} px, {len(net.layers)} layers ({', '.join(net.layers[:3])}, ...), "
          f"{args.images} images, batch {args.batch_size}; torch {torch.__version__} on {net.device}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPU cores")
    bs = args.batch_size
    passes = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = catsel.ImageFolder(recycled_folder(args.data, args.images, tmp), image_size=args.image_size)
        n = len(folder) // bs * bs
        images = np.stack([folder.load(i) for i in range(n)])
        uint8 = [images[i:i + bs] for i in range(0, n, bs)]
        floats = [net.prepare(net.put(b)) for b in uint8]
        modules = dict(net.module.named_modules())

        def plain(batches):
            with torch.no_grad():
                for x in batches:
                    net.module(x)

        def catsel_forward(batches):
            for b in batches:
                net.split_all(net.run(net.put(b)))

        def from_files(_):
            catsel.capture(net, folder, tmp / f"run-{next(passes)}", batch_size=bs, progress=False)

        def full_maps(batches):
            for x in batches:
                kept = []
                hooks = [modules[name].register_forward_hook(lambda m, a, o: kept.append(o.detach().cpu().numpy()))
                         for name in net.layers]
                try:
                    with torch.no_grad():
                        net.module(x)
                finally:
                    for h in hooks:
                        h.remove()
                for o in kept:
                    o.reshape(o.shape[0], o.shape[1], -1).max(axis=2) if o.ndim == 4 else o

        paths = {
            "plain forward, torch.no_grad(), float batch on the device": (plain, floats, True),
            "catsel forward, uint8 in, reduced in the hooks": (catsel_forward, uint8, True),
            "catsel capture from files, cold": (from_files, [[None] * n], False),
            "full maps to the host by hooks, max in NumPy": (full_maps, floats, True),
        }
        results = rounds(paths, args.repeats)
    width = max(len(name) for name in results)
    print(f"\n{'path':<{width}}  {'images/s':>9}  {'vs plain':>9}")
    for name, (value, ratio) in results.items():
        print(f"{name:<{width}}  {value:9.1f}  {ratio:8.2f}x")


if __name__ == "__main__":
    main()
