"""The import contract of the package, read from its source (nothing is imported or run).

- no import circle between catsel's modules, counting imports made inside functions;
- the two capture runners never import each other, and the store never imports the capture or anything above;
- each stage imports only the stages below it (``catsel.STAGES``), and no module passes the agreed size
  without a reason;
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
    for above in ("catsel.capturing", "catsel.study.pipeline", "catsel.network.models", "catsel.selecting.selection",
                  "catsel.stats", "catsel.apps.widgets", "catsel.figures.plots", "catsel.apps.cli"):
        assert above not in below, f"the store reaches {above}"


#: The modules beside the stages, which every stage may use; they use no stage (``former``, 0.1.0's names,
#: points up at where those names are now, by name only: it imports them when they are asked for).
BASE = {"catsel.errors", "catsel.options", "catsel.paths", "catsel.startup", "catsel.former"}

#: The one import of the package's face from a stage: the version, written once, where the package reads it.
FACE_IMPORTS = {("catsel.apps.cli", "__version__"), ("catsel.study.pipeline", "__version__")}


def _stage(module: str) -> str | None:
    import catsel

    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in catsel.STAGES else None


def test_each_stage_imports_only_the_stages_below_it():
    """images and network at the bottom, apps at the top: the folder listing reads as the data flow."""
    import catsel

    order = {stage: i for i, stage in enumerate(catsel.STAGES)}
    order["network"] = order["images"]  # both at the bottom: neither uses the other
    upward, base_up, face = [], [], []
    for module, edges in _imports().items():
        for target, names in edges:
            if target == "catsel" and module != "catsel":
                face += [(module, n) for n in names if (module, n) not in FACE_IMPORTS]
                continue
            here, there = _stage(module), _stage(target)
            if module in BASE and there is not None:
                base_up.append((module, target))
            if here and there and here != there and (order[there] > order[here] or there == "network" and
                                                     here == "images" or there == "images" and here == "network"):
                upward.append((module, target))
    assert upward == [], "a stage imports a stage above it (or beside it)"
    assert base_up == [], "a module beside the stages imports a stage"
    assert face == [], "a stage imports the package's face"
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert stages == set(catsel.STAGES)
    loose = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert {f"catsel.{m}" for m in loose} == BASE, "a module lies beside the stages that belongs in one"


#: The deep-learning frameworks: only the network stage (and ``catsel.startup``, which starts Keras quietly)
#: imports them, so that a second framework is a second implementation of ``catsel.network.interface``.
FRAMEWORKS = {"keras", "tensorflow", "jax", "torch", "torchvision", "timm", "keras_hub"}

#: What the stages above the network may use of it: the protocol, the factories that build a network from any
#: source, the registry of sources, receptive fields as data, the kinds of result and activation maximisation.
#: None of them imports a framework.
NETWORK_FACE = {"catsel.network", "catsel.network.interface", "catsel.network.models", "catsel.network.sources",
                "catsel.network.receptive", "catsel.network.kinds", "catsel.network.maximise"}

#: The network's sources, one package each, and the frameworks each may import (Keras' own PyTorch backend is
#: Keras: its device names and gradient step live in ``keras/backends.py``, and only there).
SOURCES = {"catsel.network.keras": {"keras", "tensorflow", "jax"},
           "catsel.network.hub": {"keras", "keras_hub"},
           "catsel.network.torch": {"torch", "torchvision", "timm"},
           "catsel.network.code": set()}  # a lab's file runs on what it imports; catsel's code imports none
KERAS_ON_TORCH = "catsel.network.keras.backends"


def _framework_imports() -> dict[str, set[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
        found[_module_name(path)] = names & FRAMEWORKS
    return found


def test_nothing_above_the_network_imports_a_framework_or_the_network_s_insides():
    frameworks = {m: sorted(names) for m, names in _framework_imports().items()
                  if names and _stage(m) != "network" and m != "catsel.startup"}
    assert frameworks == {}, "a framework imported outside catsel.network"
    insides = sorted((module, target) for module, edges in _imports().items() for target, _ in edges
                     if target.startswith("catsel.network.") and _stage(module) not in (None, "network")
                     and target not in NETWORK_FACE)
    assert insides == [], "a stage above uses the network's insides, not its interface"


def _source(module: str) -> str | None:
    """The source package whose framework ``module`` runs on (a source's package itself is its framework-free
    declaration, the ``SOURCE`` the registry reads: it belongs to none)."""
    return next((package for package in SOURCES if module.startswith(package + ".")), None)


def test_each_source_imports_its_own_framework_only():
    """A PyTorch network never imports Keras or TensorFlow, and a Keras network never imports torch: read from
    the source, imports inside functions counted. The hub source is a Keras source (it may use the Keras one)."""
    wrong = []
    for module, names in _framework_imports().items():
        package = _source(module)
        if package is None:
            continue
        allowed = SOURCES[package] | ({"torch"} if module == KERAS_ON_TORCH else set())
        wrong += [(module, name) for name in sorted(names - allowed)]
    assert wrong == [], "a source imports another's framework"
    crossing = sorted((module, target) for module, edges in _imports().items() for target, _ in edges
                      if _source(module) and _source(target) and _source(module) != _source(target)
                      and not (_source(module) == "catsel.network.hub" and _source(target) == "catsel.network.keras"))
    assert crossing == [], "a source imports another source's modules"


def test_the_network_s_framework_free_modules_import_no_framework():
    """The protocol, the registry, the faces and the shared arithmetic import no framework anywhere, and no
    source's module at their top (a source is reached through the registry, when it is chosen)."""
    free = [m for m in _framework_imports() if _stage(m) == "network" and _source(m) is None]
    assert {"catsel.network.sources", "catsel.network.models", "catsel.network.receptive", *SOURCES} <= set(free)
    assert {m: sorted(n) for m, n in _framework_imports().items() if m in free and n} == {}
    top = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module not in free:
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # the top level only
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                named = [f"{target}.{a.name}" for a in node.names]
                modules = [m for m in named if (PACKAGE.parent / m.replace(".", "/")).with_suffix(".py").exists()
                           or (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()]
                if _source(target) or any(_source(m) for m in modules):
                    top.append((module, target))
    assert top == [], "a framework-free module imports a source at its top"


def test_the_keras_activation_model_is_a_network():
    import keras

    import catsel
    from catsel.network.interface import Network
    from helpers import small_cnn

    amodel = catsel.activation_model(small_cnn(size=12), preprocess="raw")
    assert isinstance(amodel, Network)
    assert not isinstance(keras.Sequential(), Network)
    missing = [name for name in Network.__annotations__ if not hasattr(amodel, name)]
    assert missing == []


#: Modules allowed past SIZE lines, each with the reason. A module above the size with no line here fails.
SIZE = 700
LARGE = {
    "catsel/network/keras/model.py": "the Keras activation model: what a network gives per batch, its identity, its layers, its twin",
    "catsel/network/torch/network.py": "the PyTorch network read by hooks: its forward pass, identity, layers, cut and twin",
    "catsel/apps/widgets.py": "four explorers sharing one redraw machinery (blitting, kept figures)",
    "catsel/apps/course.py": "fourteen checks, each computing the right answer from the student's own run",
    "catsel/apps/cli.py": "every subcommand's parser and printout",
}


def test_no_module_passes_the_agreed_size_without_a_reason():
    sizes = {str(p.relative_to(PACKAGE.parent)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    over = sorted(path for path, lines in sizes.items() if lines > SIZE and path not in LARGE)
    assert over == [], f"past {SIZE} lines: say why in LARGE, or split the module"
    stale = sorted(path for path in LARGE if sizes.get(path, 0) <= SIZE)
    assert stale == [], "within the size now: take the line out of LARGE"


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


def test_the_modules_and_names_of_0_1_0_are_where_they_are_now_and_warn():
    import importlib
    import sys
    import warnings

    import pytest

    import catsel
    import catsel.figures.visualize
    from catsel import former

    for old, now in former.MODULES.items():
        sys.modules.pop(f"catsel.{old}", None)
        with pytest.warns(DeprecationWarning, match=f"catsel.{old} is now catsel.{now}"):
            module = importlib.import_module(f"catsel.{old}")
        real = importlib.import_module(f"catsel.{now}")
        assert set(module.__all__) == set(getattr(real, "__all__", ()))
        assert all(getattr(module, name) is getattr(real, name) for name in module.__all__)
    from catsel.visualise import plot_unit  # the form 0.1.0's scripts used

    assert plot_unit is catsel.figures.visualize.plot_unit
    assert catsel.plots.layer_proportions is catsel.layer_proportions  # named on the package, as in 0.1.0
    for old, (module, now, home) in former.NAMES.items():
        current = getattr(importlib.import_module(f"catsel.{module}"), now)
        alias = getattr(catsel, old)
        if isinstance(current, type):
            assert issubclass(alias, current)
        else:
            assert alias.__wrapped__ is current
        if home is not None:
            assert getattr(importlib.import_module(f"catsel.{home}"), old) is alias
    assert not set(former.NAMES) & set(catsel.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DeprecationWarning, match="now representative_units"):
            catsel.representative_filters(None, "face")


def test_names_introduced_after_0_1_0_have_no_alias():
    import importlib

    import pytest

    for name in ("engine", "distributed", "visualize", "selection", "pipeline", "comparison", "lesions"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"catsel.{name}")
    import re

    from catsel import former

    # one place: every former name warns from catsel.former, but for the attribute a class must answer itself
    sources = {p.name: p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    assert sorted(name for name, text in sources.items() if "DeprecationWarning" in text) == ["former.py", "widgets.py"]
    assert re.findall(r"(\w+)\.(\w+) is now", sources["widgets.py"]) == [("Dashboard", "filters")]
    assert set(former.ATTRIBUTES) == {("Dashboard", "filters")}
    taken = set(re.findall(r'former_keyword\([^)]*old="(\w+)"', "".join(sources.values())))
    assert taken == {old for _, old in former.KEYWORDS}


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

    from catsel.apps import widgets
    from catsel.figures import visualize
    from catsel.study import report

    for function in (visualize.top_images, visualize.plot_top_images, visualize.plot_crops, visualize.plot_unit,
                     visualize.plot_representatives, report.write_report, widgets.UnitExplorer):
        parameters = inspect.signature(function).parameters
        assert "k" in parameters and "filter" not in parameters, function


def test_the_reference_documents_the_public_names_and_marks_the_rest_internal():
    import re

    import catsel

    api = PACKAGE.parent / "docs" / "api"
    internal = (api / "internal.md").read_text()
    assert ":members:" not in internal  # what internal modules are for, not their names
    listed = set(re.findall(r"automodule:: (catsel\.[\w.]+)", internal))
    public = {f"catsel.{m}" for m in catsel.PUBLIC_MODULES}
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")} - {"catsel", "catsel.__main__"}
    for module in sorted(modules):
        home = next((m for m in public if module == m or module.startswith(m + ".")), None)
        if home is not None:
            page = api / f"{home.rpartition('.')[2]}.md"
            assert f"automodule:: {home}\n   :members:" in page.read_text(), module
            assert module not in listed, module
        else:
            assert module in listed, f"{module}: neither public nor listed among the internal modules"
    pages = {p.stem for p in api.glob("*.md")} - {"index", "internal", "catsel"}
    assert pages == {m.rpartition(".")[2] for m in catsel.PUBLIC_MODULES}
    assert "catsel.__all__" in (PACKAGE.parent / "docs" / "conf.py").read_text()  # the top page: the one list


def test_one_figure_convention_for_every_public_figure():
    """Axes-level: ``ax=`` keyword, returns Axes; figure-level: ``fig=`` keyword, returns a Figure; a figure with
    state is a Display object with ``from_...`` and ``plot``."""
    import importlib
    import inspect

    modules = ["catsel.figures.plots", "catsel.figures.visualize", "catsel.study.comparison",
               "catsel.study.lesions", "catsel.brain.display"]
    drawers, displays = [], []
    for name in modules:
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if inspect.isclass(obj) and attr.endswith("Display"):
                displays.append(obj)
            elif inspect.isfunction(obj) and {"ax", "fig"} & set(inspect.signature(obj).parameters) and \
                    next(iter(inspect.signature(obj).parameters)) not in ("ax", "fig", "figure"):
                drawers.append(obj)  # not a helper working on a figure it is given (clear_data, fit_fonts)
    assert len(drawers) >= 9 and len(displays) == 5
    wrong = []
    for function in drawers:
        parameters = inspect.signature(function).parameters
        level = "ax" if "ax" in parameters else "fig"
        returned = str(inspect.signature(function).return_annotation)
        if parameters[level].kind is not inspect.Parameter.KEYWORD_ONLY or parameters[level].default is not None:
            wrong.append(f"{function.__name__}: {level}= is not a keyword defaulting to None")
        if ("Axes" if level == "ax" else "Figure") not in returned or (level == "ax") == ("Figure" in returned):
            wrong.append(f"{function.__name__}: returns {returned}")
        if "k" in parameters and parameters["k"].kind is not inspect.Parameter.KEYWORD_ONLY:
            wrong.append(f"{function.__name__}: k is positional")
    for display in displays:
        makers = [m for m in vars(display) if m.startswith("from_") and isinstance(vars(display)[m], classmethod)]
        if not makers or not callable(getattr(display, "plot", None)):
            wrong.append(f"{display.__name__}: no from_... or no plot")
    assert wrong == []
