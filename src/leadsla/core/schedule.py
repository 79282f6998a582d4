"""When a cycle must be looked at again: its deadline, its breach, and the warnings and
escalation steps the worker has still to handle.

The clock (:mod:`leadsla.core.clock`) derives every timer of a cycle from its facts;
this module decides which of them matter at a point in time, given how far the worker
has handled the cycle (``done_until``: every timer at or before it is handled). The
service stores these figures with each cycle and the worker fires what is due, so
both read one rule.

Breaches notify no one (the verdict records them), so only warnings and steps are
ever pending. A stopped cycle keeps the warnings and steps that fell before its stop
(SPEC §4 rule 8): the worker must still record them, sent or skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from leadsla.core.clock import (
    Cycle,
    Timer,
    TimerKind,
    cycle_timers,
    due_instant,
    timers_before_stop,
)
from leadsla.core.policy import Policy, Rulebook


@dataclass(frozen=True, slots=True)
class CycleSchedule:
    """The instants stored with a cycle for the worker and the at-risk lists."""

    due_at: int | None  # open cycles only: a stopped one is judged from its facts on read
    breach_at: int | None  # open cycles only
    next_timer_at: int | None  # the earliest warning or step not handled yet


@dataclass(frozen=True, slots=True)
class Firing:
    """What the worker does with a cycle at ``now``."""

    due: list[Timer]  # warnings and steps to notify, in the clock's order
    next_timer_at: int | None  # when to look at the cycle again once they are handled


def pending_timers(timers: Iterable[Timer], done_until: int | None) -> list[Timer]:
    """The warnings and steps the worker has not handled yet (those after ``done_until``)."""
    return [
        t
        for t in timers
        if t.kind is not TimerKind.BREACH and (done_until is None or t.at > done_until)
    ]


def next_timer_after(timers: Iterable[Timer], done_until: int | None) -> int | None:
    """The instant of the earliest warning or step not handled yet, if any."""
    return min((t.at for t in pending_timers(timers, done_until)), default=None)


def cycle_schedule(
    rules: Rulebook, policy: Policy, cycle: Cycle, done_until: int | None
) -> CycleSchedule:
    """The cycle's deadline, breach and next pending timer, handled up to ``done_until``."""
    if cycle.stopped_at is not None:
        fired = timers_before_stop(rules, policy, cycle)
        return CycleSchedule(None, None, next_timer_after(fired, done_until))
    timers = cycle_timers(rules, policy, cycle)
    breach_at = next((t.at for t in timers if t.kind is TimerKind.BREACH), None)
    return CycleSchedule(
        due_instant(rules, policy, cycle), breach_at, next_timer_after(timers, done_until)
    )


def timers_due(
    rules: Rulebook, policy: Policy, cycle: Cycle, now: int, done_until: int | None
) -> Firing:
    """The warnings and steps due by ``now`` and not handled by ``done_until``.

    Once they are handled the cycle is handled up to ``now``: an open cycle is looked
    at again at its next later warning or step; a stopped one never (its last timers
    have been fired).
    """
    if cycle.stopped_at is not None:
        fired = timers_before_stop(rules, policy, cycle)
        return Firing([t for t in pending_timers(fired, done_until) if t.at <= now], None)
    timers = cycle_timers(rules, policy, cycle)
    due = [t for t in pending_timers(timers, done_until) if t.at <= now]
    return Firing(due, next_timer_after(timers, now))
