"""A plain reference for the SLA clock (SPEC §4 rules 1–9), to check ``leadsla.core.clock``.

It is written from SPEC §4 and ``docs/sla-rules.md``, not from the engine, and it
shares none of the engine's structure: no running segments, no ``add`` on a
calendar, no per-grade period search. Instead it simulates a clock minute by
minute on a grid that starts at the cycle's start:

1. the lead's state after each instant (fields, grade, status, owner) is listed;
2. the cycles are found by walking the instants (rules 1, 3, 4, 7);
3. for each minute of a cycle, the clock is *running* or not (the state after the
   latest instant at or before that minute's start), and the calendar is *open* or
   not (``ReferenceCalendar.day_intervals``, day by day);
4. accrued time is the running count of minutes that were running (wall time)
   and running while open (business time); every other figure is read off these
   two cumulative counts: the first instant a count reaches an amount, the first
   instant it exceeds one, the count at an instant.

After the last known fact the clock is *projected*: an open cycle stays in its
state at ``as_of``, and a cycle that was running when it stopped keeps running
(the deadline it had when it stopped); one stopped out of a pause stays still.
Only ``due_at`` looks past the end of the facts; everything else is cut at the
stop or at ``as_of``.

The minute grid is exact when every instant of the history and every window edge
of the calendars falls on a whole minute (checked); amounts need not be whole
minutes. It is slow and obvious on purpose: when it and the engine disagree, the
engine is the suspect, after a re-read of the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Protocol

import numpy as np

from leadsla.core.durations import Duration
from leadsla.core.policy import Policy, Rulebook

MICROS_PER_SECOND = 1_000_000
MINUTE = 60 * MICROS_PER_SECOND
HOUR = 60 * MINUTE
MINUTES_PER_DAY = 24 * 60
# How far past the last fact the grid reaches: long enough for any projected deadline
# of the tests that use it (a deadline the grid cannot reach is an error, not None).
HORIZON_DAYS = 40

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Change = tuple[str, str | None]
Instant = tuple[int, Sequence[Change]]


class DayCalendar(Protocol):
    """What the reference needs of a calendar: its zone and each local day's open intervals.

    ``tests/reference_calendar.py``'s ``ReferenceCalendar`` is one.
    """

    zone: tzinfo

    def day_intervals(self, day: date) -> list[tuple[int, int]]: ...


@dataclass(frozen=True)
class ClockCalendar:
    """A reference calendar and the length of its business day (``day_hours``)."""

    days: DayCalendar
    day_hours: float = 8.0


@dataclass(frozen=True)
class RefVerdict:
    """The reference's judgement of one cycle at ``as_of``; field names follow ``Verdict``."""

    policy: str
    cycle: int
    calendar: str
    grade: str | None
    owner: str | None
    state: str  # running | paused | met | breached | lapsed
    started_at: int
    due_at: int | None
    stopped_at: int | None
    business_micros: int
    breached_at: int | None
    escalations: int
    warned_at: int | None
    # Not in the engine's verdict: the projected instant of each step (None if never
    # reached on the grid), for tests that want to evaluate exactly there.
    step_instants: tuple[int | None, ...] = ()

    @property
    def business_seconds(self) -> int:
        return self.business_micros // MICROS_PER_SECOND


# -- durations -----------------------------------------------------------------------


def duration_micros(duration: Duration, day_hours: float) -> int:
    """A duration's length: wall days are 24 hours, business days ``day_hours`` hours."""
    amount = Fraction(duration.amount)
    if duration.unit == "minutes":
        unit = Fraction(MINUTE)
    elif duration.unit == "hours":
        unit = Fraction(HOUR)
    elif duration.unit == "days":
        unit = Fraction(str(day_hours)) * HOUR if duration.business else Fraction(24 * HOUR)
    else:
        raise ValueError(f"unknown unit {duration.unit!r}")
    return round(amount * unit)


# -- the lead, instant by instant ----------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The lead as it stands after one instant."""

    at: int
    fields: Mapping[str, str]
    grade: str | None

    @property
    def status(self) -> str | None:
        return self.fields.get("status")

    @property
    def owner(self) -> str | None:
        return self.fields.get("owner")


def grade_from(rules: Rulebook, fields: Mapping[str, str]) -> str | None:
    """A ``grade`` field wins; else the first grade in the list the ``score`` reaches."""
    if fields.get("grade"):
        return fields["grade"]
    if not fields.get("score"):
        return None
    try:
        score = float(fields["score"])
    except ValueError:
        return None
    for grade in rules.grades:
        if score >= grade.min_score:
            return grade.name
    return None


def snapshots_of(rules: Rulebook, instants: Sequence[Instant]) -> list[Snapshot]:
    """The lead after each instant: rows of one instant applied in order, empty clears."""
    result: list[Snapshot] = []
    fields: dict[str, str] = {}
    for at, changes in instants:
        if result and at <= result[-1].at:
            raise ValueError("instants must be strictly increasing")
        if at % MINUTE:
            raise ValueError("the reference needs instants on whole minutes")
        for name, value in changes:
            if value:
                fields[name] = value
            else:
                fields.pop(name, None)
        result.append(Snapshot(at, dict(fields), grade_from(rules, fields)))
    return result


def snapshot_at(snapshots: Sequence[Snapshot], instant: int) -> Snapshot:
    """The lead as it stood at ``instant``: after the latest instant at or before it."""
    found = None
    for snap in snapshots:
        if snap.at <= instant:
            found = snap
        else:
            break
    if found is None:
        raise ValueError("no snapshot at or before the instant")
    return found


# -- rules 1, 2, 3, 4, 7: the cycles --------------------------------------------------


@dataclass
class CycleFacts:
    number: int
    first: int  # index of the starting snapshot
    last: int | None  # index of the stopping snapshot, None while open
    calendar: str


def calendar_for(rules: Rulebook, policy: Policy, owner: str | None) -> str:
    """Rule 2, from the rulebook's reps and teams."""
    rep = rules.reps.get(owner) if owner is not None else None
    team = rules.teams.get(rep.team) if rep is not None else None
    if policy.calendar == "owner":
        if rep is not None and rep.calendar:
            return rep.calendar
        if team is not None and team.calendar:
            return team.calendar
        return rules.default_calendar
    if policy.calendar == "team":
        if team is not None and team.calendar:
            return team.calendar
        return rules.default_calendar
    return policy.calendar


def applies(policy: Policy, snap: Snapshot) -> bool:
    attributes = {k: v for k, v in snap.fields.items() if k != "grade"}
    if snap.grade is not None:
        attributes["grade"] = snap.grade
    return all(attributes.get(name) in allowed for name, allowed in policy.applies_to.items())


def cycles_of(rules: Rulebook, policy: Policy, snapshots: Sequence[Snapshot]) -> list[CycleFacts]:
    cycles: list[CycleFacts] = []
    current: CycleFacts | None = None
    for index, snap in enumerate(snapshots):
        if current is not None:
            # Rule 4: an open clock stops the first time the status is in the stop set.
            if snap.status in policy.stop:
                current.last = index
                current = None
            continue
        before = snapshots[index - 1].status if index > 0 else None
        entered = snap.status in policy.start and (index == 0 or before not in policy.start)
        if entered and applies(policy, snap):
            current = CycleFacts(
                number=len(cycles) + 1,
                first=index,
                last=None,
                calendar=calendar_for(rules, policy, snap.owner),
            )
            cycles.append(current)
    return cycles


def mode_after(policy: Policy, cycle: CycleFacts, index: int, snap: Snapshot) -> str:
    """The clock after snapshot ``index`` of an open-or-stopping cycle (rules 3 and 4)."""
    if index == cycle.last:
        return "stopped"
    return "paused" if snap.status in policy.pause else "running"


# -- the minute grid --------------------------------------------------------------


def local_date(instant: int, zone: tzinfo) -> date:
    return (_EPOCH + timedelta(microseconds=instant)).astimezone(zone).date()


def open_minutes(calendar: DayCalendar, origin: int, count: int) -> np.ndarray:
    """For each minute from ``origin``, whether the calendar is open during it."""
    flags = np.zeros(count, dtype=bool)
    end = origin + count * MINUTE
    day = local_date(origin, calendar.zone) - timedelta(days=1)
    last_day = local_date(end, calendar.zone) + timedelta(days=1)
    while day <= last_day:
        for opened, closed in calendar.day_intervals(day):
            if opened % MINUTE or closed % MINUTE:
                raise ValueError("the reference needs window edges on whole minutes")
            low, high = max(opened, origin), min(closed, end)
            if high > low:
                flags[(low - origin) // MINUTE : (high - origin) // MINUTE] = True
        day += timedelta(days=1)
    return flags


class Accrual:
    """Accrued time on the grid: ``counted[k]`` says whether minute ``k`` adds to it."""

    def __init__(self, origin: int, counted: np.ndarray) -> None:
        self.origin = origin
        self.counted = counted
        # totals[k]: accrued at the start of minute k (totals[0] == 0).
        self.totals = np.concatenate(
            [np.zeros(1, dtype=np.int64), np.cumsum(counted, dtype=np.int64) * MINUTE]
        )

    def at(self, instant: int) -> int:
        minute, into = divmod(instant - self.origin, MINUTE)
        if not 0 <= minute < len(self.counted):
            raise ValueError("instant outside the grid")
        return int(self.totals[minute]) + (into if self.counted[minute] else 0)

    def first_reaching(self, amount: int) -> int | None:
        """The earliest instant at which the accrued time is at least ``amount``."""
        if amount <= 0:
            return self.origin
        reached = np.nonzero(self.totals >= amount)[0]
        if reached.size == 0:
            return None
        boundary = int(reached[0])  # >= 1, and minute boundary-1 was counted
        before = int(self.totals[boundary - 1])
        return self.origin + (boundary - 1) * MINUTE + (amount - before)

    def first_exceeding(self, amount: int) -> int | None:
        """The earliest instant at which the accrued time is over ``amount`` (integer µs)."""
        return self.first_reaching(amount + 1)


# -- rules 5, 6, 8, 9: judging a cycle --------------------------------------------


def _target(policy: Policy, grade: str | None) -> Duration | None:
    if grade is not None and grade in policy.targets:
        return policy.targets[grade]
    return policy.targets.get("default")


def judge_cycle(
    rules: Rulebook,
    calendars: Mapping[str, ClockCalendar],
    policy: Policy,
    snapshots: Sequence[Snapshot],
    cycle: CycleFacts,
    as_of: int,
) -> RefVerdict:
    calendar = calendars[cycle.calendar]
    start = snapshots[cycle.first].at
    stopped_at = snapshots[cycle.last].at if cycle.last is not None else None
    end = stopped_at if stopped_at is not None else as_of
    count = (as_of - start) // MINUTE + 1 + HORIZON_DAYS * MINUTES_PER_DAY

    # Running or not, minute by minute, with the projection past the last fact.
    running = np.zeros(count, dtype=bool)
    last_index = cycle.last if cycle.last is not None else len(snapshots) - 1
    previous_mode = None
    for index in range(cycle.first, last_index + 1):
        snap = snapshots[index]
        mode = mode_after(policy, cycle, index, snap)
        counts = mode == "running" or (mode == "stopped" and previous_mode == "running")
        begin = (snap.at - start) // MINUTE
        until = (snapshots[index + 1].at - start) // MINUTE if index < last_index else count
        running[begin:until] = counts
        previous_mode = mode
    is_open = open_minutes(calendar.days, start, count)
    business = Accrual(start, running & is_open)
    wall = Accrual(start, running)

    def measure(duration: Duration) -> tuple[Accrual, int]:
        accrual = business if duration.business else wall
        return accrual, duration_micros(duration, calendar.day_hours)

    def grade_at(instant: int) -> str | None:
        return snapshot_at(snapshots, instant).grade

    def owner_at(instant: int) -> str | None:
        return snapshot_at(snapshots, instant).owner

    grade = grade_at(end)

    # Rule 5 and 6: the target of the grade at the end, its deadline and the verdict.
    due_at = breached_at = None
    target = _target(policy, grade)
    if target is not None:
        accrual, amount = measure(target)
        due_at = accrual.first_reaching(amount)
        projected = bool(running[(end - start) // MINUTE])
        if due_at is None and projected:
            raise ValueError("the grid is too short for this deadline: raise HORIZON_DAYS")
        if accrual.at(end) > amount:
            breached_at = accrual.first_exceeding(amount)
    if breached_at is not None:
        state = "lapsed" if grade in policy.optional else "breached"
        owner = owner_at(breached_at)  # rule 9
    elif stopped_at is not None:
        state = "met"
        owner = owner_at(stopped_at)  # rule 9
    else:
        status = snapshot_at(snapshots, as_of).status
        state = "paused" if status in policy.pause else "running"
        owner = owner_at(as_of)

    # Rule 8: each step at the instant its accrued time reaches `after`.
    step_instants: list[int | None] = []
    fired = 0
    for step in policy.escalate:
        accrual, amount = measure(step.after)
        instant = accrual.first_reaching(amount)
        step_instants.append(instant)
        if (
            instant is not None
            and instant <= as_of
            and (stopped_at is None or stopped_at > instant)
            and grade_at(instant) not in policy.optional
        ):
            fired += 1

    warned_at = _warning(policy, snapshots, cycle, start, count, measure)
    if warned_at is not None and (
        (stopped_at is not None and warned_at >= stopped_at) or warned_at > as_of
    ):
        warned_at = None

    return RefVerdict(
        policy=policy.name,
        cycle=cycle.number,
        calendar=cycle.calendar,
        grade=grade,
        owner=owner,
        state=state,
        started_at=start,
        due_at=due_at,
        stopped_at=stopped_at,
        business_micros=business.at(end),
        breached_at=breached_at,
        escalations=fired,
        warned_at=warned_at,
        step_instants=tuple(step_instants),
    )


def _warning(
    policy: Policy,
    snapshots: Sequence[Snapshot],
    cycle: CycleFacts,
    start: int,
    count: int,
    measure: Callable[[Duration], tuple[Accrual, int]],
) -> int | None:
    """The first instant accrued time reaches ``warn_at`` of the target in force then.

    Minute by minute: the grade (hence the threshold) is constant within a minute, so
    the warning falls at the minute's start if the threshold is already behind the
    clock there (e.g. a grade change at that instant), else inside the minute if the
    accrued time climbs to it; a threshold reached exactly when the grade changes
    belongs to the new grade. Optional grades and grades without target have none.
    The caller drops a warning at or after the stop (the stop wins).
    """
    if policy.warn_at is None:
        return None
    last_index = cycle.last if cycle.last is not None else len(snapshots) - 1
    for index in range(cycle.first, last_index + 1):
        snap = snapshots[index]
        begin = (snap.at - start) // MINUTE
        until = (snapshots[index + 1].at - start) // MINUTE if index < last_index else count
        target = _target(policy, snap.grade)
        if target is None or snap.grade in policy.optional:
            continue
        accrual, full = measure(target)
        threshold = round(full * policy.warn_at)
        for minute in _candidate_minutes(accrual, begin, until, threshold):
            here = int(accrual.totals[minute])
            instant = start + minute * MINUTE + max(threshold - here, 0)
            if index == last_index or instant < snapshots[index + 1].at:
                return instant
    return None


def _candidate_minutes(accrual: Accrual, begin: int, until: int, threshold: int) -> list[int]:
    """Minutes of [begin, until) at whose start or end the accrued time reaches the threshold.

    Only the first matters; the scan is vectorised because the grid is long.
    """
    ends = accrual.totals[begin + 1 : until + 1]
    hits = np.nonzero(ends >= threshold)[0]
    if hits.size == 0:
        return []
    return [begin + int(hits[0])]


# -- the lead ------------------------------------------------------------------------


def reference_verdicts(
    rules: Rulebook,
    calendars: Mapping[str, ClockCalendar],
    instants: Sequence[Instant],
    as_of: int,
) -> list[RefVerdict]:
    """Every cycle of every policy for one lead, judged at ``as_of`` on the facts up to it.

    Ordered by policy name, then cycle, like ``judge_lead``.
    """
    known = [(at, changes) for at, changes in instants if at <= as_of]
    snapshots = snapshots_of(rules, known)
    verdicts: list[RefVerdict] = []
    for policy in sorted(rules.policies, key=lambda p: p.name):
        for cycle in cycles_of(rules, policy, snapshots):
            verdicts.append(judge_cycle(rules, calendars, policy, snapshots, cycle, as_of))
    return verdicts
