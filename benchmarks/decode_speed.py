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
    args = parser.parse_args()
    from catsel.capture import PROCESS_THRESHOLD, _Decoder
    from catsel.data import ImageFolder

    print(f"{args.images} JPEGs decoded to {args.size}x{args.size}, {args.workers} workers, "
          f"{os.cpu_count()} CPU cores\n")
    print(f"{'images':<12} {'decoder':<40} {'images/s':>9}  {'vs Pillow':>9}")
    ctx = multiprocessing.get_context("spawn")
    for shape in ((500, 375), (1600, 1200)):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "jpegs"
            _make(root, args.images, shape)
            paths = sorted(str(p) for p in root.rglob("*.jpg"))
            label = f"{shape[0]}x{shape[1]}"
            with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
                list(pool.map(_pillow_only, [paths[:2]] * args.workers, [args.size] * args.workers))  # start workers
                chunks = np.array_split(np.array(paths), args.workers)
                rates = {}
                for draft in (False, True):
                    rates[draft] = len(paths) / _timed(lambda: list(pool.map(
                        _pillow_only, chunks, [args.size] * len(chunks), [draft] * len(chunks))))
            ceiling = max(rates.values())
            for draft, value in rates.items():
                name = "Pillow alone, process per core" + (", draft" if draft else "")
                print(f"{label:<12} {name:<40} {value:9.0f}  {value / ceiling:8.2f}x")
            folder = ImageFolder(root, image_size=args.size)
            for kind, threshold in (("threads", 10 ** 9), ("processes", 0)):
                import catsel.capture as cap_module  # noqa: F401
                module = sys.modules["catsel.capture"]
                module.PROCESS_THRESHOLD = threshold
                decoder = _Decoder(folder, 64, args.workers, None)
                decoder.load(0)  # start the workers
                rate = len(folder) / _timed(lambda: [decoder.load(i) for i in range(0, len(folder), 64)])
                decoder.close()
                module.PROCESS_THRESHOLD = PROCESS_THRESHOLD
                name = f"catsel, {kind} (draft mode, bicubic)"
                print(f"{label:<12} {name:<40} {rate:9.0f}  {rate / ceiling:8.2f}x")


if __name__ == "__main__":
    main()
