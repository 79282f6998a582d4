"""Every command's ``--help`` as a newcomer reads it: words for types, paragraphs that flow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from leadsla import __version__
from leadsla.cli.help import rewrap, type_word
from leadsla.cli.main import app

LEADSLA = str(Path(sys.executable).with_name("leadsla"))
# Wide enough that no paragraph of a docstring needs wrapping by the terminal.
WIDE = {**os.environ, "COLUMNS": "250", "TERM": "dumb"}
# What Typer prints for an annotation: <bool>, <int range>, <list[Path]>.
TYPE_HINT = re.compile(r"<[a-z][\w \[\]|]*>")


def command_paths(
    command: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


COMMANDS = list(command_paths(typer.main.get_command(app)))


def help_of(path: tuple[str, ...]) -> str:
    result = subprocess.run(
        [LEADSLA, *path, "--help"],
        capture_output=True,
        text=True,
        env=WIDE,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_command_is_walked() -> None:
    # A walk that found nothing would make the test below pass for nothing.
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "demo", "import", "calendar add", "calendar elapsed", "token revoke"} <= paths


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "leadsla" for p, _ in COMMANDS]
)
def test_help_has_no_type_hints_and_unbroken_paragraphs(
    path: tuple[str, ...], command: Any
) -> None:
    text = help_of(path)
    assert not TYPE_HINT.findall(text), text
    assert "list[" not in text
    lines = [line.strip(" │") for line in text.splitlines()]
    for paragraph in rewrap(command.help or "").split("\n"):
        # A paragraph with rich markup ([bold]) is shown without its brackets.
        # At 250 columns (less the margins), the first 200 characters fit on one line.
        start = paragraph[:200]
        if "[" not in paragraph:
            assert any(start in line for line in lines), f"{paragraph!r} broken in:\n{text}"


def test_demo_size_and_seed_are_described() -> None:
    text = help_of(("demo",))
    assert "Leads in the six months of history" in text
    assert "same seed and size, same company" in text


def test_version() -> None:
    result = subprocess.run([LEADSLA, "--version"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (0, f"leadsla {__version__}\n")


def test_calendar_help_gives_the_input_formats() -> None:
    add = help_of(("calendar", "add"))
    assert "columns start,duration" in add
    assert "business minutes, business hours or business days" in add
    assert "2026-03-02T09:15:00-05:00" in add
    elapsed = help_of(("calendar", "elapsed"))
    assert "columns start,end" in elapsed


@pytest.mark.parametrize(
    ("typer_type", "word"),
    [
        ("<bool>", "BOOL"),
        ("<int range>", "INTEGER"),
        ("<list[Path]>", "PATH"),
        ("<path>", "PATH"),
        ("<str>", "TEXT"),
        ("<json|csv>", "json|csv"),
    ],
)
def test_type_words(typer_type: str, word: str) -> None:
    assert type_word(typer_type) == word


def test_rewrap_joins_lines_and_keeps_paragraphs_and_items() -> None:
    text = """First line
    goes on.

    Second paragraph:
    - one item
    - another
      wrapped
    """
    assert rewrap(text) == "First line goes on.\n\nSecond paragraph:\n- one item\n- another wrapped"
