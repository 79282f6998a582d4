"""Qualification: when a lead in nurture becomes an MQL, and the event that says so.

A lead is *in nurture* while it has no status, or a status of stage ``nurture``
(``Recycled``, ``Deferred``) — except a lead whose ``revisit_at`` is still ahead:
a deferred lead waits for its revisit date. After each instant of its history, a
lead in nurture whose score reaches the MQL threshold, or that meets a trigger,
becomes an MQL at that instant: the decision adds, at the same instant, its
``score``, the trigger's ``grade`` (when a trigger qualified it) and the MQL status
(``New``), which starts the follow-up clock (SPEC §4 rule 1; a lead recycled before
starts a new cycle, rule 7). A lead below the threshold stays in nurture.

Pure: the history is passed in, time is the history's own instants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from leadsla.core.clock import apply_changes, by_instant
from leadsla.core.intake import DECISION_FIELD
from leadsla.core.scoring import LeadFacts, Row, Score, Scoring, score_lead

NURTURE_STAGE = "nurture"
REVISIT_FIELD = "revisit_at"


@dataclass(frozen=True, slots=True)
class Decision:
    """What qualification decided about a lead at an instant, and the rows it adds."""

    at: int
    outcome: Literal["mql", "nurture"]
    score: Score
    changes: tuple[tuple[str, str], ...]
    fields: Mapping[str, str]  # the lead's fields after the instant and the changes


def in_nurture(
    fields: Mapping[str, str],
    stages: Mapping[str, str | None],
    at: int,
    revisit_of: Callable[[str], int | None],
) -> bool:
    """No status or a nurture status, and no revisit date still ahead of ``at``."""
    status = fields.get("status")
    if status is not None and stages.get(status) != NURTURE_STAGE:
        return False
    revisit = fields.get(REVISIT_FIELD)
    if status is not None and revisit is not None:
        when = revisit_of(revisit)
        if when is not None and when > at:
            return False
    return True


def decide(
    scoring: Scoring,
    stages: Mapping[str, str | None],
    rows: Sequence[Row],
    since: int,
    revisit_of: Callable[[str], int | None],
) -> list[Decision]:
    """The decisions for the instants at or after ``since`` of a history in instant order.

    An ``mql`` decision for each instant at which a lead in nurture qualifies; one
    ``nurture`` decision at the lead's first instant when it does not qualify then
    (the end of marketing's intake). Decisions already in the history (a stored MQL
    status at that instant) are not made again, so a replay adds nothing.
    """
    behaviour_fields = scoring.behaviour_fields()
    fields: dict[str, str] = {}
    occurrences: list[Row] = []
    decisions: list[Decision] = []
    first = True
    for at, instant in by_instant(rows):
        apply_changes(fields, instant)
        occurrences.extend((at, name, value) for name, value in instant if name in behaviour_fields)
        was_first, first = first, False
        if at < since or not in_nurture(fields, stages, at, revisit_of):
            continue
        score = score_lead(scoring, LeadFacts(fields, occurrences), at)
        if not score.mql:
            if was_first:
                fields[DECISION_FIELD] = "nurture"
                decisions.append(
                    Decision(at, "nurture", score, ((DECISION_FIELD, "nurture"),), dict(fields))
                )
            continue
        changes: list[tuple[str, str]] = [
            (DECISION_FIELD, "mql"),
            ("score", f"{score.score:g}"),
        ]
        if score.trigger is not None and score.grade is not None:
            changes.append(("grade", score.grade))
        changes.append(("status", scoring.mql_status))
        for name, value in changes:
            fields[name] = value
        decisions.append(Decision(at, "mql", score, tuple(changes), dict(fields)))
    return decisions


def unowned_mqls(
    stages: Mapping[str, str | None], rows: Sequence[Row], since: int
) -> list[tuple[int, dict[str, str]]]:
    """The instants at or after ``since`` at which the lead's status entered a status of
    stage ``open`` (an MQL) and it had no owner after the instant, with its fields then."""
    found: list[tuple[int, dict[str, str]]] = []
    fields: dict[str, str] = {}
    for at, instant in by_instant(rows):
        before = stages.get(fields["status"]) if "status" in fields else None
        apply_changes(fields, instant)
        status = fields.get("status")
        entered = status is not None and stages.get(status) == "open" and before != "open"
        if at >= since and entered and not fields.get("owner"):
            found.append((at, dict(fields)))
    return found
