"""Storing events and keeping every lead's clocks current, in one transaction per batch.

An event that extends a lead's history (later than its last instant) is applied
with the core's incremental step; one that lands at or before the last instant
changes history already applied, so that lead is replayed from its stored
events. Both paths run :meth:`LeadClocks.apply`, so they agree with
``leadsla evaluate`` on the same events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from operator import getitem

from sqlalchemy import Connection

from leadsla.core.clock import LeadClocks, by_instant, replay
from leadsla.core.events import (
    InstantError,
    normalize_field,
    parse_event_instant,
    value_problem,
)
from leadsla.core.limits import (
    MAX_KEY,
    event_problem,
    instant_in_range,
    range_problem,
    text_problem,
)
from leadsla.core.policy import Policy, Rulebook
from leadsla.core.schedule import cycle_schedule
from leadsla.service.qualify import qualify_leads
from leadsla.store import leads as stored_leads
from leadsla.store.bulk import PackedRows, can_pack
from leadsla.store.codec import cycle_facts, encode_json
from leadsla.store.leads import KeptCycle, StoredLeads, lead_values
from leadsla.store.versions import current_versions, earlier_versions, stamp_cycles


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
    # Every row not stored because its key was: already in the database, or earlier
    # in the same batch (``repeated`` counts those, so an import can tell the two apart).
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    repeated: int = 0
    leads: int = 0
    replayed: int = 0


def event_from_json(
    item: object, index: int, rules: Rulebook, statuses: Sequence[str], grades: Sequence[str]
) -> IncomingEvent | Rejection:
    """Validate one element of a ``POST /events`` body (SPEC §3 meanings)."""
    if not isinstance(item, Mapping):
        return Rejection(index, "an event must be an object with lead_id, at, field, value")
    lead_id = item.get("lead_id")
    # bool is an int to Python, but true is no lead id: it would be stored as "True".
    if isinstance(lead_id, bool) or not isinstance(lead_id, str | int):
        if lead_id is not None:
            return Rejection(index, "lead_id: must be a string or an integer")
        return Rejection(index, "lead_id: missing or empty")
    if not str(lead_id).strip():
        return Rejection(index, "lead_id: missing or empty")
    at_text = item.get("at")
    if not isinstance(at_text, str):
        return Rejection(index, "at: missing; expected an ISO 8601 instant with a UTC offset")
    try:
        at = parse_event_instant(at_text)
    except InstantError as exc:
        return Rejection(index, f"at: {exc}")
    raw_field = item.get("field")
    if not isinstance(raw_field, str) or not raw_field.strip():
        return Rejection(index, "field: missing or empty")
    name = normalize_field(raw_field)
    raw_value = item.get("value")
    if isinstance(raw_value, bool) or (
        raw_value is not None and not isinstance(raw_value, str | int | float)
    ):
        return Rejection(index, "value: must be a string, a number or null")
    value = "" if raw_value is None else str(raw_value).strip()
    problem = value_problem(name, value, statuses, grades, rules.acceptance)
    if problem is not None:
        return Rejection(index, f"value: {problem}")
    key = item.get("id")
    if key is not None and (
        isinstance(key, bool) or not isinstance(key, str | int) or not str(key).strip()
    ):
        return Rejection(index, "id: must be a non-empty string when given")
    event = IncomingEvent(str(lead_id).strip(), at, name, value or None, _key(key))
    unstorable = incoming_problem(event)
    if unstorable is not None:
        return Rejection(index, unstorable)
    return event


def incoming_problem(event: IncomingEvent) -> str | None:
    """Why an event cannot be stored as it is (:mod:`leadsla.core.limits`), worded for
    the sender, or ``None``. Every way in checks its events with this before storing."""
    if not instant_in_range(event.at):
        return f"at: {range_problem(f'{event.at} µs since 1970')}"
    found = event_problem(event.lead_id, event.field, event.value)
    if found is not None:
        column, problem = found
        return f"{column}: {problem}"
    if event.key is not None:
        key_problem = text_problem(event.key, MAX_KEY)
        if key_problem is not None:
            return f"id: {key_problem}"
    return None


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
    """Store new events (a key seen before is a duplicate), update the leads' clocks,
    then qualify and route them (:func:`_settle`).

    Runs inside the caller's transaction: the events, the clocks they move and the
    decisions they lead to are committed together or not at all. The result counts
    the events given, not the rows the decisions add.
    """
    result = IngestResult()
    stored = _store(connection, rules, incoming, result, source=source, recorded_at=recorded_at)
    _settle(connection, rules, stored, recorded_at)
    return result


def _store(
    connection: Connection,
    rules: Rulebook,
    incoming: Sequence[IncomingEvent],
    result: IngestResult,
    *,
    source: str,
    recorded_at: int,
) -> dict[str, list[IncomingEvent]]:
    """Store the new ones of these events and bring their leads' clocks up to date;
    the events stored, by lead."""
    lead_ids = sorted({e.lead_id for e in incoming})
    stored_leads.lock_leads(connection, lead_ids)
    fresh = _drop_duplicates(connection, incoming, result)
    if not fresh:
        return {}
    _insert_events(connection, fresh, source, recorded_at)
    result.accepted = len(fresh)
    by_lead: dict[str, list[IncomingEvent]] = defaultdict(list)
    for e in fresh:
        by_lead[e.lead_id].append(e)
    refresh_leads(connection, rules, by_lead, result, recorded_at=recorded_at)
    return by_lead


def _settle(
    connection: Connection,
    rules: Rulebook,
    stored: Mapping[str, Sequence[IncomingEvent]],
    recorded_at: int,
) -> None:
    """MQL decisions and routing (if configured) for leads whose events were just stored,
    round after round until a round adds no new row.

    A decision's rows (status, score, owner) are stored like any event, and they can
    lead to another decision: an MQL the scoring made without an owner is routed in
    the next round. Keys make a decision's rows once-only, so the rounds end.
    """
    while stored:
        rows = qualify_leads(connection, rules, stored, recorded_at=recorded_at)
        if not rows:
            return
        # The derived rounds' counts are not the caller's: they go to a throwaway result.
        stored = _store(
            connection,
            rules,
            _derived_events(rows),
            IngestResult(),
            source="derived",
            recorded_at=recorded_at,
        )


@dataclass
class PreparedLeads:
    """Whole leads' events with the rows they give if none of them is stored yet.

    Built away from the database (in a forked worker on import, so everything is
    plain tuples that pickle cheaply); the rows are used only when that
    assumption holds, else the events take the normal path.
    """

    event_rows: list[tuple[object, ...]]  # store.leads.EVENT_COLUMNS order
    lead_ids: list[str]
    lead_rows: list[tuple[object, ...]]
    cycle_rows: list[tuple[object, ...]]
    usable: bool  # False when the events repeat a key among themselves
    # The three tables' rows packed for the database instead (see packed_for).
    packed: PackedRows | None = None

    def packed_for(self, dialect: str) -> PreparedLeads:
        """The same leads with their rows packed for ``dialect`` (:func:`pack_rows`): in
        an import worker, so that the writer copies them in without a Python step per row."""
        if not self.usable or not can_pack(dialect):
            return self
        packed = stored_leads.pack_new_leads(
            dialect, self.event_rows, self.lead_rows, self.cycle_rows
        )
        return PreparedLeads([], self.lead_ids, [], [], usable=True, packed=packed)

    def event_count(self) -> int:
        return len(self.event_rows) if self.packed is None else self.packed.counts[0]

    def events(self) -> list[IncomingEvent]:
        packed = self.packed
        rows = self.event_rows if packed is None else stored_leads.packed_event_rows(packed)
        return [
            IncomingEvent(lead, at, name, value, key, source)  # type: ignore[arg-type]
            for lead, at, name, value, source, key, _recorded in rows
        ]


def prepare_new_leads(
    rules: Rulebook, incoming: Sequence[IncomingEvent], source: str, recorded_at: int
) -> PreparedLeads:
    """The rows ``ingest`` would write for these events if their leads were new."""
    ordered = sorted(incoming, key=lambda e: (e.lead_id, e.at))  # stable: arrival order
    return prepare_sorted_rows(
        rules,
        SortedRows(
            [e.lead_id for e in ordered],
            [e.at for e in ordered],
            [e.field for e in ordered],
            [e.value for e in ordered],
            [e.key for e in ordered],
            [e.source or source for e in ordered],
        ),
        recorded_at,
    )


@dataclass
class SortedRows:
    """Events as columns, sorted by lead and instant (arrival order kept within one)."""

    lead_ids: Sequence[str]
    ats: Sequence[int]
    fields: Sequence[str]
    values: Sequence[str | None]
    keys: Sequence[str | None]
    sources: Sequence[str]


def prepare_sorted_rows(rules: Rulebook, rows: SortedRows, recorded_at: int) -> PreparedLeads:
    """:func:`prepare_new_leads` for rows already in columns and in order (an import's
    sorted table): no event objects, no sorting."""
    ids, ats, fields, values = rows.lead_ids, rows.ats, rows.fields, rows.values
    event_rows: list[tuple[object, ...]] = list(
        zip(ids, ats, fields, values, rows.sources, rows.keys, repeat(recorded_at))
    )
    keys = [key for key in rows.keys if key is not None]
    size = len(ids)
    starts = [i for i in range(size) if i == 0 or ids[i] != ids[i - 1]]
    lead_ids = [ids[i] for i in starts]
    if len(set(keys)) != len(keys):
        return PreparedLeads(event_rows, lead_ids, [], [], usable=False)
    lead_rows: list[tuple[object, ...]] = []
    cycle_rows: list[tuple[object, ...]] = []
    # The rows as the clock takes them, made in one zip (per-row Python work is what an
    # import of millions of rows spends its time on).
    clock_rows = list(zip(ats, fields, values, strict=True))
    for first, stop in zip(starts, [*starts[1:], size], strict=True):
        state = replay(rules, ids[first], by_instant(clock_rows[first:stop]))
        lead_rows.append(lead_values(state, stop - first, recorded_at))
        cycle_rows.extend(cycle_values(rules, state, {}))
    return PreparedLeads(event_rows, lead_ids, lead_rows, cycle_rows, usable=True)


def ingest_prepared(
    connection: Connection,
    rules: Rulebook,
    prepared: PreparedLeads,
    *,
    source: str,
    recorded_at: int,
) -> IngestResult:
    """``ingest`` for prepared leads: their rows written as they are when nothing of
    them is stored yet (no key seen, no lead known), else the normal path.

    Packed SQLite rows must be :func:`leadsla.store.bulk.attached` around the transaction.
    """
    lead_ids = prepared.lead_ids
    if prepared.usable and lead_ids:
        stored_leads.lock_leads(connection, lead_ids)
        if stored_leads.inserted_if_new(
            connection,
            event_rows=prepared.event_rows,
            lead_rows=prepared.lead_rows,
            cycle_rows=prepared.cycle_rows,
            packed=prepared.packed,
        ):
            versions = current_versions(connection, rules, recorded_at)
            stamp_cycles(connection, lead_ids, versions)
            if rules.scoring is not None or rules.assignment is not None:
                by_lead: dict[str, list[IncomingEvent]] = defaultdict(list)
                for e in prepared.events():
                    by_lead[e.lead_id].append(e)
                _settle(connection, rules, by_lead, recorded_at)
            return IngestResult(accepted=prepared.event_count(), leads=len(lead_ids))
    return ingest(connection, rules, prepared.events(), source=source, recorded_at=recorded_at)


def _insert_events(
    connection: Connection, stored: Sequence[IncomingEvent], source: str, recorded_at: int
) -> None:
    stored_leads.insert_events(
        connection,
        [
            (e.lead_id, e.at, e.field, e.value, e.source or source, e.key, recorded_at)
            for e in stored
        ],
    )


def ingest_rows(
    connection: Connection,
    rules: Rulebook,
    rows: Sequence[tuple[str, int, str, str | None, str]],
    *,
    recorded_at: int,
) -> None:
    """Store rows the engine derives (``lead_id, at, field, value, key``) like any event,
    qualification and routing included."""
    if rows:
        ingest(connection, rules, _derived_events(rows), source="derived", recorded_at=recorded_at)


def _derived_events(rows: Sequence[tuple[str, int, str, str | None, str]]) -> list[IncomingEvent]:
    """Derived rows as events; the key's prefix (``qualify:``, ``route:``) is the source."""
    return [IncomingEvent(*row, source=row[4].partition(":")[0]) for row in rows]


def _drop_duplicates(
    connection: Connection, incoming: Sequence[IncomingEvent], result: IngestResult
) -> list[IncomingEvent]:
    keys = [e.key for e in incoming if e.key is not None]
    stored = stored_leads.stored_keys(connection, list(dict.fromkeys(keys)))
    fresh: list[IncomingEvent] = []
    seen: set[str] = set()
    for e in incoming:
        if e.key is not None:
            if e.key in stored or e.key in seen:
                result.duplicates += 1
                result.repeated += e.key not in stored
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
    stored = stored_leads.load_stored(connection, lead_ids)
    states = dict(stored.states)
    arrivals = {
        lead_id: [(e.at, e.field, e.value) for e in sorted(new_events[lead_id], key=_instant)]
        for lead_id in lead_ids
    }
    # Leads whose arrivals reach back into their applied history are rebuilt from all
    # their stored rows: read in one query for the batch, before any lead is touched.
    rebuilt_ids = [
        lead_id
        for lead_id in lead_ids
        if lead_id in states and not states[lead_id].can_extend(arrivals[lead_id][0][0])
    ]
    histories = stored_leads.event_rows_of(connection, rebuilt_ids) if rebuilt_ids else {}
    for lead_id in lead_ids:
        clocks = states.setdefault(lead_id, LeadClocks(lead_id))
        # Called only for the leads found above, whose history was read.
        history = partial(getitem, histories, lead_id)
        result.replayed += clocks.extend(rules, arrivals[lead_id], history)
    result.leads += len(lead_ids)
    added = {lead_id: len(new_events[lead_id]) for lead_id in lead_ids}
    save_leads(
        connection,
        rules,
        [states[i] for i in lead_ids],
        stored,
        added,
        recorded_at=recorded_at,
        versions=current_versions(connection, rules, recorded_at),
        earlier=earlier_versions(connection, rules),
    )


def _instant(event: IncomingEvent) -> int:
    return event.at


def replay_leads(
    connection: Connection, rules: Rulebook, lead_ids: Sequence[str], until: int | None = None
) -> dict[str, LeadClocks]:
    """Rebuild leads from their stored events (up to ``until``), in (at, arrival) order."""
    rows_by_lead = stored_leads.event_rows_of(connection, lead_ids, until=until)
    return {
        lead_id: replay(rules, lead_id, by_instant(rows_by_lead[lead_id])) for lead_id in lead_ids
    }


def save_leads(
    connection: Connection,
    rules: Rulebook,
    states: Sequence[LeadClocks],
    stored: StoredLeads,
    added: Mapping[str, int],
    *,
    recorded_at: int,
    versions: Mapping[str, int],
    earlier: Mapping[int, Policy] | None = None,
    reclock_since: int | None = None,
) -> None:
    """Write the leads' current fields and every cycle with its derived figures.

    ``stored`` is what :func:`leadsla.store.leads.load_stored` read before the batch;
    ``added`` counts the events the batch stored per lead. ``versions`` are the
    policies' current versions; a stored cycle of another version keeps it, and its
    deadlines are those of that version (``earlier``, by id), unless it started at or
    after ``reclock_since`` (``leadsla db reclock``).
    """
    stored_leads.save_leads(
        connection,
        states=states,
        stored=stored,
        added=added,
        cycle_rows=[
            row
            for s in states
            for row in cycle_values(
                rules, s, stored.done_until, versions, stored.kept, reclock_since, earlier
            )
        ],
        recorded_at=recorded_at,
    )


def cycle_values(
    rules: Rulebook,
    state: LeadClocks,
    done_until: Mapping[tuple[str, str, int], int | None],
    versions: Mapping[str, int] | None = None,
    kept: Mapping[tuple[str, str, int], KeptCycle] | None = None,
    reclock_since: int | None = None,
    earlier: Mapping[int, Policy] | None = None,
) -> list[tuple[object, ...]]:
    """The lead's ``clock_cycles`` rows in :data:`leadsla.store.leads.CYCLE_COLUMNS` order,
    JSON encoded.

    A cycle ``kept`` (stored) under a policy version other than the current one keeps
    that version: a config change applies to the cycles started after it (SPEC §9.6),
    unless the cycle started at or after ``reclock_since``. Its deadlines and timers
    are worked out under that version's policy (``earlier``, by version id:
    :func:`leadsla.store.versions.earlier_versions`), so a pause that reaches it after
    the change moves them as the version says; without it they stay as stored.
    Without ``versions`` (an import's rows, made before the database is reached) the
    version is left for :func:`leadsla.store.versions.stamp_cycles`.
    """
    policies = {p.name: p for p in rules.policies}
    rows: list[tuple[object, ...]] = []
    for name, cycles in state.cycles.items():
        policy = policies.get(name)
        if policy is None:  # a policy removed from the config: its history stays readable
            continue
        for cycle in cycles:
            # Deadlines and timers matter while a cycle is open (the worker and the
            # at-risk lists read them); a stopped cycle is judged from its facts on read.
            key = (state.lead_id, name, cycle.number)
            done = done_until.get(key) if done_until else None
            schedule = cycle_schedule(rules, policy, cycle, done)
            version = None if versions is None else versions.get(name)
            due_at, breach_at, next_timer_at = (
                schedule.due_at,
                schedule.breach_at,
                schedule.next_timer_at,
            )
            old = kept.get(key) if kept else None
            if (
                old is not None
                and old.version is not None
                and old.version != version
                and (reclock_since is None or cycle.started_at < reclock_since)
            ):
                recorded = earlier.get(old.version) if earlier else None
                if recorded is not None:
                    schedule = cycle_schedule(rules, recorded, cycle, done)
                    version, due_at, breach_at, next_timer_at = (
                        old.version,
                        schedule.due_at,
                        schedule.breach_at,
                        schedule.next_timer_at,
                    )
                else:
                    version, due_at, breach_at = old.version, old.due_at, old.breach_at
                    next_timer_at = old.next_timer_at if cycle.stopped_at is None else None
            rows.append(
                (
                    state.lead_id,
                    name,
                    cycle.number,
                    cycle.calendar,
                    cycle.started_at,
                    cycle.stopped_at,
                    1 if cycle.stopped_at is None else 0,
                    due_at,
                    breach_at,
                    next_timer_at,
                    encode_json(cycle_facts(cycle)),
                    done,
                    version,
                )
            )
    return rows
