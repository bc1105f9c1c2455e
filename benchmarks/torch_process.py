"""A PyTorch capture as a whole process: start-up, wall time and peak memory, against a plain decode-and-forward loop.

Each path runs in a fresh Python process, in turn, for ``--rounds`` interleaved rounds; the table gives each
path's medians: the seconds until the network is built (imports included: what a user waits before the first
image), the whole process's seconds, its peak resident memory (the kernel's own accounting of the finished child,
``os.wait4``), and whether Keras and TensorFlow were imported.

* plain loop: Pillow decodes and resizes each image (bicubic, as catsel), a ``torch.inference_mode()`` forward
  in batches on the module's channels-last float32 input, nothing kept (the yardstick);
* catsel capture: ``catsel.activation_model("torchvision:NAME")`` and ``catsel.capture`` of the same images into a
  new store, with its default layers.

``--repo`` runs catsel from another checkout (its folder first on ``PYTHONPATH``), to measure a change against the
code before it; the plain loop never imports catsel.

    python benchmarks/torch_process.py --images 128
    python benchmarks/torch_process.py --images 128 --repo /path/to/older/checkout
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

PLAIN = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np, torch, torchvision
    from PIL import Image
    from pathlib import Path
    name, data, size, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(0)
    module = torchvision.models.get_model(name, weights=None).eval().to(memory_format=torch.channels_last)
    built = time.perf_counter() - t0
    files = sorted(p for p in data.rglob("*") if p.is_file())
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        for i in range(0, len(files), batch):
            images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BICUBIC))
                               for f in files[i:i + batch]])
            x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).sub(mean).div(std)
            module(x.contiguous(memory_format=torch.channels_last))
    print(json.dumps({"built": built, "images": len(files),
                      "keras": "keras" in sys.modules, "tensorflow": "tensorflow" in sys.modules}))
    """)

CATSEL = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import catsel
    name, data, size, batch, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    net = catsel.activation_model("torchvision:" + name, "none", image_size=size)
    built = time.perf_counter() - t0
    acts = catsel.capture(net, catsel.ImageFolder(data, image_size=size), out, batch_size=batch, progress=False)
    print(json.dumps({"built": built, "images": len(acts.labels), "layers": len(net.layers), "catsel": catsel.__file__,
                      "keras": "keras" in sys.modules, "tensorflow": "tensorflow" in sys.modules}))
    """)


def child(script: str, args: list[str], env: dict, cwd: Path) -> dict:
    """One fresh process: what it printed, with its wall seconds and its peak resident memory (GiB). It runs in
    ``cwd``, away from any checkout: ``python -c`` puts its working folder first on the path."""
    import time

    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:  # no pipe to fill and block
        proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=out, stderr=err, env=env, text=True,
                                cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0), err.seek(0)
        out, err = out.read(), err.read()
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the child failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "wall": wall, "peak": usage.ru_maxrss / 2**20}


def recycled(data: Path, n: int, tmp: Path) -> Path:
    """A folder of ``n`` images, the same number per category, made of links to ``data``'s images (recycled as
    needed; this process imports no catsel, so that either checkout can be measured)."""
    suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
    categories = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    root = tmp / "images"
    per = -(-n // len(categories))
    for category in categories:
        files = sorted(p for p in category.iterdir() if p.suffix.lower() in suffixes)
        (root / category.name).mkdir(parents=True)
        for i in range(per):
            (root / category.name / f"{i:06d}{files[i % len(files)].suffix}").symlink_to(
                files[i % len(files)].resolve())
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16", help="a torchvision classification model's name")
    parser.add_argument("--data", default=str(HERE.parent / "sample_data"))
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repo", default=str(HERE.parent), help="the checkout whose catsel is measured")
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([args.repo, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    common = [args.model]
    results: dict[str, list] = {"plain loop (PIL decode, inference_mode forward)": [], "catsel capture": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = recycled(Path(args.data), args.images, tmp)
        for k in range(args.rounds):
            results["plain loop (PIL decode, inference_mode forward)"].append(
                child(PLAIN, [*common, str(data), str(args.image_size), str(args.batch_size)], env, tmp))
            results["catsel capture"].append(
                child(CATSEL, [*common, str(data), str(args.image_size), str(args.batch_size),
                               str(tmp / f"run-{k}")], env, tmp))
    used = {r["catsel"] for r in results["catsel capture"]}
    print(f"torchvision {args.model} at {args.image_size} px, {args.images} images, batch {args.batch_size}, "
          f"catsel from {', '.join(sorted(used))}; medians of {args.rounds} interleaved rounds, each path a fresh process")
    print("| path | built after (s) | whole process (s) | peak memory (GiB) | Keras / TensorFlow imported |")
    print("|---|---:|---:|---:|---|")
    for name, runs in results.items():
        med = {key: float(np.median([r[key] for r in runs])) for key in ("built", "wall", "peak")}
        imported = "yes" if any(r["keras"] or r["tensorflow"] for r in runs) else "no"
        print(f"| {name} | {med['built']:.1f} | {med['wall']:.1f} | {med['peak']:.2f} | {imported} |")


if __name__ == "__main__":
    main()
