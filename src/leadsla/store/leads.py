"""Leads, their events and their clock cycles as stored: the statements that read and write them.

The core's :class:`LeadClocks` is what goes in and comes out; rows are built in the
column orders below so that :mod:`leadsla.store.bulk` can write them directly.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from leadsla.core.clock import LeadClocks
from leadsla.store.bulk import (
    PackedRows,
    among,
    insert_packed,
    insert_rows,
    listed_values,
    pack_rows,
    unpack_rows,
)
from leadsla.store.codec import cycle_from_row, encode_json
from leadsla.store.tables import clock_cycles, events, leads

EVENT_COLUMNS = ("lead_id", "at", "field", "value", "source", "key", "recorded_at")
LEAD_COLUMNS = ("lead_id", "fields", "status", "owner", "grade", "last_at", "events", "updated_at")
CYCLE_COLUMNS = (
    "lead_id",
    "policy",
    "cycle",
    "calendar",
    "started_at",
    "stopped_at",
    "open",
    "due_at",
    "breach_at",
    "next_timer_at",
    "facts",
    "timers_done_until",
    "policy_version",
)

EventRow = tuple[int, str, str | None]  # at, field, value


# -- writing ------------------------------------------------------------------------------


def lock_leads(connection: Connection, lead_ids: Sequence[str]) -> None:
    """Serialise work on the same lead across concurrent requests (PostgreSQL).

    SQLite has one writer at a time already (transactions begin IMMEDIATE).
    Sorted ids keep two batches from waiting on each other in a cycle.
    """
    if connection.dialect.name != "postgresql":
        return
    if lead_ids:
        ids = listed_values(connection, lead_ids).subquery()
        locks = select(func.pg_advisory_xact_lock(func.hashtext(ids.c.value)))
        connection.execute(locks.select_from(ids).order_by(ids.c.value))


def stored_keys(connection: Connection, keys: Sequence[str]) -> set[str]:
    """Those of these event keys that are stored already (the duplicates of a batch)."""
    if not keys:
        return set()
    query = select(events.c.key).where(among(connection, events.c.key, keys))
    return set(connection.scalars(query))


def insert_events(connection: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Store events given as rows in :data:`EVENT_COLUMNS` order."""
    insert_rows(connection, events, EVENT_COLUMNS, rows)


def pack_new_leads(
    dialect: str,
    event_rows: Sequence[tuple[object, ...]],
    lead_rows: Sequence[tuple[object, ...]],
    cycle_rows: Sequence[tuple[object, ...]],
) -> PackedRows:
    """New leads' rows of the three tables packed for ``dialect`` (see :func:`pack_rows`)."""
    return pack_rows(
        dialect,
        [
            (events, EVENT_COLUMNS, event_rows),
            (leads, LEAD_COLUMNS, lead_rows),
            (clock_cycles, CYCLE_COLUMNS, cycle_rows),
        ],
    )


def packed_event_rows(packed: PackedRows) -> list[tuple[object, ...]]:
    """The event rows of :func:`pack_new_leads`' result, in :data:`EVENT_COLUMNS` order."""
    return unpack_rows(packed, events)


def inserted_if_new(
    connection: Connection,
    *,
    event_rows: Sequence[tuple[object, ...]],
    lead_rows: Sequence[tuple[object, ...]],
    cycle_rows: Sequence[tuple[object, ...]],
    packed: PackedRows | None = None,
) -> bool:
    """Whether new leads' rows (``packed``, else the three row lists) were written: not
    when some of them are stored already, a lead of them known (the leads' primary key
    refuses its row) or an event's key stored (the unique key refuses it); the
    savepoint then takes back whatever was written.

    The constraints are the check: looking the 20,000 keys of a chunk up first cost
    50 ms a chunk on PostgreSQL (measured), a tenth of an import's database work.
    Packed SQLite rows must be :func:`leadsla.store.bulk.attached` around the transaction.
    """
    refused = (IntegrityError, connection.dialect.loaded_dbapi.IntegrityError)
    try:
        with connection.begin_nested():
            if packed is not None:
                insert_packed(connection, packed)
            else:
                insert_events(connection, event_rows)
                insert_rows(connection, leads, LEAD_COLUMNS, lead_rows)
                insert_rows(connection, clock_cycles, CYCLE_COLUMNS, cycle_rows)
    except refused:
        return False
    return True


def lead_values(state: LeadClocks, events_stored: int, recorded_at: int) -> tuple[object, ...]:
    """A ``leads`` row in :data:`LEAD_COLUMNS` order, JSON already encoded."""
    return (
        state.lead_id,
        encode_json(state.fields),
        state.status,
        state.owner,
        state.grade,
        state.last_at if state.last_at is not None else 0,
        events_stored,
        recorded_at,
    )


@dataclass
class StoredLeads:
    """What the database holds of some leads before a batch touches them."""

    states: dict[str, LeadClocks] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # events stored per lead
    # How far the worker has handled each cycle's timers: kept across rewrites.
    done_until: dict[tuple[str, str, int], int] = field(default_factory=dict)
    # Each cycle's policy version and schedule as stored: a cycle of an older version
    # keeps its deadlines across rewrites (SPEC §9.6).
    kept: dict[tuple[str, str, int], KeptCycle] = field(default_factory=dict)


@dataclass(frozen=True)
class KeptCycle:
    version: int | None
    started_at: int
    stopped_at: int | None
    due_at: int | None
    breach_at: int | None
    next_timer_at: int | None


def save_leads(
    connection: Connection,
    *,
    states: Sequence[LeadClocks],
    stored: StoredLeads,
    added: Mapping[str, int],
    cycle_rows: Sequence[tuple[object, ...]],
    recorded_at: int,
) -> None:
    """Write the leads' current fields and replace their cycles by ``cycle_rows``
    (:data:`CYCLE_COLUMNS` order).

    ``stored`` is what :func:`load_stored` read before the batch; ``added`` counts
    the events the batch stored per lead.
    """
    if not states:
        return
    fresh_rows: list[tuple[object, ...]] = []
    updates: list[dict[str, object]] = []
    for s in states:
        count = stored.events.get(s.lead_id, 0) + added.get(s.lead_id, 0)
        values = lead_values(s, count, recorded_at)
        if s.lead_id in stored.states:
            update_row: dict[str, object] = dict(zip(LEAD_COLUMNS[1:], values[1:], strict=True))
            update_row["fields"] = s.fields
            update_row["key_lead_id"] = s.lead_id
            updates.append(update_row)
        else:
            fresh_rows.append(values)
    insert_rows(connection, leads, LEAD_COLUMNS, fresh_rows)
    if updates:
        connection.execute(
            update(leads).where(leads.c.lead_id == bindparam("key_lead_id")), updates
        )
        known = [s.lead_id for s in states if s.lead_id in stored.states]
        connection.execute(
            delete(clock_cycles).where(among(connection, clock_cycles.c.lead_id, known))
        )
    insert_rows(connection, clock_cycles, CYCLE_COLUMNS, cycle_rows)


# -- reading ------------------------------------------------------------------------------


def load_stored(connection: Connection, lead_ids: Sequence[str]) -> StoredLeads:
    """The stored state of these leads (fields and cycles), as the core's objects."""
    stored = StoredLeads()
    if not lead_ids:
        return stored
    for row in connection.execute(
        select(leads).where(among(connection, leads.c.lead_id, lead_ids))
    ):
        stored.states[row.lead_id] = LeadClocks(
            row.lead_id, fields=dict(row.fields), grade=row.grade, last_at=row.last_at
        )
        stored.events[row.lead_id] = row.events
    query = (
        select(clock_cycles)
        .where(among(connection, clock_cycles.c.lead_id, lead_ids))
        .order_by(clock_cycles.c.lead_id, clock_cycles.c.policy, clock_cycles.c.cycle)
    )
    for row in connection.execute(query):
        state = stored.states.get(row.lead_id)
        if state is not None:
            state.cycles.setdefault(row.policy, []).append(cycle_from_row(row))
        if row.timers_done_until is not None:
            stored.done_until[(row.lead_id, row.policy, row.cycle)] = row.timers_done_until
        stored.kept[(row.lead_id, row.policy, row.cycle)] = KeptCycle(
            row.policy_version,
            row.started_at,
            row.stopped_at,
            row.due_at,
            row.breach_at,
            row.next_timer_at,
        )
    return stored


def load_leads(connection: Connection, lead_ids: Sequence[str]) -> dict[str, LeadClocks]:
    """The stored state of these leads (fields and cycles), as the core's objects."""
    return load_stored(connection, lead_ids).states


def event_rows_of(
    connection: Connection, lead_ids: Sequence[str], *, until: int | None = None
) -> dict[str, list[EventRow]]:
    """The stored events of these leads (up to ``until``) in (instant, arrival) order,
    by lead; every lead asked for has a list."""
    rows: dict[str, list[EventRow]] = {lead_id: [] for lead_id in lead_ids}
    if not lead_ids:
        return rows
    query = select(events.c.lead_id, events.c.at, events.c.field, events.c.value).where(
        among(connection, events.c.lead_id, lead_ids)
    )
    if until is not None:
        query = query.where(events.c.at <= until)
    query = query.order_by(events.c.lead_id, events.c.at, events.c.seq)
    for row in connection.execute(query):
        rows[row.lead_id].append((row.at, row.field, row.value))
    return rows


def event_history(connection: Connection, lead_id: str) -> list[Row[Any]]:
    """A lead's stored events (every column) in (instant, arrival) order."""
    query = select(events).where(events.c.lead_id == lead_id).order_by(events.c.at, events.c.seq)
    return list(connection.execute(query))


def lead_row(connection: Connection, lead_id: str) -> Row[Any] | None:
    """The lead's ``leads`` row (fields, status, owner, grade, ...), None when unknown."""
    return connection.execute(select(leads).where(leads.c.lead_id == lead_id)).first()


def lead_owner(connection: Connection, lead_id: str) -> tuple[bool, str | None]:
    """Whether the lead exists, and its current owner."""
    row = connection.execute(select(leads.c.owner).where(leads.c.lead_id == lead_id)).first()
    return (row is not None, row.owner if row is not None else None)


def _owned_by(query: Select[Any], owners: Collection[str] | None) -> Select[Any]:
    return query if owners is None else query.where(leads.c.owner.in_(sorted(owners)))


def lead_ids(
    connection: Connection,
    *,
    owners: Collection[str] | None = None,
    lead_id: str | None = None,
    policy: str | None = None,
) -> list[str]:
    """Lead ids in order, of these ``owners`` (None: every owner), one ``lead_id`` or
    those with a cycle of ``policy``."""
    query = _owned_by(select(leads.c.lead_id), owners).order_by(leads.c.lead_id)
    if lead_id is not None:
        query = query.where(leads.c.lead_id == lead_id)
    if policy is not None:
        with_policy = select(clock_cycles.c.lead_id).where(clock_cycles.c.policy == policy)
        query = query.where(leads.c.lead_id.in_(with_policy))
    return list(connection.scalars(query))


@dataclass(frozen=True, slots=True)
class DueFilter:
    """Open cycles stored as due in ``[since, before)`` and not breached by ``as_of``;
    leads with an event after ``as_of`` are kept whatever their stored cycles say."""

    since: int
    before: int
    as_of: int


def _filtered(
    query: Select[Any],
    *,
    owners: Collection[str] | None,
    owner: str | None,
    status: str | None,
    grade: str | None,
) -> Select[Any]:
    query = _owned_by(query, owners)
    if owner is not None:
        query = query.where(leads.c.owner == owner)
    if status is not None:
        query = query.where(leads.c.status == status)
    if grade is not None:
        query = query.where(leads.c.grade == grade)
    return query


def lead_rows(
    connection: Connection,
    *,
    owners: Collection[str] | None = None,
    owner: str | None = None,
    status: str | None = None,
    grade: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Row[Any]]:
    """``leads`` rows in id order, of these ``owners`` (None: every owner) and filtered
    by current owner, status and grade; a page of them when ``limit`` is given."""
    query = _filtered(
        select(leads), owners=owners, owner=owner, status=status, grade=grade
    ).order_by(leads.c.lead_id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(connection.execute(query))


def queue_keys(
    connection: Connection,
    *,
    owners: Collection[str] | None = None,
    owner: str | None = None,
    status: str | None = None,
    grade: str | None = None,
    due: DueFilter | None = None,
) -> list[str]:
    """The ids, in order, of the leads a queue must judge: filtered as :func:`lead_rows`,
    or, with ``due``, those with an open cycle whose stored figures say it may be due
    soon and not breached (:class:`DueFilter`), read through the open-cycle index
    instead of judging every lead's clocks, and left unfiltered by owner, status and
    grade: :func:`rows_of` filters the chunks a queue reads.

    Ids only: a queue judges them a chunk at a time and stops at its page, so the rows
    (and their fields) are read for the chunks it reads, not for every candidate.
    """
    if due is None:
        query = _filtered(
            select(leads.c.lead_id), owners=owners, owner=owner, status=status, grade=grade
        )
        return list(connection.scalars(query.order_by(leads.c.lead_id)))
    cycles = clock_cycles.c
    soon = select(cycles.lead_id).where(
        cycles.open == 1,
        cycles.due_at >= due.since,
        cycles.due_at < due.before,
        or_(cycles.breach_at.is_(None), cycles.breach_at > due.as_of),
    )
    # The stored cycles are the state after the lead's last event: a lead with an
    # event after ``as_of`` (a look back in time) is judged whatever they say.
    later = select(leads.c.lead_id).where(leads.c.last_at > due.as_of)
    # Two indexed reads: an ``OR`` of the two in one query made SQLite scan every lead
    # (0.57 s against 0.24 s at 200,000 leads, measured). Not filtered here by owner:
    # a rep's share of the window's candidates is found a chunk at a time, where
    # filtering all of them read every candidate's row (14,726 at 1 M leads; 0.47 s
    # CPU for a rep's page).
    return sorted(set(connection.scalars(soon)) | set(connection.scalars(later)))


def rows_of(
    connection: Connection,
    lead_ids: Sequence[str],
    *,
    owners: Collection[str] | None = None,
    owner: str | None = None,
    status: str | None = None,
    grade: str | None = None,
) -> list[Row[Any]]:
    """The ``leads`` rows of those of these leads that pass the filters of
    :func:`lead_rows`, in id order.

    Read by id and filtered here, not in the query: with an owner in the ``WHERE``
    SQLite read the owner's index instead (every lead of the rep, for each chunk:
    2.4 s CPU for a manager's At risk page at 1 M leads, measured)."""
    if not lead_ids:
        return []
    query = select(leads).where(among(connection, leads.c.lead_id, lead_ids))
    return sorted(
        (
            row
            for row in connection.execute(query)
            if (owners is None or row.owner in owners)
            and (owner is None or row.owner == owner)
            and (status is None or row.status == status)
            and (grade is None or row.grade == grade)
        ),
        key=lambda row: row.lead_id,
    )


def owned_leads_in(connection: Connection, statuses: Sequence[str]) -> list[tuple[str, str]]:
    """(lead, owner) of the leads with an owner whose status is one of ``statuses``."""
    query = select(leads.c.lead_id, leads.c.owner).where(
        leads.c.owner.is_not(None), leads.c.status.in_(statuses)
    )
    return [(lead_id, owner) for lead_id, owner in connection.execute(query)]


def fields_in(connection: Connection, statuses: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """(lead, current fields) of the leads whose status is one of ``statuses``."""
    query = select(leads.c.lead_id, leads.c.fields).where(leads.c.status.in_(statuses))
    return [(lead_id, dict(fields)) for lead_id, fields in connection.execute(query)]


def fields_of(connection: Connection, lead_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """The current fields of those of these leads that are stored."""
    query = select(leads.c.lead_id, leads.c.fields).where(
        among(connection, leads.c.lead_id, lead_ids)
    )
    return {row.lead_id: dict(row.fields) for row in connection.execute(query)}


def leads_per_owner(connection: Connection) -> dict[str, int]:
    """How many leads each owner holds, whatever their status."""
    query = (
        select(leads.c.owner, func.count())
        .where(leads.c.owner.is_not(None))
        .group_by(leads.c.owner)
    )
    return {owner: count for owner, count in connection.execute(query)}


def open_leads_per_owner(connection: Connection, statuses: Sequence[str]) -> dict[str, int]:
    """How many leads each owner holds whose status is one of ``statuses``."""
    query = (
        select(leads.c.owner, func.count())
        .where(leads.c.owner.is_not(None), leads.c.status.in_(statuses))
        .group_by(leads.c.owner)
    )
    return {owner: count for owner, count in connection.execute(query)}


def leads_with_open_cycle(connection: Connection, policy: str) -> list[str]:
    """The leads whose clock of ``policy`` has a cycle still open."""
    query = select(clock_cycles.c.lead_id).where(
        clock_cycles.c.policy == policy, clock_cycles.c.open == 1
    )
    return list(connection.scalars(query))
