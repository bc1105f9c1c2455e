"""Seconds per activation-maximisation picture on VGG16, alone and as a panel.

Times ``--steps`` steps for a conv filter and a dense unit at the model's size and
reports seconds per step and per 256-step picture. Then a ``catsel visualize
--category --top 4`` panel: its four filters one after another (``maximise``) against
all four in one batch (``maximise_many``, what the panel does). Weights do not change
the time; offline the untrained network is used.

    python benchmarks/maximise_speed.py [--steps 16] [--image-size 224]

``--whole N`` instead makes N units' whole pictures (block5_conv3's first N filters, at most 256 steps each,
stopping when each has converged, as ``catsel visualize`` does) and reports each picture's steps and seconds
against the fixed 256 steps of before.

    python benchmarks/maximise_speed.py --image-size 112 --whole 4
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

import catsel
from catsel.network.keras.backends import on_accelerator
from catsel.network.maximise import maximise, maximise_many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--whole", type=int, help="whole pictures of this many units, stopping on convergence")
    args = parser.parse_args()
    amodel = catsel.activation_model(args.model, None if args.weights == "none" else args.weights,
                                     image_size=args.image_size)
    if args.whole:
        maximise(amodel, "block5_conv3", 0, steps=2)  # build and warm up
        print(f"{args.model} ({amodel.weights_label}), {amodel.image_size}px, Keras {keras.__version__} on "
              f"{keras.backend.backend()}, {os.cpu_count()} CPU cores; block5_conv3, at most 256 steps")
        print("| unit | steps taken | seconds | seconds at a fixed 256 steps (estimated) |\n|---:|---:|---:|---:|")
        for unit in range(args.whole):
            t = time.perf_counter()
            picture = maximise(amodel, "block5_conv3", unit, steps=256)
            took = time.perf_counter() - t
            print(f"| {unit} | {len(picture.trace)} | {took:.1f} | {took / len(picture.trace) * 256:.1f} |",
                  flush=True)
        return
    targets = [("block5_conv3", 0)] + ([("fc2", 0)] if "fc2" in amodel.layers else [])
    print(f"{args.model} ({amodel.weights_label}), {amodel.image_size}px, Keras {keras.__version__} on "
          f"{keras.backend.backend()}, {os.cpu_count()} CPU cores")
    print(f"\n{'unit':<16} {'steps':>5} {'s/step':>7} {'s per 256-step picture':>23}")
    for layer, unit in targets:
        maximise(amodel, layer, unit, steps=2)  # build and warm up
        t = time.perf_counter()
        maximise(amodel, layer, unit, steps=args.steps)
        per_step = (time.perf_counter() - t) / args.steps
        print(f"{layer + ' / ' + str(unit):<16} {args.steps:>5} {per_step:7.3f} {per_step * 256:23.1f}")

    panel = [(layer, 0) for layer in ("block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")]
    maximise_many(amodel, panel, steps=2, batch=True)  # build and warm up
    maximise_many(amodel, panel, steps=2, batch=False)
    t = time.perf_counter()
    maximise_many(amodel, panel, steps=args.steps, batch=False)
    apart = (time.perf_counter() - t) / args.steps
    t = time.perf_counter()
    maximise_many(amodel, panel, steps=args.steps, batch=True)
    together = (time.perf_counter() - t) / args.steps
    default = "one batch" if on_accelerator() else "one by one"
    print(f"\npanel of {len(panel)} filters ({', '.join(l for l, _ in panel)}); catsel's default here: {default}")
    print(f"{'':<16} {'s/step':>7} {'s per 256 steps':>16} {'vs one filter':>14}")
    for name, per_step in (("one by one", apart), ("one batch", together)):
        print(f"{name:<16} {per_step:7.3f} {per_step * 256:16.1f} {per_step / (apart / len(panel)):13.2f}x")


if __name__ == "__main__":
    main()
