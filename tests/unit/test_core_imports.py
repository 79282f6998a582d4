"""The core's imports: only the standard library and NumPy, and no cycle among its modules.

An import inside a function hides a cycle from Python's loader but not from a reader,
so imports are collected from the whole syntax tree, not only the module's top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import leadsla.core

CORE = Path(leadsla.core.__file__).parent
ALLOWED_OUTSIDE = {"numpy"}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
            # ``from leadsla.core import clock`` imports the module clock.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def core_graph() -> dict[str, set[str]]:
    modules = {f"leadsla.core.{path.stem}": path for path in CORE.glob("*.py")}
    return {
        name: {dep for dep in imported_modules(path) if dep in modules and dep != name}
        for name, path in modules.items()
    }


def cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A chain of imports from ``start`` back to itself, or ``None``."""
    stack = [(start, [start])]
    seen = {start}
    while stack:
        node, chain = stack.pop()
        for dep in sorted(graph[node]):
            if dep == start:
                return [*chain, start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, [*chain, dep]))
    return None


def test_core_modules_import_no_cycle() -> None:
    graph = core_graph()
    cycles = [chain for name in sorted(graph) if (chain := cycle_through(graph, name))]
    assert cycles == []


def test_the_cycle_check_finds_a_function_level_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from leadsla.core.b import f\n")
    (tmp_path / "b.py").write_text("def f():\n    from leadsla.core.a import g\n")
    graph = {
        f"leadsla.core.{stem}": {
            dep for dep in imported_modules(tmp_path / f"{stem}.py") if dep.count(".") == 2
        }
        for stem in ("a", "b")
    }
    assert cycle_through(graph, "leadsla.core.a") == [
        "leadsla.core.a",
        "leadsla.core.b",
        "leadsla.core.a",
    ]


def test_core_imports_only_the_standard_library_and_numpy() -> None:
    outside: dict[str, set[str]] = {}
    for path in CORE.glob("*.py"):
        for module in imported_modules(path):
            top = module.partition(".")[0]
            if top in sys.stdlib_module_names or top in ALLOWED_OUTSIDE:
                continue
            if module == "leadsla.core" or module.startswith("leadsla.core."):
                continue
            outside.setdefault(path.name, set()).add(module)
    assert outside == {}
