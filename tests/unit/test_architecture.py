"""The architecture rules that import-linter cannot state: where the environment and the
wall clock are read.

Configuration comes from one place (``leadsla.bootstrap``, called by the CLI entry), so a
module that reads ``os.environ`` or ``os.getenv`` on its own is a second, hidden source of
settings. Likewise the wall clock: bootstrap's ``now_micros`` is handed to the app and the
worker as their clock, so tests can pin every instant. The import layers themselves are
checked by ``lint-imports`` (pyproject.toml).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "leadsla"
ALLOWED = {"bootstrap.py", "cli/main.py"}


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines that touch ``os.environ``/``os.getenv``/``os.putenv`` or import them by name."""
    names = {"environ", "getenv", "putenv"}

    def reads(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr in names
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            return any(alias.name in names for alias in node.names)
        return False

    return sorted(node.lineno for node in ast.walk(tree) if reads(node))  # type: ignore[attr-defined]


def test_only_the_wiring_module_reads_the_environment() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in ALLOWED or relative.startswith("store/migrations/"):
            continue
        found = environment_reads(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            offenders[relative] = found
    assert offenders == {}


def test_the_check_sees_an_environment_read() -> None:
    sample = "import os\nfrom os import getenv\nurl = os.environ.get('X')\n"
    assert environment_reads(ast.parse(sample)) == [2, 3]


WALL_CLOCK_READS = {"time", "time_ns", "now", "utcnow", "today"}


def wall_clock_reads(tree: ast.AST) -> list[int]:
    """Lines that call ``time.time()``, ``time.time_ns()``, ``datetime.now()``,
    ``datetime.utcnow()`` or ``date.today()`` (any receiver: the names are specific)."""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WALL_CLOCK_READS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in {"time", "datetime", "date"}
    )


def test_only_the_wiring_module_reads_the_wall_clock() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "bootstrap.py":
            continue
        found = wall_clock_reads(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            offenders[relative] = found
    assert offenders == {}


def test_the_check_sees_a_wall_clock_read() -> None:
    sample = "import time\nfrom datetime import datetime\na = time.time_ns()\nb = datetime.now()\n"
    assert wall_clock_reads(ast.parse(sample)) == [3, 4]


# Issue #20: escaping is decided in one place. A Jinja environment made elsewhere, or an
# autoescape chosen by file name, is how *.html.j2 emails went out unescaped.
JINJA_MAKERS = {"Environment", "SandboxedEnvironment", "select_autoescape", "Template"}


def jinja_environments(tree: ast.AST) -> list[int]:
    """Lines that call ``Environment(…)``, ``select_autoescape(…)`` or ``Template(…)``."""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id in JINJA_MAKERS)
            or (isinstance(node.func, ast.Attribute) and node.func.attr in JINJA_MAKERS)
        )
    )


def test_one_factory_makes_every_template_environment() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = jinja_environments(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[path.relative_to(PACKAGE).as_posix()] = lines
    assert list(found) == ["notify/rendering.py"], found


def test_the_check_sees_an_environment_made() -> None:
    sample = "import jinja2\nx = jinja2.Environment()\ny = select_autoescape(['html'])\n"
    assert jinja_environments(ast.parse(sample)) == [2, 3]
