"""A policy's version: a digest of everything that decides its clocks, so that two
configs that say the same thing give the same version however they are written."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from leadsla.core.durations import Duration
from leadsla.core.policy import EscalationStep, Policy

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


def policy_from_definition(definition: str) -> Policy:
    """The policy a :func:`policy_definition` text describes (its round trip): what a
    cycle recorded under an earlier version is judged by."""
    plain = json.loads(definition)
    return Policy(
        name=plain["name"],
        start=frozenset(plain["start"]),
        stop=frozenset(plain["stop"]),
        pause=frozenset(plain["pause"]),
        applies_to={name: frozenset(values) for name, values in plain["applies_to"].items()},
        targets={grade: _duration(text) for grade, text in plain["targets"].items()},
        optional=frozenset(plain["optional"]),
        calendar=plain["calendar"],
        warn_at=plain["warn_at"],
        escalate=tuple(
            EscalationStep(
                number=step["number"],
                after=_duration(step["after"]),
                notify=tuple(step["notify"]),
                message=step["message"],
                urgent=step["urgent"],
            )
            for step in plain["escalate"]
        ),
        start_activity=frozenset(plain["start_activity"]),
        start_assigned=plain["start_assigned"],
        stop_activity=frozenset(plain["stop_activity"]),
        stop_assigned=plain["stop_assigned"],
        on_reassign=plain["on_reassign"],
        kind=plain["kind"],
        attempts=plain["attempts"],
        within=None if plain["within"] is None else _duration(plain["within"]),
        gap=None if plain["gap"] is None else _duration(plain["gap"]),
    )


def _duration(plain: Mapping[str, Any]) -> Duration:
    # The amount was written as its Decimal text, so it comes back exactly.
    return Duration(amount=Decimal(plain["amount"]), unit=plain["unit"], business=plain["business"])


def judging_policy(current: Policy, recorded: Policy) -> Policy:
    """The policy a cycle recorded under ``recorded`` is judged by while ``current`` is
    the config's: the recorded version's terms (targets, optional grades, warning,
    escalation steps, a cadence's attempts, window and gap) on the current conditions.

    Which cycles a lead has, and when each starts, pauses and stops, follow the current
    conditions (every view replays the same events under one config, so they agree);
    what the cycle was promised is the version's. When the two disagree on the kind
    (an SLA became a cadence, or back) the cycles themselves differ, so the current
    policy judges them.
    """
    if current.kind != recorded.kind:
        return current
    return dataclasses.replace(
        current,
        targets=recorded.targets,
        optional=recorded.optional,
        warn_at=recorded.warn_at,
        escalate=recorded.escalate,
        attempts=recorded.attempts,
        within=recorded.within,
        gap=recorded.gap,
    )
