"""Names catsel 0.1.0 shipped that have moved or been renamed since, kept for one release, all in this one place.

Each former name works as before and warns (:class:`DeprecationWarning`) with the name to use instead:

- modules of 0.1.0 that now live in a stage's folder (``catsel.plots`` is ``catsel.figures.plots``), whether
  imported (``import catsel.plots``, ``from catsel.plots import ...``) or named (``catsel.plots``);
- functions and classes renamed when *filter* became *unit* (``plot_filter`` is ``plot_unit``), under the
  package and under their module's former name;
- keywords and attributes renamed since (``top=``, ``crops=``, ``Dashboard.filters``), listed here
  (:data:`KEYWORDS`, :data:`ATTRIBUTES`) and taken by the functions and classes themselves
  (:func:`former_keyword`).

Names introduced after 0.1.0 and renamed before a release have no alias.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

__all__ = ["MODULES", "NAMES", "KEYWORDS", "ATTRIBUTES", "renamed", "former_name", "former_keyword", "install"]

#: 0.1.0's module (under ``catsel.``) → where it is now.
MODULES = {
    "cli": "apps.cli",
    "course": "apps.course",
    "data": "images.folder",
    "maximise": "network.maximise",
    "models": "network.models",
    "plots": "figures.plots",
    "receptive": "network.receptive",
    "visualise": "figures.visualize",
    "widgets": "apps.widgets",
}

#: 0.1.0's function or class → (its module now, its name now, 0.1.0's module of it).
NAMES = {
    "representative_filters": ("selecting.selection", "representative_units", None),
    "plot_filter": ("figures.visualize", "plot_unit", "visualise"),
    "explore_filters": ("apps.widgets", "explore_units", "widgets"),
    "FilterExplorer": ("apps.widgets", "UnitExplorer", "widgets"),
}

#: 0.1.0's keywords, by (function or class, former keyword) → the keyword now. The functions take both.
KEYWORDS = {
    ("plot_representatives", "top"): "n_units",
    ("plot_representatives", "crops"): "k",
    ("UnitExplorer", "top"): "k",
}

#: 0.1.0's attributes, by (class, former attribute) → the attribute now. The classes answer to both.
ATTRIBUTES = {("Dashboard", "filters"): "units"}

_PACKAGE = __name__.rpartition(".")[0]


def renamed(new, old: str):
    """``new`` under its former name ``old``: a call says which name to use instead.

    Parameters
    ----------
    new : function or class
        The object under its current name.
    old : str
        The former name.

    Returns
    -------
    function or class
        A function that warns (:class:`DeprecationWarning`) and calls ``new``;
        for a class, a subclass that warns when made.
    """
    message = f"{old} is now {new.__name__} (one word, 'unit', for a filter or a dense unit); the old name goes next release"
    if isinstance(new, type):
        def __init__(self, *args, **kwargs):
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            new.__init__(self, *args, **kwargs)

        return type(old, (new,), {"__init__": __init__, "__doc__": f"Renamed :class:`{new.__name__}`."})

    @functools.wraps(new)
    def former(*args, **kwargs):
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return new(*args, **kwargs)

    former.__name__ = former.__qualname__ = old
    former.__doc__ = f"Renamed :func:`{new.__name__}`."
    return former


@functools.lru_cache(maxsize=None)
def former_name(old: str):
    """The object 0.1.0 called ``old`` (one of :data:`NAMES`), wrapped to warn when used.

    Parameters
    ----------
    old : str

    Returns
    -------
    function or class
    """
    module, new, _ = NAMES[old]
    return renamed(getattr(importlib.import_module(f"{_PACKAGE}.{module}"), new), old)


class _FormerModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds 0.1.0's modules: each is a module of its own whose names are those of the module it became."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package == _PACKAGE and name in MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # the default: a plain module, filled in below

    def exec_module(self, module) -> None:
        name = module.__name__.rpartition(".")[2]
        now = f"{_PACKAGE}.{MODULES[name]}"
        warnings.warn(f"{module.__name__} is now {now}; the old name goes next release", DeprecationWarning,
                      stacklevel=2)
        real = importlib.import_module(now)
        module.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
        module.__all__ = list(getattr(real, "__all__", ()))
        module.__doc__ = f"Moved to :mod:`{now}`; kept for one release."
        for old, (_, _, home) in NAMES.items():
            if home == name:
                setattr(module, old, former_name(old))


def install() -> None:
    """Let Python's import system find 0.1.0's modules (once; :mod:`catsel` calls it)."""
    if not any(isinstance(finder, _FormerModules) for finder in sys.meta_path):
        sys.meta_path.append(_FormerModules())


def module(name: str) -> types.ModuleType:
    """0.1.0's module ``catsel.<name>``, as ``import`` gives it."""
    return importlib.import_module(f"{_PACKAGE}.{name}")


def former_keyword(value, former, *, new: str, old: str):
    """``value`` of keyword ``new``, or the value given under its former name ``old`` (which warns).

    Parameters
    ----------
    value
        The value given under the current keyword (or its default).
    former
        The value given under the former keyword, None when not given.
    new, old : str
        The current and the former keyword.

    Returns
    -------
    The value to use.
    """
    if former is None:
        return value
    import warnings

    warnings.warn(f"{old}= is now {new}=; the old keyword goes next release", DeprecationWarning, stacklevel=3)
    return former
