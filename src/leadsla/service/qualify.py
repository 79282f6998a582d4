"""Qualification in the service: scores from stored events, MQL decisions at ingest.

:func:`qualify_leads` is called by ingest once per batch, after the leads' clocks are
up to date; the rows it returns (status ``New``, the score, the owner routed) are
stored by ingest like any event, so the follow-up clock starts exactly as for a CRM's
own MQL, and ingest calls it again on those rows until they add nothing
(:func:`leadsla.service.ingest.ingest`). It never stores events itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, tzinfo
from typing import Any, Protocol

from sqlalchemy import Connection

from leadsla.core.calendar import local_instant
from leadsla.core.events import instant_or_date
from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.core.qualify import decide, unowned_mqls
from leadsla.core.routing import (
    DOMAIN_KEY_PREFIX,
    Assignment,
    RoutingState,
    account_keys,
    route,
)
from leadsla.core.scoring import Row, Score, score_rows
from leadsla.store import decisions as stored_decisions
from leadsla.store.bulk import KEY_CHUNK
from leadsla.store.decisions import decision_row
from leadsla.store.leads import event_rows_of, open_leads_per_owner

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
    return event_rows_of(connection, [lead_id])[lead_id]


def lead_score(connection: Connection, rules: Rulebook, lead_id: str, as_of: int) -> dict[str, Any]:
    """The lead's score at ``as_of`` from its stored events (:func:`score_record`);
    the rulebook must have ``scoring``."""
    assert rules.scoring is not None
    rows = stored_rows(connection, lead_id)
    zone = rules.default_zone
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
    zone = rules.default_zone
    score = None if rules.scoring is None else lead_score(connection, rules, lead_id, as_of)
    latest = stored_decisions.latest_routing(connection, lead_id)
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
    zone = rules.default_zone
    revisit_of = revisit_instant(zone)
    added: list[tuple[str, int, str, str | None, str]] = []
    records: list[dict[str, object]] = []
    unowned: list[tuple[str, int, Mapping[str, str]]] = []
    lead_ids = sorted(since)
    for start in range(0, len(lead_ids), KEY_CHUNK):
        chunk = lead_ids[start : start + KEY_CHUNK]
        for lead_id, rows in event_rows_of(connection, chunk).items():
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
    stored_decisions.record_decisions(connection, records)
    return added


def decision_records(connection: Connection, lead_id: str, zone: tzinfo) -> list[dict[str, Any]]:
    """A lead's qualification and routing decisions, oldest first, with their reasons."""
    return [
        {
            "at": format_instant(row.at, zone),
            "kind": row.kind,
            "detail": row.detail,
            "recorded_at": format_instant(row.recorded_at, zone),
        }
        for row in stored_decisions.decisions_of(connection, lead_id)
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
    stored_decisions.lock_routing(connection)
    zone = rules.default_zone
    # Open leads per owner: leads whose status is of stage open or working.
    held = [name for name, stage in rules.statuses.items() if stage in ("open", "working")]
    state = RoutingState(
        credits=stored_decisions.credits(connection),
        open_leads=open_leads_per_owner(connection, held),
    )
    keys_of = {lead_id: account_keys(assignment, fields) for lead_id, _, fields in leads_to_route}
    accounts = {key for keys in keys_of.values() for key in keys}
    if accounts:
        state.accounts = stored_decisions.owners_of_accounts(connection, sorted(accounts))
        # Accounts routing never saw: the owner the CRM set on their earlier leads (not
        # saved as routing's: the CRM may move them, and the leads say so).
        state.accounts.update(
            _crm_account_owners(connection, rules, assignment, accounts - set(state.accounts))
        )
        known_accounts = dict(state.accounts)
    else:
        known_accounts = {}
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
        state.record(routed, keys_of[lead_id])
        detail = routed.record() if why is None else {**routed.record(), "reroute": why}
        kind = "assignment" if why is None else "reroute"
        records.append(decision_row(lead_id, at, kind, detail, recorded_at, routed.rep))
        if routed.rep is not None and routed.rep != away:
            added.append((lead_id, at, "owner", routed.rep, f"{ROUTE_SOURCE}:{lead_id}:{at}:owner"))
    stored_decisions.record_decisions(connection, records)
    stored_decisions.save_routing(
        connection,
        new_accounts={
            account: rep for account, rep in state.accounts.items() if account not in known_accounts
        },
        credits=state.credits,
        recorded_at=recorded_at,
    )
    return added


def _crm_account_owners(
    connection: Connection, rules: Rulebook, assignment: Assignment, wanted: set[str]
) -> dict[str, str]:
    """Account key → the rep who owns most of the account's leads (the latest lead's on a
    tie), among leads a rep owns: the owner a CRM set, even where routing never ran."""
    if not wanted:
        return {}
    domains = [k[len(DOMAIN_KEY_PREFIX) :] for k in wanted if k.startswith(DOMAIN_KEY_PREFIX)]
    companies = [k for k in wanted if not k.startswith(DOMAIN_KEY_PREFIX)]
    rows = stored_decisions.owned_leads_of_accounts(
        connection,
        account_field=assignment.account_field,
        companies=companies,
        email_field=assignment.email_field,
        domains=domains,
        owners=list(rules.reps),
    )
    tally: dict[str, dict[str, tuple[int, int]]] = {}
    for owner, fields, last_at in rows:
        texts = {name: str(value) for name, value in fields.items() if value is not None}
        for key in account_keys(assignment, texts):
            if key in wanted:
                count, latest = tally.setdefault(key, {}).get(owner, (0, 0))
                tally[key][owner] = (count + 1, max(latest, last_at))
    return {
        key: max(sorted(by_owner), key=lambda rep: by_owner[rep]) for key, by_owner in tally.items()
    }


def _assigned_in_month(
    connection: Connection, zone: tzinfo, year: int, month: int
) -> dict[str, int]:
    """Leads routed to each rep in a calendar month of ``zone``."""
    start = local_instant(date(year, month, 1), 0, zone)
    following = date(year + month // 12, month % 12 + 1, 1)
    return stored_decisions.routed_per_rep(connection, start, local_instant(following, 0, zone))
