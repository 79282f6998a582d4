"""How ``leadsla --help`` reads: plain type names, and docstrings as flowing paragraphs.

Typer shows each parameter's Python annotation as its type (``<bool>``,
``<list[Path]>``) and keeps a docstring's hard line breaks in the help, so a paragraph
wrapped at 88 columns in the source comes out broken in the middle of a terminal line.
:func:`tidy_help` fixes both on the built command tree, once, for every command.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import typer
from typer.core import TyperArgument, TyperOption

# Typer's names for the annotations, as a user reads them; a range's bounds are
# shown beside the type already.
_TYPE_WORDS = {
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "str": "TEXT",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIR",
    "datetime": "INSTANT",
}
_LIST = re.compile(r"^list\[(.*)\]$")


class HelpNode(Protocol):
    """What of a built command (Typer's own click) the help is made of."""

    help: str | None

    @property
    def params(self) -> Sequence[Any]: ...

    def get_help_option(self, ctx: Any) -> Any: ...


def tidy_help(command: HelpNode) -> None:
    """Every command of the tree: its help in paragraphs and its types in words."""
    for each in _walk(command):
        if each.help:
            each.help = rewrap(each.help)
        # The --help option is made on first use and kept: made here, it is the one shown.
        helper = each.get_help_option(typer.Context(each))  # type: ignore[arg-type]
        for param in [*each.params, helper]:
            if isinstance(param, TyperOption | TyperArgument):
                if param.help:
                    param.help = rewrap(param.help)
                # An instance attribute wins over Typer's method, which prints the annotation.
                param.display_type_rich = _plain_type(param)  # type: ignore[method-assign,assignment]


def rewrap(text: str) -> str:
    """Paragraphs (split at blank lines) each on one line, so the terminal wraps them.

    A line that starts a list item (``- ``, ``* ``) keeps its own line.
    """
    paragraphs: list[str] = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            line = line.strip()
            if lines and not line.startswith(("- ", "* ")):
                lines[-1] = f"{lines[-1]} {line}"
            elif line:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(p for p in paragraphs if p)


def type_word(typer_type: str) -> str:
    """A value's kind in a word from Typer's ``<annotation>``: ``<list[Path]>`` → ``PATH``;
    choices stay as they are (``json|csv``)."""
    bare = typer_type.strip("<>")
    listed = _LIST.match(bare)
    if listed:
        bare = listed.group(1)
    return _TYPE_WORDS.get(bare.lower(), bare.upper() if bare.isidentifier() else bare)


def _plain_type(param: TyperOption | TyperArgument) -> Callable[[Any], str | None]:
    display = param.display_type

    def plain(ctx: Any) -> str | None:
        if isinstance(param, TyperOption) and (param.is_flag or param.count):
            return None  # a flag takes no value
        word = type_word(display(ctx))
        return f"{word}..." if param.nargs != 1 else word

    return plain


def _walk(command: HelpNode) -> Iterator[HelpNode]:
    yield command
    subcommands: Mapping[str, HelpNode] = getattr(command, "commands", {})
    for sub in subcommands.values():
        yield from _walk(sub)
