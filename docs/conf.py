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


def _public_names() -> dict[str, str]:
    """Each public name → the module that defines it (``capture`` → ``catsel.capturing``)."""
    import importlib
    import pkgutil

    names = {}
    for info in pkgutil.walk_packages(catsel.__path__, "catsel."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if getattr(obj, "__module__", module.__name__) == module.__name__:
                names.setdefault(name, module.__name__)
    return names


PUBLIC = _public_names()


def _resolve_public(app, env, node, contnode):
    """``catsel.capture`` and a bare ``ImageError`` resolve to where they are defined."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    name = target.rsplit(".", 1)[-1]
    if name not in PUBLIC or target not in (name, f"catsel.{name}"):
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                             f"{PUBLIC[name]}.{name}", node, contnode)


def setup(app):
    app.connect("missing-reference", _resolve_public)
