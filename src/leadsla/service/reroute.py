"""Re-routing open leads: away from a rep who is out of office, or after an escalation step.

``leadsla reroute`` runs it (from cron or beside the worker, as often as wanted): at
``as_of`` it re-routes

* every lead of stage ``open`` (waiting for its first touch) whose owner is out of
  office then, and
* with ``assignment.reroute``, every lead whose clock of that policy is still open and
  has fired that escalation step, once per cycle,

through the same rules as a new lead, the current owner excluded. The new owner is
stored as an ``owner`` event at ``as_of`` (source ``route``): the clock keeps running
(SPEC §4 rule 2) and a breach after it belongs to the new owner (rule 9).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from leadsla.core.policy import Rulebook
from leadsla.service.ingest import ingest_rows
from leadsla.service.qualify import route_leads
from leadsla.service.queries import clocks_at
from leadsla.store import leads as stored_leads
from leadsla.store.decisions import rerouted_since


@dataclass
class RerouteResult:
    rerouted: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    # lead → (from, to or None when nobody was available, why)


def reroute(
    connection: Connection, rules: Rulebook, as_of: int, *, recorded_at: int
) -> RerouteResult:
    """Re-route what is due at ``as_of``; runs in the caller's transaction."""
    result = RerouteResult()
    assignment = rules.assignment
    if assignment is None:
        return result
    waiting = [name for name, stage in rules.statuses.items() if stage == "open"]
    candidates: dict[str, tuple[str, str]] = {}
    for lead_id, owner in stored_leads.owned_leads_in(connection, waiting):
        if assignment.absent(owner, as_of):
            candidates[lead_id] = (owner, f"owner {owner} is out of office")
    policy, step = assignment.reroute_policy, assignment.reroute_after_step
    if policy is not None and step is not None:
        open_ids = stored_leads.leads_with_open_cycle(connection, policy)
        for lead_id, verdicts in clocks_at(connection, rules, open_ids, as_of).items():
            cycle = next(
                (v for v in reversed(verdicts) if v.policy == policy and v.stopped_at is None),
                None,
            )
            if cycle is None or cycle.escalations < step or cycle.owner is None:
                continue
            done = rerouted_since(connection, lead_id, cycle.started_at)
            if not done and lead_id not in candidates:
                why = f"{policy} escalation step {step} fired (cycle {cycle.cycle})"
                candidates[lead_id] = (cycle.owner, why)
    if not candidates:
        return result
    fields = stored_leads.fields_of(connection, sorted(candidates))
    rows = route_leads(
        connection,
        rules,
        assignment,
        [(lead_id, as_of, fields.get(lead_id, {})) for lead_id in sorted(candidates)],
        recorded_at,
        reroutes=candidates,
    )
    new_owner = {row[0]: row[3] for row in rows}
    for lead_id, (owner, why) in candidates.items():
        result.rerouted[lead_id] = (owner, new_owner.get(lead_id), why)
    ingest_rows(connection, rules, rows, recorded_at=recorded_at)
    return result
