"""Seconds per activation-maximisation picture on VGG16.

Times ``--steps`` steps for a conv filter and a dense unit at the model's size and
reports seconds per step and per 256-step picture. Weights do not change the time;
offline the untrained network is used.

    python benchmarks/maximise_speed.py [--steps 16] [--image-size 224]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

import catsel
from catsel.maximise import maximise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()
    amodel = catsel.activation_model(args.model, None if args.weights == "none" else args.weights,
                                     image_size=args.image_size)
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


if __name__ == "__main__":
    main()
