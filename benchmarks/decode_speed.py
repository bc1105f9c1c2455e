"""Image decoding: catsel's decoders against what Pillow can do on this machine.

The ceiling is plain Pillow (open, convert to RGB, bicubic resize, no catsel code)
in one process per core. catsel is measured through the same decoder capture
uses, with threads and with processes, for photograph-sized JPEGs (made by
upscaling the sample images) and for large ones (1600x1200, where JPEG draft
mode matters).

    python benchmarks/decode_speed.py [--images 256] [--size 224]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _pillow_only(paths, size, draft=False):
    for p in paths:
        with Image.open(p) as im:
            if draft:
                im.draft("RGB", (size, size))
            np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
    return len(paths)


def _make(folder: Path, n: int, shape: tuple[int, int]) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from make_sample_data import CATEGORIES, make_image

    for i in range(n):
        category = CATEGORIES[i % 4]
        (folder / category).mkdir(parents=True, exist_ok=True)
        make_image(category, i // 4, 128).resize(shape, Image.Resampling.BICUBIC).save(
            folder / category / f"{i:05d}.jpg", quality=90)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are shown")
    args = parser.parse_args()
    import catsel.capturing.local as module
    from catsel.capturing.local import PROCESS_THRESHOLD, Decoder as _Decoder
    from catsel.images.folder import ImageFolder

    print(f"{args.images} JPEGs decoded to {args.size}x{args.size}, {args.workers} workers, "
          f"{os.cpu_count()} CPU cores\n")
    print(f"{'images':<12} {'decoder':<40} {'images/s':>9}  {'vs Pillow':>9}  (range over rounds)")
    ctx = multiprocessing.get_context("spawn")
    for shape in ((500, 375), (1600, 1200)):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "jpegs"
            _make(root, args.images, shape)
            paths = sorted(str(p) for p in root.rglob("*.jpg"))
            label = f"{shape[0]}x{shape[1]}"
            folder = ImageFolder(root, image_size=args.size)
            chunks = np.array_split(np.array(paths), args.workers)
            with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
                list(pool.map(_pillow_only, [paths[:2]] * args.workers, [args.size] * args.workers))  # start workers

                def pillow(draft):
                    return lambda: list(pool.map(_pillow_only, chunks, [args.size] * len(chunks),
                                                 [draft] * len(chunks)))

                decoders = {}
                for kind, threshold in (("threads", 10 ** 9), ("processes", 0)):
                    module.PROCESS_THRESHOLD = threshold
                    decoders[kind] = _Decoder(folder, 64, args.workers, None)
                    decoders[kind].load(0)  # start the workers
                module.PROCESS_THRESHOLD = PROCESS_THRESHOLD

                def catsel_decoder(kind):
                    return lambda: [decoders[kind].load(i) for i in range(0, len(folder), 64)]

                without_draft = len(paths) / _timed(pillow(False))
                contenders = {"Pillow alone, process per core, draft": pillow(True),
                              "catsel, threads (draft mode, bicubic)": catsel_decoder("threads"),
                              "catsel, processes (draft mode, bicubic)": catsel_decoder("processes")}
                rates = {name: [] for name in contenders}
                for _ in range(args.rounds):  # interleaved: a slow spell weighs on all alike
                    for name, fn in contenders.items():
                        rates[name].append(len(paths) / _timed(fn))
                for decoder in decoders.values():
                    decoder.close()
            ceiling = np.asarray(rates["Pillow alone, process per core, draft"])
            print(f"{label:<12} {'Pillow alone, process per core':<40} {without_draft:9.0f}  "
                  f"{without_draft / np.median(ceiling):8.2f}x")
            for name, values in rates.items():
                ratios = np.asarray(values) / ceiling
                print(f"{label:<12} {name:<40} {np.median(values):9.0f}  {np.median(ratios):8.2f}x"
                      f"  ({ratios.min():.2f}-{ratios.max():.2f})")


if __name__ == "__main__":
    main()
