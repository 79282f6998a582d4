"""Qualification in the service: scores from stored events, MQL decisions at ingest.

:func:`qualify_leads` is called by ingest once per batch, after the leads' clocks are
up to date; the rows it returns (status ``New`` and the score) are stored by ingest
like any event, so the follow-up clock starts exactly as for a CRM's own MQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, tzinfo
from typing import Any, Protocol

from sqlalchemy import Connection, delete, func, select, text

from leadsla.core.calendar import local_instant
from leadsla.core.events import instant_or_date
from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.core.qualify import decide, unowned_mqls
from leadsla.core.routing import Assignment, RoutingState, route
from leadsla.core.scoring import Row, Score, score_rows
from leadsla.store.bulk import KEY_CHUNK, among, insert_ignoring_duplicates, insert_rows
from leadsla.store.tables import account_owners, events, lead_decisions, leads, routing_credits

ROUTE_SOURCE = "route"


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


ROUTING_KINDS = ("assignment", "reroute")


def lead_score(connection: Connection, rules: Rulebook, lead_id: str, as_of: int) -> dict[str, Any]:
    """The lead's score at ``as_of`` from its stored events (:func:`score_record`);
    the rulebook must have ``scoring``."""
    assert rules.scoring is not None
    rows = stored_rows(connection, lead_id)
    zone = rules.calendars[rules.default_calendar].zone
    return score_record(lead_id, score_rows(rules.scoring, rows, as_of), zone)


def lead_qualification(
    connection: Connection, rules: Rulebook, lead_id: str, as_of: int
) -> dict[str, Any]:
    """What the lead page and ``GET /api/v1/leads/{id}`` show of qualification and routing.

    ``score_explanation``: the lead's score at ``as_of`` as :func:`score_record` gives it
    (``None`` without a ``scoring`` section). ``assignment``: the latest routing decision
    (kind ``assignment`` or ``reroute``) with its instant, rep, rule, method, reason and
    skipped reps (``None`` when routing never decided about the lead).
    """
    zone = rules.calendars[rules.default_calendar].zone
    score = None if rules.scoring is None else lead_score(connection, rules, lead_id, as_of)
    query = (
        select(lead_decisions)
        .where(lead_decisions.c.lead_id == lead_id, lead_decisions.c.kind.in_(ROUTING_KINDS))
        .order_by(lead_decisions.c.at.desc(), lead_decisions.c.id.desc())
        .limit(1)
    )
    latest = connection.execute(query).first()
    assignment = None
    if latest is not None:
        assignment = {
            "at": format_instant(latest.at, zone),
            "kind": latest.kind,
            **dict(latest.detail),
        }
    return {"score_explanation": score, "assignment": assignment}


# -- qualification at ingest ------------------------------------------------------------

SOURCE = "qualify"


def revisit_instant(zone: tzinfo) -> Callable[[str], int | None]:
    """``revisit_at`` as an instant: ISO 8601 with an offset, or a date (midnight in ``zone``)."""
    return lambda text: instant_or_date(text, zone)


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
    other event, with the ``owner`` rows of the MQLs routed (an MQL the scoring made, or
    one the CRM made, without an owner). Nothing without ``scoring`` or ``assignment``.
    """
    scoring = rules.scoring
    if (scoring is None and rules.assignment is None) or not arrivals:
        return []
    since = {lead_id: min(e.at for e in batch) for lead_id, batch in arrivals.items()}
    zone = rules.calendars[rules.default_calendar].zone
    revisit_of = revisit_instant(zone)
    added: list[tuple[str, int, str, str | None, str]] = []
    records: list[dict[str, object]] = []
    unowned: list[tuple[str, int, Mapping[str, str]]] = []
    lead_ids = sorted(since)
    for start in range(0, len(lead_ids), KEY_CHUNK):
        chunk = lead_ids[start : start + KEY_CHUNK]
        for lead_id, rows in stored_rows_of(connection, chunk).items():
            if rules.assignment is not None:  # MQLs the CRM made without an owner
                unowned.extend(
                    (lead_id, at, fields)
                    for at, fields in unowned_mqls(rules.statuses, rows, since[lead_id])
                )
            if scoring is None:
                continue
            for decision in decide(scoring, rules.statuses, rows, since[lead_id], revisit_of):
                records.append(
                    decision_row(
                        lead_id,
                        decision.at,
                        decision.outcome,
                        score_record(lead_id, decision.score, zone),
                        recorded_at,
                    )
                )
                added.extend(
                    (lead_id, decision.at, name, value, f"{SOURCE}:{lead_id}:{decision.at}:{name}")
                    for name, value in decision.changes
                )
                if decision.outcome == "mql" and not decision.fields.get("owner"):
                    unowned.append((lead_id, decision.at, decision.fields))
    if unowned and rules.assignment is not None:
        added.extend(route_leads(connection, rules, rules.assignment, unowned, recorded_at))
    insert_ignoring_duplicates(connection, lead_decisions, records)
    return added


def decision_row(
    lead_id: str,
    at: int,
    kind: str,
    detail: Mapping[str, Any],
    recorded_at: int,
    rep: str | None = None,
) -> dict[str, object]:
    """A row of ``lead_decisions``."""
    return {
        "lead_id": lead_id,
        "at": at,
        "kind": kind,
        "rep": rep,
        "detail": dict(detail),
        "recorded_at": recorded_at,
    }


def stored_rows_of(connection: Connection, lead_ids: Sequence[str]) -> dict[str, list[Row]]:
    """The stored events of these leads in (instant, arrival) order, by lead."""
    query = (
        select(events.c.lead_id, events.c.at, events.c.field, events.c.value)
        .where(among(connection, events.c.lead_id, lead_ids))
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


# -- routing ----------------------------------------------------------------------------


def route_leads(
    connection: Connection,
    rules: Rulebook,
    assignment: Assignment,
    leads_to_route: Sequence[tuple[str, int, Mapping[str, str]]],
    recorded_at: int,
    *,
    reroutes: Mapping[str, tuple[str, str]] | None = None,
) -> list[tuple[str, int, str, str | None, str]]:
    """Route leads (id, instant, fields) in instant order; the ``owner`` rows to store.

    Each assignment is recorded with its reason in ``lead_decisions``; the rules'
    round-robin credits and the accounts' owners are kept for the next lead.
    ``reroutes`` (lead → current owner, why) re-routes leads away from their owner:
    recorded as kind ``reroute`` with the why.
    """
    _lock_routing(connection)
    zone = rules.calendars[rules.default_calendar].zone
    state = RoutingState(
        credits={
            (row.rule, row.rep): row.credit for row in connection.execute(select(routing_credits))
        },
        open_leads=_open_leads(connection, rules),
    )
    accounts = {
        fields[assignment.account_field].strip().casefold()
        for _, _, fields in leads_to_route
        if assignment.account_field and fields.get(assignment.account_field)
    }
    if accounts:
        query = select(account_owners).where(account_owners.c.account.in_(sorted(accounts)))
        state.accounts = {row.account: row.rep for row in connection.execute(query)}
    known_accounts = dict(state.accounts)
    month: tuple[int, int] | None = None
    added: list[tuple[str, int, str, str | None, str]] = []
    records: list[dict[str, object]] = []
    for lead_id, at, fields in sorted(leads_to_route, key=lambda item: (item[1], item[0])):
        local = datetime.fromtimestamp(at / 1_000_000, zone)
        if (local.year, local.month) != month:
            month = (local.year, local.month)
            state.assigned_this_month = _assigned_in_month(connection, zone, *month)
        away, why = (reroutes or {}).get(lead_id, (None, None))
        routed = route(assignment, fields, at, state, exclude=frozenset({away} if away else ()))
        account = fields.get(assignment.account_field) if assignment.account_field else None
        state.record(routed, account)
        detail = routed.record() if why is None else {**routed.record(), "reroute": why}
        kind = "assignment" if why is None else "reroute"
        records.append(decision_row(lead_id, at, kind, detail, recorded_at, routed.rep))
        if routed.rep is not None and routed.rep != away:
            added.append((lead_id, at, "owner", routed.rep, f"{ROUTE_SOURCE}:{lead_id}:{at}:owner"))
    insert_ignoring_duplicates(connection, lead_decisions, records)
    new_accounts = [
        {"account": account, "rep": rep, "since": recorded_at}
        for account, rep in state.accounts.items()
        if account not in known_accounts
    ]
    insert_ignoring_duplicates(connection, account_owners, new_accounts)
    connection.execute(delete(routing_credits))
    insert_rows(
        connection,
        routing_credits,
        ("rule", "rep", "credit"),
        [(rule, rep, credit) for (rule, rep), credit in sorted(state.credits.items())],
    )
    return added


def _lock_routing(connection: Connection) -> None:
    """One router at a time (PostgreSQL): two batches must not take the same turn."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('leadsla:routing'))"))


def _open_leads(connection: Connection, rules: Rulebook) -> dict[str, int]:
    """Open leads per owner: leads whose status is of stage open or working."""
    held = [name for name, stage in rules.statuses.items() if stage in ("open", "working")]
    query = (
        select(leads.c.owner, func.count())
        .where(leads.c.owner.is_not(None), leads.c.status.in_(held))
        .group_by(leads.c.owner)
    )
    return {owner: count for owner, count in connection.execute(query)}


def _assigned_in_month(
    connection: Connection, zone: tzinfo, year: int, month: int
) -> dict[str, int]:
    """Leads routed to each rep in a calendar month of ``zone``."""
    start = local_instant(date(year, month, 1), 0, zone)
    following = date(year + month // 12, month % 12 + 1, 1)
    query = (
        select(lead_decisions.c.rep, func.count())
        .where(
            lead_decisions.c.kind.in_(ROUTING_KINDS),
            lead_decisions.c.rep.is_not(None),
            lead_decisions.c.at >= start,
            lead_decisions.c.at < local_instant(following, 0, zone),
        )
        .group_by(lead_decisions.c.rep)
    )
    return {rep: count for rep, count in connection.execute(query)}
