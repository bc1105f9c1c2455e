"""torchvision and timm networks by name, with their weights, and any ``torch.nn.Module``, as catsel captures them.

``--model torchvision:NAME`` or ``timm:NAME`` with ``--weights auto|pretrained|none|FILE``: the library's
pretrained weights where the machine can have them (else, for ``auto``, the untrained network, announced as
for Keras), or a state-dict file loaded with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ModelError, WeightsUnavailableError
from ..online import announce_untrained, reachable
from ...options import image_shape
from ..pixels import IMAGENET_MEAN, IMAGENET_STD, converter_mode
from .network import TorchNetwork, import_or_say

__all__ = ["load_state_dict_file", "torch_network"]


def load_state_dict_file(path) -> dict:
    """A state dict from a file, loaded with ``torch.load(weights_only=True)``: tensors, never pickled code.

    Parameters
    ----------
    path : str or path

    Returns
    -------
    dict

    Raises
    ------
    ModelError
        One line: the file is missing, holds pickled Python objects, or is no state dict.
    """
    import pickle

    import torch

    file = Path(path)
    if not file.is_file():
        raise ModelError(f"no weights file {file}; give a state dict saved with torch.save(model.state_dict(), FILE)")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError, EOFError) as exc:
        first = " ".join(str(exc).split())[:160]
        raise ModelError(f"{file} is not loaded: torch.load(weights_only=True) refuses it ({first}); catsel loads "
                         "tensors only, never pickled Python objects: save the state dict alone, "
                         "torch.save(model.state_dict(), FILE)") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{file} holds no state dict (a mapping of names to tensors); save it with "
                         "torch.save(model.state_dict(), FILE)")
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:  # before any capture: every image would give NaN, read later as a damaged store
        more = f" and {len(broken) - 1} more" if len(broken) > 1 else ""
        raise ModelError(f"{file}: the tensor {broken[0]!r}{more} holds NaN or infinite values; these weights "
                         "cannot be captured (a training run that diverged, or a damaged file): give another file")
    return state


def _torch_cache_file(url: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _timm_sized(timm, name: str, image_size) -> dict:
    """``img_size=`` for a timm model built for one input size (a ViT's position embedding, a Swin's windows)
    when another is asked for: timm builds it for that size (and resamples pretrained position embeddings)."""
    if image_size is None:
        return {}
    try:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(name)
    except Exception:  # an older timm: built for its own size
        return {}
    if cfg is None or not getattr(cfg, "fixed_input_size", False):
        return {}
    from ...options import hw

    size = hw(image_shape(image_size))
    return {} if tuple(cfg.input_size[1:]) == tuple(size) else {"img_size": size}


def _create(timm, name: str, pretrained: bool, sized: dict):
    try:
        return timm.create_model(name, pretrained=pretrained, **sized)
    except TypeError:  # a model built for one size only: its dry run says whether the size fits
        if not sized:
            raise
        sized.clear()
        return timm.create_model(name, pretrained=pretrained)


def _named(model: str, weights, seed: int, image_size=None):
    """(module, source, preprocess, image size, weights label, trained, recipe) of a torchvision or timm name."""
    import torch


    prefix, name = model.split(":", 1)
    want = None if weights is None else str(weights)
    file = want not in (None, "pretrained", "imagenet")
    if prefix == "torchvision":
        tv = import_or_say("torchvision", "torch")
        try:
            builder = tv.models.get_model_builder(name)
        except ValueError:
            from ...options import did_you_mean

            raise ModelError(f"torchvision has no model {name!r}"
                             f"{did_you_mean(name, sorted(tv.models.list_models(module=tv.models)))}") from None
        size, preprocess = 224, "torch"
        torch.manual_seed(seed)
        if want in ("pretrained", "imagenet"):
            default = tv.models.get_model_weights(name).DEFAULT
            if not _torch_cache_file(default.url).is_file() and not reachable("download.pytorch.org"):
                raise WeightsUnavailableError(
                    f"{default} is not in torch's cache ({_torch_cache_file(default.url)}) and download.pytorch.org "
                    "cannot be reached: copy the file there, or give it with --weights FILE")
            module = builder(weights=default)
            crop = getattr(default.transforms(), "crop_size", [224])
            size = int(crop[0]) if crop else 224
            label = f"torchvision {default}"
        else:
            module = builder(weights=None)
            label = "untrained (random init, seed %d)" % seed if want is None else f"weights file {Path(want).name}"
    elif prefix == "timm":
        timm = import_or_say("timm", "timm")
        if any(c in name for c in "*?["):  # timm reads a pattern; one model is built, by its name
            matches = timm.list_models(name)
            shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
            raise ModelError(f"timm:{name} is a pattern, not a model: give one name"
                             + (f" ({shown})" if matches else "; timm.list_models('PATTERN') lists its names"))
        if not timm.list_models(name):
            from ...options import did_you_mean

            raise ModelError(f"timm has no model {name!r}{did_you_mean(name, timm.list_models())} "
                             "(timm.list_models('PATTERN') lists its names)")
        torch.manual_seed(seed)
        sized = _timm_sized(timm, name, image_size)
        if want in ("pretrained", "imagenet"):
            if not reachable("huggingface.co"):
                try:
                    module = _create(timm, name, True, sized)  # from the Hugging Face cache
                except Exception:
                    raise WeightsUnavailableError(
                        f"timm's pretrained {name} is not in the Hugging Face cache and huggingface.co cannot be "
                        "reached: give a state dict with --weights FILE") from None
            else:
                module = _create(timm, name, True, sized)
            label = f"timm {name} pretrained"
        else:
            module = _create(timm, name, False, sized)
            label = "untrained (random init, seed %d)" % seed if want is None else f"weights file {Path(want).name}"
        cfg = getattr(module, "pretrained_cfg", {}) or {}
        mean, std = cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD)

        preprocess = converter_mode([1 / (255 * s) for s in std], [-m / s for m, s in zip(mean, std)])
        size = tuple(int(v) for v in cfg.get("input_size", (3, 224, 224))[1:])
        if sized:
            size = tuple(sized["img_size"])
        size = size[0] if size[0] == size[1] else size
    else:
        raise ModelError(f"unknown PyTorch source {prefix!r}: torchvision:NAME or timm:NAME")
    recipe = {"model": model, "weights": None if want is None else "pretrained" if not file
              else str(Path(want).resolve()), "seed": seed}
    if file:
        from ...paths import file_digest

        state = load_state_dict_file(want)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:200]
            raise ModelError(f"weights file {want} does not fit {model} ({first})") from None
        recipe["weights_sha256"] = file_digest(want)
    return module, model, preprocess, size, label, want is not None, recipe


def torch_network(model, weights="auto", layers=None, *, image_size=None, preprocess=None, seed: int = 0,
                  precision: str = "float32", reduction: str | None = None) -> TorchNetwork:
    """A PyTorch module, or a torchvision or timm name, as catsel captures it.

    Parameters
    ----------
    model : torch.nn.Module or str
        A module (its weights as they are; give ``image_size`` and ``preprocess``), or ``"torchvision:NAME"`` /
        ``"timm:NAME"``.
    weights : str or None
        For a name: ``"auto"`` (the library's pretrained weights when they can be had, else the untrained
        network, announced), ``"pretrained"``, ``None``/``"none"`` (untrained, seeded), or a state-dict file.
    layers : sequence of str, optional
    image_size : int or (int, int), optional
    preprocess : str, optional
    seed : int, default 0
    precision : {"float32"}
    reduction : {None, "hooks"}

    Returns
    -------
    TorchNetwork
    """

    torch = import_or_say("torch", "torch")
    if precision != "float32":
        raise ModelError(f"a PyTorch module is captured in float32; precision {precision!r} is for Keras networks")
    if reduction not in (None, "hooks"):
        raise ModelError("a PyTorch module's maps are reduced in its forward hooks; leave the reduction out")
    if isinstance(weights, str) and weights.lower() in ("none", "untrained", "random"):
        weights = None
    fallback = None
    if isinstance(model, torch.nn.Module):
        if weights not in ("auto", None):
            raise ModelError("a module held in memory carries its own weights: load them into it "
                             "(module.load_state_dict) and leave weights out")
        if image_size is None:
            raise ModelError("give the image size a PyTorch module takes: image_size=224 (or (height, width))")
        module, source, mode, size = model, type(model).__name__, preprocess or "raw", image_size
        label, trained, recipe = "as given", True, None
    else:
        if weights == "auto":
            try:
                built = _named(model, "pretrained", seed, image_size)
            except WeightsUnavailableError as exc:
                announce_untrained(str(exc))
                fallback = str(exc)
                built = _named(model, None, seed, image_size)
        else:
            built = _named(model, weights, seed, image_size)
        module, source, mode, size, label, trained, recipe = built
        mode = preprocess or mode
        size = image_size or size
    def constructor(other_seed, layers):  # its untrained twin: the same constructor, under another seed
        return torch_network(model, None, layers, image_size=size, preprocess=mode, seed=other_seed)

    return TorchNetwork(module, layers, size, mode, source, label, trained, fallback_reason=fallback,
                        rebuild=recipe, constructor=constructor if recipe is not None else None)
