"""Marketing's side of the SLA: the intake clock, from a lead's capture to its decision.

A lead carries ``captured_at`` (when marketing met it: a trade-show scan, a form): an
ISO 8601 instant with an offset, or a date (midnight on the intake calendar). Its
``intake`` clock starts then and stops at the first instant at which the lead is
decided: an MQL (its status enters a status of stage ``open``), sent to nurture (a
status of stage ``nurture``), or a ``qualification`` row (``mql`` or ``nurture``, which
qualification at ingest writes). It is an ordinary clock cycle of a policy named
``intake`` — judged by the same rules (target, calendar, met or breached), so it is
evaluated, stored, listed and reported like any other policy.
"""

from __future__ import annotations

from leadsla.core.clock import Cycle, LeadClocks
from leadsla.core.policy import Rulebook
from leadsla.core.qualify import DECISION_FIELD, instant_or_date

CAPTURED_FIELD = "captured_at"
DECIDED_STAGES = frozenset({"open", "nurture"})


def captured_instant(text: str, rules: Rulebook, calendar: str) -> int | None:
    """``captured_at`` as epoch microseconds, or ``None`` when it cannot be read."""
    return instant_or_date(text, rules.calendars[calendar].zone)


def decided(lead: LeadClocks, rules: Rulebook) -> bool:
    status = lead.status
    if status is not None and rules.statuses.get(status) in DECIDED_STAGES:
        return True
    return DECISION_FIELD in lead.fields


def intake_step(lead: LeadClocks, rules: Rulebook, at: int) -> list[Cycle]:
    """After an instant: start the lead's intake cycle once it is captured, stop it once
    it is decided; the cycles touched."""
    policy = rules.intake
    if policy is None:
        return []
    cycles = lead.cycles.get(policy.name)
    if not cycles:
        text = lead.fields.get(CAPTURED_FIELD)
        if text is None or (policy.applies_to and not policy.applies(lead.attributes())):
            return []
        captured = captured_instant(text, rules, policy.calendar)
        if captured is None:
            return []
        start = min(captured, at)
        cycle = Cycle(
            policy=policy.name,
            number=1,
            calendar=policy.calendar,
            started_at=start,
            segments=[[start, None]],
            grades=[(start, lead.grade)],
            owners=[(start, lead.owner)],
        )
        lead.cycles[policy.name] = [cycle]
    else:
        cycle = cycles[-1]
        if cycle.stopped_at is not None:
            return []
    if decided(lead, rules):
        cycle.segments[-1][1] = at
        cycle.stopped_at = at
    return [cycle]
