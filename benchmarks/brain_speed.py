"""The time and peak memory of ``catsel brain`` on runs shaped like VGG16's, as images grow.

A run of N images in 4 categories with VGG16's 15 default layers (13 conv layers and fc1, fc2: 12,416
units), and its untrained twin; brain data of 4 subjects' RDMs, and responses of 20 regions with 4
repetitions; each category's selective units tested against 1,000 random sets in one layer (block5_conv3,
512 units). The unit values are random: what is timed (RDMs, rank correlations, bootstraps, ridge fits)
does not depend on them, and a real VGG16 capture of 1,000 images takes a minute of its own here. Each
size runs in a fresh process, so its peak resident memory is its own.

    python benchmarks/brain_speed.py [--images 250 500 1000] [--random-sets 1000] [--bootstrap 100] [--units]
    python benchmarks/brain_speed.py --images 1000 --layers 52 --only rsa     # a 52-layer network's RDMs

``--layers N`` repeats VGG16's layer widths to N layers; ``--only rsa`` times the RDM comparison alone;
``--bootstrap default`` takes catsel's default (enough resamples for one layer alone to beat its twin).

With ``--units``, a second table: one layer of 64, 512 or 4,096 units at 1,000 images, its RDM and one
comparison, and one cross-validated encoding of 20 regions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

VGG16_UNITS = {"block1_conv1": 64, "block1_conv2": 64, "block2_conv1": 128, "block2_conv2": 128,
               "block3_conv1": 256, "block3_conv2": 256, "block3_conv3": 256, "block4_conv1": 512,
               "block4_conv2": 512, "block4_conv3": 512, "block5_conv1": 512, "block5_conv2": 512,
               "block5_conv3": 512, "fc1": 4096, "fc2": 4096}
CATEGORIES = ("face", "i-see-face", "car", "dog")


def shapes(layers: int) -> dict:
    """VGG16's layer widths, repeated to ``layers`` layers."""
    widths = list(VGG16_UNITS.values())
    return {f"layer{k:02d}": widths[k % len(widths)] for k in range(layers)} if layers != 15 else VGG16_UNITS


def one(n: int, random_sets: int, bootstrap, layers: int = 15, only: str | None = None) -> dict:
    import types

    from catsel.brain import BrainRDMs, BrainResponses, compare_brain
    from catsel.store import Activations

    rng = np.random.default_rng(0)
    labels = np.arange(n) % len(CATEGORIES)
    paths = [f"{CATEGORIES[c]}/{i:05d}.jpg" for i, c in enumerate(labels)]

    def capture():
        return Activations.from_arrays({l: np.abs(rng.normal(size=(n, u))).astype(np.float32)
                                        for l, u in shapes(layers).items()}, labels, CATEGORIES, paths=paths)

    acts, twin = capture(), capture()
    names = [p.rsplit("/", 1)[1] for p in paths]
    latent = rng.normal(size=(n, 10))
    subjects = []
    for _ in range(4):
        x = latent + rng.normal(size=latent.shape)
        x = x - x.mean(axis=1, keepdims=True)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        subjects.append(1 - x @ x.T)
    matrices = np.stack(subjects)
    for m in matrices:
        np.fill_diagonal(m, 0)
    brain = BrainRDMs((matrices + matrices.transpose(0, 2, 1)) / 2, names, "synthetic")
    reps = latent[None, :, :2].repeat(10, axis=2)[:, :, :20] + rng.normal(size=(4, n, 20))
    responses = BrainResponses(reps.mean(axis=0), names, [f"r{k}" for k in range(20)],
                               [f"r{k}" for k in range(20)], reps, "synthetic")
    run = types.SimpleNamespace(activations=acts, untrained=twin, summary=None, record=None, table=None,
                                settings=types.SimpleNamespace(index="paper", threshold=0.01))
    times = {}
    selective = list(shapes(layers))[min(12, layers - 1)]
    for name, kwargs, sets in (("rsa", {"rdm": brain}, 0), ("rsa_random", {"rdm": brain}, random_sets),
                               ("encoding", {"responses": responses}, 0),
                               ("encoding_random", {"responses": responses}, random_sets)):
        if only is not None and name != only:
            times[name] = float("nan")
            continue
        # the random sets timed apart: one layer compared (without its interval), then the sets
        options = {"layers": [selective], "selective_layers": [selective], "untrained": None,
                   "bootstrap": 0} if sets else {"selective_layers": [], "untrained": twin, "bootstrap": bootstrap}
        started = time.perf_counter()
        result = compare_brain(run, **kwargs, random_sets=sets, progress=False, **options)
        if not sets:
            times["resamples"] = result.record["bootstrap"]
        times[name] = time.perf_counter() - started
    times["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return times


def by_units(n: int = 1000) -> None:
    from catsel.brain.encoding import encoding_scores
    from catsel.brain.rsa import Target, layer_rdm

    rng = np.random.default_rng(0)
    target = Target(layer_rdm(rng.normal(size=(n, 10))).get_vectors(), "spearman")
    y = rng.normal(size=(n, 20))
    print(f"| units ({n} images) | layer RDM (s) | one Spearman comparison (s) | encoding, 20 regions, 5 folds (s) |")
    print("|---:|---:|---:|---:|")
    for units in (64, 512, 4096):
        x = np.abs(rng.normal(size=(n, units)))
        started = time.perf_counter()
        vector = layer_rdm(x).get_vectors()[0]
        rdm = time.perf_counter() - started
        started = time.perf_counter()
        target.score(vector)
        compare = time.perf_counter() - started
        started = time.perf_counter()
        encoding_scores(x, y)
        print(f"| {units} | {rdm:.2f} | {compare:.2f} | {time.perf_counter() - started:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--random-sets", type=int, default=1000)
    parser.add_argument("--bootstrap", default="100", help="resamples, or 'default' (catsel's choice)")
    parser.add_argument("--layers", type=int, default=15)
    parser.add_argument("--only", choices=("rsa", "rsa_random", "encoding", "encoding_random"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--units", action="store_true", help="how one layer's cost grows with its units")
    args = parser.parse_args()
    if args.units:
        by_units()
        return
    if args.one:
        print(json.dumps(one(args.one, args.random_sets, None if args.bootstrap == "default" else int(args.bootstrap),
                             args.layers, args.only)))
        return
    print(f"{os.cpu_count()} cores; VGG16-shaped runs ({args.layers} layers) with their untrained twin; "
          f"4 subjects' RDMs, 20 regions x 4 repetitions; {args.random_sets} random sets, {args.bootstrap} "
          "bootstrap resamples")
    print("| images | RDMs, every layer, twin (s) | random sets, RDM, 4 categories (s) | encoding, every layer, twin (s) "
          "| random sets, encoding, 4 categories (s) | peak memory (GiB) |\n|---:|---:|---:|---:|---:|---:|")
    for n in args.images:
        done = subprocess.run([sys.executable, __file__, "--one", str(n), "--random-sets", str(args.random_sets),
                               "--bootstrap", str(args.bootstrap), "--layers", str(args.layers)]
                              + (["--only", args.only] if args.only else []), capture_output=True, text=True)
        if done.returncode:
            print(f"| {n} | failed: {done.stderr.strip().splitlines()[-1]} |", flush=True)
            continue
        t = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {n} | {t['rsa']:.0f} ({t.get('resamples', '-')} resamples) | {t['rsa_random']:.0f} | "
              f"{t['encoding']:.0f} | {t['encoding_random']:.0f} | {t['peak_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
