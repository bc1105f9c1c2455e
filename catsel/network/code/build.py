"""Build ``--model FILE.py:FACTORY``: run the file as a module of its own, call ``FACTORY()``, and open what it
returns by the source of its kind (a ``torch.nn.Module``, a ``keras.Model`` or a catsel network)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ...errors import ModelError
from ...paths import file_digest
from . import split_code

__all__ = ["code_network", "run_factory"]


def run_factory(model: str):
    """The object ``FACTORY()`` returns, and the file's SHA-256.

    Parameters
    ----------
    model : str
        ``"FILE.py:FACTORY"``.

    Returns
    -------
    built : object
    sha256 : str

    Raises
    ------
    ModelError
        One line: no such file, the file fails to run, no such function, or the function raises.
    """
    file, factory = split_code(model)
    path = Path(file).expanduser()
    if not path.is_file():
        raise ModelError(f"no file {path}: --model FILE.py:FACTORY names a Python file and the function in it that "
                         "returns the network")
    digest = file_digest(path)
    name = f"catsel_code_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file's own imports of its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        raise ModelError(f"{path} could not be run ({type(exc).__name__}: {text}); fix the file, then run the "
                         "command again") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    function = getattr(module, factory, None)
    if not callable(function):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == name)
        raise ModelError(f"{path} has no function {factory!r}" + (f"; its functions: {', '.join(found[:10])}"
                                                                  if found else ""))
    try:
        built = function()
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        raise ModelError(f"{path}:{factory}() raised {type(exc).__name__}: {text}") from None
    return built, digest


def code_network(model, weights="auto", layers=None, *, image_size=None, preprocess=None, seed=0,
                 precision="float32", reduction=None):
    """The network ``FACTORY()`` returns, as catsel captures it (the code source's builder).

    Parameters
    ----------
    model : str
        ``"FILE.py:FACTORY"``.
    weights : str or None
        ``"auto"``: as the factory loads them; ``None``/``"none"``: the same architecture re-initialised by
        catsel (seed ``seed``). The factory loads any weights file itself.
    layers, image_size, preprocess, seed, precision, reduction
        As :func:`catsel.activation_model` takes them.

    Returns
    -------
    Network
    """
    from ..interface import Network
    from ..sources import open_network

    untrained = weights is None or (isinstance(weights, str) and weights.lower() in ("none", "untrained", "random"))
    if not untrained and weights != "auto":
        raise ModelError(f"{model} builds the network with its own weights: load them in the factory, and leave "
                         "--weights out (or none, for the untrained network)")
    built, digest = run_factory(model)
    torch = sys.modules.get("torch")
    if image_size is None and torch is not None and isinstance(built, torch.nn.Module) and not (
            "keras" in sys.modules and isinstance(built, sys.modules["keras"].layers.Layer)):
        raise ModelError(f"{model} returns a PyTorch module: give the image size it takes, --image-size 224 "
                         "(image_size=)")
    network = built if isinstance(built, Network) else open_network(
        built, "auto", layers, image_size=image_size, preprocess=preprocess, seed=seed, precision=precision,
        reduction=reduction)
    file, factory = split_code(model)
    source = f"{Path(file).name}:{factory}"
    network.source = source
    if untrained:
        network = network.untrained(seed)
        network.source = source
    network.rebuild = {"model": f"{Path(file).expanduser().resolve()}:{factory}",
                       "weights": None if untrained else "auto", "seed": seed, "sha256": digest}
    return network
