"""THINGSvision extracting VGG16's 13 conv layers, against a plain ``torch.no_grad()`` forward pass, in its own
environment.

THINGSvision 2.7 pins numpy<2, tensorflow<2.16, torchvision==0.15.2 and transformers==4.40.1: it cannot share
catsel's environment, so this script imports neither catsel nor anything catsel needs beyond torch,
torchvision, Pillow and THINGSvision, and is run with a Python where THINGSvision is installed:

    python -m venv /tmp/thingsvision && /tmp/thingsvision/bin/pip install thingsvision
    /tmp/thingsvision/bin/python benchmarks/thingsvision_speed.py --images 64 --batch-size 16

The images are the bundled sample data, recycled to ``--images`` and resized to 224 px by Pillow's bicubic
(as catsel decodes them), scaled by the ImageNet mean and standard deviation. THINGSvision extracts the
outputs of the 13 ReLUs after VGG16's conv layers (``features.1`` ... ``features.29``, catsel's default
conv layers) in one pass per batch, as full maps; the maximum of each map (what catsel keeps) is taken
in NumPy, inside the timing. Both paths are timed in interleaved rounds; the table gives each path's median
images/s and the median of its per-round ratio to the plain forward pass, as ``benchmarks/torch_speed.py``
gives catsel's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RELUS = [f"features.{k}" for k in (1, 3, 6, 8, 11, 13, 15, 18, 20, 22, 25, 27, 29)]


def load(data: Path, n: int, size: int) -> np.ndarray:
    from PIL import Image

    files = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return np.stack([np.asarray(Image.open(files[i % len(files)]).convert("RGB").resize((size, size),
                                                                                       Image.Resampling.BICUBIC))
                     for i in range(n)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent / "sample_data"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import thingsvision
    import torch
    from thingsvision import get_extractor

    extractor = get_extractor(model_name="vgg16", source="torchvision", device="cpu", pretrained=False)
    model = extractor.model.eval()
    images = load(Path(args.data), args.images // args.batch_size * args.batch_size, 224)
    mean = torch.tensor((0.485, 0.456, 0.406)).reshape(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).reshape(1, 3, 1, 1)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    batches = list(torch.split(x, args.batch_size))
    print(f"torchvision vgg16 at 224 px, {len(x)} images, batch {args.batch_size}; THINGSvision "
          f"{thingsvision.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads")

    def plain():
        with torch.no_grad():
            for b in batches:
                model(b)

    def things():
        features = extractor.extract_features(batches=batches, module_names=RELUS, flatten_acts=False,
                                              output_type="ndarray")
        for name in RELUS:
            maps = features[name]
            maps.reshape(maps.shape[0], maps.shape[1], -1).max(axis=2)

    paths = {"plain forward, torch.no_grad()": plain, "THINGSvision extract_features, 13 layers, max": things}
    for fn in paths.values():
        fn()  # warm up
    times = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn()
            times[name].append(len(x) / (time.perf_counter() - start))
    first = np.asarray(times[next(iter(paths))])
    width = max(map(len, paths))
    print(f"\n{'path':<{width}}  {'images/s':>9}  {'vs plain':>9}")
    for name, rates in times.items():
        print(f"{name:<{width}}  {np.median(rates):9.1f}  {np.median(np.asarray(rates) / first):8.2f}x")


if __name__ == "__main__":
    main()
