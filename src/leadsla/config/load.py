"""Loading ``leadsla.yaml``: a file or text in, a validated :class:`Config` or every problem out.

A bad file is refused with one line per problem naming the file, the line, the key path
and what was expected; all problems are reported together, so a user fixes the file in
one pass. Validation runs in two layers: the models of :mod:`leadsla.config.schema`
check the shape and the values of each key, and :mod:`leadsla.config.checks` the names
that relate keys to each other, on the raw document, so a typo in one key does not hide
a bad reference next to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from leadsla.config.checks import cross_key_problems
from leadsla.config.document import (
    ConfigError,
    ConfigProblem,
    Document,
    KeyPath,
    did_you_mean,
    read_document,
    shown,
    yaml_kind,
)
from leadsla.config.schema import Config

__all__ = ["load_config", "load_config_text"]


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raise :class:`ConfigError` listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", None, "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError(source, [ConfigProblem("", None, "is a directory, not a file")]) from None
    except UnicodeDecodeError as exc:
        message = f"is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError(source, [ConfigProblem("", None, message)]) from None
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
        raise ConfigError(source, [ConfigProblem("", None, message)]) from None
    return load_config_text(text, source)


def load_config_text(text: str, source: str = "leadsla.yaml") -> Config:
    """Validate config text; ``source`` names it in messages (a path, or an upload's name)."""
    # Duplicate keys are reported with the rest; a syntax error leaves nothing to validate.
    document = read_document(text, source)
    data, problems = document.data, list(document.duplicates)
    if not isinstance(data, dict):
        got = "is empty" if data is None else f"holds a {yaml_kind(data)}"
        message = f"{got}; expected a mapping of keys such as calendars, teams and policies"
        raise ConfigError(source, [ConfigProblem("", 1 if data is not None else None, message)])

    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problem(error, document) for error in exc.errors())
    problems.extend(document.problem(path, message) for path, message in cross_key_problems(data))
    if problems or config is None:
        raise ConfigError(source, problems)
    config._source = source
    return config


# -- pydantic's errors, in our words ---------------------------------------------------------


def _pydantic_problem(error: Mapping[str, Any], document: Document) -> ConfigProblem:
    path = _document_path(document.data, error["loc"])
    kind: str = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        expected = _expected_keys(path[:-1])
        key = str(path[-1]) if path else "?"
        message = f'unknown key "{key}"'
        if expected:
            message += did_you_mean(key, expected) + "; expected one of: " + ", ".join(expected)
    elif kind == "missing":
        message = "is required but missing"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping of keys, got {shown(value)}"
    elif kind == "list_type":
        message = f"expected a list, got {shown(value)}"
    elif kind == "literal_error":
        expected_text = error.get("ctx", {}).get("expected", "")
        message = f"expected {expected_text}, got {shown(value)}"
    elif kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        message = _lower_first(str(error["msg"])) + f", got {shown(value)}"
    return document.problem(path, message)


def _document_path(data: Any, loc: Sequence[str | int]) -> KeyPath:
    """The parts of pydantic's ``loc`` that are keys of the document ``data``.

    Pydantic adds parts such as ``[key]`` or ``function-after[...]``; a last part
    that is not in the data is kept, as it names a missing or unknown key.
    """
    path: list[str | int] = []
    current: Any = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        in_mapping = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and -1 < part < len(current)
        if in_mapping or in_list:
            path.append(part)
            current = current[part]
        elif last and isinstance(current, dict) and part != "[key]":
            path.append(part)
            current = None
        else:
            current = None
    return tuple(path)


def _expected_keys(path: KeyPath) -> list[str]:
    """The keys the model at ``path`` accepts (by alias), for "unknown key" messages."""
    current: Any = Config
    for part in path:
        current = _strip_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {field.alias or name: field for name, field in current.model_fields.items()}
            field = fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _strip_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _strip_optional(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [arg for arg in get_args(annotation) if arg is not NoneType]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
