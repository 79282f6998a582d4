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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from leadsla.core.cadence import cadence_reached, cadence_timers, judge_cadence, open_due
from leadsla.core.calendar import TimeMeasure
from leadsla.core.cycle import (
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
from leadsla.core.intake import decided, intake_start
from leadsla.core.policy import RESTART, Policy, Rulebook, activity_matches, is_attempt
from leadsla.core.scoring import Row

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
        # The activity rows of the instant (SPEC §9.1 conditions, §9.3 attempts), gathered
        # while the changes are applied so that plain instants pay one comparison per row.
        activities: list[str] = []
        for name, value in changes:
            if value is None or value == "":
                fields.pop(name, None)
            else:
                fields[name] = value
                if name == "activity":
                    activities.append(value)
        grade = self.grade = grade_of(rules, fields)
        status = fields.get("status")
        owner = fields.get("owner")
        status_moved = first_instant or status != previous_status
        grade_moved = grade != previous_grade
        owner_moved = owner != previous_owner
        attempts = [at for value in activities if is_attempt(value)] if activities else []
        touched: list[Cycle] = []
        for policy in rules.policies:
            cycles = self.cycles.get(policy.name)
            current = cycles[-1] if cycles and cycles[-1].stopped_at is None else None
            if current is not None:
                if grade_moved:
                    current.grades.append((at, grade))
                stops = (
                    (status_moved and status in policy.stop)
                    or (policy.stop_assigned and owner is not None)
                    or (bool(activities) and _any_match(activities, policy.stop_activity))
                )
                if (
                    owner_moved
                    and not stops
                    and policy.on_reassign == RESTART
                    and previous_owner is not None
                    and owner is not None
                ):
                    # SPEC §9.2: the old cycle ends with its owner; the instant's rows
                    # belong to the new one, which starts on the new owner's calendar.
                    current.end(at)
                    current.reassigned = True
                    touched.append(current)
                    touched.append(self._begin(rules, policy, at, attempts, activities))
                    continue
                if owner_moved:
                    current.owners.append((at, owner))
                if attempts:
                    before = len(current.attempts)
                    current.attempts.extend(attempts)
                    if policy.is_cadence:
                        cadence_reached(rules, policy, current, before, at)
                if stops or current.stopped_at is not None:
                    current.end(at)
                    touched.append(current)
                    continue
                moved = status_moved and _pause_or_resume(current, policy, status, at)
                if moved or grade_moved or owner_moved or attempts:
                    touched.append(current)
            elif (
                # Only a status, owner or activity row can make a start condition true.
                (status_moved or owner_moved or activities)
                and self._starts(
                    policy,
                    status,
                    owner,
                    previous_status,
                    previous_owner,
                    first_instant,
                    activities,
                )
                and (not policy.applies_to or policy.applies(self.attributes()))
            ):
                touched.append(self._begin(rules, policy, at, attempts, activities))
        if rules.intake is not None:
            touched.extend(self._intake_step(rules, rules.intake, at))
        return touched

    @staticmethod
    def _starts(
        policy: Policy,
        status: str | None,
        owner: str | None,
        previous_status: str | None,
        previous_owner: str | None,
        first_instant: bool,
        activities: list[str],
    ) -> bool:
        """Rule 1 and SPEC §9.1: whether the start condition becomes true at this instant."""
        if status in policy.start:
            if not policy.start_assigned:
                if first_instant or previous_status not in policy.start:
                    return True
            elif owner is not None and (
                first_instant or previous_status not in policy.start or previous_owner is None
            ):
                # Status in the set *and* an owner: an edge of the combined condition.
                return True
        return bool(activities) and _any_match(activities, policy.start_activity)

    def _begin(
        self,
        rules: Rulebook,
        policy: Policy,
        at: int,
        attempts: list[int],
        activities: list[str],
    ) -> Cycle:
        """Start a cycle at ``at`` with the instant's attempts; a stop condition that
        already holds stops it at once (SPEC §9.1)."""
        cycle = self._start(rules, policy, at)
        if attempts:
            cycle.attempts.extend(attempts)
        if (
            self.status in policy.stop
            or (policy.stop_assigned and self.owner is not None)
            or (bool(activities) and _any_match(activities, policy.stop_activity))
        ):
            cycle.end(at)
        elif attempts and policy.is_cadence:
            cadence_reached(rules, policy, cycle, 0, at)
        return cycle

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


def _any_match(activities: list[str], entries: frozenset[str]) -> bool:
    return bool(entries) and any(activity_matches(value, entries) for value in activities)


def _pause_or_resume(cycle: Cycle, policy: Policy, status: str | None, at: int) -> bool:
    """Rule 3 for a status change of an open cycle that did not stop; True when it changed."""
    if status in policy.pause:
        if cycle.running:
            cycle.segments[-1][1] = at
            return True
        return False
    if not cycle.running:
        cycle.segments.append([at, None])
        return True
    return False


# -- timers and verdicts ----------------------------------------------------------


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
    return value_at(cycle.grades, instant) not in policy.optional


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
    if policy.is_cadence:
        return cadence_timers(rules, policy, cycle)
    timers: list[Timer] = []
    grade = cycle.grade
    warned = warning_instant(rules, policy, cycle)
    if warned is not None:
        timers.append(Timer(policy.name, cycle.number, TimerKind.WARNING, 0, warned))
    for step, instant in zip(policy.escalate, step_instants(rules, policy, cycle), strict=True):
        # The grade at the step's instant decides, as in judge(): a past step follows the
        # grade history, a future one the current grade.
        if instant is not None and value_at(cycle.grades, instant) not in policy.optional:
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
    if policy.is_cadence:
        return open_due(rules, policy, cycle)
    target = plan_for(rules, policy, cycle.calendar).target(cycle.grade)
    return None if target is None else reach_instant(target[0], cycle, target[1])


def judge(rules: Rulebook, policy: Policy, cycle: Cycle, as_of: int) -> Verdict:
    """Rule 6 and 9: the cycle's state, deadline and owner at the instant ``as_of``.

    The cycle must hold only facts up to ``as_of`` (replay stops there).
    """
    if policy.is_cadence:
        return judge_cadence(rules, policy, cycle, as_of)
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
        # SPEC §9.2: a reassignment hands the breach to the owner it took the lead from.
        owner = cycle.owner if cycle.reassigned else value_at(cycle.owners, breached_at)
    elif stopped:
        state = State.REASSIGNED if cycle.reassigned else State.MET
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
        attempts=len(cycle.attempts),
    )


def judge_lead(
    rules: Rulebook,
    lead: LeadClocks,
    as_of: int,
    recorded: Mapping[tuple[str, int], Policy] | None = None,
) -> list[Verdict]:
    """Every cycle of the lead judged at ``as_of``, ordered by policy name and cycle.

    ``recorded`` gives, by (policy name, cycle number), the policy a cycle is judged by
    instead of the rulebook's: that of the version it started under (SPEC §9.6).
    """
    policies = {p.name: p for p in rules.policies}
    verdicts: list[Verdict] = []
    for name in sorted(lead.cycles):
        for cycle in lead.cycles[name]:
            policy = recorded.get((name, cycle.number)) if recorded else None
            verdicts.append(judge(rules, policy or policies[name], cycle, as_of))
    return verdicts


def replay(
    rules: Rulebook, lead_id: str, instants: Iterable[tuple[int, Sequence[Change]]]
) -> LeadClocks:
    """A lead's clocks after applying its instants in order (the batch form)."""
    lead = LeadClocks(lead_id)
    for at, changes in instants:
        lead.apply(rules, at, changes)
    return lead


__all__ = [
    # The cycle and its figures live in leadsla.core.cycle; the clock is their way in.
    "Change",
    "Cycle",
    "LeadClocks",
    "State",
    "Timer",
    "TimerKind",
    "Verdict",
    "accrued",
    "apply_changes",
    "by_instant",
    "cycle_timers",
    "due_instant",
    "grade_of",
    "judge",
    "judge_lead",
    "plan_for",
    "reach_instant",
    "replay",
    "step_fires",
    "step_instants",
    "timers_before_stop",
    "warning_instant",
]
