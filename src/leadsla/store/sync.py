"""The CRM sync's state: each CRM's watermark and the write-back ledger (docs/crm.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Table, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadsla.store.tables import crm_writebacks, events, leads, sync_watermarks


def _insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    dialect = connection.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def watermark(connection: Connection, crm: str) -> int | None:
    """The end of the last window of ``crm`` whose events are stored; None before the
    first sync."""
    return connection.scalar(
        select(sync_watermarks.c.synced_until).where(sync_watermarks.c.crm == crm)
    )


def save_watermark(connection: Connection, crm: str, until: int, synced_at: int) -> None:
    """Move ``crm``'s watermark to ``until`` (in the caller's transaction)."""
    statement = _insert(connection, sync_watermarks).values(
        crm=crm, synced_until=until, synced_at=synced_at
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[sync_watermarks.c.crm],
            set_={
                "synced_until": statement.excluded.synced_until,
                "synced_at": statement.excluded.synced_at,
            },
        )
    )


def last_writeback(connection: Connection, crm: str) -> int | None:
    """The instant of ``crm``'s last write-back round; None before the first."""
    return connection.scalar(
        select(sync_watermarks.c.written_at).where(sync_watermarks.c.crm == crm)
    )


def save_writeback_round(connection: Connection, crm: str, at: int) -> None:
    """Note a write-back round of ``crm`` at ``at`` (after a sync, whose row is there)."""
    connection.execute(
        update(sync_watermarks).where(sync_watermarks.c.crm == crm).values(written_at=at)
    )


def leads_updated_since(connection: Connection, since: int) -> set[str]:
    """Leads whose clocks were written after ``since`` (new events of any source)."""
    rows = connection.execute(select(leads.c.lead_id).where(leads.c.updated_at > since))
    return {row[0] for row in rows}


def open_writebacks(connection: Connection, crm: str) -> set[str]:
    """Leads whose record may show something new without a new event: last written with
    a clock still going (running or paused, which time alone can end), or with a write
    still pending."""
    table = crm_writebacks.c
    rows = connection.execute(
        select(table.lead_id).where(
            and_(
                table.crm == crm,
                or_(
                    table.state.in_(("running", "paused")),
                    table.attempts > 0,
                    table.pending_state.is_not(None),
                    table.pending_due_at.is_not(None),
                ),
            )
        )
    )
    return {row[0] for row in rows}


def synced_lead_ids(connection: Connection, source: str) -> list[str]:
    """The leads that events of ``source`` (a sync's) are about."""
    rows = connection.execute(select(events.c.lead_id).where(events.c.source == source).distinct())
    return sorted(row[0] for row in rows)


@dataclass(frozen=True, slots=True)
class Written:
    """What a CRM record shows, or is to show, of a lead's SLA."""

    lead_id: str
    due_at: int | None
    state: str | None


def written(connection: Connection, crm: str, lead_ids: Sequence[str]) -> dict[str, Written]:
    """What was last written to each of these leads' records."""
    found: dict[str, Written] = {}
    table = crm_writebacks.c
    for start in range(0, len(lead_ids), 500):
        chunk = list(lead_ids[start : start + 500])
        rows = connection.execute(
            select(table.lead_id, table.due_at, table.state, table.written_at).where(
                and_(table.crm == crm, table.lead_id.in_(chunk))
            )
        )
        for lead_id, due_at, state, written_at in rows:
            if written_at is not None:
                found[lead_id] = Written(lead_id, due_at, state)
    return found


def mark_pending(connection: Connection, crm: str, changes: Sequence[Written]) -> None:
    """Note the values each lead's record is to show, before they are sent (one
    statement for the batch)."""
    if not changes:
        return
    statement = _insert(connection, crm_writebacks)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[crm_writebacks.c.crm, crm_writebacks.c.lead_id],
            set_={
                "pending_due_at": statement.excluded.pending_due_at,
                "pending_state": statement.excluded.pending_state,
            },
        ),
        [
            {
                "crm": crm,
                "lead_id": change.lead_id,
                "pending_due_at": change.due_at,
                "pending_state": change.state,
                "attempts": 0,
            }
            for change in changes
        ],
    )


def mark_written(connection: Connection, crm: str, done: Sequence[Written], at: int) -> None:
    """The record now shows these values: they are the ledger's, nothing is pending."""
    if not done:
        return
    table = crm_writebacks.c
    connection.execute(
        update(crm_writebacks)
        .where(and_(table.crm == crm, table.lead_id == bindparam("lead")))
        .values(
            due_at=bindparam("due"),
            state=bindparam("shown"),
            written_at=at,
            pending_due_at=None,
            pending_state=None,
            attempts=0,
            last_error=None,
        ),
        [{"lead": w.lead_id, "due": w.due_at, "shown": w.state} for w in done],
    )


def mark_failed(connection: Connection, crm: str, failures: Sequence[tuple[str, str]]) -> None:
    """A write refused: the pending values stay for the next round, the attempt counts."""
    if not failures:
        return
    table = crm_writebacks.c
    connection.execute(
        update(crm_writebacks)
        .where(and_(table.crm == crm, table.lead_id == bindparam("lead")))
        .values(attempts=table.attempts + 1, last_error=bindparam("error")),
        [{"lead": lead_id, "error": error[:2000]} for lead_id, error in failures],
    )


def failed_writes(connection: Connection, crm: str) -> list[tuple[str, int, str | None]]:
    """``(lead, attempts, last error)`` of the writes still pending after a failure."""
    table = crm_writebacks.c
    rows = connection.execute(
        select(table.lead_id, table.attempts, table.last_error)
        .where(and_(table.crm == crm, table.attempts > 0))
        .order_by(table.lead_id)
    )
    return [(lead, attempts, error) for lead, attempts, error in rows]
