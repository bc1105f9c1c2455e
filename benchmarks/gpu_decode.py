"""GPU JPEG decoding (nvJPEG, through torchvision) against catsel's decoding processes: speed and pixels.

What the GPU capture issue asks to measure before catsel uses it: whether decoding JPEGs on the GPU raises the
decoding ceiling of a capture from files, and how far its pixels are from those catsel feeds the network now
(Pillow: JPEG draft mode, then an anti-aliased bicubic resize; ``catsel.load_image``). For photograph-sized
JPEGs (500x375) and large ones (1600x1200), made by upscaling the sample images:

* catsel's decoder, as a capture uses it (worker processes, one per core, writing into shared memory, from 512
  images; threads below);
* torchvision's ``decode_jpeg`` on a batch of file contents on the GPU (nvJPEG), then an anti-aliased bicubic
  resize on the GPU (PyTorch's ``interpolate``), with the files read by one thread; the batch ends on the device, where the network is,
  and the time includes one synchronisation per batch;
* the pixels of the two, per image: mean and largest absolute difference over the first 64 images.

Without a GPU, torchvision's decoder runs on the CPU (libjpeg-turbo), so that the script can be tried anywhere;
its row says which device decoded. Needs torch and torchvision (the GPU machine has both). Asserts nothing.

    python benchmarks/gpu_decode.py [--images 2048] [--size 224] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are shown")
    args = parser.parse_args()

    # imported here: decoding workers re-import this script
    import torch
    from torch.nn.functional import interpolate
    from torchvision.io import ImageReadMode, decode_jpeg

    from catsel.capturing.local import Decoder
    from catsel.images.folder import ImageFolder, load_image
    from decode_speed import _make as make_jpegs

    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (no GPU: libjpeg-turbo)"
    size, bs = args.size, args.batch_size
    print(f"{args.images} JPEGs decoded to {size}x{size}, batch {bs}, {os.cpu_count()} CPU cores; torchvision "
          f"decodes on {name}\n")

    def gpu_batch(paths):
        data = [torch.frombuffer(bytearray(Path(p).read_bytes()), dtype=torch.uint8) for p in paths]
        images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)  # (3, height, width) uint8 each
        same = len({tuple(im.shape) for im in images}) == 1
        groups = [torch.stack(images)] if same else [im[None] for im in images]
        # an anti-aliased bicubic resize, as Pillow's, in float32 (uint8 bicubic is not on every device)
        out = torch.cat([interpolate(g.float(), size=(size, size), mode="bicubic", antialias=True,
                                     align_corners=False) for g in groups])
        out = out.round().clamp(0, 255).to(torch.uint8)
        return out.permute(0, 2, 3, 1)  # (batch, height, width, 3), as catsel's batches

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    print(f"{'images':<10} {'decoder':<44} {'images/s':>9} {'vs catsel':>10}")
    for shape in ((500, 375), (1600, 1200)):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "jpegs"
            make_jpegs(root, args.images, shape)
            folder = ImageFolder(root, image_size=size)
            paths = [str(p) for p in folder.paths]
            starts = range(0, len(paths), bs)

            how = []

            def catsel_pass():
                decoder = Decoder(folder, bs, None, None)
                how[:] = ["processes" if decoder.processes else "threads"]
                try:
                    for first in starts:
                        decoder.load(first)
                finally:
                    decoder.close()

            def gpu_pass():
                for first in starts:
                    gpu_batch(paths[first:first + bs])
                sync()

            gpu_pass()  # first calls: nvJPEG's handles, the resize kernels
            times = {"catsel": [], "gpu": []}
            for _ in range(args.rounds):
                for key, run in (("catsel", catsel_pass), ("gpu", gpu_pass)):
                    t = time.perf_counter()
                    run()
                    times[key].append(time.perf_counter() - t)
            speed = {k: len(paths) / float(np.median(v)) for k, v in times.items()}
            label = f"{shape[0]}x{shape[1]}"
            print(f"{label:<10} {'catsel: Pillow in worker ' + how[0]:<44} {speed['catsel']:>9,.0f} {1:>9.2f}x")
            print(f"{label:<10} {'torchvision decode_jpeg and resize on ' + device:<44} {speed['gpu']:>9,.0f} "
                  f"{speed['gpu'] / speed['catsel']:>9.2f}x")
            sample = paths[:64]
            ours = np.stack([load_image(p, size) for p in sample]).astype(np.int16)
            theirs = gpu_batch(sample).cpu().numpy().astype(np.int16)
            diff = np.abs(ours - theirs)
            print(f"{label:<10} pixels against catsel's: mean |difference| {diff.mean():.2f}, 99th percentile "
                  f"{np.percentile(diff, 99):.0f}, largest {diff.max()} (of 255)")


if __name__ == "__main__":
    main()
