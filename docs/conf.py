"""Sphinx configuration: the API reference from the docstrings, and the executed notebooks as pages.

Build with ``make docs`` (warnings are errors, so a broken cross-reference fails).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import catsel  # noqa: E402

project = "catsel"
author = "catsel developers"
copyright = "catsel developers"
release = version = catsel.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc", "myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "alabaster"
html_title = f"catsel {release}"

# The docstrings carry the types; signatures stay plain so that no annotation is a dangling reference.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
# Every documented object has a docstring, its parameters and what it returns.
numpydoc_validation_checks = {"GL08", "PR01", "RT01"}
numpydoc_validation_exclude = {r"\.__init__$", r"\.__repr__$", r"\.__getitem__$", r"\.__iter__$", r"\.__len__$",
                               r"\.get_config$", r"\.call$"}

# Every cross-reference to catsel must resolve; other libraries' objects are not checked (no network here).
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(keras|numpy|np|pandas|pd|scipy|sklearn|matplotlib|ipywidgets|PIL|tqdm)(\..*)?"),
                        (r"py:.*", r"(optional|default.*|array-like|ndarray|DataFrame|Axes|Figure|path|callable)"),
                        (r"py:.*", r"(str|int|float|bool|dict|list|tuple|object|sequence|mapping|None)(\b.*)?")]

# The notebooks as pages: the copies the test suite executed (build/notebooks/), else the committed ones.
nb_execution_mode = "off"
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]
executed = ROOT / "build" / "notebooks"
pages = DOCS / "notebooks"
if pages.exists():
    shutil.rmtree(pages)
pages.mkdir()
for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
    ran = executed / source.name
    shutil.copy(ran if ran.exists() else source, pages / source.name)


def _top_level_page() -> None:
    """``api/catsel.md``: every name of ``catsel.__all__`` (the one list of exports), documented as ``catsel.NAME``."""
    lines = ["# `catsel`", "", "catsel's top level: what most scripts and notebooks need. Each name is defined in one of",
             "the internal modules and documented here under the name to use.", "", "```{eval-rst}"]
    for name in catsel.__all__:
        obj = getattr(catsel, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            lines += [f".. autoexception:: catsel.{name}", ""]
        elif isinstance(obj, type):
            lines += [f".. autoclass:: catsel.{name}", "   :members:", ""]
        elif callable(obj):
            lines += [f".. autofunction:: catsel.{name}", ""]
        else:
            lines += [f".. autodata:: catsel.{name}", "   :no-value:", ""]
    lines += ["```", ""]
    text = "\n".join(lines)
    page = DOCS / "api" / "catsel.md"
    if not page.exists() or page.read_text() != text:
        page.write_text(text)


_top_level_page()
TOP = set(catsel.__all__)


def _defined_in() -> dict[str, str]:
    """Each name of a module's ``__all__`` → the module that defines it (``capture`` → ``catsel.capturing``)."""
    import importlib
    import pkgutil

    names = {}
    for info in pkgutil.walk_packages(catsel.__path__, "catsel."):
        if info.name.endswith(".__main__"):  # the command itself: importing it would run it
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if getattr(obj, "__module__", module.__name__) == module.__name__:
                names.setdefault(name, module.__name__)
    for name, home in names.items():  # a package that gives its modules' names together is where they are documented
        package = importlib.import_module(home.rpartition(".")[0])
        if name in getattr(package, "__all__", []) and package.__name__ != "catsel":
            names[name] = package.__name__
    return names


DEFINED = _defined_in()


def _public_module(module: str) -> bool:
    return any(module == f"catsel.{m}" or module.startswith(f"catsel.{m}.") for m in catsel.PUBLIC_MODULES)


def _resolve(app, env, node, contnode):
    """References to catsel's objects by any of their names.

    A name of the top level resolves to ``catsel.NAME`` (also when written with its internal module, or as a
    member: ``catsel.store.Activations.image_file``); a name of a public module to that module's; a name of an
    internal module, which the reference does not document, stays plain text.
    """
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"]
    parts = target.split(".")

    def resolve(full):
        return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], full, node, contnode)

    for i, part in enumerate(parts):
        if part in TOP and (i == 0 or parts[0] == "catsel"):
            found = resolve(".".join(["catsel", *parts[i:]]))
            if found is not None:
                return found
    name = parts[-1]
    module = node.get("py:module") or ""
    home = DEFINED.get(name) or (".".join(parts[:-1]) if parts[0] == "catsel" else module)
    if home.startswith("catsel.") and _public_module(home):
        return resolve(f"{home}.{name}") if home != ".".join(parts[:-1]) else None
    if home.startswith("catsel.") or target.startswith("catsel.") or module.startswith("catsel."):
        return contnode  # an internal name: not documented, so not a link
    return None


def setup(app):
    app.connect("missing-reference", _resolve)
