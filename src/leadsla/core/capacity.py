"""Capacity planning: the rep hours the SLA asks for the MQLs marketing commits to.

From the MQL commitments (per month), the share of MQLs that are workable, the
attempts the sales SLA asks per workable lead and the minutes an attempt takes:
the hours of lead work a month needs, the reps that makes, and how that compares
with the reps configured and their monthly ``capacity``. Pure arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    mqls_per_month: float
    commitment: str  # the commitment the MQL figure comes from
    workable_share: float
    workable_per_month: float
    attempts_per_lead: float
    minutes_per_attempt: float
    hours_needed: float
    hours_per_rep: float
    reps_needed: int
    reps_configured: int
    capacity_configured: int | None  # sum of the reps' monthly capacity, where all have one
    verdict: str

    def record(self) -> dict[str, object]:
        return {
            "mqls_per_month": round(self.mqls_per_month, 2),
            "commitment": self.commitment,
            "workable_share": self.workable_share,
            "workable_leads_per_month": round(self.workable_per_month, 2),
            "attempts_per_workable_lead": self.attempts_per_lead,
            "minutes_per_attempt": self.minutes_per_attempt,
            "attempts_per_month": round(self.workable_per_month * self.attempts_per_lead, 2),
            "rep_hours_needed_per_month": round(self.hours_needed, 2),
            "hours_per_rep_per_month": self.hours_per_rep,
            "reps_needed": self.reps_needed,
            "reps_configured": self.reps_configured,
            "capacity_configured": self.capacity_configured,
            "verdict": self.verdict,
        }


def plan(
    commitments: Sequence[tuple[str, str, float]],
    *,
    workable_share: float,
    attempts_per_lead: float,
    minutes_per_attempt: float,
    hours_per_rep: float,
    rep_capacities: Sequence[int | None],
) -> CapacityPlan:
    """``commitments``: (name, period, target) of the unsegmented MQL commitments; the
    largest monthly figure among them is planned for."""
    if not commitments:
        raise ValueError("no MQL commitment to plan for (a commitment with metric mqls)")
    name, monthly = max(
        ((n, target / MONTHS_PER_PERIOD[period]) for n, period, target in commitments),
        key=lambda item: item[1],
    )
    workable = monthly * workable_share
    hours = workable * attempts_per_lead * minutes_per_attempt / 60
    needed = math.ceil(round(hours / hours_per_rep, 9))
    configured = len(rep_capacities)
    capacity = (
        sum(c for c in rep_capacities if c is not None)
        if rep_capacities and all(c is not None for c in rep_capacities)
        else None
    )
    if needed > configured:
        verdict = f"hire {needed - configured} rep(s): {needed} needed, {configured} configured"
    else:
        verdict = f"enough reps: {needed} needed, {configured} configured"
    if capacity is not None and capacity < workable:
        verdict += (
            f"; the reps' capacity ({capacity} workable leads a month) is below the "
            f"{workable:g} expected"
        )
    return CapacityPlan(
        mqls_per_month=monthly,
        commitment=name,
        workable_share=workable_share,
        workable_per_month=workable,
        attempts_per_lead=attempts_per_lead,
        minutes_per_attempt=minutes_per_attempt,
        hours_needed=hours,
        hours_per_rep=hours_per_rep,
        reps_needed=needed,
        reps_configured=configured,
        capacity_configured=capacity,
        verdict=verdict,
    )
