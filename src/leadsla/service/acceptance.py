"""Sales accepts or rejects a lead (SPEC §9.5): the rows it appends, and who may.

The API route and the lead page both call :func:`decide`; it checks the caller and the
decision, then stores a ``sal`` and a ``sal_reason`` row at the instant given, through
the same :func:`~leadsla.service.ingest.ingest` as any event.
"""

from __future__ import annotations

from sqlalchemy import Connection

from leadsla.core.acceptance import (
    REJECTED,
    SAL_DECISIONS,
    SAL_FIELD,
    SAL_REASON_FIELD,
    acceptance_problem,
)
from leadsla.core.policy import Rulebook
from leadsla.service.ingest import IncomingEvent, incoming_problem, ingest
from leadsla.service.queries import lead_owner, scope_for
from leadsla.service.tokens import Principal, Role

__all__ = ["DecisionRefused", "decide", "may_decide"]

# Who decides: sales. Marketing hands leads over and may not accept its own MQLs.
DECIDING_ROLES = (Role.ADMIN, Role.MANAGER, Role.REP)


class DecisionRefused(Exception):
    """Why a decision was not stored; ``status`` is the HTTP status that says it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def may_decide(rules: Rulebook, caller: Principal, owner: str | None) -> bool:
    """The lead's owner (a rep token), their team's manager, or an admin."""
    return caller.role in DECIDING_ROLES and scope_for(rules, caller).allows(owner)


def decide(
    connection: Connection,
    rules: Rulebook,
    caller: Principal,
    lead_id: str,
    decision: str,
    reason: str | None,
    now: int,
    *,
    source: str,
) -> dict[str, str | None]:
    """Store ``decision`` (``accepted`` or ``rejected``) on the lead at ``now``.

    A rejection needs a reason; a reason must be one of ``sal.reasons`` when the config
    lists them. The ``sal_reason`` row is written even when empty, so that an
    acceptance clears the reason of an earlier rejection in the same cycle.
    Raises :class:`DecisionRefused` (404 for a lead the caller may not see, as the
    API answers everywhere; 403 for a role that does not decide; 422 for bad input).
    """
    exists, owner = lead_owner(connection, lead_id)
    if not exists or not scope_for(rules, caller).allows(owner):
        raise DecisionRefused(404, f"no lead {lead_id!r}")
    if not may_decide(rules, caller, owner):
        raise DecisionRefused(403, f"role {caller.role} cannot accept or reject leads")
    if decision not in SAL_DECISIONS:
        raise DecisionRefused(422, f"decision: {decision!r} is not accepted or rejected")
    text = (reason or "").strip()
    if decision == REJECTED and not text:
        raise DecisionRefused(422, "reason: a rejection needs a reason")
    problem = acceptance_problem(SAL_REASON_FIELD, text, rules.acceptance) or (
        incoming_problem(IncomingEvent(lead_id, now, SAL_REASON_FIELD, text or None))
    )
    if problem is not None:
        raise DecisionRefused(422, f"reason: {problem}")
    rows = [
        IncomingEvent(lead_id, now, SAL_FIELD, decision),
        IncomingEvent(lead_id, now, SAL_REASON_FIELD, text or None),
    ]
    ingest(connection, rules, rows, source=source, recorded_at=now)
    return {"lead_id": lead_id, "sal": decision, "sal_reason": text or None}
