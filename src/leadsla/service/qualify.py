"""Qualification in the service: scores from stored events, MQL decisions at ingest.

:func:`qualify_leads` is called by ingest once per batch, after the leads' clocks are
up to date; the rows it returns (status ``New`` and the score) are stored by ingest
like any event, so the follow-up clock starts exactly as for a CRM's own MQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, tzinfo
from typing import Any, Protocol

from sqlalchemy import Connection, select

from leadsla.core.calendar import local_instant
from leadsla.core.events import InstantError, parse_instant
from leadsla.core.policy import Rulebook
from leadsla.core.qualify import decide
from leadsla.core.scoring import Row, Score
from leadsla.core.timestamps import format_instant
from leadsla.store.bulk import insert_ignoring_duplicates
from leadsla.store.tables import events, lead_decisions

KEY_CHUNK = 500  # leads read per query, as in ingest


def score_record(lead_id: str, score: Score, zone: tzinfo) -> dict[str, Any]:
    """A score as one JSON object: figures, MQL verdict and the explanation, rule by rule."""
    return {
        "lead_id": lead_id,
        "as_of": format_instant(score.as_of, zone),
        "score": score.score,
        "grade": score.grade,
        "mql": score.mql,
        "mql_threshold": score.threshold,
        "trigger": score.trigger,
        "rules": [
            {
                "rule": line.rule,
                "kind": line.kind,
                "group": line.group,
                "points": line.points,
                "count": line.count,
                "awarded": round(line.awarded, 2),
                "detail": line.detail,
            }
            for line in score.lines
        ],
        "caps": [
            {"group": cap.group, "cap": cap.cap, "before": round(cap.before, 2)}
            for cap in score.capped
        ],
        "explanation": score.explanation(),
    }


def stored_rows(connection: Connection, lead_id: str) -> list[Row]:
    """A lead's stored events in (instant, arrival) order."""
    return stored_rows_of(connection, [lead_id])[lead_id]


# -- qualification at ingest ------------------------------------------------------------

SOURCE = "qualify"


def revisit_instant(zone: tzinfo) -> Callable[[str], int | None]:
    """``revisit_at`` as an instant: ISO 8601 with an offset, or a date (midnight in ``zone``)."""

    def parse(text: str) -> int | None:
        try:
            return parse_instant(text)
        except InstantError:
            pass
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            return None
        return local_instant(day, 0, zone)

    return parse


class _Arrival(Protocol):
    @property
    def at(self) -> int: ...


def qualify_leads(
    connection: Connection,
    rules: Rulebook,
    arrivals: Mapping[str, Sequence[_Arrival]],
    *,
    recorded_at: int,
) -> list[tuple[str, int, str, str | None, str]]:
    """Decide MQL or nurture for these leads from their earliest new event on.

    Records each decision with its score's explanation, and returns the rows an MQL
    decision adds (``lead_id, at, field, value, key``) for the caller to store like any
    other event. Nothing without a ``scoring`` section.
    """
    scoring = rules.scoring
    if scoring is None or not arrivals:
        return []
    since = {lead_id: min(e.at for e in batch) for lead_id, batch in arrivals.items()}
    zone = rules.calendars[rules.default_calendar].zone
    revisit_of = revisit_instant(zone)
    added: list[tuple[str, int, str, str | None, str]] = []
    records: list[dict[str, object]] = []
    lead_ids = sorted(since)
    for start in range(0, len(lead_ids), KEY_CHUNK):
        chunk = lead_ids[start : start + KEY_CHUNK]
        for lead_id, rows in stored_rows_of(connection, chunk).items():
            for decision in decide(scoring, rules.statuses, rows, since[lead_id], revisit_of):
                records.append(
                    {
                        "lead_id": lead_id,
                        "at": decision.at,
                        "kind": decision.outcome,
                        "detail": score_record(lead_id, decision.score, zone),
                        "recorded_at": recorded_at,
                    }
                )
                added.extend(
                    (lead_id, decision.at, name, value, f"{SOURCE}:{lead_id}:{decision.at}:{name}")
                    for name, value in decision.changes
                )
    insert_ignoring_duplicates(connection, lead_decisions, records)
    return added


def stored_rows_of(connection: Connection, lead_ids: Sequence[str]) -> dict[str, list[Row]]:
    """The stored events of these leads in (instant, arrival) order, by lead."""
    query = (
        select(events.c.lead_id, events.c.at, events.c.field, events.c.value)
        .where(events.c.lead_id.in_(list(lead_ids)))
        .order_by(events.c.lead_id, events.c.at, events.c.seq)
    )
    rows: dict[str, list[Row]] = {lead_id: [] for lead_id in lead_ids}
    for row in connection.execute(query):
        rows[row.lead_id].append((row.at, row.field, row.value))
    return rows


def decision_records(connection: Connection, lead_id: str, zone: tzinfo) -> list[dict[str, Any]]:
    """A lead's qualification and routing decisions, oldest first, with their reasons."""
    query = (
        select(lead_decisions)
        .where(lead_decisions.c.lead_id == lead_id)
        .order_by(lead_decisions.c.at, lead_decisions.c.id)
    )
    return [
        {
            "at": format_instant(row.at, zone),
            "kind": row.kind,
            "detail": row.detail,
            "recorded_at": format_instant(row.recorded_at, zone),
        }
        for row in connection.execute(query)
    ]
