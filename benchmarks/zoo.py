"""Every network in the zoo through catsel, checked: default layers, capture, receptive fields, listing.

Random weights, offline, small images, two images per network. For each architecture of each family:

* ``torchvision``: every classification model torchvision lists;
* ``timm``: every architecture name ``timm.list_models()`` gives;
* ``keras``: every ``keras.applications`` constructor;
* ``hub``: keras-hub's vision backbones, from small configurations;
* ``patterns``: the module patterns labs write, built by hand (``tests/torch_patterns.py``).

each network is built as catsel builds it, at 64 px (or, where the architecture cannot take 64 px, at its own
size), and checked by :func:`catsel.network.torch.proof.prove` (PyTorch) or the same four checks for Keras:

(a) the default layers exist, run once, in depth order, none is the classifier, none is taken before a batch
    norm or activation that alone follows it;
(b) catsel's maxima and positions equal ``amax``/``argmax`` of the same layer's output in a plain forward pass,
    to 1e-5;
(c) receptive fields computed or measured, and which;
(d) ``catsel layers`` lists each default.

Networks run in worker processes (two at a time; a worker that dies is noted against the network it was on,
and a new one goes on with the rest), one JSON line per network in ``--out``, so an interrupted sweep resumes.
A network with more parameters than ``--max-params`` (millions) is not built, and says so.

    python benchmarks/zoo.py --families torchvision timm keras hub patterns --out zoo.jsonl
    python benchmarks/zoo.py --table zoo.jsonl            # the table docs/zoo.md holds
    python benchmarks/zoo.py --families timm --only 'vit_*' --out vit.jsonl
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("torchvision", "timm", "keras", "hub", "patterns")


# --- the networks of each family ----------------------------------------------------------------------------

def names(family: str) -> list[str]:
    """Every architecture of a family, by the name the worker builds it from."""
    if family == "torchvision":
        import torchvision

        return sorted(torchvision.models.list_models(module=torchvision.models))
    if family == "timm":
        import timm

        return sorted(timm.list_models())
    if family == "keras":
        import keras

        return sorted(n for n in dir(keras.applications) if n[0].isupper()
                      and callable(getattr(keras.applications, n)))
    if family == "hub":
        return sorted(HUB)
    if family == "patterns":
        sys.path.insert(0, str(REPO / "tests"))
        from torch_patterns import PATTERNS

        return sorted(PATTERNS)
    raise SystemExit(f"no family {family!r}: {', '.join(FAMILIES)}")


def _hub_configs():
    import keras_hub as kh

    small = dict(image_shape=(64, 64, 3))
    return {
        "ResNetBackbone": lambda: kh.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 32],
            stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="bottleneck_block",
            use_pre_activation=False, **small),
        "ResNetV2Backbone": lambda: kh.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 32],
            stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="bottleneck_block",
            use_pre_activation=True, **small),
        "VGGBackbone": lambda: kh.models.VGGBackbone(
            stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16], **small),
        "DenseNetBackbone": lambda: kh.models.DenseNetBackbone(
            stackwise_num_repeats=[1, 1], growth_rate=8, compression_ratio=0.5, **small),
        "ViTBackbone": lambda: kh.models.ViTBackbone(
            image_shape=(64, 64, 3), patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64),
        "DINOV2Backbone": lambda: kh.models.DINOV2Backbone(
            patch_size=14, num_layers=2, hidden_dim=32, num_heads=2, intermediate_dim=64,
            layer_scale_init_value=1.0, num_register_tokens=4, use_swiglu_ffn=False, image_shape=(70, 70, 3),
            position_embedding_shape=(70, 70)),
        "CLIPVisionEncoder": lambda: kh.models.CLIPVisionEncoder(
            patch_size=16, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
            intermediate_activation="quick_gelu", image_shape=(64, 64, 3)),
        "MobileNetBackbone": lambda: kh.models.MobileNetBackbone(
            stackwise_expansion=[[1], [4, 6]], stackwise_num_blocks=[1, 2], stackwise_num_filters=[[16], [24, 40]],
            stackwise_kernel_size=[[3], [3, 5]], stackwise_num_strides=[[2], [2, 2]],
            stackwise_se_ratio=[[0.25], [None, 0.25]], stackwise_activation=[["relu"], ["relu", "hard_swish"]],
            stackwise_padding=[[1], [1, 2]], output_num_filters=64, depthwise_filters=8,
            depthwise_stride=2, depthwise_residual=False, squeeze_and_excite=0.5, last_layer_filter=96,
            image_shape=(64, 64, 3)),
        "EfficientNetBackbone": lambda: kh.models.EfficientNetBackbone(
            width_coefficient=0.25, depth_coefficient=0.25, stackwise_kernel_sizes=[3, 3],
            stackwise_num_repeats=[1, 2], stackwise_input_filters=[32, 16], stackwise_output_filters=[16, 24],
            stackwise_expansion_ratios=[1, 6], stackwise_squeeze_and_excite_ratios=[0.25, 0.25],
            stackwise_strides=[1, 2], stackwise_block_types=["v1", "v1"], **small),
    }


HUB = ("CLIPVisionEncoder", "DINOV2Backbone", "DenseNetBackbone", "EfficientNetBackbone", "MobileNetBackbone",
       "ResNetBackbone", "ResNetV2Backbone", "VGGBackbone", "ViTBackbone")


# --- one network ----------------------------------------------------------------------------------------------

def _torch_params(family: str, name: str) -> float | None:
    """Millions of parameters, counted on the meta device (nothing allocated)."""
    import torch

    try:
        with torch.device("meta"):
            if family == "timm":
                import timm

                module = timm.create_model(name, pretrained=False)
            else:
                import torchvision

                module = torchvision.models.get_model(name, weights=None)
        return sum(p.numel() for p in module.parameters()) / 1e6
    except Exception:
        return None


def _images(size, n: int = 2):
    import numpy as np

    height, width = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(0).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def _proved(row: dict, proof) -> dict:
    row.update(built=True, served=True, layers=proof.layers, passed=proof.passed, reason=proof.reason(),
               computed=proof.computed, measured=proof.measured, without=proof.without, worst=proof.worst,
               capture_s=round(proof.capture_s, 4), plain_s=round(proof.plain_s, 4))
    return row


def check_torch(family: str, name: str, size: int, max_params: float) -> dict:
    import catsel
    from catsel.errors import CatselError
    from catsel.network.torch.proof import prove

    row: dict = {"family": family, "name": name}
    if family == "patterns":
        sys.path.insert(0, str(REPO / "tests"))
        from torch_patterns import PATTERNS

        module, size = PATTERNS[name]()
        build = lambda s: catsel.activation_model(module, image_size=s)  # noqa: E731
    else:
        params = _torch_params(family, name)
        row["params_m"] = None if params is None else round(params, 1)
        if params is not None and params > max_params:
            row.update(built=False, reason=f"not built: {params:.0f} M parameters, beyond this sweep's "
                                           f"{max_params:.0f} M on a 24 GiB machine")
            return row
        build = lambda s: catsel.activation_model(f"{family}:{name}", "none", image_size=s)  # noqa: E731
    start = time.perf_counter()
    try:
        try:
            network = build(size)
        except CatselError as exc:
            if "does not run on a batch" not in str(exc) or family == "patterns":
                raise
            network = build(None)  # the architecture's own size
    except CatselError as exc:
        row.update(built=True, served=False, reason=str(exc).splitlines()[0][:300])
        return row
    except Exception as exc:  # the library's own failure to build it
        row.update(built=False, reason=f"the library does not build it: {type(exc).__name__}: "
                                       f"{' '.join(str(exc).split())[:200]}")
        return row
    row["build_s"] = round(time.perf_counter() - start, 2)
    row["size"] = network.image_size
    return _proved(row, prove(network, _images(network.image_size)))


def check_keras(family: str, name: str, size: int, max_params: float) -> dict:
    import keras

    import catsel
    from catsel.errors import CatselError
    from catsel.network.keras.proof import prove

    row: dict = {"family": family, "name": name}
    keras.utils.set_random_seed(0)
    try:
        if family == "keras":
            ctor = getattr(keras.applications, name)
            try:
                model = ctor(weights=None, input_shape=(size, size, 3), include_top=False, pooling="avg")
            except ValueError:  # an architecture with a minimum or fixed size
                model = ctor(weights=None)
            # the classifier, for check (a): a top on the pooled features
            model = keras.Model(model.inputs, keras.layers.Dense(10, name="zoo_classifier")(model.outputs[0]))
        else:
            model = _hub_configs()[name]()
    except Exception as exc:
        row.update(built=False, reason=f"the library does not build it: {type(exc).__name__}: "
                                       f"{' '.join(str(exc).split())[:200]}")
        return row
    row["params_m"] = round(model.count_params() / 1e6, 1)
    start = time.perf_counter()
    try:
        try:
            network = catsel.activation_model(model, preprocess="raw")
        except CatselError as exc:
            if "any size" not in str(exc):
                raise
            network = catsel.activation_model(model, preprocess="raw", image_size=size)
    except CatselError as exc:
        row.update(built=True, served=False, reason=str(exc).splitlines()[0][:300])
        return row
    row["build_s"] = round(time.perf_counter() - start, 2)
    row["size"] = network.image_size
    return _proved(row, prove(network, _images(network.image_size)))


def worker(family: str, todo: list[str], out: Path, size: int, max_params: float) -> None:
    """Check ``todo`` in turn, a line in ``out`` before (``started``) and after each."""
    import gc
    import signal

    if family in ("torchvision", "timm", "patterns"):
        import torch

        torch.set_num_threads(1)

    def late(signum, frame):
        raise TimeoutError("took over 600 s")

    signal.signal(signal.SIGALRM, late)
    check = check_torch if family in ("torchvision", "timm", "patterns") else check_keras
    for name in todo:
        with out.open("a") as f:
            f.write(json.dumps({"family": family, "name": name, "started": True}) + "\n")
        start = time.perf_counter()
        signal.alarm(600)
        try:
            row = check(family, name, size, max_params)
        except Exception as exc:
            row = {"family": family, "name": name, "built": True, "served": True, "passed": False,
                   "reason": f"(check) {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                   "trace": traceback.format_exc()[-800:]}
        finally:
            signal.alarm(0)
        row["seconds"] = round(time.perf_counter() - start, 2)
        row["size"] = list(row["size"]) if isinstance(row.get("size"), tuple) else row.get("size")
        with out.open("a") as f:
            f.write(json.dumps(row, default=str) + "\n")
        gc.collect()


# --- the sweep and its table ----------------------------------------------------------------------------------

def read(path: Path) -> dict[tuple[str, str], dict]:
    """The last line for each network (a ``started`` line with no result after it: the worker died on it)."""
    rows: dict[tuple[str, str], dict] = {}
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["family"], row["name"]] = row
    return rows


def sweep(families, out: Path, size: int, jobs: int, only: str | None, max_params: float, limit: int | None):
    for family in families:
        done = read(out)
        todo = [n for n in names(family) if (only is None or fnmatch.fnmatch(n, only))
                and not ((family, n) in done and not done[family, n].get("started"))]
        for (fam, n), row in done.items():  # a worker died on it: noted, not tried again
            if fam == family and row.get("started") and n in todo:
                todo.remove(n)
                with out.open("a") as f:
                    f.write(json.dumps({"family": family, "name": n, "built": True, "served": False,
                                        "reason": "the worker process died on it (memory or a crash)"}) + "\n")
        todo = todo[:limit] if limit else todo
        print(f"{family}: {len(todo)} to check", flush=True)
        queues = [todo[k::jobs] for k in range(jobs)]
        running = {}
        start = time.time()
        while any(queues) or running:
            for k, queue in enumerate(queues):
                if k not in running and queue:
                    listing = out.with_suffix(f".todo{k}")
                    listing.write_text("\n".join(queue))
                    running[k] = subprocess.Popen([sys.executable, __file__, "--worker", family, "--todo",
                                                   str(listing), "--out", str(out), "--size", str(size),
                                                   "--max-params", str(max_params)], cwd=REPO,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(2)
            for k, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[k]
                rows = read(out)
                left = [n for n in queues[k] if (family, n) not in rows or rows[family, n].get("started")]
                if left and (family, left[0]) in rows:  # it died on left[0]
                    with out.open("a") as f:
                        f.write(json.dumps({"family": family, "name": left[0], "built": True, "served": False,
                                            "reason": "the worker process died on it (memory or a crash)"}) + "\n")
                    left = left[1:]
                queues[k] = left
        print(f"{family}: {time.time() - start:.0f} s", flush=True)


def table(path: Path) -> str:
    """The table docs/zoo.md holds: per family, built, served, passed, and every failure with its reason."""
    rows = [r for r in read(path).values() if not r.get("started")]
    lines = ["| family | architectures | built | served | passed (a)-(d) | pass rate (of built) | fields computed / "
             "measured / none | sweep time |", "|---|---:|---:|---:|---:|---:|---|---:|"]
    failures, slow = [], []
    for family in FAMILIES:
        these = [r for r in rows if r["family"] == family]
        if not these:
            continue
        built = [r for r in these if r.get("built")]
        served = [r for r in built if r.get("served")]
        passed = [r for r in served if r.get("passed")]
        rate = 100 * len(passed) / max(len(built), 1)
        fields = [sum(r.get(k, 0) or 0 for r in served) for k in ("computed", "measured", "without")]
        seconds = sum(r.get("seconds", 0) or 0 for r in these)
        lines.append(f"| {family} | {len(these)} | {len(built)} | {len(served)} | {len(passed)} | {rate:.1f}% | "
                     f"{fields[0]} / {fields[1]} / {fields[2]} | {seconds / 60:.0f} min |")
        failures += [(family, r["name"], r.get("reason", "")) for r in these if not r.get("passed")]
        slow += [(r["capture_s"], family, r["name"], r["plain_s"]) for r in served
                 if r.get("capture_s") and r.get("plain_s")]
    text = "\n".join(lines)
    if failures:
        text += "\n\n| family | architecture | reason |\n|---|---|---|\n" + "\n".join(
            f"| {f} | `{n}` | {r.replace('|', '/')} |" for f, n, r in failures)
    if slow:
        slow.sort(reverse=True)
        text += ("\n\nThe slowest captures, against the plain forward pass of the same images (2 images, one "
                 "thread, the second call):\n\n"
                 "| family | architecture | capture s | plain forward s | capture / plain |\n|---|---|---:|---:|---:|\n")
        text += "\n".join(f"| {f} | `{n}` | {c:.3f} | {p:.3f} | {c / p:.2f} |" for c, f, n, p in slow[:10])
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--out", type=Path, default=Path("zoo.jsonl"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="a pattern of architecture names (fnmatch)")
    parser.add_argument("--limit", type=int, help="the first N of each family")
    parser.add_argument("--max-params", type=float, default=400.0, help="millions (default 400)")
    parser.add_argument("--table", type=Path, help="print the table of a sweep's JSON lines")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--todo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
    elif args.worker:
        worker(args.worker, args.todo.read_text().split("\n"), args.out, args.size, args.max_params)
    else:
        sweep(args.families, args.out, args.size, args.jobs, args.only, args.max_params, args.limit)
        print(table(args.out))


if __name__ == "__main__":
    main()
