"""The package is layered: no import cycle, counting imports inside functions too, and every
module imports alone, in a process where nothing of the package was imported before.

This file imports nothing of extractive_core: the worker processes below import it (to find
``_import_alone``), and must start with the package unimported."""

from __future__ import annotations

import ast
import importlib
import multiprocessing
import sys
import traceback
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "extractive_core"


def module_names() -> list[str]:
    """Every module of the package, dotted (``extractive_core.models``)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imports_of(name: str, modules: set[str]) -> set[str]:
    """The package modules that module ``name`` imports anywhere in its source (at the top,
    in functions, under ``if TYPE_CHECKING``)."""
    is_package = name == "extractive_core" or (PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file()
    path = PACKAGE.parent / (name.replace(".", "/") + ("/__init__.py" if is_package else ".py"))
    here = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # ``from . import models``
    targets = set()
    for target in found:
        while target and target not in modules:  # ``extractive_core.models.load_model`` -> its module
            target = target.rpartition(".")[0]
        if target and target != name and target != "extractive_core":
            targets.add(target)
    return targets


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first repeated at the end),
    or None when there is none."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_of_the_package_has_no_cycle():
    modules = set(module_names())
    graph = {name: imports_of(name, modules) for name in modules}
    assert graph["extractive_core.models"]  # the walk sees the imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def third_party_imports() -> dict[str, list[str]]:
    """What the package's modules import at their top from outside the package and the
    standard library: module -> names taken from it."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.setdefault(alias.name, set())
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.setdefault(node.module, set()).update(alias.name for alias in node.names)
    return {m: sorted(names) for m, names in found.items()
            if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "extractive_core"}


def third_party_modules() -> list[str]:
    """The modules that hold what the package imports from outside (``transformers`` loads
    its classes lazily, from submodules such as ``transformers.modeling_utils``)."""
    modules = set()
    for module, names in third_party_imports().items():
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            continue
        modules.add(module)
        for attr in names:
            home = getattr(getattr(loaded, attr, None), "__module__", None)
            if isinstance(home, str) and not home.startswith("extractive_core"):
                modules.add(home)
    return sorted(modules)


def _import_alone(name: str) -> str | None:
    """In a fresh worker: import ``name``; None if that worked, else the traceback."""
    loaded = sorted(m for m in sys.modules if m == "extractive_core" or m.startswith("extractive_core."))
    if loaded:
        return f"the worker had already imported {loaded}"
    try:
        importlib.import_module(name)
    except BaseException:  # noqa: BLE001 - report anything the import raises
        return traceback.format_exc()
    return None


def test_every_module_imports_alone_in_a_fresh_process():
    """One worker process per module (``maxtasksperchild=1``), forked from a server that has
    imported the package's third-party libraries and nothing of the package, so that a worker
    starts in milliseconds, not in the seconds torch and transformers take to import."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(third_party_modules())
    names = module_names()
    with context.Pool(2, maxtasksperchild=1) as pool:
        results = pool.map(_import_alone, names, chunksize=1)
    failures = {name: error for name, error in zip(names, results) if error}
    assert not failures, "\n\n".join(f"import {name} alone:\n{error}" for name, error in failures.items())


# The package's layers, lowest first: a module imports only modules of its own layer or a lower
# one. The README's layout table lists the same layers.
LAYERS = {
    "ground floor": ["errors", "settings", "storage", "events", "pool"],
    "data": ["world", "datasets", "daxwug", "toyworld", "tokenizer", "stats", "results"],
    "model access": ["params", "memory", "architecture", "components", "tokens", "numerics", "pretrain", "models"],
    "training": ["metrics", "precision", "prefix", "finetune", "run_code", "runs", "parallel", "two_hop_runs",
                 "continued_training"],
    "analysis": ["alignment", "extractive", "exact", "claim_rules", "two_hop_verdicts"],
    "experiments": ["ocr", "extractive_maps", "freezing", "data_ordering", "grafting", "sweep", "pretraining_order",
                    "chapters"],
    "book and checks": ["plots", "figures", "claims", "precision_report", "reproduce", "determinism",
                        "tidy"],
}


def test_every_module_has_a_layer_and_imports_only_its_own_or_lower():
    modules = set(module_names())
    level = {f"extractive_core.{m}": i for i, names in enumerate(LAYERS.values()) for m in names}
    assert sorted(modules - set(level) - {"extractive_core"}) == []
    upward = sorted(f"{m} ({list(LAYERS)[level[m]]}) imports {t} ({list(LAYERS)[level[t]]})"
                    for m in modules - {"extractive_core"} for t in imports_of(m, modules) if level[t] > level[m])
    assert upward == []


def test_the_readme_layout_names_every_module_in_its_layer():
    readme = (PACKAGE.parent / "README.md").read_text()
    for layer, names in LAYERS.items():
        row = next((line for line in readme.splitlines() if line.startswith(f"| {layer} |")), None)
        assert row is not None, f"README layout has no row for the {layer} layer"
        missing = [m for m in names if f"`{m}`" not in row]
        assert missing == [], f"README's {layer} row lacks {missing}"
