"""Sales acceptance (SPEC §9.5): the ``sal`` decision rows, their reasons, and the
reasons given when a lead is recycled, deferred or disqualified.

Everything here is plain values and small lookups; :mod:`leadsla.core.metrics` places
each row in its follow-up cycle and counts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ACCEPTANCE_FIELDS",
    "ACCEPTED",
    "OUTCOMES",
    "REASON_FIELD",
    "REASON_OUTCOMES",
    "REJECTED",
    "SAL_DECISIONS",
    "SAL_FIELD",
    "SAL_REASON_FIELD",
    "Acceptance",
    "acceptance_problem",
    "status_outcomes",
]

SAL_FIELD, SAL_REASON_FIELD, REASON_FIELD = "sal", "sal_reason", "reason"
ACCEPTED, REJECTED = "accepted", "rejected"
SAL_DECISIONS = (ACCEPTED, REJECTED)
# Where a cycle of work ends: an opportunity, or back to marketing in one of three ways.
OUTCOMES = ("converted", "deferred", "recycled", "disqualified")
# The outcomes whose status change may carry a ``reason`` row.
REASON_OUTCOMES = ("recycled", "deferred", "disqualified")
# The lead fields the acceptance tables are cut by, besides grade and owner.
ACCEPTANCE_FIELDS = ("source", "campaign")

_STAGE_OUTCOME = {"qualified": "converted", "disqualified": "disqualified", "nurture": "recycled"}


@dataclass(frozen=True)
class Acceptance:
    """The config's ``sal`` and ``reasons`` sections.

    ``sal_reasons``: the closed list of ``sal_reason`` values (None: free text).
    ``reasons``: outcome → closed list of ``reason`` values (an outcome absent: free text).
    ``outcomes``: status → outcome, for the statuses whose outcome is not the one their
    stage gives (see :func:`status_outcomes`).
    """

    sal_reasons: frozenset[str] | None = None
    reasons: Mapping[str, frozenset[str]] = field(default_factory=dict)
    outcomes: Mapping[str, str] = field(default_factory=dict)

    @property
    def any_reason(self) -> frozenset[str] | None:
        """Every ``reason`` a row may carry (None: free text). A row is read on its own,
        before the status change it goes with is known, so it is checked against the
        union of the lists the config gives."""
        if not self.reasons:
            return None
        return frozenset().union(*self.reasons.values())


def status_outcomes(statuses: Mapping[str, str | None], acceptance: Acceptance) -> dict[str, str]:
    """The outcome of each status that ends a cycle of work.

    From its stage: ``qualified`` → converted, ``disqualified`` → disqualified,
    ``nurture`` → recycled, except a nurture status named ``Deferred`` (any case) →
    deferred; ``acceptance.outcomes`` overrides any of them.
    """
    result: dict[str, str] = {}
    for status, stage in statuses.items():
        outcome = _STAGE_OUTCOME.get(stage or "")
        if outcome == "recycled" and status.casefold() == "deferred":
            outcome = "deferred"
        if outcome is not None:
            result[status] = outcome
    result.update(acceptance.outcomes)
    return result


def acceptance_problem(name: str, value: str, acceptance: Acceptance | None) -> str | None:
    """Why ``value`` cannot be the value of ``sal``, ``sal_reason`` or ``reason`` (None if
    it can, or for any other field). An empty value clears the field: always allowed."""
    if not value:
        return None
    if name == SAL_FIELD:
        if value in SAL_DECISIONS:
            return None
        return f'"{value}" is not a sales decision (accepted, rejected)'
    if acceptance is None:
        return None
    if name == SAL_REASON_FIELD and acceptance.sal_reasons is not None:
        if value in acceptance.sal_reasons:
            return None
        return f'"{value}" is not one of sal.reasons ({_listed(acceptance.sal_reasons)})'
    if name == REASON_FIELD:
        allowed = acceptance.any_reason
        if allowed is None or value in allowed:
            return None
        return f'"{value}" is not one of the config\'s reasons ({_listed(allowed)})'
    return None


def _listed(names: frozenset[str]) -> str:
    ordered = sorted(names)
    return ", ".join(ordered[:12]) + (", …" if len(ordered) > 12 else "")
