"""A clock cycle's facts, and the figures read off them: accrued time and the instant
an amount is reached, on a policy's durations resolved for one calendar.

:mod:`leadsla.core.clock` records the facts instant by instant; this module and
:mod:`leadsla.core.cadence` derive every figure from them, so the live and replayed
forms of a cycle cannot drift apart.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from leadsla.core.calendar import WALL_CLOCK, BusinessCalendar, TimeMeasure
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.durations import Duration
from leadsla.core.policy import Policy, Rulebook


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    LAPSED = "lapsed"
    REASSIGNED = "reassigned"  # SPEC §9.2: ended by a reassignment with ``restart``


class TimerKind(StrEnum):
    WARNING = "warning"
    ESCALATION = "escalation"
    BREACH = "breach"


@dataclass(slots=True)
class Cycle:
    """One run of a policy's clock on one lead, from a start to (maybe) a stop."""

    policy: str
    number: int
    calendar: str
    started_at: int
    # Running segments as [resumed_at, paused_or_stopped_at]; the last may be open (None).
    segments: list[list[int | None]] = field(default_factory=list)
    stopped_at: int | None = None
    # Histories within the cycle, first entry at the start: (at, value).
    grades: list[tuple[int, str | None]] = field(default_factory=list)
    owners: list[tuple[int, str | None]] = field(default_factory=list)
    # The instant of each attempt made in the cycle (one entry per activity row, SPEC §9.3).
    attempts: list[int] = field(default_factory=list)
    # Ended by a reassignment with ``on_reassign: restart`` (SPEC §9.2), not by a stop.
    reassigned: bool = False

    @property
    def running(self) -> bool:
        return self.stopped_at is None and bool(self.segments) and self.segments[-1][1] is None

    @property
    def paused(self) -> bool:
        return self.stopped_at is None and not self.running

    @property
    def grade(self) -> str | None:
        return self.grades[-1][1] if self.grades else None

    @property
    def owner(self) -> str | None:
        return self.owners[-1][1] if self.owners else None

    def end(self, at: int) -> None:
        """Rule 4: the cycle stops at ``at`` (its running segment, if any, ends there)."""
        if self.running:
            self.segments[-1][1] = at
        self.stopped_at = at


@dataclass(frozen=True, slots=True)
class Timer:
    """An instant at which a cycle must be looked at again by the worker."""

    policy: str
    cycle: int
    kind: TimerKind
    step: int  # escalation step number; 0 for warning and breach
    at: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """A cycle judged at an instant: the row of ``leadsla evaluate``."""

    policy: str
    cycle: int
    calendar: str
    grade: str | None
    owner: str | None
    state: State
    started_at: int
    due_at: int | None
    stopped_at: int | None
    business_micros: int
    breached_at: int | None  # first instant past the target, for breached and lapsed
    escalations: int
    warned_at: int | None
    attempts: int = 0  # SPEC §9.3: attempts made in the cycle

    @property
    def business_seconds(self) -> int:
        # Truncate toward zero: a clock 59.9 s in has accrued 59 whole seconds.
        return self.business_micros // MICROS_PER_SECOND


# -- figures derived from a cycle's facts --------------------------------------------

Amount = tuple[TimeMeasure, int]
"""A duration resolved for one cycle: the measure it is counted on and its microseconds."""


@dataclass(slots=True)
class Plan:
    """A policy's durations resolved on one calendar, computed once per (policy, calendar)."""

    policy: Policy
    calendar: BusinessCalendar
    steps: tuple[Amount, ...]
    gap: Amount | None = None  # cadence policies (SPEC §9.3)
    within: Amount | None = None
    _targets: dict[str | None, Amount | None] = field(default_factory=dict)

    def target(self, grade: str | None) -> Amount | None:
        """Rule 5: the grade's target (else ``default``, else none) on this calendar."""
        if grade in self._targets:
            return self._targets[grade]
        duration = self.policy.target_for(grade)
        resolved: Amount | None = None
        if duration is not None:
            resolved = (
                self.calendar if duration.business else WALL_CLOCK,
                duration.micros(self.calendar.day_hours),
            )
        self._targets[grade] = resolved
        return resolved


def plan_for(rules: Rulebook, policy: Policy, calendar: str) -> Plan:
    key: tuple[object, ...] = ("clock.plan", policy.name, calendar)
    found = rules.memo.get(key)
    if isinstance(found, Plan) and found.policy is policy:
        return found
    if isinstance(found, Plan):
        # Another policy of that name: a recorded version judged beside the config's
        # (core/versions.py). The plan holds the policy, so its id is not reused.
        key = (*key, id(policy))
        found = rules.memo.get(key)
        if isinstance(found, Plan):
            return found
    cal = rules.calendars[calendar]

    def amount(duration: Duration) -> Amount:
        return (cal if duration.business else WALL_CLOCK, duration.micros(cal.day_hours))

    plan = Plan(
        policy,
        cal,
        tuple(amount(step.after) for step in policy.escalate),
        gap=amount(policy.gap) if policy.gap is not None else None,
        within=amount(policy.within) if policy.within is not None else None,
    )
    rules.memo[key] = plan
    return plan


def accrued(measure: TimeMeasure, cycle: Cycle, until: int) -> int:
    """Time accrued on ``measure`` by the running segments, up to ``until``."""
    total = 0
    for start, end in cycle.segments:
        assert start is not None
        if start >= until:
            break
        stop = until if end is None or end > until else end
        total += measure.elapsed(start, stop)
    return total


def reach_instant(
    measure: TimeMeasure, cycle: Cycle, amount: int, *, project: bool = True
) -> int | None:
    """The earliest instant at which the accrued time reaches ``amount``.

    ``project`` carries the last running segment on past its stop: the deadline
    a cycle had when it was stopped. A paused cycle that has not reached the
    amount has no such instant.
    """
    done = 0
    last = len(cycle.segments) - 1
    for index, (start, end) in enumerate(cycle.segments):
        assert start is not None
        if end is None or (project and index == last and cycle.stopped_at == end):
            return measure.add(start, amount - done)
        part = measure.elapsed(start, end)
        if done + part >= amount:
            return measure.add(start, amount - done)
        done += part
    return None


def value_at(history: Sequence[tuple[int, str | None]], at: int) -> str | None:
    """The value of a history (sorted by instant) after the instant ``at``."""
    if len(history) == 1 or at >= history[-1][0]:
        return history[-1][1]
    index = bisect.bisect_right(history, at, key=lambda item: item[0]) - 1
    return history[max(index, 0)][1]
