"""Cycles to and from their stored form: the facts as JSON, the figures as columns."""

from __future__ import annotations

from typing import Any

import orjson

from leadsla.core.clock import Cycle


def encode_json(value: Any) -> str:
    """JSON text for a JSON column written directly (see ``store.bulk``)."""
    return orjson.dumps(value).decode()


def cycle_facts(cycle: Cycle) -> dict[str, Any]:
    """The facts to encode as they are (orjson writes the (at, value) pairs as arrays):
    copying them first was a twentieth of an import worker's time (profiled)."""
    facts: dict[str, Any] = {
        "segments": cycle.segments,
        "grades": cycle.grades,
        "owners": cycle.owners,
    }
    # Written only when there is something to say, so plain cycles stay as small as before.
    if cycle.attempts:
        facts["attempts"] = cycle.attempts
    if cycle.reassigned:
        facts["reassigned"] = True
    return facts


def cycle_from_row(row: Any) -> Cycle:
    facts = row.facts
    return Cycle(
        policy=row.policy,
        number=row.cycle,
        calendar=row.calendar,
        started_at=row.started_at,
        segments=[[start, end] for start, end in facts["segments"]],
        stopped_at=row.stopped_at,
        grades=[(at, value) for at, value in facts["grades"]],
        owners=[(at, value) for at, value in facts["owners"]],
        attempts=list(facts.get("attempts", ())),
        reassigned=bool(facts.get("reassigned", False)),
    )
