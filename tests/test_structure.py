"""The import contract of the package, read from its source (nothing is imported or run).

- no import circle between catsel's modules, counting imports made inside functions;
- the two capture runners never import each other, and the store never imports the capture or anything above;
- no private name (``_name``) is imported from another module of catsel;
- every name imported from a module of catsel is there (the one check that imports the modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "catsel"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    """Module → [(imported catsel module, names taken from it)], for every import statement anywhere in it."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("catsel"):
                    continue
                names = [a.name for a in node.names]
                modules = {f"{target}.{n}" for n in names if (PACKAGE.parent / f"{target}.{n}".replace(".", "/")).with_suffix(".py").exists()
                           or (PACKAGE.parent / f"{target}.{n}".replace(".", "/") / "__init__.py").exists()}
                edges.append((target, [n for n in names if f"{target}.{n}" not in modules]))
                edges += [(m, []) for m in sorted(modules)]
            elif isinstance(node, ast.Import):
                edges += [(a.name, []) for a in node.names if a.name.startswith("catsel")]
        found[name] = edges
    return found


def _graph(imports) -> dict[str, set[str]]:
    graph = {m: set() for m in imports}
    for module, edges in imports.items():
        for target, _ in edges:
            if target in imports and target != module:
                graph[module].add(target)
    return graph


def test_no_module_of_catsel_imports_itself_back():
    graph = _graph(_imports())
    # a package's __init__ that re-exports its modules is the package's face, not a circle through it
    circles = []
    state = {}

    def visit(m, trail):
        state[m] = "open"
        for t in sorted(graph[m]):
            if t.startswith(m + "."):  # a package importing its own modules
                continue
            if state.get(t) == "open":
                circles.append(trail[trail.index(t):] + [t])
            elif t not in state:
                visit(t, trail + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert circles == []


def _reaches(graph, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for t in graph[todo.pop()]:
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def test_the_runners_and_the_store_keep_to_their_floors():
    graph = _graph(_imports())
    assert "catsel.capturing.local" not in _reaches(graph, "catsel.capturing.cluster")
    assert "catsel.capturing.cluster" not in _reaches(graph, "catsel.capturing.local")
    below = _reaches(graph, "catsel.store") | {"catsel.store"}
    for above in ("catsel.capturing", "catsel.pipeline", "catsel.models", "catsel.selection", "catsel.stats",
                  "catsel.widgets", "catsel.plots", "catsel.cli"):
        assert above not in below, f"the store reaches {above}"


def test_no_private_name_crosses_a_module():
    crossing = [(module, target, name) for module, edges in _imports().items() for target, names in edges
                for name in names if name.startswith("_") and not name.startswith("__") and target != module]
    assert crossing == []


def test_every_import_of_catsel_names_a_module_that_exists():
    missing = [(module, target) for module, edges in _imports().items() for target, _ in edges
               if not (PACKAGE.parent / target.replace(".", "/")).with_suffix(".py").exists()
               and not (PACKAGE.parent / target.replace(".", "/") / "__init__.py").exists()]
    assert missing == []


def test_every_name_imported_from_catsel_is_there():
    import importlib

    absent = []
    for module, edges in _imports().items():
        for target, names in edges:
            imported = importlib.import_module(target)
            absent += [(module, target, n) for n in names if n != "*" and not hasattr(imported, n)]
    assert absent == []


def test_no_state_is_kept_on_other_libraries_objects():
    """Figures, widgets and Dask clients carry no catsel attributes: displays and explorers keep their own state."""
    kept = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AnnAssign, ast.AugAssign)) else []
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and (
                            t.attr.startswith("catsel") or t.value.id in ("fig", "figure", "client")):
                        kept.append(f"{path.name}:{node.lineno} {t.value.id}.{t.attr}")
    assert kept == []


def test_the_old_spelling_of_the_pictures_module_is_the_new_one():
    import catsel.visualise
    import catsel.visualize

    assert catsel.visualise.plot_unit is catsel.visualize.plot_unit
    assert set(catsel.visualise.__all__) == set(catsel.visualize.__all__)


def test_the_library_and_the_run_have_the_same_default_weights():
    import inspect

    import catsel

    assert inspect.signature(catsel.activation_model).parameters["weights"].default == catsel.Settings().weights


def test_the_public_names_are_one_list():
    import catsel

    source = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    typed = {a.asname or a.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.If)
             for inner in node.body if isinstance(inner, ast.ImportFrom) for a in inner.names}
    assert set(catsel.__all__) == typed
    assert all(getattr(catsel, name) is not None for name in catsel.__all__)


def test_one_vocabulary_unit_for_a_filter_or_dense_unit_and_k_for_the_number_of_top_images():
    import inspect
    import warnings

    import pytest

    import catsel
    from catsel import report, visualize, widgets

    for function in (visualize.top_images, visualize.plot_top_images, visualize.plot_crops, visualize.plot_unit,
                     visualize.plot_representatives, report.write_report, widgets.UnitExplorer):
        parameters = inspect.signature(function).parameters
        assert "k" in parameters and "filter" not in parameters, function
    for former, current in ((catsel.visualize.plot_filter, visualize.plot_unit),
                            (catsel.widgets.explore_filters, widgets.explore_units),
                            (catsel.representative_filters, catsel.representative_units)):
        assert former.__name__ != current.__name__ and former.__wrapped__ is current
    assert issubclass(widgets.FilterExplorer, widgets.UnitExplorer)
    assert "representative_filters" not in catsel.__all__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DeprecationWarning, match="now representative_units"):
            catsel.representative_filters(None, "face")


def test_the_reference_documents_the_public_names_and_marks_the_rest_internal():
    import re

    import catsel

    api = PACKAGE.parent / "docs" / "api"
    internal = (api / "internal.md").read_text()
    assert ":members:" not in internal  # what internal modules are for, not their names
    listed = set(re.findall(r"automodule:: (catsel\.[\w.]+)", internal))
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")} - {"catsel"}
    for module in sorted(modules):
        top = module.split(".")[1]
        if top in catsel.PUBLIC_MODULES:
            assert ":members:" in (api / f"{top}.md").read_text(), module
            assert module not in listed, module
        elif top not in ("visualise",):  # an alias of catsel.visualize, kept for one release
            assert module in listed, f"{module}: neither public nor listed among the internal modules"
    pages = {p.stem for p in api.glob("*.md")} - {"index", "internal", "catsel"}
    assert pages == set(catsel.PUBLIC_MODULES)
    assert "catsel.__all__" in (PACKAGE.parent / "docs" / "conf.py").read_text()  # the top page: the one list
