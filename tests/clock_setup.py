"""What the clock property tests share: instants in New York time, rulebooks built twice
(engine calendars and reference calendars), and the engine-against-reference comparison.

tests/ is on ``sys.path`` (see conftest.py), so the tests import this module by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from leadsla.core.calendar import BusinessCalendar
from leadsla.core.clock import Change, Verdict, judge_lead, replay
from leadsla.core.durations import parse_duration
from leadsla.core.policy import EscalationStep, Person, Policy, Rep, Rulebook, Team
from leadsla.core.scoring import Grade
from reference_calendar import ReferenceCalendar
from reference_clock import ClockCalendar, reference_verdicts

NY = ZoneInfo("America/New_York")
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

Instants = list[tuple[int, list[Change]]]
History = Sequence[tuple[int, Sequence[Change]]]
CalendarSpec = tuple[str, dict[int, list[tuple[int, int]]], "Closed | None", float]


def t(text: str) -> int:
    """A New York wall time ``YYYY-MM-DD HH:MM[:SS]`` as epoch microseconds."""
    moment = datetime.fromisoformat(text).replace(tzinfo=NY)
    return int(moment.timestamp()) * SECOND


def show(instant: int | None) -> str:
    if instant is None:
        return "-"
    moment = datetime.fromtimestamp(instant // SECOND, UTC).astimezone(NY)
    extra = f"+{instant % SECOND}us" if instant % SECOND else ""
    return moment.strftime("%a %m-%d %H:%M:%S") + extra


# -- a setup: calendars built twice, once for the engine and once for the reference ---


def weekdays(*windows: tuple[int, int]) -> dict[int, list[tuple[int, int]]]:
    return {day: list(windows) for day in range(5)}


class Closed:
    """Extra closed dates, as a holiday source for both kinds of calendar."""

    def __init__(self, *days: date) -> None:
        self.days = frozenset(days)

    def __call__(self, year: int) -> set[date]:
        return {d for d in self.days if d.year == year}


def book(
    calendars: Mapping[str, CalendarSpec],
    policies: Sequence[Policy],
    reps: dict[str, Rep],
    teams: dict[str, Team],
) -> tuple[Rulebook, dict[str, Any]]:
    engine = {
        name: BusinessCalendar(name, zone, hours, holidays, day_hours)
        for name, (zone, hours, holidays, day_hours) in calendars.items()
    }
    reference = {
        name: ClockCalendar(ReferenceCalendar(zone, hours, holidays), day_hours)
        for name, (zone, hours, holidays, day_hours) in calendars.items()
    }
    rules = Rulebook(
        calendars=engine,
        default_calendar="ny",
        policies=tuple(policies),
        grades=(Grade("A", 80), Grade("B", 50), Grade("C", 0)),
        teams=teams,
        reps=reps,
    )
    return rules, reference


def steps(*texts: str) -> tuple[EscalationStep, ...]:
    return tuple(
        EscalationStep(n, parse_duration(text), ("owner",)) for n, text in enumerate(texts, 1)
    )


# -- the people and calendars of the random histories --------------------------------

TEAMS = {
    "east": Team("east", "ny", Person("Dana", "dana@example.com"), ("r1", "r4")),
    "emea": Team("emea", "uk", Person("Tom", "tom@example.com"), ("r3",)),
}
REPS = {
    "r1": Rep("r1", "Sam", "sam@example.com", "east"),
    "r3": Rep("r3", "Ana", "ana@example.com", "emea"),
    # In the New York team but working London hours: `owner` and `team` differ.
    "r4": Rep("r4", "Kenji", "kenji@example.com", "east", calendar="uk"),
}
# New York with a lunch break (a 7-hour day, day_hours 7) and one extra closed date;
# London 08:30-17:30. The fortnight crosses the US change (03-08) while London has
# not changed yet, so the two are 4 hours apart for part of it.
FORTNIGHT_CALENDARS: dict[str, CalendarSpec] = {
    "ny": (
        "America/New_York",
        weekdays((9 * 60, 12 * 60), (13 * 60, 17 * 60)),
        Closed(date(2026, 3, 12)),
        7.0,
    ),
    "uk": ("Europe/London", weekdays((8 * 60 + 30, 17 * 60 + 30)), None, 8.0),
}


# -- comparing ----------------------------------------------------------------------

FIELDS = (
    "policy",
    "cycle",
    "calendar",
    "grade",
    "owner",
    "state",
    "started_at",
    "due_at",
    "stopped_at",
    "business_micros",
    "business_seconds",
    "breached_at",
    "escalations",
    "warned_at",
    "attempts",
)
INSTANT_FIELDS = {"started_at", "due_at", "stopped_at", "breached_at", "warned_at"}


def row(verdict: Any) -> dict[str, Any]:
    values = {name: getattr(verdict, name) for name in FIELDS}
    values["state"] = str(values["state"])
    return values


def engine_verdicts(rules: Rulebook, instants: History, as_of: int) -> list[Verdict]:
    # Events after as_of are not part of the history as it stood then.
    lead = replay(rules, "L1", [(at, changes) for at, changes in instants if at <= as_of])
    return judge_lead(rules, lead, as_of)


def describe(instants: History, as_of: int) -> str:
    lines = [f"as_of {show(as_of)}"]
    lines += [f"  {show(at)}  {changes}" for at, changes in instants]
    return "\n".join(lines)


def differences(engine: list[Verdict], reference: list[Any]) -> list[str]:
    problems: list[str] = []
    if len(engine) != len(reference):
        problems.append(
            f"cycles: engine {[(v.policy, v.cycle) for v in engine]}, "
            f"reference {[(v.policy, v.cycle) for v in reference]}"
        )
    for got, want in zip(engine, reference, strict=False):
        got_row, want_row = row(got), row(want)
        for name in FIELDS:
            if got_row[name] != want_row[name]:
                render = show if name in INSTANT_FIELDS else repr
                problems.append(
                    f"{want.policy} cycle {want.cycle} {name}: engine {render(got_row[name])}, "
                    f"reference {render(want_row[name])}"
                )
    return problems


def check(rules: Rulebook, calendars: dict[str, Any], instants: History, as_of: int) -> None:
    problems = differences(
        engine_verdicts(rules, instants, as_of),
        reference_verdicts(rules, calendars, instants, as_of),
    )
    assert not problems, describe(instants, as_of) + "\n" + "\n".join(problems)


# -- random histories ---------------------------------------------------------------

# Monday 2026-03-02 07:00 New York; instants over the next fortnight.
BASE = t("2026-03-02 07:00")
SPAN_MINUTES = 14 * 24 * 60

minute_offsets = st.one_of(
    st.integers(0, SPAN_MINUTES),
    # On the half hour: lands on openings, closings and the lunch break.
    st.integers(0, SPAN_MINUTES // 30).map(lambda n: n * 30),
)


@dataclass(frozen=True)
class Lead:
    """How a test draws a lead's rows: the values of each field, the fields of an
    ordinary instant (repeat a name to draw it more often), and the fields set with
    ``status: New`` at a first instant that opens a clock."""

    values: Mapping[str, st.SearchStrategy[str]]
    fields: Sequence[str]
    opening: Sequence[str]
    rules: Rulebook
    calendars: Mapping[str, Any]
    max_instants: int = 8

    def changes(self, draw: st.DrawFn, at_least: int) -> list[Change]:
        names = draw(st.lists(st.sampled_from(self.fields), min_size=at_least, max_size=3))
        return [(name, draw(self.values[name])) for name in names]


@st.composite
def histories(draw: st.DrawFn, lead: Lead) -> Instants:
    """A lead's instants; some of them put right on an instant where something happens.

    A first history is drawn at random; then up to three events are placed exactly on
    deadlines, breaches, warnings and escalation steps the reference foresees for it
    (a stop on a step instant, a grade change on a warning, a pause on a deadline …).
    """
    offsets = draw(st.lists(minute_offsets, min_size=1, max_size=lead.max_instants))
    by_instant: dict[int, list[Change]] = {}
    for number, offset in enumerate(sorted(set(offsets))):
        changes: list[Change] = []
        if number == 0 and draw(st.integers(0, 3)) > 0:
            changes.append(("status", "New"))
            changes += [(name, draw(lead.values[name])) for name in lead.opening]
        changes += lead.changes(draw, 0 if changes else 1)
        by_instant[BASE + offset * MINUTE] = changes
    instants = sorted(by_instant.items())
    found = candidate_instants(lead.rules, lead.calendars, instants)
    on_the_minute = [x for x in found if x % MINUTE == 0]
    if on_the_minute:
        for at in draw(st.lists(st.sampled_from(on_the_minute), max_size=3, unique=True)):
            by_instant.setdefault(at, []).extend(lead.changes(draw, 1))
    return sorted(by_instant.items())


def candidate_instants(
    rules: Rulebook, calendars: Mapping[str, Any], instants: Instants
) -> list[int]:
    """Instants worth evaluating at: events, and every deadline, breach, warning and step
    the reference foresees after each event (just before, on, and just after each).

    Asked twice for each history (to place events, then to evaluate): kept once.
    """
    key = (id(rules), tuple((at, tuple(changes)) for at, changes in instants))
    if key not in _CANDIDATES:
        if len(_CANDIDATES) > 64:
            _CANDIDATES.clear()
        _CANDIDATES[key] = _candidates(rules, calendars, instants)
    return _CANDIDATES[key]


_CANDIDATES: dict[object, list[int]] = {}


def _candidates(rules: Rulebook, calendars: Mapping[str, Any], instants: Instants) -> list[int]:
    found: set[int] = set()
    for at, _ in instants:
        found.update({at, at + MINUTE})
        for v in reference_verdicts(rules, calendars, instants, at):
            found.update(
                x
                for x in (v.due_at, v.breached_at, v.warned_at, v.stopped_at, *v.step_instants)
                if x is not None
            )
    last = instants[-1][0]
    for v in reference_verdicts(rules, calendars, instants, last + 20 * DAY):
        found.update(x for x in (v.due_at, v.breached_at, *v.step_instants) if x is not None)
    spread: set[int] = set()
    for x in found:
        spread.update({x - SECOND, x - 1, x, x + 1})
    return sorted(x for x in spread if BASE <= x <= last + 20 * DAY)


def evaluation_instants(data: st.DataObject, candidates: Sequence[int]) -> list[int]:
    """Up to eight of the candidate instants and one or two anywhere in the weeks."""
    chosen = data.draw(
        st.lists(st.sampled_from(candidates), min_size=1, max_size=8, unique=True),
        label="as_of on deadlines, steps, breaches and events",
    )
    chosen += data.draw(
        st.lists(st.integers(BASE, BASE + 20 * DAY), min_size=1, max_size=2),
        label="as_of anywhere",
    )
    return chosen
