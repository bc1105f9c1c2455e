"""Selectivity on an accelerator equals the CPU's: float32, within 1e-4, on the sample data.

On the CPU, once per backend (the references travel to the GPU machine):

    python benchmarks/gpu_parity.py reference build/parity                     # TensorFlow
    KERAS_BACKEND=jax python benchmarks/gpu_parity.py reference build/parity   # JAX

On the GPU, with the same images, against every reference in the folder:

    python benchmarks/gpu_parity.py check build/parity [--also-tf32]

Both build VGG16 (default layers, 224 px) and then give it weights that NumPy
draws from a fixed seed (He-normal kernels, small random biases), so that
every backend and device runs exactly the same numbers: Keras' own seeded
initialisers draw different numbers on TensorFlow, JAX and PyTorch. The check
compares the weights' fingerprint first, then every unit's maxima (relative to
the unit's range over the images), the selectivity index of every unit and
category, and the `selective` decisions. It prints PASS or FAIL against the
1e-4 tolerance, over every pair and over the units catsel counts (active on at
least 5% of the images), and exits 1 when a counted unit's index differs by
more, or a `selective` decision differs. Near-silent units (a maximum above
zero on one or two images) differ by more between any two backends, on the
CPU too: eq. 1 divides their rounding errors by a tiny range. ``--also-tf32`` repeats the check with
:data:`catsel.network.keras.backends.FLOAT32_MATMUL` set to ``"tensorfloat32"``, to show
what the backends' own GPU default would have done to the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd

import catsel
from catsel.network.keras import backends
from catsel.network.keras.backends import backend_info
from catsel.selecting.indices import MIN_ACTIVE

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4


def numpy_weights(network, seed: int) -> list[float]:
    """Give every weight a value NumPy draws from ``seed``; return each variable's sum (the fingerprint)."""
    rng = np.random.default_rng(seed)
    sums = []
    for v in network.weights:
        shape = tuple(v.shape)
        if len(shape) > 1:  # kernels: He-normal over the fan-in
            value = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2 / np.prod(shape[:-1])))
        else:  # biases: small, so that some units are near silent, as in real networks
            value = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.01)
        v.assign(value)
        sums.append(float(value.astype(np.float64).sum()))
    return sums


def capture(data: str, out: Path, image_size: int, batch_size: int):
    amodel = catsel.activation_model("vgg16", None, image_size=image_size)
    fingerprint = numpy_weights(amodel.network, seed=20181)
    start = time.perf_counter()
    acts = catsel.capture(amodel, catsel.ImageFolder(data, image_size=amodel.image_size), out,
                          batch_size=batch_size, progress=False)
    print(f"captured {len(acts)} images, {sum(acts.units.values())} units in {time.perf_counter() - start:.1f} s "
          f"(compilation included)")
    return acts, catsel.selectivity(acts), fingerprint


def compare(acts, table, reference: Path) -> bool:
    ref = np.load(reference / "maxima.npz")
    rel = 0.0
    for layer in acts.layers:
        base = ref[layer]
        spread = np.ptp(base, axis=0)
        live = spread > 0
        if live.any():
            rel = max(rel, float(np.max(np.abs(acts[layer][:, live] - base[:, live]) / spread[live])))
    base = pd.read_csv(reference / "selectivity.csv")
    assert list(base["layer"]) == list(table["layer"]) and list(base["unit"]) == list(table["unit"])
    ds = np.abs(table["selectivity"].to_numpy() - base["selectivity"].to_numpy())
    active = (base["n_active"].to_numpy() >= MIN_ACTIVE * len(acts))
    flips = int((table["selective"].to_numpy() != base["selective"].to_numpy()).sum())
    worst = table.iloc[int(np.argmax(ds))]
    print(f"  largest difference of a maximum, relative to its unit's range: {rel:.2e}")
    print(f"  largest |dS| over {len(table):,} unit x category pairs: {ds.max():.2e} "
          f"(at {worst['layer']} filter {worst['unit']}, {worst['category']}; n_active {worst['n_active']})")
    print(f"  largest |dS| where the unit is active on >= {MIN_ACTIVE:.0%} of the images: "
          f"{ds[active].max() if active.any() else 0.0:.2e} ({int(active.sum()):,} pairs)")
    print(f"  pairs whose `selective` decision differs: {flips}")
    every = bool(ds.max() <= TOLERANCE)
    counted = bool(ds[active].max() <= TOLERANCE) if active.any() else True
    print(f"  {'PASS' if every else 'FAIL'}: |dS| <= {TOLERANCE:g} for every pair")
    print(f"  {'PASS' if counted and not flips else 'FAIL'}: |dS| <= {TOLERANCE:g} for every counted unit "
          f"and the same `selective` decisions")
    return counted and not flips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["reference", "check"])
    parser.add_argument("folder", help="where the reference is written (reference) or read (check)")
    parser.add_argument("--data", default=str(REPO / "sample_data"))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--also-tf32", action="store_true")
    args = parser.parse_args()
    folder = Path(args.folder)
    info = backend_info()
    print(f"VGG16 at {args.image_size} px, NumPy-drawn weights, float32; Keras {info['keras']} on "
          f"{info['backend']} ({info['device']})")
    with tempfile.TemporaryDirectory() as tmp:
        acts, table, fingerprint = capture(args.data, Path(tmp) / "run", args.image_size, args.batch_size)
        if args.mode == "reference":
            out = folder / info["backend"]
            out.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(out / "maxima.npz", **{layer: acts[layer] for layer in acts.layers})
            table.to_csv(out / "selectivity.csv", index=False, float_format="%.17g")
            (out / "reference.json").write_text(json.dumps({**info, "fingerprint": fingerprint,
                                                             "images": len(acts)}, indent=1))
            print(f"reference written to {out}")
            return
        references = sorted(p.parent for p in folder.glob("*/reference.json"))
        if not references:
            sys.exit(f"no reference in {folder}: run `python benchmarks/gpu_parity.py reference {folder}` first")
        runs = [("float32 (catsel's default, FLOAT32_MATMUL = 'float32')", acts, table)]
        if args.also_tf32:
            backends.FLOAT32_MATMUL = "tensorfloat32"
            tf32_acts, tf32_table, _ = capture(args.data, Path(tmp) / "tf32", args.image_size, args.batch_size)
            runs.append(("float32 with TF32 tensor cores (the backends' own default on such GPUs)",
                         tf32_acts, tf32_table))
        ok = True
        for reference in references:
            record = json.loads((reference / "reference.json").read_text())
            np.testing.assert_allclose(fingerprint, record["fingerprint"], rtol=1e-6, atol=1e-3,
                                       err_msg="the weights differ from the reference's: the check means nothing")
            for i, (label, a, t) in enumerate(runs):
                print(f"\n{label}\n  against Keras {record['keras']} on {record['backend']} ({record['device']}), "
                      f"{record['images']} images:")
                passed = compare(a, t, reference)
                ok = ok and (passed or i > 0)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
