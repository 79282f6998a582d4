"""Storing events and keeping every lead's clocks current, in one transaction per batch.

An event that extends a lead's history (later than its last instant) is applied
with the core's incremental step; one that lands at or before the last instant
changes history already applied, so that lead is replayed from its stored
events. Both paths run :meth:`LeadClocks.apply`, so they agree with
``leadsla evaluate`` on the same events.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, select, text, update

from leadsla.core.clock import Change, LeadClocks, Timer, TimerKind, cycle_timers, judge
from leadsla.core.events import InstantError, normalize_field, parse_instant, value_problem
from leadsla.core.policy import Rulebook
from leadsla.service.qualify import qualify_leads
from leadsla.store.bulk import insert_rows
from leadsla.store.codec import cycle_facts, cycle_from_row
from leadsla.store.tables import clock_cycles, events, leads

# Keys looked up per query: well under every driver's bound-parameter limit.
KEY_CHUNK = 500


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    lead_id: str
    at: int
    field: str
    value: str | None
    key: str | None = None
    source: str | None = None  # the batch's source when None


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    error: str


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    leads: int = 0
    replayed: int = 0


def event_from_json(
    item: object, index: int, rules: Rulebook, statuses: Sequence[str], grades: Sequence[str]
) -> IncomingEvent | Rejection:
    """Validate one element of a ``POST /events`` body (SPEC §3 meanings)."""
    if not isinstance(item, Mapping):
        return Rejection(index, "an event must be an object with lead_id, at, field, value")
    lead_id = item.get("lead_id")
    if not isinstance(lead_id, str | int) or not str(lead_id).strip():
        return Rejection(index, "lead_id: missing or empty")
    at_text = item.get("at")
    if not isinstance(at_text, str):
        return Rejection(index, "at: missing; expected an ISO 8601 instant with a UTC offset")
    try:
        at = parse_instant(at_text)
    except InstantError as exc:
        return Rejection(index, f"at: {exc}")
    raw_field = item.get("field")
    if not isinstance(raw_field, str) or not raw_field.strip():
        return Rejection(index, "field: missing or empty")
    name = normalize_field(raw_field)
    raw_value = item.get("value")
    if raw_value is not None and not isinstance(raw_value, str | int | float):
        return Rejection(index, "value: must be a string, a number or null")
    value = "" if raw_value is None else str(raw_value).strip()
    problem = value_problem(name, value, statuses, grades)
    if problem is not None:
        return Rejection(index, f"value: {problem}")
    key = item.get("id")
    if key is not None and (not isinstance(key, str | int) or not str(key).strip()):
        return Rejection(index, "id: must be a non-empty string when given")
    return IncomingEvent(str(lead_id).strip(), at, name, value or None, _key(key))


def _key(key: object) -> str | None:
    return None if key is None else f"api:{str(key).strip()}"


def ingest(
    connection: Connection,
    rules: Rulebook,
    incoming: Sequence[IncomingEvent],
    *,
    source: str,
    recorded_at: int,
) -> IngestResult:
    """Store new events (a key seen before is a duplicate) and update the leads' clocks.

    Runs inside the caller's transaction: the events and the clocks they move are
    committed together or not at all.
    """
    result = IngestResult()
    lead_ids = sorted({e.lead_id for e in incoming})
    _lock_leads(connection, lead_ids)
    fresh = _drop_duplicates(connection, incoming, result)
    if not fresh:
        return result
    insert_rows(
        connection,
        events,
        ("lead_id", "at", "field", "value", "source", "key", "recorded_at"),
        [
            (e.lead_id, e.at, e.field, e.value, e.source or source, e.key, recorded_at)
            for e in fresh
        ],
    )
    result.accepted = len(fresh)
    by_lead: dict[str, list[IncomingEvent]] = defaultdict(list)
    for e in fresh:
        by_lead[e.lead_id].append(e)
    refresh_leads(connection, rules, by_lead, result, recorded_at=recorded_at)
    qualified = qualify_leads(connection, rules, by_lead, recorded_at=recorded_at)
    ingest_rows(connection, rules, qualified, recorded_at=recorded_at)
    return result


def ingest_rows(
    connection: Connection,
    rules: Rulebook,
    rows: Sequence[tuple[str, int, str, str | None, str]],
    *,
    recorded_at: int,
) -> None:
    """Store rows the engine derives (``lead_id, at, field, value, key``) like any event;
    the key's prefix (``qualify:``, ``route:``) is the row's source."""
    if rows:
        derived = [IncomingEvent(*row, source=row[4].partition(":")[0]) for row in rows]
        ingest(connection, rules, derived, source="derived", recorded_at=recorded_at)


def _lock_leads(connection: Connection, lead_ids: Sequence[str]) -> None:
    """Serialise work on the same lead across concurrent requests (PostgreSQL).

    SQLite has one writer at a time already (transactions begin IMMEDIATE).
    Sorted ids keep two batches from waiting on each other in a cycle.
    """
    if connection.dialect.name != "postgresql":
        return
    if lead_ids:
        connection.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtext(id)) "
                "FROM unnest(CAST(:ids AS text[])) AS t(id) ORDER BY id"
            ),
            {"ids": list(lead_ids)},
        )


def _drop_duplicates(
    connection: Connection, incoming: Sequence[IncomingEvent], result: IngestResult
) -> list[IncomingEvent]:
    keys = [e.key for e in incoming if e.key is not None]
    stored: set[str] = set()
    unique_keys = list(dict.fromkeys(keys))
    if connection.dialect.name == "postgresql" and unique_keys:
        # One array parameter joined against the unique index: an IN list of hundreds of
        # cast parameters made the planner scan the whole table (84 ms a query, profiled).
        found = connection.execute(
            text(
                "SELECT e.key FROM unnest(CAST(:keys AS varchar[])) AS k(key) "
                "JOIN events AS e ON e.key = k.key"
            ),
            {"keys": unique_keys},
        )
        stored.update(row[0] for row in found)
    else:
        for start in range(0, len(unique_keys), KEY_CHUNK):
            chunk = unique_keys[start : start + KEY_CHUNK]
            query = select(events.c.key).where(events.c.key.in_(chunk))
            stored.update(connection.scalars(query))
    fresh: list[IncomingEvent] = []
    seen: set[str] = set()
    for e in incoming:
        if e.key is not None:
            if e.key in stored or e.key in seen:
                result.duplicates += 1
                continue
            seen.add(e.key)
        fresh.append(e)
    return fresh


def refresh_leads(
    connection: Connection,
    rules: Rulebook,
    new_events: Mapping[str, Sequence[IncomingEvent]],
    result: IngestResult,
    *,
    recorded_at: int,
) -> None:
    """Bring the stored clocks of these leads up to date with their new (stored) events."""
    lead_ids = sorted(new_events)
    states = load_leads(connection, rules, lead_ids)
    replay_ids: list[str] = []
    for lead_id in lead_ids:
        state = states.get(lead_id)
        arrivals = sorted(new_events[lead_id], key=lambda e: e.at)  # stable: arrival order
        if state is not None and (state.last_at is None or arrivals[0].at <= state.last_at):
            replay_ids.append(lead_id)
            continue
        clocks = state or LeadClocks(lead_id)
        for at, changes in _instants((e.at, e.field, e.value) for e in arrivals):
            clocks.apply(rules, at, changes)
        states[lead_id] = clocks
    for lead_id, clocks in replay_leads(connection, rules, replay_ids).items():
        states[lead_id] = clocks
    result.replayed += len(replay_ids)
    result.leads += len(lead_ids)
    save_leads(connection, rules, [states[i] for i in lead_ids], recorded_at=recorded_at)


def _instants(rows: Iterable[tuple[int, str, str | None]]) -> list[tuple[int, list[Change]]]:
    """Rows sorted by instant, grouped into instants (file or arrival order within one)."""
    grouped: list[tuple[int, list[Change]]] = []
    for at, name, value in rows:
        if grouped and grouped[-1][0] == at:
            grouped[-1][1].append((name, value))
        else:
            grouped.append((at, [(name, value)]))
    return grouped


def load_leads(
    connection: Connection, rules: Rulebook, lead_ids: Sequence[str]
) -> dict[str, LeadClocks]:
    """The stored state of these leads (fields and cycles), as the core's objects."""
    states: dict[str, LeadClocks] = {}
    for start in range(0, len(lead_ids), KEY_CHUNK):
        chunk = list(lead_ids[start : start + KEY_CHUNK])
        for row in connection.execute(select(leads).where(leads.c.lead_id.in_(chunk))):
            states[row.lead_id] = LeadClocks(
                row.lead_id, fields=dict(row.fields), grade=row.grade, last_at=row.last_at
            )
        query = (
            select(clock_cycles)
            .where(clock_cycles.c.lead_id.in_(chunk))
            .order_by(clock_cycles.c.lead_id, clock_cycles.c.policy, clock_cycles.c.cycle)
        )
        for row in connection.execute(query):
            state = states.get(row.lead_id)
            if state is not None:
                state.cycles.setdefault(row.policy, []).append(cycle_from_row(row))
    return states


def replay_leads(
    connection: Connection, rules: Rulebook, lead_ids: Sequence[str], until: int | None = None
) -> dict[str, LeadClocks]:
    """Rebuild leads from their stored events (up to ``until``), in (at, arrival) order."""
    rebuilt: dict[str, LeadClocks] = {}
    for start in range(0, len(lead_ids), KEY_CHUNK):
        chunk = list(lead_ids[start : start + KEY_CHUNK])
        query = select(events.c.lead_id, events.c.at, events.c.field, events.c.value).where(
            events.c.lead_id.in_(chunk)
        )
        if until is not None:
            query = query.where(events.c.at <= until)
        query = query.order_by(events.c.lead_id, events.c.at, events.c.seq)
        rows_by_lead: dict[str, list[tuple[int, str, str | None]]] = defaultdict(list)
        for row in connection.execute(query):
            rows_by_lead[row.lead_id].append((row.at, row.field, row.value))
        for lead_id in chunk:
            clocks = LeadClocks(lead_id)
            for at, changes in _instants(rows_by_lead.get(lead_id, [])):
                clocks.apply(rules, at, changes)
            rebuilt[lead_id] = clocks
    return rebuilt


def save_leads(
    connection: Connection, rules: Rulebook, states: Sequence[LeadClocks], *, recorded_at: int
) -> None:
    """Write the leads' current fields and every cycle with its derived figures."""
    if not states:
        return
    ids = [s.lead_id for s in states]
    counts: dict[str, int] = dict(
        connection.execute(
            select(events.c.lead_id, func.count())
            .where(events.c.lead_id.in_(ids))
            .group_by(events.c.lead_id)
        ).all()
    )
    existing = set(connection.scalars(select(leads.c.lead_id).where(leads.c.lead_id.in_(ids))))
    rows = [
        {
            "lead_id": s.lead_id,
            "fields": s.fields,
            "status": s.status,
            "owner": s.owner,
            "grade": s.grade,
            "last_at": s.last_at if s.last_at is not None else 0,
            "events": counts.get(s.lead_id, 0),
            "updated_at": recorded_at,
        }
        for s in states
    ]
    columns = ("lead_id", "fields", "status", "owner", "grade", "last_at", "events", "updated_at")
    insert_rows(
        connection,
        leads,
        columns,
        [
            tuple(json.dumps(r[c]) if c == "fields" else r[c] for c in columns)
            for r in rows
            if r["lead_id"] not in existing
        ],
    )
    for r in rows:
        if r["lead_id"] in existing:
            connection.execute(update(leads).where(leads.c.lead_id == r["lead_id"]).values(**r))
    done_until = {
        (row.lead_id, row.policy, row.cycle): row.timers_done_until
        for row in connection.execute(
            select(
                clock_cycles.c.lead_id,
                clock_cycles.c.policy,
                clock_cycles.c.cycle,
                clock_cycles.c.timers_done_until,
            ).where(clock_cycles.c.lead_id.in_(ids), clock_cycles.c.timers_done_until.is_not(None))
        )
    }
    connection.execute(delete(clock_cycles).where(clock_cycles.c.lead_id.in_(ids)))
    cycle_columns = tuple(c.name for c in clock_cycles.columns)
    insert_rows(
        connection,
        clock_cycles,
        cycle_columns,
        [
            tuple(json.dumps(row[c]) if c == "facts" else row[c] for c in cycle_columns)
            for s in states
            for row in _cycle_rows(rules, s, done_until)
        ],
    )


def _cycle_rows(
    rules: Rulebook,
    state: LeadClocks,
    done_until: Mapping[tuple[str, str, int], int | None],
) -> list[dict[str, Any]]:
    policies = {p.name: p for p in rules.policies}
    rows: list[dict[str, Any]] = []
    last = state.last_at or 0
    for name, cycles in state.cycles.items():
        policy = policies.get(name)
        if policy is None:  # a policy removed from the config: its history stays readable
            continue
        for cycle in cycles:
            # Deadlines and timers matter while a cycle is open (the worker and the
            # at-risk lists read them); a stopped cycle is judged from its facts on read.
            due_at: int | None = None
            breach_at: int | None = None
            next_timer: int | None = None
            done = done_until.get((state.lead_id, name, cycle.number))
            if cycle.stopped_at is None:
                due_at = judge(rules, policy, cycle, last).due_at
                timers = cycle_timers(rules, policy, cycle)
                breach = [t.at for t in timers if t.kind is TimerKind.BREACH]
                breach_at = breach[0] if breach else None
                next_timer = next_timer_after(timers, done)
            elif policy.escalate or policy.warn_at is not None:
                # Steps that fell before the stop still fired (rule 8): the worker must
                # record them, sent or (when found too late) skipped.
                timers = [t for t in cycle_timers(rules, policy, cycle) if t.at < cycle.stopped_at]
                next_timer = next_timer_after(timers, done)
            rows.append(
                {
                    "lead_id": state.lead_id,
                    "policy": name,
                    "cycle": cycle.number,
                    "calendar": cycle.calendar,
                    "started_at": cycle.started_at,
                    "stopped_at": cycle.stopped_at,
                    "open": 1 if cycle.stopped_at is None else 0,
                    "due_at": due_at,
                    "breach_at": breach_at,
                    "next_timer_at": next_timer,
                    "facts": cycle_facts(cycle),
                    "timers_done_until": done,
                }
            )
    return rows


def next_timer_after(timers: Sequence[Timer], done_until: int | None) -> int | None:
    """The earliest warning or step the worker has not handled yet (breaches notify no one)."""
    pending = [
        t.at
        for t in timers
        if t.kind is not TimerKind.BREACH and (done_until is None or t.at > done_until)
    ]
    return min(pending, default=None)
