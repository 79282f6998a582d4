"""YAML documents with line numbers, and problems located in them.

``leadsla.yaml`` and import mapping files are both hand-written YAML that is refused
with one ``file:line: key: problem`` line per mistake. This module is what they share:
:func:`read_document` parses the text and records the line of every key path (through
anchors, aliases and ``<<`` merge keys, even an alias that points back at its own
parent), :class:`ConfigProblem` and :class:`ConfigError` carry the problems, and the
``*_of`` helpers read values loosely from the raw document, for checks that must not
stop at a value of the wrong type (the schema reports that one).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "Document",
    "KeyPath",
    "Lines",
    "Problem",
    "did_you_mean",
    "format_path",
    "line_at",
    "mapping_of",
    "read_document",
    "shown",
    "text_of",
    "texts_of",
    "unknown_name",
    "yaml_kind",
]

KeyPath = tuple[str | int, ...]
"""A key path into a YAML document: mapping keys and sequence indices."""

Lines = Mapping[tuple[str, ...], int]
"""The 1-based line of each key path, its parts as text (sequence indices too)."""

Problem = tuple[KeyPath, str]
"""A problem found at a key path, before its line is looked up."""


# -- errors --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the file: where (key path, 1-based line) and what."""

    path: str
    line: int | None
    message: str

    def render(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; ``str()`` gives one line per problem."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        # Problems without a line (missing top-level keys) read best after the located ones.
        self.problems = sorted(
            problems, key=lambda p: (p.line is None, p.line if p.line is not None else 0)
        )
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(problem.render(self.source) for problem in self.problems)


# -- YAML with line numbers ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed YAML document, the line of each of its key paths, and its duplicate keys."""

    data: Any
    lines: Lines = field(default_factory=dict)
    duplicates: list[ConfigProblem] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int | None:
        return line_at(self.lines, path)

    def problem(self, path: KeyPath, message: str) -> ConfigProblem:
        return ConfigProblem(format_path(path), self.line_of(path), message)


# A real config or mapping has a few thousand nodes at most. Aliases can make a tiny
# file stand for billions of them (the "billion laughs"), which every walk over the
# data would then expand: refuse a document before it gets that far.
MAX_EXPANDED_NODES = 100_000


class _TooManyNodes(Exception):
    pass


def read_document(text: str, source: str) -> Document:
    """Parse YAML text; a syntax error raises :class:`ConfigError` (nothing to validate),
    as does a document whose aliases expand it beyond :data:`MAX_EXPANDED_NODES` nodes."""
    loader = _LineLoader(text)
    try:
        return loader.document()
    except _TooManyNodes:
        message = (
            f"the document expands to more than {MAX_EXPANDED_NODES:,} values through its "
            "aliases (*name); a leadsla file needs far fewer, so it is refused"
        )
        raise ConfigError(source, [ConfigProblem("", None, message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = exc.problem or exc.context or "unreadable"
        # The context ("while parsing a flow mapping") often starts lines earlier than the
        # problem itself; its line is where the missing bracket or quote was opened.
        if exc.problem and exc.context and exc.context_mark is not None:
            detail += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise ConfigError(source, [ConfigProblem("", line, f"invalid YAML: {detail}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigProblem("", None, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def line_at(lines: Lines, path: KeyPath) -> int | None:
    """The line of ``path``, else of its nearest ancestor that has one (a key the file
    lacks, or one pydantic names but the walk did not record, is shown at its parent)."""
    parts = tuple(str(part) for part in path)
    while parts:
        found = lines.get(parts)
        if found is not None:
            return found
        parts = parts[:-1]
    return None


class _LineLoader(yaml.SafeLoader):
    """A safe loader that also reports the line of every mapping key and sequence item."""

    _walked = 0  # nodes visited by the walk, aliases expanded

    def document(self) -> Document:
        node = self.get_single_node()
        if node is None:
            return Document(None)
        lines: dict[tuple[str, ...], int] = {}
        duplicates: list[ConfigProblem] = []
        self._walked = 0
        self._walk(node, (), lines, duplicates, set())
        return Document(self.construct_document(node), lines, duplicates)

    def _walk(
        self,
        node: yaml.Node,
        path: tuple[str, ...],
        lines: dict[tuple[str, ...], int],
        duplicates: list[ConfigProblem],
        active: set[int],
    ) -> None:
        # An alias may point back at an enclosing node; the data is then recursive.
        if id(node) in active:
            return
        self._walked += 1
        if self._walked > MAX_EXPANDED_NODES:
            raise _TooManyNodes
        active.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self._key_text(key_node)
                line = key_node.start_mark.line + 1
                child = (*path, key)
                if child in lines:
                    duplicates.append(
                        ConfigProblem(
                            format_path(child),
                            line,
                            f"duplicate key (first given at line {lines[child]}); "
                            "YAML would silently keep only the last one",
                        )
                    )
                lines.setdefault(child, line)
                self._walk(value_node, child, lines, duplicates, active)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, str(index))
                lines[child] = item.start_mark.line + 1
                self._walk(item, child, lines, duplicates, active)
        active.discard(id(node))

    def _key_text(self, node: yaml.Node) -> str:
        # Keys are matched to pydantic's error locations by their constructed value
        # (``1:`` is the int 1 there); only scalar keys have one worth showing.
        if isinstance(node, yaml.ScalarNode):
            return str(self.construct_object(node))
        return f"<complex key at line {node.start_mark.line + 1}>"


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(path: Iterable[str | int]) -> str:
    """``teams.east.reps[0].id``: keys joined by dots (quoted when not plain), indices in
    brackets."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if _PLAIN_KEY.match(part) else json.dumps(part, ensure_ascii=False)
        text += f".{key}" if text else key
    return text


# -- reading raw values ------------------------------------------------------------------------
#
# Checks across keys read the raw document rather than validated models: an entry that
# fails validation elsewhere must not hide a reference error in it. Values of the wrong
# type read as nothing here, since the schema already reports them.


def text_of(value: Any) -> str | None:
    """A scalar as stripped text (YAML's ``1042`` is ``"1042"``); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int | float):
        return str(value).strip()
    return None


def mapping_of(value: Any) -> dict[str, Any]:
    """A mapping with its keys as text; empty for anything else."""
    return {str(key): item for key, item in value.items()} if isinstance(value, dict) else {}


def texts_of(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    """The texts of a one-or-many value, each with its own path."""
    single = text_of(value)
    if single is not None:
        yield path, single
    elif isinstance(value, list):
        for index, item in enumerate(value):
            text = text_of(item)
            if text is not None:
                yield (*path, index), text


# -- wording ---------------------------------------------------------------------------------


def unknown_name(kind: str, name: str, known: Iterable[str], *, also: Sequence[str] = ()) -> str:
    """The message for a reference to a ``kind`` the file does not define."""
    choices = [*also, *sorted(known)]
    listed = "expected one of: " + ", ".join(choices) if choices else f"no {kind}s are defined"
    return f'unknown {kind} "{name}"{did_you_mean(name, choices)}; {listed}'


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean "mon" or "sun"?)`` for the equally closest choices, or nothing."""
    scored = [
        (difflib.SequenceMatcher(None, word.lower(), choice.lower()).ratio(), choice)
        for choice in choices
    ]
    best = max((score for score, _ in scored), default=0.0)
    if best < 0.6:
        return ""
    closest = [choice for score, choice in scored if score == best][:3]
    return " (did you mean " + " or ".join(f'"{choice}"' for choice in closest) + "?)"


def shown(value: Any) -> str:
    """A value as a message quotes it: scalars as YAML would read them, others by kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return f"a {yaml_kind(value)}"


def yaml_kind(value: Any) -> str:
    """What a value is, in YAML's words: mapping, list, or the Python type's name."""
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__
