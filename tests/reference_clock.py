"""A plain reference for the SLA clock (SPEC §4 rules 1–9 and §9.1–9.3), to check
``leadsla.core.clock``.

It is written from SPEC §4, §9.1–9.3 and ``docs/sla-rules.md``, not from the engine,
and it shares none of the engine's structure: no running segments, no ``add`` on a
calendar, no per-grade period search. Instead it simulates a clock minute by
minute on a grid that starts at the cycle's start:

1. the lead's state after each instant (fields, grade, status, owner) is listed,
   with the activity rows of that instant;
2. the cycles are found by walking the instants (rules 1, 3, 4, 7; §9.1 start and
   stop conditions, §9.2 restarts, §9.3 a cadence met by its attempts);
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
Only ``due_at`` and the step instants look past the end of the facts; everything
else is cut at the stop or at ``as_of``.

Version 2 (SPEC §9.1–9.3), with the readings the team fixed and those this
reference chose where the text is silent:

* §9.1 ``start``: a status *entering* the start set, or an activity row of the
  instant matching ``start_activity``; ``start_assigned`` turns the status part
  into the edge of "status in the start set and an owner". ``stop``: the status in
  the stop set, an activity row of the instant matching ``stop_activity``, or (with
  ``stop_assigned``) an owner. An activity entry ``call`` matches every ``call:*``;
  ``call:connected`` only itself; ``email:automated`` only when named exactly. A
  stop condition holding at the start instant stops the clock at once (``met``, no
  time); such a clock is projected in the mode it started in, so its ``due_at`` is
  the deadline it had at the start (none if it started in a pause status). A clock
  never starts again at the instant it stops (rule 7 needs a new edge).
* Attempts: every activity row except ``email:automated`` (and an empty value),
  each row once. ``attempts`` of a verdict counts the rows from the cycle's start
  instant to its stop (the stop instant included) or to ``as_of``; a cycle ended by
  a reassignment leaves the rows of that instant to the new cycle.
* §9.2 ``on_reassign: restart``: an owner change from one owner to another (any
  two non-empty values, after the instant's rows) while a cycle is open (paused or
  breached and still open included) and not at its start instant ends the cycle
  there, unless a stop condition holds at that instant (the stop wins, and no new
  cycle starts). The ended cycle is ``breached``/``lapsed`` if it is over its
  target (for cadence: breached at or before the instant), else ``reassigned``; in
  either case its owner is the owner just before the instant, and its grade,
  target, ``due_at`` and steps are those of a clock stopped at that instant. The
  new cycle starts at the same instant on the new owner's calendar without
  looking at ``applies_to`` (the SPEC names no condition for it).
* §9.3 cadence: gaps run from the start and from each attempt instant; a gap, the
  window and each step are measured in accrued time of their own unit (business
  on the cycle's calendar or wall), pauses excluded. The cycle is ``breached`` at
  the first instant a gap's accrued time *exceeds* ``gap`` before the next attempt
  (an attempt at that very instant is late), or the accrued time exceeds
  ``within`` before the required attempt is made; ``met`` (and stopped) at the
  instant the required attempts are counted if not breached by then; a breached
  cycle stays open until a stop condition. ``due_at``: the breach instant for a
  breached cycle; else the earlier of the instants at which the current gap and
  the window reach their amounts (projected; none while paused, as §4). For a
  cycle that stopped by a stop condition or a reassignment the current gap is the
  one in force *after* the stop instant (§3: the rules look at the state after an
  instant); the rows of a reassignment instant are not the ending cycle's, so they
  open no gap of it. A cycle met by its attempts keeps the deadline its last
  required attempt met: the gap from the attempt before it (the team's reading;
  the last attempt opens no gap, the cycle being over). The owner of a breached
  cycle is the owner at the breach. Step ``n`` fires at most once per cycle, at
  the first instant its ``after`` is reached from the start of a gap, unless an
  attempt or the stop is at or before that instant (then it is looked for in the
  next gap); steps keep firing while a breached cycle is open. ``warn_at``,
  targets and ``optional`` are not used; ``business_micros`` is accrued business
  time as in §4.

The minute grid is exact when every instant of the history and every window edge
of the calendars falls on a whole minute (checked); amounts need not be whole
minutes. It is slow and obvious on purpose: when it and the engine disagree, the
engine is the suspect, after a re-read of the rules.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
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
    state: str  # running | paused | met | breached | lapsed | reassigned
    started_at: int
    due_at: int | None
    stopped_at: int | None
    business_micros: int
    breached_at: int | None
    escalations: int
    warned_at: int | None
    attempts: int
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

AUTOMATED = "email:automated"


def is_attempt_row(value: str | None) -> bool:
    """SPEC §3 and §9.1: every activity row is an attempt but an automated email."""
    return bool(value) and value != AUTOMATED


def matches_entry(value: str, entries: frozenset[str]) -> bool:
    """SPEC §9.1: ``call`` matches any ``call:…``, ``call:connected`` only itself, and an
    automated email only an entry that names it exactly."""
    if value in entries:
        return True
    kind = value.split(":")[0]
    return value != AUTOMATED and kind in entries


@dataclass(frozen=True)
class Snapshot:
    """The lead as it stands after one instant, and the activity rows of that instant."""

    at: int
    fields: Mapping[str, str]
    grade: str | None
    activities: tuple[str, ...] = ()

    @property
    def status(self) -> str | None:
        return self.fields.get("status")

    @property
    def owner(self) -> str | None:
        return self.fields.get("owner")

    @property
    def attempts(self) -> int:
        return sum(1 for value in self.activities if is_attempt_row(value))


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
        activities: list[str] = []
        for name, value in changes:
            if name == "activity" and value:
                activities.append(value)
            if value:
                fields[name] = value
            else:
                fields.pop(name, None)
        result.append(Snapshot(at, dict(fields), grade_from(rules, fields), tuple(activities)))
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


# -- the conditions of a policy (rules 1, 3, 4; SPEC §9.1, §9.2) ----------------------


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


def in_start_set(policy: Policy, snap: Snapshot) -> bool:
    """The level behind the status edge: the status in the set (and an owner, §9.1)."""
    if snap.status not in policy.start:
        return False
    return snap.owner is not None or not policy.start_assigned


def start_holds(policy: Policy, snapshots: Sequence[Snapshot], index: int) -> bool:
    """Rule 1 and §9.1: the start set entered at this instant, or a starting activity."""
    snap = snapshots[index]
    entered = in_start_set(policy, snap) and (
        index == 0 or not in_start_set(policy, snapshots[index - 1])
    )
    touched = any(matches_entry(value, policy.start_activity) for value in snap.activities)
    return entered or touched


def stop_holds(policy: Policy, snap: Snapshot) -> bool:
    """Rule 4 and §9.1: a stop status, a stopping activity row, or an owner."""
    return (
        snap.status in policy.stop
        or any(matches_entry(value, policy.stop_activity) for value in snap.activities)
        or (policy.stop_assigned and snap.owner is not None)
    )


def is_reassignment(policy: Policy, snapshots: Sequence[Snapshot], index: int) -> bool:
    """§9.2: with ``restart``, the owner changed from someone to someone else."""
    if policy.on_reassign != "restart" or index == 0:
        return False
    before, after = snapshots[index - 1].owner, snapshots[index].owner
    return before is not None and after is not None and before != after


def live_mode(policy: Policy, snap: Snapshot) -> str:
    """Rule 3: the mode of an open clock after this instant."""
    return "paused" if snap.status in policy.pause else "running"


# -- the minute grid --------------------------------------------------------------


def local_date(instant: int, zone: tzinfo) -> date:
    return (_EPOCH + timedelta(microseconds=instant)).astimezone(zone).date()


def open_minutes(calendar: DayCalendar, origin: int, count: int) -> np.ndarray:
    """For each minute from ``origin``, whether the calendar is open during it (read only).

    The same cycle is judged at many instants, with grids of many lengths: the flags
    are worked out in whole months from ``origin`` once, and cut to length.
    """
    months = -(-count // (30 * MINUTES_PER_DAY))
    return _open_months(calendar, origin, months)[:count]


@functools.lru_cache(maxsize=512)
def _open_months(calendar: DayCalendar, origin: int, months: int) -> np.ndarray:
    count = months * 30 * MINUTES_PER_DAY
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
    flags.setflags(write=False)
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

    def reach_from(self, instant: int, amount: int) -> int | None:
        """The earliest instant at which ``amount`` has accrued since ``instant``."""
        return self.first_reaching(self.at(instant) + amount)

    def exceed_from(self, instant: int, amount: int) -> int | None:
        """The earliest instant at which more than ``amount`` has accrued since ``instant``."""
        return self.first_reaching(self.at(instant) + amount + 1)


@dataclass(frozen=True)
class Grid:
    """One cycle's clock, minute by minute from its start, with the projection."""

    start: int
    count: int
    running: np.ndarray
    business: Accrual
    wall: Accrual
    day_hours: float

    def measure(self, duration: Duration) -> tuple[Accrual, int]:
        accrual = self.business if duration.business else self.wall
        return accrual, duration_micros(duration, self.day_hours)

    def running_at(self, instant: int) -> bool:
        return bool(self.running[(instant - self.start) // MINUTE])


def grid_of(
    policy: Policy,
    snapshots: Sequence[Snapshot],
    first: int,
    last: int | None,
    calendar: ClockCalendar,
    as_of: int,
) -> Grid:
    """The clock of a cycle from snapshot ``first`` to its stop at ``last`` (None: open).

    A stopped clock is projected in the mode it had just before the stop; one stopped
    at its start instant in the mode it started in.
    """
    start = snapshots[first].at
    count = (as_of - start) // MINUTE + 1 + HORIZON_DAYS * MINUTES_PER_DAY
    running = np.zeros(count, dtype=bool)
    last_index = last if last is not None else len(snapshots) - 1
    before = live_mode(policy, snapshots[first])
    for index in range(first, last_index + 1):
        snap = snapshots[index]
        if index == last:
            counts = before == "running"
        else:
            before = live_mode(policy, snap)
            counts = before == "running"
        begin = (snap.at - start) // MINUTE
        until = (snapshots[index + 1].at - start) // MINUTE if index < last_index else count
        running[begin:until] = counts
    is_open = open_minutes(calendar.days, start, count)
    return Grid(
        start=start,
        count=count,
        running=running,
        business=Accrual(start, running & is_open),
        wall=Accrual(start, running),
        day_hours=calendar.day_hours,
    )


# -- rules 1, 3, 4, 7 and SPEC §9.1–9.3: the cycles -----------------------------------


@dataclass
class CycleFacts:
    number: int
    first: int  # index of the starting snapshot
    last: int | None  # index of the stopping snapshot, None while open
    calendar: str
    reassigned: bool = False  # §9.2: ended by a reassignment rather than stopped


def attempt_instants(snapshots: Sequence[Snapshot], first: int, until: int) -> list[int]:
    """The instant of each attempt row of snapshots ``first`` … ``until - 1``, row by row."""
    return [snap.at for snap in snapshots[first:until] for _ in range(snap.attempts)]


def cadence_breach(policy: Policy, grid: Grid, attempts: Sequence[int]) -> int | None:
    """§9.3: the first instant a gap or the window is exceeded, given these attempts.

    A gap runs from the start or an attempt to the next attempt; it is exceeded at the
    first instant more than ``gap`` has accrued since it began, unless the next attempt
    came before that instant. The window is exceeded at the first instant more than
    ``within`` has accrued, unless the required attempt came before.
    """
    found: list[int] = []
    if policy.gap is not None:
        accrual, amount = grid.measure(policy.gap)
        starts = sorted({grid.start, *attempts})
        for number, began in enumerate(starts):
            following = starts[number + 1] if number + 1 < len(starts) else None
            over = accrual.exceed_from(began, amount)
            if over is not None and (following is None or over <= following):
                found.append(over)
                break
    if policy.within is not None:
        accrual, amount = grid.measure(policy.within)
        over = accrual.first_exceeding(amount)
        enough = attempts[policy.attempts - 1] if len(attempts) >= policy.attempts else None
        if over is not None and (enough is None or over <= enough):
            found.append(over)
    return min(found, default=None)


def cycles_of(
    rules: Rulebook,
    calendars: Mapping[str, ClockCalendar],
    policy: Policy,
    snapshots: Sequence[Snapshot],
    as_of: int,
) -> list[CycleFacts]:
    cycles: list[CycleFacts] = []
    current: CycleFacts | None = None
    grid: Grid | None = None  # a cadence cycle's clock as if it never stopped

    def begin(index: int) -> CycleFacts:
        nonlocal grid
        cycle = CycleFacts(
            number=len(cycles) + 1,
            first=index,
            last=None,
            calendar=calendar_for(rules, policy, snapshots[index].owner),
        )
        cycles.append(cycle)
        if policy.is_cadence:
            grid = grid_of(policy, snapshots, index, None, calendars[cycle.calendar], as_of)
        return cycle

    for index, snap in enumerate(snapshots):
        if current is None:
            if not (start_holds(policy, snapshots, index) and applies(policy, snap)):
                continue
            current = begin(index)
            if stop_holds(policy, snap):  # §9.1: a stop already holding stops it at once
                current.last = index
                current = None
                continue
        elif stop_holds(policy, snap):  # rule 4; a stop wins over a reassignment
            current.last = index
            current = None
            continue
        elif is_reassignment(policy, snapshots, index):  # §9.2
            current.last = index
            current.reassigned = True
            current = begin(index)
        if policy.is_cadence and grid is not None:
            # §9.3: met, and stopped, when the required attempts are made in time.
            made = attempt_instants(snapshots, current.first, index + 1)
            if len(made) >= policy.attempts:
                breach = cadence_breach(policy, grid, made)
                if breach is None or breach > snap.at:
                    current.last = index
                    current = None
    return cycles


# -- rules 5, 6, 8, 9 and SPEC §9.2–9.3: judging a cycle -------------------------------


def _target(policy: Policy, grade: str | None) -> Duration | None:
    if grade is not None and grade in policy.targets:
        return policy.targets[grade]
    return policy.targets.get("default")


@dataclass(frozen=True)
class Figures:
    """What a kind of policy makes of a cycle before the common verdict rules."""

    due_at: int | None
    breached_at: int | None
    escalations: int
    warned_at: int | None
    step_instants: tuple[int | None, ...]


def judge_cycle(
    rules: Rulebook,
    calendars: Mapping[str, ClockCalendar],
    policy: Policy,
    snapshots: Sequence[Snapshot],
    cycle: CycleFacts,
    as_of: int,
) -> RefVerdict:
    grid = grid_of(policy, snapshots, cycle.first, cycle.last, calendars[cycle.calendar], as_of)
    start = grid.start
    stopped_at = snapshots[cycle.last].at if cycle.last is not None else None
    end = stopped_at if stopped_at is not None else as_of
    # The attempt rows of the cycle; those of a reassignment instant open the next one.
    if cycle.last is None:
        until = len(snapshots)
    else:
        until = cycle.last if cycle.reassigned else cycle.last + 1
    attempts = attempt_instants(snapshots, cycle.first, until)
    grade = snapshot_at(snapshots, end).grade

    if policy.is_cadence:
        figures = _cadence(policy, grid, attempts, stopped_at, as_of)
    else:
        figures = _sla(policy, snapshots, cycle, grid, grade, stopped_at, as_of)

    def owner_at(instant: int) -> str | None:
        return snapshot_at(snapshots, instant).owner

    if figures.breached_at is not None:
        state = "lapsed" if grade in policy.optional else "breached"
        owner = owner_at(figures.breached_at)  # rule 9
    elif stopped_at is not None:
        state = "met"
        owner = owner_at(stopped_at)  # rule 9
    else:
        status = snapshot_at(snapshots, as_of).status
        state = "paused" if status in policy.pause else "running"
        owner = owner_at(as_of)
    if cycle.reassigned:
        # §9.2: charged to the owner it was taken from; not met, merely ended.
        assert cycle.last is not None
        owner = snapshots[cycle.last - 1].owner
        if state == "met":
            state = "reassigned"

    return RefVerdict(
        policy=policy.name,
        cycle=cycle.number,
        calendar=cycle.calendar,
        grade=grade,
        owner=owner,
        state=state,
        started_at=start,
        due_at=figures.due_at,
        stopped_at=stopped_at,
        business_micros=grid.business.at(end),
        breached_at=figures.breached_at,
        escalations=figures.escalations,
        warned_at=figures.warned_at,
        attempts=len(attempts),
        step_instants=figures.step_instants,
    )


def _sla(
    policy: Policy,
    snapshots: Sequence[Snapshot],
    cycle: CycleFacts,
    grid: Grid,
    grade: str | None,
    stopped_at: int | None,
    as_of: int,
) -> Figures:
    """Rules 5, 6 and 8: the target of the grade at the end, its deadline, the steps."""
    end = stopped_at if stopped_at is not None else as_of
    due_at = breached_at = None
    target = _target(policy, grade)
    if target is not None:
        accrual, amount = grid.measure(target)
        due_at = accrual.first_reaching(amount)
        if due_at is None and grid.running_at(end):
            raise ValueError("the grid is too short for this deadline: raise HORIZON_DAYS")
        if accrual.at(end) > amount:
            breached_at = accrual.first_exceeding(amount)

    # Rule 8: each step at the instant its accrued time reaches `after`.
    step_instants: list[int | None] = []
    fired = 0
    for step in policy.escalate:
        accrual, amount = grid.measure(step.after)
        instant = accrual.first_reaching(amount)
        step_instants.append(instant)
        if (
            instant is not None
            and instant <= as_of
            and (stopped_at is None or stopped_at > instant)
            and snapshot_at(snapshots, instant).grade not in policy.optional
        ):
            fired += 1

    warned_at = _warning(policy, snapshots, cycle, grid)
    if warned_at is not None and (
        (stopped_at is not None and warned_at >= stopped_at) or warned_at > as_of
    ):
        warned_at = None
    return Figures(due_at, breached_at, fired, warned_at, tuple(step_instants))


def _cadence(
    policy: Policy,
    grid: Grid,
    attempts: Sequence[int],
    stopped_at: int | None,
    as_of: int,
) -> Figures:
    """§9.3: gaps, window and steps from the attempt rows of the cycle."""
    end = stopped_at if stopped_at is not None else as_of
    breach = cadence_breach(policy, grid, attempts)
    breached_at = breach if breach is not None and breach <= end else None

    if breached_at is not None:
        due_at: int | None = breached_at
    else:
        # The gap in force after the last instant (§3: the rules read the state after
        # an instant): opened by the cycle's latest attempt row, a stop's own included;
        # but a cycle met by its attempts keeps the gap its last required attempt closed
        # (that attempt opens none: the cycle is over).
        required = policy.attempts
        if len(attempts) >= required:
            began = sorted(attempts)[required - 2] if required > 1 else grid.start
        else:
            began = max([grid.start, *attempts])
        deadlines: list[int | None] = []
        if policy.gap is not None:
            accrual, amount = grid.measure(policy.gap)
            deadlines.append(accrual.reach_from(began, amount))
        if policy.within is not None:
            accrual, amount = grid.measure(policy.within)
            deadlines.append(accrual.first_reaching(amount))
        if None in deadlines and grid.running_at(end):
            raise ValueError("the grid is too short for this deadline: raise HORIZON_DAYS")
        due_at = min((d for d in deadlines if d is not None), default=None)

    # Each step once per cycle, from the start of the gap it first falls in.
    starts = sorted({grid.start, *attempts})
    step_instants: list[int | None] = []
    fired = 0
    for step in policy.escalate:
        accrual, amount = grid.measure(step.after)
        instant = None
        for number, began in enumerate(starts):
            following = starts[number + 1] if number + 1 < len(starts) else None
            candidate = accrual.reach_from(began, amount)
            if candidate is None:
                break
            if following is not None and candidate >= following:
                continue  # an attempt at or before the step's instant: look in the next gap
            if stopped_at is None or candidate < stopped_at:
                instant = candidate
            break
        step_instants.append(instant)
        if instant is not None and instant <= as_of:
            fired += 1
    return Figures(due_at, breached_at, fired, None, tuple(step_instants))


def _warning(
    policy: Policy, snapshots: Sequence[Snapshot], cycle: CycleFacts, grid: Grid
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
    start, count = grid.start, grid.count
    last_index = cycle.last if cycle.last is not None else len(snapshots) - 1
    for index in range(cycle.first, last_index + 1):
        snap = snapshots[index]
        begin = (snap.at - start) // MINUTE
        until = (snapshots[index + 1].at - start) // MINUTE if index < last_index else count
        target = _target(policy, snap.grade)
        if target is None or snap.grade in policy.optional:
            continue
        accrual, full = grid.measure(target)
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
        for cycle in cycles_of(rules, calendars, policy, snapshots, as_of):
            verdicts.append(judge_cycle(rules, calendars, policy, snapshots, cycle, as_of))
    return verdicts
