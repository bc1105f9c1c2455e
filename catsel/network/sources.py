"""Where networks come from: one registry of sources, each saying which ``--model`` values it opens.

A source is a name, a test that says whether it opens a value (a prefix, a file ending, the type of an object
already in memory) without importing any framework, and a builder imported only once the source is chosen.
:func:`catsel.activation_model` asks the registry and knows no framework. catsel's own sources, asked in this
order after any registered by a lab:

====================  =============================================================  ==========================
source                opens                                                          its package
====================  =============================================================  ==========================
``code``              ``FILE.py:FACTORY``: what a lab's own function returns           :mod:`catsel.network.code`
``hub``               ``hub:PRESET``, ``hub:kaggle://...``, ``hub:FOLDER``             :mod:`catsel.network.hub`
``pytorch``           ``torchvision:NAME``, ``timm:NAME``, a ``torch.nn.Module``       :mod:`catsel.network.torch`
``keras``             a ``keras.Model``, a saved ``.keras``/``.h5`` file, an           :mod:`catsel.network.keras`
                      application name (``vgg16``)
====================  =============================================================  ==========================

A lab adds its own with :func:`register_source`: ``--model mylab:NAME`` then calls the lab's
``build("NAME", ...)``, and whatever it returns (a ``keras.Model``, a ``torch.nn.Module`` or a
:class:`~catsel.network.interface.Network`) is captured as any network is. An installed package does the same
through the entry point group ``catsel.sources`` (the entry's name is the prefix, its value the build function)::

    [project.entry-points."catsel.sources"]
    mylab = "mylab.zoo:build"

A PyTorch network never imports Keras or TensorFlow, and a Keras network never imports torch: each source's
package imports its own framework only (``tests/test_structure.py`` holds them to it).
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ModelError
from ..options import is_saved_model

__all__ = ["Source", "register_source", "sources", "source_of", "open_network", "ENTRY_POINTS"]

#: The entry point group through which an installed package registers a source.
ENTRY_POINTS = "catsel.sources"

#: A ``--model`` value's prefix: a word and a colon (``mylab:resnet_v3``), not a path's drive or a handle's scheme.
_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*):(?!//)")


@dataclass(frozen=True)
class Source:
    """One place networks come from.

    Parameters
    ----------
    name : str
        ``"keras"``, ``"pytorch"``, ``"hub"``, or a lab's prefix.
    opens : callable
        ``opens(model) -> bool``: whether this source builds ``model``. It must import no framework.
    build : str or callable
        ``"module:function"`` (imported when the source is first used) or the function itself:
        ``build(model, weights, layers, **options) -> Network``.
    framework : str or None
        The framework its networks run on (``"keras"``, ``"pytorch"``); ``None`` for a lab's source, whose
        networks are known once built.
    prefixes : tuple of str
        The ``--model`` prefixes it answers to (``"torchvision"``, ``"timm"``), for the messages.
    """

    name: str
    opens: Callable[[Any], bool]
    build: str | Callable
    framework: str | None = None
    prefixes: tuple[str, ...] = ()

    def builder(self) -> Callable:
        """The build function, imported on first use.

        Returns
        -------
        callable
        """
        if callable(self.build):
            return self.build
        module, _, function = self.build.partition(":")
        return getattr(importlib.import_module(module), function)


#: catsel's own sources, by the package that declares each (its ``SOURCE``), in the order they are asked.
_BUILT_IN = ("catsel.network.code", "catsel.network.hub", "catsel.network.torch", "catsel.network.keras")

_LABS: dict[str, Source] = {}
_ENTRY_POINTS_READ: list[bool] = []


def _built_in() -> list[Source]:
    return [importlib.import_module(package).SOURCE for package in _BUILT_IN]


def _taken_prefixes() -> set[str]:
    return {p for s in _built_in() for p in s.prefixes} | set(_LABS)


def register_source(prefix: str, build: Callable, *, replace: bool = False) -> Source:
    """Let ``--model PREFIX:NAME`` (and ``activation_model("PREFIX:NAME")``) build a network of a lab's own.

    Parameters
    ----------
    prefix : str
        A word (letters, digits, ``_``, ``.``, ``-``; a letter first) that catsel's own sources do not use
        (``hub``, ``torchvision``, ``timm``).
    build : callable
        ``build(NAME, **options)``: the network ``NAME`` names, as a ``keras.Model``, a ``torch.nn.Module`` or a
        :class:`~catsel.network.interface.Network`. Of the options, it is given those its signature names:
        ``weights`` (what ``--weights`` asked, except the untrained network, which catsel makes itself by
        re-initialising what ``build`` returns), ``seed`` and ``image_size``.
    replace : bool, default False
        Replace a source already registered under ``prefix`` (a notebook's cell run twice).

    Returns
    -------
    Source

    Raises
    ------
    ValueError
        A prefix that is not a word, is catsel's own, or is registered already.
    """
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", prefix):
        raise ValueError(f"a source's prefix is a word (letters, digits, '_', '.', '-'; a letter first), not "
                         f"{prefix!r}")
    if not callable(build):
        raise ValueError(f"build must be a function of the network's name, not {type(build).__name__}")
    own = {p for s in _built_in() for p in s.prefixes}
    if prefix in own:
        raise ValueError(f"{prefix}: is one of catsel's own sources ({', '.join(sorted(own))}); choose another prefix")
    if prefix in _LABS and not replace:
        raise ValueError(f"a source {prefix}: is registered already; pass replace=True to replace it")
    source = Source(prefix, lambda model, p=prefix: isinstance(model, str) and model.startswith(p + ":"),
                    _lab_builder(prefix, build), None, (prefix,))
    _LABS[prefix] = source
    return source


def _read_entry_points() -> None:
    """The sources installed packages declare (group :data:`ENTRY_POINTS`), read once, when a prefix is unknown."""
    if _ENTRY_POINTS_READ:
        return
    _ENTRY_POINTS_READ.append(True)
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINTS):
        if entry.name in _LABS:
            continue
        try:
            register_source(entry.name, entry.load())
        except Exception as exc:  # a broken plug-in is said, in one line, when its prefix is asked for
            _LABS[entry.name] = Source(entry.name, lambda model, p=entry.name: isinstance(model, str)
                                       and model.startswith(p + ":"), _broken(entry, exc), None, (entry.name,))


def _broken(entry, exc) -> Callable:
    def build(*args, **kwargs):
        raise ModelError(f"the source {entry.name}: installed by {entry.value} could not be loaded "
                         f"({type(exc).__name__}: {exc}); reinstall the package that provides it")
    return build


def sources() -> list[Source]:
    """Every source, in the order asked: a lab's, then catsel's own (``hub``, ``pytorch``, ``keras``).

    Returns
    -------
    list of Source
    """
    _read_entry_points()
    return [*_LABS.values(), *_built_in()]


def source_of(model) -> Source:
    """The source that opens ``model``.

    Parameters
    ----------
    model : str, path or object

    Returns
    -------
    Source

    Raises
    ------
    ModelError
        One line for a ``PREFIX:NAME`` no source answers to, naming those that exist.
    """
    if _is_unknown_prefix(model):
        _read_entry_points()  # an installed package's prefix, read once
        if _is_unknown_prefix(model) and not is_saved_model(model):
            prefixes = sorted(p + ":" for s in sources() for p in s.prefixes)
            raise ModelError(f"no source opens {model!r}: the prefixes are {', '.join(prefixes)}, beside "
                             "keras.applications names and saved model files; a lab's own source is added with "
                             "catsel.register_source(PREFIX, build) or the entry point group 'catsel.sources'")
    for source in [*_LABS.values(), *_built_in()]:
        if source.opens(model):
            return source
    raise ModelError(f"no source opens a {type(model).__name__}: give a keras.Model, a torch.nn.Module, a name or a "
                     "saved model's path")


def _is_unknown_prefix(model) -> bool:
    if not isinstance(model, str):
        return False
    if any(s.opens(model) for s in _built_in() if s.name == "code"):  # FILE.py:FACTORY, not a prefix
        return False
    found = _PREFIX.match(model)
    return found is not None and found.group(1) not in _taken_prefixes()


def open_network(model, weights="auto", layers=None, **options):
    """Build ``model`` by the source that opens it.

    Parameters
    ----------
    model : str, path or object
    weights, layers
        As :func:`catsel.activation_model` takes them.
    **options
        ``image_size``, ``preprocess``, ``seed``, ``precision``, ``reduction``.

    Returns
    -------
    Network
    """
    return source_of(model).builder()(model, weights, layers, **options)


def _lab_builder(prefix: str, build: Callable) -> Callable:
    """A lab's ``build(NAME)`` as a source's builder: what it returns is opened by the source of its kind."""

    def builder(model, weights, layers, *, image_size=None, preprocess=None, seed=0, precision="float32",
                reduction=None):
        from .interface import Network

        name = model[len(prefix) + 1:]
        untrained = weights is None or (isinstance(weights, str) and weights.lower() in ("none", "untrained",
                                                                                       "random"))
        try:
            accepted = inspect.signature(build).parameters
        except (TypeError, ValueError):
            accepted = {}
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        given = {"weights": weights, "seed": seed, "image_size": image_size}
        if untrained:
            given.pop("weights")
        if not untrained and not (isinstance(weights, str) and weights == "auto") and not (
                takes_all or "weights" in accepted):
            raise ModelError(f"the source {prefix}: takes no weights (its build function has no weights parameter); "
                             "leave --weights out, or none for the untrained network")
        try:
            built = build(name, **{k: v for k, v in given.items() if takes_all or k in accepted})
        except Exception as exc:  # the lab's code: whatever it raises is one line naming the source and the name
            text = " ".join(str(exc).split())[:200]
            raise ModelError(f"the source {prefix}: could not build {name!r} ({type(exc).__name__}: {text})") from None
        if isinstance(built, Network):
            network = built
        else:
            network = open_network(built, "auto", layers, image_size=image_size, preprocess=preprocess, seed=seed,
                                   precision=precision, reduction=reduction)
        network.source = model
        if untrained:  # made by catsel, by the framework's own initialisers: never a lab's word for it
            network = network.untrained(seed)
            network.source = model
        # built again by name (a worker, a later command): the lab's source must be registered there too; a
        # weights file by its identity, as for every source
        network.rebuild = {"model": model, "weights": None if untrained else str(weights), "seed": seed}
        if not untrained and weights != "auto":
            from pathlib import Path

            from ..paths import file_digest

            if Path(str(weights)).is_file():
                network.rebuild.update(weights=str(Path(str(weights)).resolve()), weights_sha256=file_digest(weights))
        return network

    return builder
