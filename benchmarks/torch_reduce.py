"""How a channels-last map's maxima and positions are best taken in PyTorch, on the CPU (issue #50's profile).

For a batch of 16 maps of VGG16's block 1, 3 and 5 sizes in the channels-last layout catsel runs PyTorch in,
the milliseconds of: ``max(dim)`` with its indices on the (batch, positions, channels) view (what catsel did),
``amax`` alone (no positions), ``amax`` then ``==`` then ``argmax`` (positions by a second pass), and
``adaptive_max_pool2d(x, 1, return_indices=True)`` (what catsel does now). Medians of ``--repeats``.

    python benchmarks/torch_reduce.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

SHAPES = {"block 1": (16, 64, 224, 224), "block 3": (16, 256, 56, 56), "block 5": (16, 512, 14, 14)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def timed(f) -> float:
        f()
        runs = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            f()
            runs.append(time.perf_counter() - started)
        return statistics.median(runs) * 1000

    print(f"torch {torch.__version__}, {args.threads} threads, channels-last maps, medians of {args.repeats} (ms)")
    print("| maps | max(dim) with indices | amax alone | amax, ==, argmax | adaptive_max_pool2d with indices |")
    print("|---|---:|---:|---:|---:|")
    with torch.inference_mode():
        for name, shape in SHAPES.items():
            x = torch.randn(*shape).contiguous(memory_format=torch.channels_last).relu()
            n, c, h, w = shape
            flat = x.permute(0, 2, 3, 1).reshape(n, h * w, c)

            def twice():
                top = flat.amax(dim=1, keepdim=True)
                return top, (flat == top).to(torch.uint8).argmax(dim=1)

            times = [timed(lambda: flat.max(dim=1)), timed(lambda: flat.amax(dim=1)), timed(twice),
                     timed(lambda: F.adaptive_max_pool2d(x, 1, return_indices=True))]
            print(f"| {name}, {' × '.join(map(str, shape))} | " + " | ".join(f"{t:.1f}" for t in times) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
