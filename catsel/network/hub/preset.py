"""keras-hub image backbones by preset: ``hub:PRESET`` (CLIP, SigLIP, DINOv2, ViT and the CNNs).

A preset is a keras-hub name (``clip_vit_base_patch16``), a Kaggle or Hugging Face handle
(``kaggle://...``, ``hf://...``) or a folder on disk written by ``save_to_preset``. catsel builds the preset's
backbone with keras-hub, takes the vision tower of a contrastive model (CLIP, SigLIP, MetaCLIP), and feeds it
as its image converter asks (:func:`catsel.network.pixels.converter_mode`). The transformer blocks that
keras-hub keeps inside one encoder layer are unfolded by the flat graph (:data:`catsel.network.keras.graph.UNFOLDED`).

Nothing here waits on a network that is not there: a preset that is neither on disk nor in keras-hub's cache
is fetched only when its host answers within seconds, else it is one line saying how to fill the cache or
point ``--model`` at a folder. keras-hub is an optional dependency (``catsel[hub]``), imported when a
``hub:`` name is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras

from ...errors import ModelError
from ..keras.applications import check_finite_weights, check_weights_file
from ..keras.model import Loaded, keras_network
from ..online import reachable
from ..pixels import converter_mode
from . import HUB, preset_digest

__all__ = ["hub_network", "HubNetwork", "load_hub", "hub_cache_dirs"]


_INSTALL = ("pip install 'catsel[hub]' (keras-hub with its text dependencies), or for images only "
            "pip install 'catsel[hub-vision]' && pip install --no-deps keras-hub")


def _keras_hub():
    try:
        import keras_hub
    except ImportError:
        raise ModelError(f"hub: networks need keras-hub, which is not installed: {_INSTALL}") from None
    return keras_hub


def hub_cache_dirs() -> dict[str, Path]:
    """Where keras-hub's downloads are kept: Kaggle's cache and Hugging Face's.

    Returns
    -------
    dict
        ``{"kaggle": path, "huggingface": path}`` (``$KAGGLEHUB_CACHE``, ``$HF_HUB_CACHE`` or ``$HF_HOME/hub``,
        else their defaults under ``~/.cache``).
    """
    home = Path(os.path.expanduser("~")) / ".cache"
    kaggle = Path(os.environ.get("KAGGLEHUB_CACHE") or home / "kagglehub")
    hf = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME") or home / "huggingface") / "hub")
    return {"kaggle": kaggle, "huggingface": hf}


def _kaggle_cached(handle: str) -> bool:
    """Whether a versioned ``kaggle://owner/model/framework/variation/version`` handle is in Kaggle's cache."""
    parts = handle[len("kaggle://"):].strip("/").split("/")
    if len(parts) != 5:
        return False
    owner, model, framework, variation, version = parts
    folder = hub_cache_dirs()["kaggle"] / "models" / owner / model / framework / variation / version
    return (folder / "config.json").is_file()


def _hf_cached(handle: str) -> bool:
    """Whether an ``hf://owner/name`` handle has a snapshot in Hugging Face's cache."""
    repo = handle[len("hf://"):].strip("/")
    snapshots = hub_cache_dirs()["huggingface"] / f"models--{repo.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.glob("*/config.json"))


def _offline_line(preset: str, host: str, where: Path) -> str:
    return (f"hub:{preset} is not in keras-hub's cache ({where}) and {host} cannot be reached from here: on a "
            f"machine online, load it once (python -c \"import keras_hub; keras_hub.models.Backbone.from_preset("
            f"'{preset}').save_to_preset('{Path(preset).name}')\") and give --model hub:FOLDER for the saved "
            f"folder (a folder works offline), or copy that machine's cache to {where}")


def _locate(preset: str) -> tuple[str, str | None]:
    """What to hand keras-hub for ``preset``, and the preset's folder when it is one on disk.

    A folder must hold a preset (its ``config.json``); a name or handle that keras-hub would have to fetch is
    checked against the cache and, when absent, against its host, so that an offline machine gets one line
    at once instead of a download that hangs or a traceback from kagglehub or huggingface_hub."""
    path = Path(preset).expanduser()
    handle = preset.startswith(("kaggle://", "hf://"))
    if not handle and (path.is_dir() or os.sep in preset or preset.startswith(".")):
        if not path.is_dir():
            raise ModelError(f"hub:{preset}: no such folder; a preset folder is what save_to_preset writes "
                             "(config.json, model.weights.h5)")
        if path.is_symlink() or not (path / "config.json").is_file() or (path / "config.json").is_symlink():
            raise ModelError(f"hub:{preset} is not a preset folder: it has no config.json of its own (a preset "
                             "folder is what keras-hub's save_to_preset writes)")
        return str(path.resolve()), str(path.resolve())
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    caches = hub_cache_dirs()
    if preset.startswith("hf://"):
        if not _hf_cached(preset) and not reachable("huggingface.co"):
            raise ModelError(_offline_line(preset, "huggingface.co", caches["huggingface"]))
        return preset, None
    if preset.startswith("kaggle://"):
        handle = preset
    elif preset in BUILTIN_PRESETS:
        handle = BUILTIN_PRESETS[preset]["kaggle_handle"]
    else:
        vision = sorted(name for name, info in BUILTIN_PRESETS.items()
                        if info.get("metadata", {}).get("path") in _VISION_FAMILIES)
        from ...options import did_you_mean

        raise ModelError(f"hub:{preset} is no keras-hub preset, and no folder{did_you_mean(preset, vision)} "
                         "(keras_hub.models.Backbone.presets lists them all); or give a preset folder or a kaggle:// "
                         "or hf:// handle")
    if handle.startswith("kaggle://") and not _kaggle_cached(handle) and not reachable("www.kaggle.com"):
        raise ModelError(_offline_line(preset, "www.kaggle.com", caches["kaggle"]))
    return preset, None


# keras-hub's families of image backbones (the preset metadata's ``path``), for the list of names in an error.
_VISION_FAMILIES = {"clip", "siglip", "dinov2", "dinov3", "vit", "resnet", "efficientnet", "convnext", "mobilenet",
                    "vgg", "densenet", "metaclip_2", "deit", "xception"}


@dataclass(frozen=True)
class HubNetwork:
    """A preset's image network as catsel builds it.

    Parameters
    ----------
    network : keras.Model
        The backbone, or a contrastive model's vision tower.
    source : str
        ``"hub:PRESET"`` (a folder by its name).
    preprocess : str or None
        The image converter's :func:`~catsel.network.pixels.converter_mode`; ``None`` when the preset has
        none (``--preprocess`` must then say what the network takes).
    image_size : tuple of int or None
        The converter's size, when it gives one.
    crop : bool
        Whether the converter crops to the aspect ratio (``--fit crop``) rather than squashing.
    weights_label : str
    trained : bool
    recipe : dict
    """

    network: keras.Model
    source: str
    preprocess: str
    image_size: tuple | None
    crop: bool
    weights_label: str
    trained: bool
    recipe: dict


def load_hub(model: str, weights, seed: int = 0) -> HubNetwork:
    """Build a keras-hub preset's image network, with its weights or untrained.

    Parameters
    ----------
    model : str
        ``"hub:PRESET"``.
    weights : str or None
        ``"auto"``, ``"preset"`` or ``"pretrained"``: the preset's weights; ``None`` or ``"none"``: its
        configuration with random weights (seed ``seed``).
    seed : int, default 0

    Returns
    -------
    HubNetwork

    Raises
    ------
    ModelError
        One line: keras-hub missing, the preset unknown or out of reach, or keras-hub failing to load it.
    """
    preset = model[len(HUB):]
    if not preset:
        raise ModelError("--model hub: needs a preset: hub:clip_vit_base_patch16, hub:dinov2_base or a folder")
    if isinstance(weights, str) and weights.lower() in ("none", "untrained", "random"):
        weights = None
    if weights is not None and str(weights) not in ("auto", "preset", "pretrained", "imagenet"):
        raise ModelError(f"{model} carries its weights in its preset: --weights {weights!r} cannot apply to it; "
                         "use auto (the preset's) or none (its configuration, untrained)")
    keras_hub = _keras_hub()
    where, folder = _locate(preset)
    trained = weights is not None
    if not trained:
        keras.utils.set_random_seed(seed)
    weights_file = Path(folder) / "model.weights.h5" if folder else None
    checked = trained and weights_file is not None and weights_file.is_file()
    try:
        # a folder's single weights file is checked against the configuration before it is loaded (below)
        backbone = keras_hub.models.Backbone.from_preset(where, load_weights=trained and not checked)
        if checked:
            check_weights_file(weights_file, backbone, f"hub:{preset}")
            backbone.load_weights(str(weights_file))
        if trained:
            check_finite_weights(backbone, f"hub:{preset}")
    except ModelError:
        raise
    except Exception as exc:  # kagglehub, huggingface_hub and keras-hub raise their own kinds: one line each
        text = " ".join(str(exc).split())[:240]
        raise ModelError(f"hub:{preset}: keras-hub could not load it ({type(exc).__name__}: {text})") from None
    network = getattr(backbone, "vision_encoder", None) or backbone
    if not isinstance(network, keras.Model):
        raise ModelError(f"hub:{preset} is a {type(backbone).__name__}, which has no image network catsel can "
                         "capture")
    preprocess, size, crop = None, None, False
    converter = _converter(keras_hub, where)
    if converter is not None:
        import numpy as np

        values = [v for v in (converter.scale, converter.offset) if v is not None]
        if not all(np.isfinite(np.asarray(v, dtype=np.float64)).all() for v in values):
            raise ModelError(f"hub:{preset}: its image converter's scale or offset holds NaN or infinite values "
                             f"(scale {converter.scale}, offset {converter.offset}); restore image_converter.json "
                             "from the preset, or delete it and give --preprocess")
        preprocess = converter_mode(converter.scale, converter.offset)
        size = tuple(int(v) for v in converter.image_size) if converter.image_size else None
        crop = bool(getattr(converter, "crop_to_aspect_ratio", False))
    source = f"{HUB}{Path(folder).name if folder else preset}"
    recipe = {"model": f"{HUB}{folder or preset}", "weights": "preset" if trained else None, "seed": seed}
    if folder:  # the folder by its identity: what rebuilds the network later must be these files
        recipe["sha256"] = preset_digest(folder)
    label = "the preset's weights" if trained else f"untrained (the preset's configuration, seed {seed})"
    return HubNetwork(network, source, preprocess, size, crop, label, trained, recipe)


def _converter(keras_hub, where: str):
    """The preset's image converter, or ``None`` when it has none.

    Read from the preset's ``image_converter.json`` as keras-hub serialised it, whatever backbone it was saved
    with (``ImageConverter.from_preset`` looks for a converter class registered for the backbone's class, and
    finds none for a vision tower saved alone); else as keras-hub would find it."""
    from keras_hub.src.utils.preset_utils import IMAGE_CONVERTER_CONFIG_FILE, check_file_exists, get_preset_loader

    folder = Path(where)
    if folder.is_dir() and (folder / IMAGE_CONVERTER_CONFIG_FILE).exists():
        # the preset says it has one: a file that cannot be read is damaged, not absent
        try:
            return get_preset_loader(where).load_image_converter(keras_hub.layers.ImageConverter)
        except Exception as exc:
            text = " ".join(str(exc).split())[:160]
            raise ModelError(f"{folder / IMAGE_CONVERTER_CONFIG_FILE} is damaged: keras-hub cannot read it "
                             f"({type(exc).__name__}: {text}); restore it from the preset (save_to_preset writes "
                             "it), or delete it and give the network's preprocessing with --preprocess") from None
    try:
        if check_file_exists(where, IMAGE_CONVERTER_CONFIG_FILE):
            return get_preset_loader(where).load_image_converter(keras_hub.layers.ImageConverter)
        return keras_hub.layers.ImageConverter.from_preset(where)
    except Exception:  # no converter of any kind: the caller asks for --preprocess
        return None


def hub_network(model: str, weights="auto", layers=None, **options):
    """A keras-hub preset as catsel captures it: the hub source's builder, a Keras network loaded by
    :func:`load_hub`.

    Parameters
    ----------
    model : str
        ``"hub:PRESET"``, ``"hub:kaggle://..."``, ``"hub:hf://..."`` or ``"hub:FOLDER"``.
    weights : str or None
        ``"auto"`` (the preset's) or ``None`` (its configuration, re-initialised with ``seed``).
    layers : sequence of str, optional
    **options
        As :func:`catsel.activation_model` takes them.

    Returns
    -------
    ActivationModel
    """
    return keras_network(model, weights, layers, load=_loaded, **options)


def _loaded(model, weights, layers, image_size, seed) -> Loaded:
    hub = load_hub(model, weights, seed)
    return Loaded(hub.network, hub.source, hub.preprocess, hub.weights_label, hub.trained, hub.recipe, hub.image_size)
