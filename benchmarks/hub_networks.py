"""keras-hub networks through catsel: their layers as catsel lists them, and a ViT-B/16's capture speed.

The presets cannot be downloaded on a machine without internet, so each network is built here from the
configuration of its keras-hub preset (the values below are those presets' published ``config.json`` and
image converter), with random weights, and saved as a preset folder: catsel then reads it as ``hub:FOLDER``
exactly as it reads a downloaded preset. Weights do not change the layers or the speed.

Prints:

* ``catsel layers`` of ``clip_vit_base_patch16`` (its vision tower) and ``dinov2_base``;
* ``benchmarks/capture_speed.py`` on ``vit_base_patch16_224_imagenet`` at 224 px: catsel's forward pass and
  capture against the network's own compiled forward pass on the same batches (the ratio column).

    python benchmarks/hub_networks.py --images 32 --batch-sizes 16
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _normalised(cls, size, mean, std):
    return cls(image_size=(size, size), scale=[1 / (255 * s) for s in std],
               offset=[-m / s for m, s in zip(mean, std)], interpolation="bicubic")


def presets(root: Path) -> dict[str, Path]:
    """The three presets' networks, from their configurations, saved as folders under ``root``."""
    import keras_hub

    made = {
        "clip_vit_base_patch16": (
            keras_hub.models.CLIPVisionEncoder(patch_size=16, hidden_dim=768, num_layers=12, num_heads=12,
                                               intermediate_dim=3072, intermediate_activation="quick_gelu",
                                               image_shape=(224, 224, 3), name="clip_vision_encoder"),
            _normalised(keras_hub.layers.CLIPImageConverter, 224, CLIP_MEAN, CLIP_STD)),
        "dinov2_base": (
            keras_hub.models.DINOV2Backbone(patch_size=14, num_layers=12, hidden_dim=768, num_heads=12,
                                            intermediate_dim=3072, layer_scale_init_value=1.0,
                                            num_register_tokens=0, use_swiglu_ffn=False, image_shape=(224, 224, 3),
                                            position_embedding_shape=(518, 518)),
            _normalised(keras_hub.layers.DINOV2ImageConverter, 224, IMAGENET_MEAN, IMAGENET_STD)),
        "vit_base_patch16_224_imagenet": (
            keras_hub.models.ViTBackbone(image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12,
                                         hidden_dim=768, mlp_dim=3072),
            keras_hub.layers.ViTImageConverter(image_size=(224, 224), scale=1 / 127.5, offset=-1.0)),
    }
    folders = {}
    for name, (backbone, converter) in made.items():
        folders[name] = root / name
        backbone.save_to_preset(str(folders[name]))
        converter.save_to_preset(str(folders[name]))
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-sizes", default="16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-speed", action="store_true", help="the layer tables only")
    args = parser.parse_args()

    import pandas as pd

    import catsel

    with tempfile.TemporaryDirectory() as tmp:
        folders = presets(Path(tmp))
        for name in ("clip_vit_base_patch16", "dinov2_base"):
            table = catsel.layers(f"hub:{folders[name]}")
            amodel = catsel.activation_model(f"hub:{folders[name]}", "none")
            print(f"\ncatsel layers hub:{name} (from its configuration): {len(table)} rows, "
                  f"{int(table['default'].sum())} captured by default; {amodel.layers_note()}")
            print(f"preprocessing: {amodel.preprocess}")
            with pd.option_context("display.width", 160, "display.max_rows", 80):
                print(table[["layer", "kind", "output shape", "units", "default"]].to_string(index=False))
        if args.skip_speed:
            return
        print("\nViT-B/16 (vit_base_patch16_224_imagenet's configuration) at 224 px:", flush=True)
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "capture_speed.py"), "--model",
                        f"hub:{folders['vit_base_patch16_224_imagenet']}", "--weights", "none", "--images",
                        str(args.images), "--batch-sizes", args.batch_sizes, "--repeats", str(args.repeats),
                        "--skip-full-maps"], check=True)


if __name__ == "__main__":
    main()
