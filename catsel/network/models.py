"""Networks from any source, as the stages above use them: build one, list its layers, its untrained twin,
rebuild it from a store, and say what it receives.

This module imports no framework. :func:`activation_model` asks the registry of sources
(:mod:`catsel.network.sources`) which one opens its ``model``, and that source builds the
:class:`~catsel.network.interface.Network`: the Keras source an
:class:`~catsel.network.keras.model.ActivationModel`, the PyTorch source a
:class:`~catsel.network.torch.network.TorchNetwork`. Everything else here asks the network itself.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ModelError, PixelScaleUnknownError
from ..options import is_saved_model
from ..paths import file_digest
from .code import is_code
from .hub import is_hub, preset_digest
from .interface import Network
from .sources import open_network

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["activation_model", "layers", "untrained_control", "from_store", "describe_preprocessing"]


def activation_model(
    model: Any = "vgg16",
    weights: str | os.PathLike | None = "auto",
    layers: Sequence[str] | None = None,
    *,
    image_size: int | None = None,
    preprocess: str | None = None,
    seed: int = 0,
    precision: str = "float32",
    reduction: str | None = None,
) -> Network:
    """Build the network that turns images into one value per filter or unit.

    Parameters
    ----------
    model
        A ``keras.applications`` name (``"vgg16"``, ``"vgg19"``, ``"resnet50"``,
        ...), the path of a saved ``.keras`` model (loaded in Keras' safe
        mode), a keras-hub preset (``"hub:clip_vit_base_patch16"``, a handle, or
        ``"hub:FOLDER"`` for a folder written by ``save_to_preset``: the vision
        tower, fed as its image converter says; see the README), a
        ``keras.Model`` already in memory, a PyTorch network:
        ``"torchvision:NAME"``, ``"timm:NAME"`` or a ``torch.nn.Module``
        (give ``image_size``), which gives a
        :class:`~catsel.network.torch.network.TorchNetwork` (see
        :func:`catsel.network.torch.build.torch_network` for its weights),
        ``"FILE.py:FACTORY"`` (what a function in a lab's file returns, its
        SHA-256 recorded), or ``"PREFIX:NAME"`` of a lab's own source
        (:func:`catsel.register_source`).
    weights
        For an application name: ``"auto"`` (ImageNet weights when they can be
        had, else the untrained network, announced in a banner and recorded in
        ``fallback_reason``), ``"imagenet"`` (Keras' cache, downloaded
        when online; offline and not cached raises
        :class:`WeightsUnavailableError` saying where to put the file), the
        path of a weights file, or ``None``/``"none"`` for the untrained
        network (random init with ``seed``, labelled "untrained" everywhere).
        A saved or in-memory model carries its weights: leave it "auto" (any
        other value is refused, as it could not apply). A keras-hub preset:
        ``"auto"`` (the preset's weights) or ``None`` (its configuration,
        re-initialised with ``seed``).
    layers
        Layer names, in any order (kept in network order). Default: every
        conv layer and every dense layer but the classifier; for VGG16 the
        13 conv layers plus ``fc1`` and ``fc2``.
    image_size
        Side of the square input. Default: the model's own (224 for VGG16).
        Another size works for conv layers only: the network is rebuilt
        without its top. Asking for dense layers at another size is an error.
    preprocess
        ``"caffe"``, ``"tf"``, ``"torch"`` or ``"raw"``; default: what Keras
        uses for that application (``"caffe"`` for VGG), the image converter's
        scale and offset for a keras-hub preset, ``"raw"`` for a saved model.
    seed
        Seed of the random init when ``weights`` is ``None``.
    precision
        ``"float32"`` (default), or ``"bfloat16"`` / ``"float16"``: the network
        is built under Keras' mixed-precision policy (weights in float32,
        computation in the lower precision); maxima are stored as float32.
        Its effect on selectivity is measured in ``docs/performance.md``.
    reduction
        How each map is reduced to its maximum and position:
        default ``"argmax"`` on JAX with a GPU, ``"pooling"`` elsewhere;
        ``"fused"`` (JAX only) computes every kind in one pass, and gives the
        store a key of its own (its means differ in rounding).

    Returns
    -------
    Network
        An :class:`~catsel.network.keras.model.ActivationModel` for a Keras network.
    """
    return open_network(model, weights, layers, image_size=image_size, preprocess=preprocess, seed=seed,
                        precision=precision, reduction=reduction)


def layers(model: Any = "vgg16", *, weights: str | None = None, image_size=None) -> "pd.DataFrame":
    """Every layer catsel can capture in a network, and which ones it captures by default.

    For choosing ``layers=`` (``--layers``) without reading Keras summaries:
    the layers of nested models are listed with the others, under the names
    catsel takes.

    Parameters
    ----------
    model : str, path, model or Network
        As for :func:`activation_model`, or what it returned.
    weights : str, optional
        As for :func:`activation_model`; by default the untrained network
        (the layers do not depend on the weights, and nothing is downloaded).
    image_size : int, (int, int) or str, optional
        As for :func:`activation_model` (needed for a network that takes
        images of any size).

    Returns
    -------
    DataFrame
        One row per layer, in network order: ``layer`` (catsel's name),
        ``path`` (through nested models), ``kind``, ``output shape``,
        ``units``, ``default`` (captured by default), ``unit taken from``
        (for a conv or dense layer: the layer whose output its units are
        captured from by default), ``receptive field`` (pixels, "whole image"
        or empty) and ``step``; a PyTorch module's also ``calls``.
    """
    if isinstance(model, Network):
        return model.all_layers()
    try:
        network = activation_model(model, weights, image_size=image_size)
    except PixelScaleUnknownError:  # the pixels' scale does not change the layers: listed as given
        network = activation_model(model, weights, image_size=image_size, preprocess="raw")
    return network.all_layers()


def untrained_control(amodel: Network, seed: int = 0) -> Network:
    """The same architecture with fresh random weights: the control for any network.

    A Keras network is cloned layer by layer from its configuration; a torchvision or timm network is built
    again by its constructor, and a module held in memory re-initialised module by module (each network's
    ``untrained``).

    Parameters
    ----------
    amodel : Network
    seed : int, default 0

    Returns
    -------
    Network
        Labelled untrained (``trained=False``).
    """
    return amodel.untrained(seed)


def from_store(acts, model=None) -> Network:
    """Rebuild the network an activations store was captured with (for pictures of its filters, lesions).

    Uses the recipe recorded in the store (model, weights, seed, size,
    preprocessing) and checks the rebuilt weights against the store's digest.
    A network built by a lab's code (``FILE.py:FACTORY``) is rebuilt only from
    the code the user names again (``model``), and only when its bytes are
    those captured: catsel runs no code because a record names it.

    Parameters
    ----------
    acts : Activations
    model : str, optional
        ``"FILE.py:FACTORY"`` again, for a store captured from one.

    Returns
    -------
    Network

    Raises
    ------
    ModelError
        When the store was captured from a model held in memory, from code not
        named again (or named with other bytes), or the rebuilt weights differ
        from the captured ones.
    """
    from .code import split_code

    meta = acts.meta
    recipe = meta.rebuild
    if not recipe:
        raise ModelError(f"{acts.path} was captured from a network held in memory in Python: pass that network "
                         "(model=...), or capture from the command line with --model FILE.py:FACTORY (a function "
                         "that builds it), which lesion and visualize can then rebuild")
    if is_code(recipe.get("model")):
        if model is None:
            raise ModelError(f"{acts.path} was captured from the code {recipe['model']}; catsel runs no code a record "
                             f"names: name it again, --model {recipe['model']} (model=...)")
        file = Path(split_code(model)[0]).expanduser()
        if not file.is_file() or file_digest(file) != recipe.get("sha256"):
            raise ModelError(f"{file} is not the code {acts.path} was captured with (its bytes differ, or it is "
                             f"gone: captured from {recipe['model']}); name that file, or capture again")
        name = model
    else:
        _check_recipe_files(recipe, acts.path)
        name = recipe["model"]
    amodel = activation_model(name, recipe["weights"], list(acts.layers), image_size=meta.image_size,
                              preprocess=meta.preprocess, seed=recipe["seed"], precision=meta.precision)
    if amodel.digest() != meta.network_digest:
        raise ModelError(
            f"the network rebuilt from {name} ({amodel.weights_label}) is not the one captured in {acts.path}: "
            "its weights changed since; capture again, or restore the weights file"
        )
    return amodel


def _check_recipe_files(recipe: dict, store) -> None:
    """The files a store's recipe names are the ones captured, by their SHA-256, before any is opened.

    A path read from a record is never loaded on its word: a model or weights file whose bytes differ from
    those captured (another file put at the path, or the path edited to name another file) is one line."""
    files = []
    if is_hub(recipe.get("model")) and recipe.get("sha256") is not None:  # a preset folder
        folder = Path(str(recipe["model"])[len("hub:"):])
        if folder.is_symlink() or not folder.is_dir() or preset_digest(folder) != recipe["sha256"]:
            raise ModelError(f"{store}: the preset folder {folder} it was captured with is not there as it was "
                             "(its files differ or it is gone); pass the network itself (model=...), or capture "
                             "again")
    if is_saved_model(str(recipe.get("model", ""))):
        files.append(("model", recipe["model"], recipe.get("sha256")))
    if recipe.get("weights") not in (None, "auto", "imagenet", "pretrained") and not is_hub(recipe.get("model")):
        files.append(("weights", recipe["weights"], recipe.get("weights_sha256")))
    for what, path, recorded in files:
        fix = "pass the network itself (model=...), or capture again"
        if not isinstance(recorded, str) or len(recorded) != 64:
            raise ModelError(f"{store}: the store does not record the identity of its {what} file {path} (an older "
                             f"capture, or an edited record), so it is not loaded from the record's path; {fix}")
        file = Path(path)
        if file.is_symlink() or not file.is_file():
            raise ModelError(f"{store}: the {what} file {path} it was captured with is not a plain file there now; "
                             f"{fix}")
        if file_digest(file) != recorded:
            raise ModelError(f"{store}: {path} is not the {what} file it was captured with (its bytes differ); "
                             f"{fix}")


def describe_preprocessing(amodel: Network, requested: str | None = None) -> str:
    """What the network receives, in one sentence for the run's summary and record.

    Parameters
    ----------
    amodel : Network
    requested : str, optional
        The preprocessing that was asked for (``None``: the default).

    Returns
    -------
    str
    """
    if requested is not None:
        from .pixels import preprocess_words

        return f"{preprocess_words(amodel.preprocess)}, as asked"
    return amodel.preprocessing_note()


def __getattr__(name: str):
    if name == "ActivationModel":  # the Keras network's class, where it was: imported (with Keras) when named
        return importlib.import_module(".keras.model", __package__).ActivationModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
