"""Marketing's side of the SLA: the intake clock, from a lead's capture to its decision.

A lead carries ``captured_at`` (when marketing met it: a trade-show scan, a form): an
ISO 8601 instant with an offset, or a date (midnight on the intake calendar). Its
``intake`` clock starts then and stops at the first instant at which the lead is
decided: an MQL (its status enters a status of stage ``open``), sent to nurture (a
status of stage ``nurture``), or a ``qualification`` row (``mql`` or ``nurture``, which
qualification at ingest writes). It is an ordinary clock cycle of a policy named
``intake`` — judged by the same rules (target, calendar, met or breached), so it is
evaluated, stored, listed and reported like any other policy.

This module reads the lead's fields to say when the clock starts and whether the
lead is decided; :meth:`~leadsla.core.clock.LeadClocks.apply` keeps the cycle, as it
does every other policy's, so the clock's state has one owner.
"""

from __future__ import annotations

from collections.abc import Mapping

from leadsla.core.events import instant_or_date
from leadsla.core.policy import Policy, Rulebook

CAPTURED_FIELD = "captured_at"
# The decision (mql | nurture) as a row of the lead's history, written by qualification.
DECISION_FIELD = "qualification"
DECIDED_STAGES = frozenset({"open", "nurture"})


def captured_instant(text: str, rules: Rulebook, calendar: str) -> int | None:
    """``captured_at`` as epoch microseconds, or ``None`` when it cannot be read."""
    return instant_or_date(text, rules.calendars[calendar].zone)


def intake_start(rules: Rulebook, policy: Policy, fields: Mapping[str, str], at: int) -> int | None:
    """The instant a lead's intake cycle starts, seen after its instant ``at``: its capture,
    or ``at`` when the capture is dated later; ``None`` while no readable capture is known."""
    text = fields.get(CAPTURED_FIELD)
    if text is None:
        return None
    captured = captured_instant(text, rules, policy.calendar)
    return None if captured is None else min(captured, at)


def decided(rules: Rulebook, fields: Mapping[str, str]) -> bool:
    """Whether marketing has decided about the lead: an MQL or nurture status, or a
    qualification row."""
    status = fields.get("status")
    if status is not None and rules.statuses.get(status) in DECIDED_STAGES:
        return True
    return DECISION_FIELD in fields
