"""The SLA clock (SPEC §4): one clock per lead and policy, restarted in cycles.

The engine has one set of rules and one way in, :meth:`LeadClocks.apply`: one
instant of one lead (all its rows at one ``at``) updates that lead's cycles.
:func:`by_instant` turns a lead's rows into those instants, and two paths feed them:

* :func:`replay` applies a whole sorted history — the offline ``evaluate``, which then
  judges every cycle at an evaluation instant with :func:`judge`;
* :meth:`LeadClocks.extend` brings kept clocks up to date with rows as they arrive —
  the live service — applying them on top when they come after everything applied,
  rebuilding from the whole history when they do not.

:meth:`LeadClocks.timers` then lists the instants at which something will happen
(warning, escalation steps, breach).

A cycle records only facts (running segments, grade and owner changes, the stop);
every figure — accrued time, ``due_at``, verdict, the instant of each step — is
derived from those facts at the instant asked, so the live and replayed forms
cannot drift apart.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from leadsla.core.calendar import WALL_CLOCK, BusinessCalendar, TimeMeasure
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.intake import decided, intake_start
from leadsla.core.policy import Policy, Rulebook
from leadsla.core.scoring import Row


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


Change = tuple[str, str | None]
"""One row of an instant: field name and new value (``None`` clears it)."""


def by_instant(rows: Iterable[Row]) -> Iterator[tuple[int, list[Change]]]:
    """A lead's rows, sorted by instant, as the instants :meth:`LeadClocks.apply` takes:
    each instant once, with its changes in row order (the file's or the arrivals')."""
    changes: list[Change] = []
    current = 0
    for at, name, value in rows:
        if changes and at != current:
            yield current, changes
            changes = []
        current = at
        changes.append((name, value))
    if changes:
        yield current, changes


def apply_changes(fields: dict[str, str], changes: Iterable[Change]) -> None:
    """The fields after an instant's changes: a value sets its field, an empty one clears it."""
    for name, value in changes:
        if value is None or value == "":
            fields.pop(name, None)
        else:
            fields[name] = value


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


@dataclass(slots=True)
class LeadClocks:
    """A lead's current fields and the cycles of each policy's clock."""

    lead_id: str
    fields: dict[str, str] = field(default_factory=dict)
    grade: str | None = None
    last_at: int | None = None
    cycles: dict[str, list[Cycle]] = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return self.fields.get("status")

    @property
    def owner(self) -> str | None:
        return self.fields.get("owner")

    def apply(self, rules: Rulebook, at: int, changes: Iterable[Change]) -> list[Cycle]:
        """Apply one instant (rows sharing ``at``); return the cycles it touched.

        Instants must come in ``at`` order; :meth:`extend` rebuilds the lead when
        a row arrives late.
        """
        if self.last_at is not None and at < self.last_at:
            raise ValueError(
                f"lead {self.lead_id}: instant {at} is before the last one applied ({self.last_at})"
            )
        first_instant = self.last_at is None
        self.last_at = at
        fields = self.fields
        previous_status = fields.get("status")
        previous_owner = fields.get("owner")
        previous_grade = self.grade
        apply_changes(fields, changes)
        grade = self.grade = grade_of(rules, fields)
        status = fields.get("status")
        owner = fields.get("owner")
        status_moved = first_instant or status != previous_status
        grade_moved = grade != previous_grade
        owner_moved = owner != previous_owner
        touched: list[Cycle] = []
        for policy in rules.policies:
            cycles = self.cycles.get(policy.name)
            current = cycles[-1] if cycles and cycles[-1].stopped_at is None else None
            if current is not None:
                if grade_moved:
                    current.grades.append((at, grade))
                if owner_moved:
                    current.owners.append((at, owner))
                moved = status_moved and _move(current, policy, status, at)
                if moved or grade_moved or owner_moved:
                    touched.append(current)
            elif (
                status_moved
                and status in policy.start
                and (first_instant or previous_status not in policy.start)
                and (not policy.applies_to or policy.applies(self.attributes()))
            ):
                started = self._start(rules, policy, at)
                touched.append(started)
        if rules.intake is not None:
            touched.extend(self._intake_step(rules, rules.intake, at))
        return touched

    def _intake_step(self, rules: Rulebook, policy: Policy, at: int) -> list[Cycle]:
        """Marketing's intake clock after an instant (core/intake.py): start the cycle once
        the lead is captured, stop it once it is decided; the cycles touched."""
        cycles = self.cycles.get(policy.name)
        if not cycles:
            if policy.applies_to and not policy.applies(self.attributes()):
                return []
            start = intake_start(rules, policy, self.fields, at)
            if start is None:
                return []
            cycle = Cycle(
                policy=policy.name,
                number=1,
                calendar=policy.calendar,
                started_at=start,
                segments=[[start, None]],
                grades=[(start, self.grade)],
                owners=[(start, self.owner)],
            )
            self.cycles[policy.name] = [cycle]
        else:
            cycle = cycles[-1]
            if cycle.stopped_at is not None:
                return []
        if decided(rules, self.fields):
            cycle.segments[-1][1] = at
            cycle.stopped_at = at
        return [cycle]

    def can_extend(self, at: int) -> bool:
        """Whether rows from the instant ``at`` on can be applied on top of these clocks.

        Only rows after the last applied instant can: one at or before it changes an
        instant already applied (a late row, or one more row of the last instant), and
        the lead must be rebuilt from its whole history.
        """
        return self.last_at is None or at > self.last_at

    def extend(
        self, rules: Rulebook, arrivals: Sequence[Row], history: Callable[[], Iterable[Row]]
    ) -> bool:
        """Bring the clocks up to date with rows that arrived since they were made.

        ``arrivals`` are the new rows sorted by instant (arrival order kept within one).
        When they all come after the last applied instant they are applied on top;
        otherwise the clocks are rebuilt from ``history()`` — the lead's whole history,
        the arrivals included, sorted the same way — which is called only then. Either
        way the clocks end as one :func:`replay` of the whole history leaves them.
        True when they were rebuilt.
        """
        if not arrivals:
            return False
        if self.can_extend(arrivals[0][0]):
            instants: Iterable[tuple[int, Sequence[Change]]] = by_instant(arrivals)
            rebuilt = False
        else:
            self.fields, self.grade, self.last_at, self.cycles = {}, None, None, {}
            instants = by_instant(history())
            rebuilt = True
        for at, changes in instants:
            self.apply(rules, at, changes)
        return rebuilt

    def attributes(self) -> dict[str, str]:
        """The fields ``applies_to`` filters on, with the effective grade."""
        if self.grade is None:
            return self.fields
        return {**self.fields, "grade": self.grade}

    def _start(self, rules: Rulebook, policy: Policy, at: int) -> Cycle:
        cycles = self.cycles.setdefault(policy.name, [])
        cycle = Cycle(
            policy=policy.name,
            number=len(cycles) + 1,
            calendar=rules.calendar_name_for(policy, self.owner),
            started_at=at,
            grades=[(at, self.grade)],
            owners=[(at, self.owner)],
        )
        # A status in both the start and the pause set starts a clock that waits.
        if self.status not in policy.pause:
            cycle.segments.append([at, None])
        cycles.append(cycle)
        return cycle

    def open_cycles(self) -> Iterator[Cycle]:
        for cycles in self.cycles.values():
            if cycles and cycles[-1].stopped_at is None:
                yield cycles[-1]

    def timers(self, rules: Rulebook) -> list[Timer]:
        """Every future-or-past instant at which an open cycle's warning, step or breach falls.

        Paused cycles have none (their instants are unknown until they resume).
        The worker keeps its own record of what fired, so past instants are harmless.
        """
        policies = {p.name: p for p in rules.policies}
        result: list[Timer] = []
        for cycle in self.open_cycles():
            if not cycle.running:
                continue
            result.extend(cycle_timers(rules, policies[cycle.policy], cycle))
        result.sort(key=lambda t: t.at)
        return result


def grade_of(rules: Rulebook, fields: Mapping[str, str]) -> str | None:
    """A ``grade`` field wins; else the first grade the ``score`` reaches; else none."""
    explicit = fields.get("grade")
    if explicit:
        return explicit
    score = fields.get("score")
    if score:
        try:
            return rules.grade_for_score(float(score))
        except ValueError:
            return None
    return None


def _move(cycle: Cycle, policy: Policy, status: str | None, at: int) -> bool:
    """Rules 3 and 4 for a status change of an open cycle; True when the cycle changed."""
    if status in policy.stop:
        if cycle.running:
            cycle.segments[-1][1] = at
        cycle.stopped_at = at
        return True
    if status in policy.pause:
        if cycle.running:
            cycle.segments[-1][1] = at
            return True
        return False
    if not cycle.running:
        cycle.segments.append([at, None])
        return True
    return False


# -- figures derived from a cycle's facts --------------------------------------------

Amount = tuple[TimeMeasure, int]
"""A duration resolved for one cycle: the measure it is counted on and its microseconds."""


@dataclass(slots=True)
class Plan:
    """A policy's durations resolved on one calendar, computed once per (policy, calendar)."""

    policy: Policy
    calendar: BusinessCalendar
    steps: tuple[Amount, ...]
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
    key = ("clock.plan", policy.name, calendar)
    found = rules.memo.get(key)
    if isinstance(found, Plan):
        return found
    cal = rules.calendars[calendar]
    steps = tuple(
        (cal if step.after.business else WALL_CLOCK, step.after.micros(cal.day_hours))
        for step in policy.escalate
    )
    plan = Plan(policy, cal, steps)
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


def _value_at(history: Sequence[tuple[int, str | None]], at: int) -> str | None:
    """The value of a history (sorted by instant) after the instant ``at``."""
    if len(history) == 1 or at >= history[-1][0]:
        return history[-1][1]
    index = bisect.bisect_right(history, at, key=lambda item: item[0]) - 1
    return history[max(index, 0)][1]


def step_instants(rules: Rulebook, policy: Policy, cycle: Cycle) -> list[int | None]:
    """Rule 8: the instant at which each escalation step's ``after`` is reached."""
    plan = plan_for(rules, policy, cycle.calendar)
    return [reach_instant(measure, cycle, amount, project=False) for measure, amount in plan.steps]


def step_fires(policy: Policy, cycle: Cycle, instant: int | None, as_of: int) -> bool:
    """Rule 8: a step fires at its instant if the clock has not stopped by then (a stop
    at the same instant wins) and the grade then is not optional."""
    if instant is None or instant > as_of:
        return False
    if cycle.stopped_at is not None and cycle.stopped_at <= instant:
        return False
    return _value_at(cycle.grades, instant) not in policy.optional


def warning_instant(
    rules: Rulebook,
    policy: Policy,
    cycle: Cycle,
    spent: Callable[[TimeMeasure], int] | None = None,
) -> int | None:
    """The first instant at which accrued time reaches ``warn_at`` of the target then in force.

    A re-target that puts the threshold behind the clock warns at the re-target
    instant. Optional grades are never warned (they cannot breach). ``spent``
    (time accrued by the horizon of interest, per measure) lets a caller skip
    thresholds the clock cannot have reached.
    """
    if policy.warn_at is None:
        return None
    plan = plan_for(rules, policy, cycle.calendar)
    for index, (since, grade) in enumerate(cycle.grades):
        until = cycle.grades[index + 1][0] if index + 1 < len(cycle.grades) else None
        target = plan.target(grade)
        if target is None or grade in policy.optional:
            continue
        measure, full = target
        amount = round(full * policy.warn_at)
        if spent is not None and spent(measure) < amount:
            continue
        instant = reach_instant(measure, cycle, amount, project=False)
        if instant is None:
            continue
        instant = max(instant, since)
        if until is not None and instant >= until:
            continue
        if cycle.stopped_at is not None and cycle.stopped_at <= instant:
            return None
        return instant
    return None


def cycle_timers(rules: Rulebook, policy: Policy, cycle: Cycle) -> list[Timer]:
    """The instants at which an open cycle warns, escalates and breaches."""
    timers: list[Timer] = []
    grade = cycle.grade
    warned = warning_instant(rules, policy, cycle)
    if warned is not None:
        timers.append(Timer(policy.name, cycle.number, TimerKind.WARNING, 0, warned))
    for step, instant in zip(policy.escalate, step_instants(rules, policy, cycle), strict=True):
        # The grade at the step's instant decides, as in judge(): a past step follows the
        # grade history, a future one the current grade.
        if instant is not None and _value_at(cycle.grades, instant) not in policy.optional:
            timers.append(
                Timer(policy.name, cycle.number, TimerKind.ESCALATION, step.number, instant)
            )
    target = plan_for(rules, policy, cycle.calendar).target(grade)
    if target is not None and grade not in policy.optional:
        # The breach timer is the first microsecond past the target: the instant the
        # verdict turns, which for a closing-instant due_at is just after the next opening.
        measure, amount = target
        breach = reach_instant(measure, cycle, amount + 1)
        if breach is not None:
            timers.append(Timer(policy.name, cycle.number, TimerKind.BREACH, 0, breach))
    return timers


def timers_before_stop(rules: Rulebook, policy: Policy, cycle: Cycle) -> list[Timer]:
    """Rule 8 for a stopped cycle: the warnings and steps that fell before its stop.

    Accrued time never runs faster than the wall clock, so a cycle stopped sooner
    after its start than its earliest possible warning or step has none; most
    cycles of a history are such, and skip the calendar work.
    """
    stopped_at = cycle.stopped_at
    assert stopped_at is not None
    if not policy.escalate and policy.warn_at is None:
        return []
    if stopped_at - cycle.started_at <= _earliest_timer_amount(rules, policy, cycle):
        return []
    return [
        t
        for t in cycle_timers(rules, policy, cycle)
        if t.kind is not TimerKind.BREACH and t.at < stopped_at
    ]


def _earliest_timer_amount(rules: Rulebook, policy: Policy, cycle: Cycle) -> int:
    plan = plan_for(rules, policy, cycle.calendar)
    amounts = [amount for _measure, amount in plan.steps]
    if policy.warn_at is not None:
        for _since, grade in cycle.grades:
            target = plan.target(grade)
            if target is not None and grade not in policy.optional:
                amounts.append(round(target[1] * policy.warn_at))
    return min(amounts, default=0)


def due_instant(rules: Rulebook, policy: Policy, cycle: Cycle) -> int | None:
    """Rule 5: when the target now in force is reached, as :func:`judge` gives ``due_at``
    at any ``as_of`` (without judging the rest: the stored rows of open cycles need only this)."""
    target = plan_for(rules, policy, cycle.calendar).target(cycle.grade)
    return None if target is None else reach_instant(target[0], cycle, target[1])


def judge(rules: Rulebook, policy: Policy, cycle: Cycle, as_of: int) -> Verdict:
    """Rule 6 and 9: the cycle's state, deadline and owner at the instant ``as_of``.

    The cycle must hold only facts up to ``as_of`` (replay stops there).
    """
    plan = plan_for(rules, policy, cycle.calendar)
    stopped_at = cycle.stopped_at
    stopped = stopped_at is not None and stopped_at <= as_of
    end = stopped_at if stopped and stopped_at is not None else as_of
    grade = cycle.grade
    calendar = plan.calendar
    business = accrued(calendar, cycle, end)
    wall: int | None = None

    def spent(measure: TimeMeasure) -> int:
        nonlocal wall
        if measure is calendar:
            return business
        if wall is None:
            wall = accrued(measure, cycle, end)
        return wall

    target = plan.target(grade)
    due: int | None = None
    breached_at: int | None = None
    if target is not None:
        measure, amount = target
        due = reach_instant(measure, cycle, amount)
        if spent(measure) > amount:
            # Rule 9: a breach belongs to whoever owned the lead when it happened: the
            # first microsecond past the target (the next opening after a closing-instant
            # due_at), not due_at itself.
            breached_at = reach_instant(measure, cycle, amount + 1)
    if breached_at is not None:
        state = State.LAPSED if grade in policy.optional else State.BREACHED
        owner = _value_at(cycle.owners, breached_at)
    elif stopped:
        state = State.MET
        owner = cycle.owner
    else:
        state = State.RUNNING if cycle.running else State.PAUSED
        owner = cycle.owner
    fired = 0
    for measure, amount in plan.steps:
        # A step whose amount was not accrued by the end cannot have fired: skip the search.
        if spent(measure) >= amount:
            instant = reach_instant(measure, cycle, amount, project=False)
            fired += step_fires(policy, cycle, instant, as_of)
    warned = warning_instant(rules, policy, cycle, spent)
    return Verdict(
        policy=policy.name,
        cycle=cycle.number,
        calendar=cycle.calendar,
        grade=grade,
        owner=owner,
        state=state,
        started_at=cycle.started_at,
        due_at=due,
        stopped_at=stopped_at if stopped else None,
        business_micros=business,
        breached_at=breached_at,
        escalations=fired,
        warned_at=warned if warned is not None and warned <= as_of else None,
    )


def judge_lead(rules: Rulebook, lead: LeadClocks, as_of: int) -> list[Verdict]:
    """Every cycle of the lead judged at ``as_of``, ordered by policy name and cycle."""
    policies = {p.name: p for p in rules.policies}
    verdicts: list[Verdict] = []
    for name in sorted(lead.cycles):
        for cycle in lead.cycles[name]:
            verdicts.append(judge(rules, policies[name], cycle, as_of))
    return verdicts


def replay(
    rules: Rulebook, lead_id: str, instants: Iterable[tuple[int, Sequence[Change]]]
) -> LeadClocks:
    """A lead's clocks after applying its instants in order (the batch form)."""
    lead = LeadClocks(lead_id)
    for at, changes in instants:
        lead.apply(rules, at, changes)
    return lead
