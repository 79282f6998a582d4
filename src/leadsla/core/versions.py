"""A policy's version: a digest of everything that decides its clocks, so that two
configs that say the same thing give the same version however they are written."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

from leadsla.core.policy import Policy

DIGEST_CHARS = 16


def policy_definition(policy: Policy) -> str:
    """The policy as canonical JSON: keys sorted, sets as sorted lists."""
    # Anything else JSON has no type for (a Decimal amount) is written as its text.
    return json.dumps(_plain(policy), sort_keys=True, separators=(",", ":"), default=str)


def policy_digest(policy: Policy) -> str:
    return hashlib.sha256(policy_definition(policy).encode()).hexdigest()[:DIGEST_CHARS]


def _plain(value: Any) -> Any:
    # Sets and frozensets print in hash order, which changes between processes.
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
