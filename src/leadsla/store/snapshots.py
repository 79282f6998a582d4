"""The dashboard's report snapshots: one row per scope and period, replaced whole.

A snapshot is the report at its ``as_of`` over the events up to ``events_seq``; the
worker writes them (:mod:`leadsla.web.figures`) and the pages read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from leadsla.store.tables import events, report_snapshots


@dataclass(frozen=True, slots=True)
class Snapshot:
    scope: str
    period: str
    as_of: int
    events_seq: int
    report: dict[str, Any]
    segments: dict[str, Any] | None
    computed_at: int
    objectives: list[dict[str, Any]] | None = None
    counts: dict[str, int] | None = None


def last_event_seq(connection: Connection) -> int:
    """The sequence number of the last event stored (0: none)."""
    return int(connection.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0)


def save_snapshot(connection: Connection, snapshot: Snapshot) -> None:
    """Write ``snapshot`` in place of the scope and period's previous one."""
    dialect = connection.dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(report_snapshots)
    values = {
        "scope": snapshot.scope,
        "period": snapshot.period,
        "as_of": snapshot.as_of,
        "events_seq": snapshot.events_seq,
        "report": json.dumps(snapshot.report),
        "segments": None if snapshot.segments is None else json.dumps(snapshot.segments),
        "objectives": None if snapshot.objectives is None else json.dumps(snapshot.objectives),
        "computed_at": snapshot.computed_at,
        "counts": None if snapshot.counts is None else json.dumps(snapshot.counts),
    }
    statement = insert.values(**values)
    keys = [report_snapshots.c.scope, report_snapshots.c.period]
    kept = ("scope", "period")
    replaced = {name: statement.excluded[name] for name in values if name not in kept}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=replaced))


def snapshot_marks(connection: Connection) -> dict[tuple[str, str], tuple[int, int]]:
    """(scope, period) → (as_of, events_seq) of every snapshot: what a refresh decision
    reads, without the reports themselves."""
    columns = report_snapshots.c
    query = select(columns.scope, columns.period, columns.as_of, columns.events_seq)
    return {(s, p): (at, seq) for s, p, at, seq in connection.execute(query)}


def load_snapshot(connection: Connection, scope: str, period: str) -> Snapshot | None:
    """The scope and period's snapshot; None when the worker has written none yet."""
    row = connection.execute(
        select(report_snapshots).where(
            report_snapshots.c.scope == scope, report_snapshots.c.period == period
        )
    ).one_or_none()
    if row is None:
        return None
    return Snapshot(
        scope=row.scope,
        period=row.period,
        as_of=row.as_of,
        events_seq=row.events_seq,
        report=json.loads(row.report),
        segments=None if row.segments is None else json.loads(row.segments),
        computed_at=row.computed_at,
        objectives=None if row.objectives is None else json.loads(row.objectives),
        counts=None if row.counts is None else json.loads(row.counts),
    )
