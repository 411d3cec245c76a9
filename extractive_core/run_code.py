"""The code that determines a finetuning run, as the run cache's key sees it.

Every definition (function, class, module-level constant) reachable from ``finetune.finetune``
through the package's own names is found by reading the source (``ast``, nothing imported):
a name used in a reachable definition leads to its definition in the same module, through a
relative import (``from .metrics import mean_rank``) to another module's, and
``module.name`` after ``from . import module`` to that module's. Their syntax trees, with
docstrings left out (comments are never in a tree), are hashed. So editing training code
retrains the cached runs, while a docstring, a comment or a report function that a run never
calls (``precision_report``, the tables of every chapter) leaves them valid. Code outside the
package (torch, transformers) is covered by the library versions in the key instead.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
from pathlib import Path

ROOT = ("extractive_core.finetune", "finetune")  # what a run executes: finetune, and all it uses
# Package modules whose code cannot change a run's numbers: the settings (what they set that
# matters, the thread count, is in the key's environment) and the errors (messages).
OUTSIDE = ("extractive_core.settings", "extractive_core.errors")
SEARCH = Path(__file__).resolve().parent  # the package's own folder: a checkout's, or an installed copy's

Definitions = dict[str, ast.stmt]
Imports = dict[str, tuple[str, str | None]]  # local name -> (module, name there; None: the module itself)


def module_file(module: str) -> Path | None:
    """The source file of a package module, found without importing anything."""
    package, *rest = module.split(".")
    if package != SEARCH.name:
        return None
    base = SEARCH.joinpath(*rest)
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def source(module: str) -> str:
    """The source text of a package module (tests replace this to edit the code)."""
    path = module_file(module)
    if path is None:
        raise ModuleNotFoundError(module)
    return path.read_text()


def top_level(module: str) -> tuple[Definitions, Imports]:
    """The module's top-level definitions by name, and its relative imports."""
    defs: Definitions = {}
    imports: Imports = {}
    package = module.rpartition(".")[0]
    for node in ast.parse(source(module)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defs.update({n.id: node for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)})
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                imports[alias.asname or alias.name] = (sub, None) if module_file(sub) else (base, alias.name)
    return defs, imports


def without_docstrings(node: ast.stmt) -> ast.stmt:
    """A copy of ``node`` with the docstring of every function and class in it removed."""
    node = copy.deepcopy(node)
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub.body:
            first = sub.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                sub.body = sub.body[1:] or [ast.Pass()]
    return node


def executed(node: ast.AST) -> list[ast.AST]:
    """The nodes under ``node`` but for type annotations (never run: the package's modules
    defer them with ``from __future__ import annotations``)."""
    out, todo = [], [node]
    while todo:
        here = todo.pop()
        out.append(here)
        todo.extend(child for name, value in ast.iter_fields(here) if name not in ("annotation", "returns")
                    for child in (value if isinstance(value, list) else [value]) if isinstance(child, ast.AST))
    return out


def reachable(root: tuple[str, str] = ROOT) -> dict[str, str]:
    """``module.name`` -> the syntax tree (``ast.dump``, no docstrings) of every definition
    reachable from ``root``."""
    modules: dict[str, tuple[Definitions, Imports]] = {}
    found: dict[str, str] = {}
    todo = [root]
    while todo:
        module, name = todo.pop()
        if module in OUTSIDE:
            continue
        if module not in modules:
            modules[module] = top_level(module)
        defs, imports = modules[module]
        if name in imports:
            target, there = imports[name]
            if there is not None:
                todo.append((target, there))
            continue
        key = f"{module}.{name}"
        if name not in defs or key in found:
            continue  # a builtin, a local variable, or seen
        node = defs[name]
        found[key] = ast.dump(without_docstrings(node))
        for sub in executed(node):
            if isinstance(sub, ast.Name):
                todo.append((module, sub.id))
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                target, there = imports.get(sub.value.id, ("", ""))
                if there is None:  # module.attr, the module imported from the package
                    todo.append((target, sub.attr))
    return found


def code_version() -> str:
    """SHA-256 (12 hex digits) of the code a run executes (``reachable``)."""
    digest = hashlib.sha256()
    for key, tree in sorted(reachable().items()):
        digest.update(f"{key}\n{tree}\n".encode())
    return digest.hexdigest()[:12]
