"""What walking nested models costs: `catsel layers` and a capture of a fine-tuned model against its base alone.

Prints two tables:

* ``catsel.layers`` (what ``catsel layers MODEL`` computes) on VGG16, ResNet50 and the fine-tuned pattern
  (MobileNetV2 without its top inside a ``Sequential`` with a new head), untrained: the layers listed, the
  defaults, and the seconds it takes (building the network included);
* ``catsel.capture`` of the bundled sample data with the fine-tuned model and with its base alone (the same
  layers, the same weights), median images/s over ``--repeats`` captures into fresh folders, decoding
  included; the ratio says what the nested model's flat graph costs.

    python benchmarks/nested_models.py --image-size 96 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import catsel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fine_tuned(size: int):
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(size, size, 3))
    net = keras.Sequential([keras.Input((size, size, 3)), base, keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(4, name="head")])
    return net, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT / "sample_data"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        net, base = fine_tuned(224)
        net.save(Path(tmp) / "fine_tuned.keras")
        print("catsel layers MODEL (untrained, 224 px)")
        print(f"{'model':<34}{'layers':>8}{'defaults':>10}{'seconds':>10}")
        for name, model in (("vgg16", "vgg16"), ("resnet50", "resnet50"),
                            ("MobileNetV2 in a Sequential (.keras)", str(Path(tmp) / "fine_tuned.keras"))):
            start = time.perf_counter()
            table = catsel.layers(model)
            seconds = time.perf_counter() - start
            print(f"{name:<34}{len(table):>8}{int(table['default'].sum()):>10}{seconds:>10.1f}")

        size = args.image_size
        net, base = fine_tuned(size)
        folder = catsel.ImageFolder(args.data, image_size=size)
        nested = catsel.activation_model(net, preprocess="tf")
        alone = catsel.activation_model(base, preprocess="tf", layers=list(nested.layers))
        speeds: dict[str, list[float]] = {"fine-tuned model (nested)": [], "its base alone": []}
        for k in range(args.repeats):  # interleaved: a slow spell of the machine does not favour one
            for label, amodel in zip(speeds, (nested, alone)):
                start = time.perf_counter()
                catsel.capture(amodel, folder, Path(tmp) / f"{label[:4]}{k}", progress=False)
                speeds[label].append(len(folder) / (time.perf_counter() - start))
        print(f"\ncatsel.capture, {len(folder)} images at {size} px, {len(nested.layers)} layers, "
              f"{keras.backend.backend()}, median of {args.repeats}")
        print(f"{'network':<30}{'images/s':>10}{'ratio':>8}")
        reference = statistics.median(speeds["its base alone"])
        for label, values in speeds.items():
            print(f"{label:<30}{statistics.median(values):>10.1f}{statistics.median(values) / reference:>8.2f}")


if __name__ == "__main__":
    main()
