"""Cadence policies (SPEC §9.3): so many attempts within a window, none too far apart.

A cadence cycle starts and stops like any clock (its ``start``, ``stop`` and ``pause``),
and :meth:`~leadsla.core.clock.LeadClocks.apply` records the instant of each attempt
in it. Every figure is read off those facts here:

* the cycle is split into *gaps*: the first from the start, each later one from an
  instant that carried attempts, to the next such instant (or the end);
* a gap *overruns* at the first instant its accrued time exceeds ``gap`` (an attempt
  exactly when the gap runs out is in time, as a first call at the closing instant
  meets a §4 target); the window overruns at the first instant accrued time since
  the start exceeds ``within`` with fewer attempts than required before it;
* the cycle is ``breached`` at the first overrun, and ``met`` (stopped) at the
  instant the required attempts are reached before any overrun — or when a stop
  condition arrives before any;
* escalation steps count ``after`` from the start of each gap, and each fires at
  most once per cycle, in the first gap that lasts long enough.

Accrued time is the running segments' (pauses excluded), on the cycle's calendar for
business durations and on the wall clock for the others.
"""

from __future__ import annotations

import bisect

from leadsla.core.cycle import (
    Amount,
    Cycle,
    State,
    Timer,
    TimerKind,
    Verdict,
    accrued,
    plan_for,
    reach_instant,
    value_at,
)
from leadsla.core.policy import Policy, Rulebook


def gap_starts(cycle: Cycle, until: int | None = None) -> list[int]:
    """The instant each gap starts: the cycle's start, then each later instant with attempts
    (at or before ``until``)."""
    starts = [cycle.started_at]
    for at in cycle.attempts:
        if until is not None and at > until:
            break
        if at > starts[-1]:
            starts.append(at)
    return starts


def _past(amount: Amount, cycle: Cycle, since: int, extra: int) -> int | None:
    """The instant accrued time since ``since`` reaches ``amount`` + ``extra`` microseconds
    (``extra`` 1: the first instant past it), carrying an open segment on."""
    measure, micros = amount
    base = accrued(measure, cycle, since) if since > cycle.started_at else 0
    return reach_instant(measure, cycle, base + micros + extra)


def breach_instant(rules: Rulebook, policy: Policy, cycle: Cycle, until: int | None) -> int | None:
    """The first instant (at or before ``until``; any, when ``None``) at which a gap or
    the window overran, or ``None``."""
    plan = plan_for(rules, policy, cycle.calendar)
    assert plan.gap is not None and plan.within is not None
    starts = gap_starts(cycle, until)
    first: int | None = None
    for index, since in enumerate(starts):
        over = _past(plan.gap, cycle, since, 1)
        if over is None:
            continue
        following = starts[index + 1] if index + 1 < len(starts) else None
        if following is None or over <= following:
            first = over
            break
    window = _past(plan.within, cycle, cycle.started_at, 1)
    # The window overruns only if the attempts before it fall short.
    if (
        window is not None
        and (first is None or window < first)
        and bisect.bisect_left(cycle.attempts, window) < policy.attempts
    ):
        first = window
    if first is not None and until is not None and first > until:
        return None
    return first


def deadline(rules: Rulebook, policy: Policy, cycle: Cycle, until: int) -> int | None:
    """When the gap in force at ``until``, or the window, runs out, whichever is first.

    A cycle met by its attempts keeps the deadline its last required attempt met: the
    gap that attempt closed (from the one before it), not one it would have opened.
    """
    plan = plan_for(rules, policy, cycle.calendar)
    assert plan.gap is not None and plan.within is not None
    if len(cycle.attempts) >= policy.attempts:
        since = cycle.attempts[policy.attempts - 2] if policy.attempts > 1 else cycle.started_at
    else:
        since = gap_starts(cycle, until)[-1]
    ends = [_past(plan.gap, cycle, since, 0), _past(plan.within, cycle, cycle.started_at, 0)]
    return min((at for at in ends if at is not None), default=None)


def open_due(rules: Rulebook, policy: Policy, cycle: Cycle) -> int | None:
    """An open cycle's ``due_at`` once its last fact is known: the breach, if a gap already
    overran, else when the current gap or the window runs out."""
    since = gap_starts(cycle)[-1]
    breach = breach_instant(rules, policy, cycle, since)
    return breach if breach is not None else deadline(rules, policy, cycle, since)


def cadence_reached(rules: Rulebook, policy: Policy, cycle: Cycle, before: int, at: int) -> None:
    """After attempts at ``at`` (``before``: the count until then): stop the cycle, met,
    if they reach the required number before any overrun."""
    if before < policy.attempts <= len(cycle.attempts) and (
        breach_instant(rules, policy, cycle, at) is None
    ):
        cycle.end(at)


def step_firings(rules: Rulebook, policy: Policy, cycle: Cycle) -> list[int | None]:
    """Each escalation step's instant: in the first gap that lasts until it, counted from
    the gap's start (``None``: no gap has yet). A step at or after the next attempt or
    the stop does not fire in that gap."""
    plan = plan_for(rules, policy, cycle.calendar)
    stopped_at = cycle.stopped_at
    starts = gap_starts(cycle, stopped_at)
    result: list[int | None] = []
    for measure, amount in plan.steps:
        found: int | None = None
        for index, since in enumerate(starts):
            base = accrued(measure, cycle, since) if since > cycle.started_at else 0
            instant = reach_instant(measure, cycle, base + amount, project=False)
            if instant is None:
                break
            following = starts[index + 1] if index + 1 < len(starts) else stopped_at
            if following is None or instant < following:
                found = instant
                break
        result.append(found)
    return result


def cadence_timers(rules: Rulebook, policy: Policy, cycle: Cycle) -> list[Timer]:
    """The instants at which a cadence cycle escalates and breaches."""
    timers = [
        Timer(policy.name, cycle.number, TimerKind.ESCALATION, step.number, instant)
        for step, instant in zip(policy.escalate, step_firings(rules, policy, cycle), strict=True)
        if instant is not None
    ]
    if cycle.stopped_at is None:
        breach = breach_instant(rules, policy, cycle, None)
        if breach is not None:
            timers.append(Timer(policy.name, cycle.number, TimerKind.BREACH, 0, breach))
    return timers


def judge_cadence(rules: Rulebook, policy: Policy, cycle: Cycle, as_of: int) -> Verdict:
    """SPEC §9.3: the cadence cycle's state, deadline and owner at ``as_of``."""
    plan = plan_for(rules, policy, cycle.calendar)
    stopped_at = cycle.stopped_at
    stopped = stopped_at is not None and stopped_at <= as_of
    end = stopped_at if stopped and stopped_at is not None else as_of
    breached_at = breach_instant(rules, policy, cycle, end)
    due: int | None
    if breached_at is not None:
        state = State.BREACHED
        # A reassignment hands the breach to the owner it took the lead from.
        owner = cycle.owner if cycle.reassigned else value_at(cycle.owners, breached_at)
        due = breached_at
    else:
        if stopped:
            state = State.REASSIGNED if cycle.reassigned else State.MET
        else:
            state = State.RUNNING if cycle.running else State.PAUSED
        owner = cycle.owner
        due = deadline(rules, policy, cycle, end)
    fired = sum(
        1
        for instant in step_firings(rules, policy, cycle)
        if instant is not None and instant <= as_of
    )
    return Verdict(
        policy=policy.name,
        cycle=cycle.number,
        calendar=cycle.calendar,
        grade=cycle.grade,
        owner=owner,
        state=state,
        started_at=cycle.started_at,
        due_at=due,
        stopped_at=stopped_at if stopped else None,
        business_micros=accrued(plan.calendar, cycle, end),
        breached_at=breached_at,
        escalations=fired,
        warned_at=None,
        attempts=len(cycle.attempts),
    )
