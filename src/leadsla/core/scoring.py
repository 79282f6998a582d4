"""Lead scoring and grading: profile and behaviour points, caps, triggers, MQL or nurture.

A lead's score is read from its events (SPEC §3) up to an instant:

* **profile** rules look at the lead's current fields (the last value of each field
  at the instant: ``industry``, ``employees``, ``title``, ``country``, …);
* **behaviour** rules count the rows of a field whose value matches (``web`` rows such
  as ``webinar`` or ``pricing_page``, ``activity`` rows such as ``email:replied``);
  each occurrence is worth its points halved every ``half_life`` of age;
* **caps** bound each rule group and the total;
* **triggers** make a lead an MQL at once, whatever its score, with their grade.

Every score carries its explanation: one line per rule that gave points. Pure: the
instant is passed in, nothing here reads a clock, a file or a database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Operator = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists"]
OPERATORS: tuple[Operator, ...] = (
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "exists",
)
NUMERIC_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPERATORS = frozenset({"in", "not_in"})

PROFILE = "profile"
BEHAVIOUR = "behaviour"
TOTAL = "total"

Row = tuple[int, str, str | None]
"""One event of a lead: instant (epoch microseconds), field, value (``None`` clears)."""


@dataclass(frozen=True, slots=True)
class Grade:
    """A grade a lead earns when its score reaches ``min_score``."""

    name: str
    min_score: float


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _same(left: str, right: str) -> bool:
    """Equal as numbers when both are numbers (``"200"`` = ``"200.0"``), else as text
    without regard to case or surrounding blanks."""
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return left.strip().casefold() == right.strip().casefold()


@dataclass(frozen=True, slots=True)
class Condition:
    """``field operator value`` on the lead's current fields; a missing field matches
    no operator but ``exists: false``."""

    field: str
    op: Operator
    value: str | float | bool | tuple[str, ...] = ""

    def holds(self, fields: Mapping[str, str]) -> bool:
        current = fields.get(self.field)
        if self.op == "exists":
            return (current is not None) == bool(self.value)
        if current is None:
            return False
        if self.op in NUMERIC_OPERATORS:
            left = _number(current)
            right = self.value if isinstance(self.value, float) else None
            if left is None or right is None:
                return False
            if self.op == "gt":
                return left > right
            if self.op == "gte":
                return left >= right
            if self.op == "lt":
                return left < right
            return left <= right
        if isinstance(self.value, tuple):
            found = any(_same(current, item) for item in self.value)
            return found if self.op == "in" else not found
        text = str(self.value)
        if self.op == "contains":
            return text.strip().casefold() in current.casefold()
        return _same(current, text) if self.op == "eq" else not _same(current, text)

    def describe(self) -> str:
        value = self.value
        shown = "[" + ", ".join(value) + "]" if isinstance(value, tuple) else str(value)
        if isinstance(value, float) and value.is_integer():
            shown = str(int(value))
        return f"{self.field} {self.op} {shown}"


@dataclass(frozen=True, slots=True)
class ProfileRule:
    name: str
    condition: Condition
    points: float
    group: str = PROFILE


@dataclass(frozen=True, slots=True)
class BehaviourRule:
    """Points per row of ``field`` whose value is one of ``values`` (case-insensitive)."""

    name: str
    field: str
    values: frozenset[str]
    points: float
    half_life: int | None = None  # microseconds; None: no decay
    group: str = BEHAVIOUR

    def matches(self, name: str, value: str | None) -> bool:
        return name == self.field and value is not None and value.strip().casefold() in self.values


@dataclass(frozen=True, slots=True)
class Trigger:
    """All ``conditions`` hold → an MQL at once, graded ``grade``."""

    name: str
    conditions: tuple[Condition, ...]
    grade: str

    def fires(self, fields: Mapping[str, str]) -> bool:
        return all(condition.holds(fields) for condition in self.conditions)


@dataclass(frozen=True, slots=True)
class Scoring:
    profile: tuple[ProfileRule, ...] = ()
    behaviour: tuple[BehaviourRule, ...] = ()
    caps: Mapping[str, float] = field(default_factory=dict)  # group or "total" → max points
    triggers: tuple[Trigger, ...] = ()
    mql_threshold: float | None = None  # None: only triggers make MQLs
    mql_status: str = "New"  # the status an MQL decision sets
    grades: tuple[Grade, ...] = ()

    def behaviour_fields(self) -> frozenset[str]:
        return frozenset(rule.field for rule in self.behaviour)


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One rule's share of a score: ``points`` as configured, ``awarded`` after decay."""

    rule: str
    group: str
    kind: Literal["profile", "behaviour"]
    detail: str
    points: float
    count: int
    awarded: float


@dataclass(frozen=True, slots=True)
class CapLine:
    group: str
    cap: float
    before: float  # the points the group (or the total) had before the cap


@dataclass(frozen=True, slots=True)
class Score:
    as_of: int
    score: float
    grade: str | None
    mql: bool
    trigger: str | None
    threshold: float | None
    lines: tuple[ScoreLine, ...]
    capped: tuple[CapLine, ...]

    def explanation(self) -> list[str]:
        """The score in words, one line per rule, cap and trigger."""
        words = [
            f"{line.rule}: {_points(line.awarded)} ({line.detail})"
            for line in self.lines
            if line.awarded or line.kind == "profile"
        ]
        words += [
            f"cap {c.group}: {_points(c.before)} capped at {_points(c.cap)}" for c in self.capped
        ]
        if self.trigger is not None:
            words.append(f"trigger {self.trigger}: MQL at once, grade {self.grade}")
        return words


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def decayed(points: float, age: int, half_life: int | None) -> float:
    """``points`` halved for every ``half_life`` of ``age`` (microseconds); no decay without one."""
    if half_life is None or age <= 0:
        return points
    return points * float(0.5 ** (age / half_life))


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What scoring reads of a lead at an instant: its fields and its behaviour rows."""

    fields: Mapping[str, str]
    occurrences: Sequence[Row]


def facts_at(rows: Iterable[Row], as_of: int, behaviour_fields: frozenset[str]) -> LeadFacts:
    """The lead's fields after every row up to ``as_of`` and its behaviour rows until then."""
    fields: dict[str, str] = {}
    occurrences: list[Row] = []
    for at, name, value in rows:
        if at > as_of:
            continue
        if value is None or value == "":
            fields.pop(name, None)
        else:
            fields[name] = value
        if name in behaviour_fields:
            occurrences.append((at, name, value))
    return LeadFacts(fields, occurrences)


def score_lead(scoring: Scoring, facts: LeadFacts, as_of: int) -> Score:
    """The lead's score, grade and MQL verdict at ``as_of``, with the explanation."""
    lines: list[ScoreLine] = []
    for rule in scoring.profile:
        held = rule.condition.holds(facts.fields)
        shown = facts.fields.get(rule.condition.field)
        detail = f"{rule.condition.describe()}: " + (
            f'{"yes" if held else "no"} ({rule.condition.field} = "{shown}")'
            if shown is not None
            else f"no ({rule.condition.field} not set)"
        )
        lines.append(
            ScoreLine(
                rule.name,
                rule.group,
                "profile",
                detail,
                rule.points,
                int(held),
                rule.points if held else 0.0,
            )
        )
    for behaviour in scoring.behaviour:
        count = 0
        awarded = 0.0
        for at, name, value in facts.occurrences:
            if at <= as_of and behaviour.matches(name, value):
                count += 1
                awarded += decayed(behaviour.points, as_of - at, behaviour.half_life)
        values = ", ".join(sorted(behaviour.values))
        decay = (
            f", half-life {behaviour.half_life / 86_400_000_000:g} days"
            if behaviour.half_life is not None
            else ""
        )
        detail = f"{count} × {behaviour.field} {values} at {_points(behaviour.points)}{decay}"
        lines.append(
            ScoreLine(
                behaviour.name,
                behaviour.group,
                "behaviour",
                detail,
                behaviour.points,
                count,
                awarded,
            )
        )
    groups: dict[str, float] = {}
    for line in lines:
        groups[line.group] = groups.get(line.group, 0.0) + line.awarded
    capped: list[CapLine] = []
    total = 0.0
    for group, points in groups.items():
        cap = scoring.caps.get(group)
        if cap is not None and points > cap:
            capped.append(CapLine(group, cap, points))
            points = cap
        total += points
    total_cap = scoring.caps.get(TOTAL)
    if total_cap is not None and total > total_cap:
        capped.append(CapLine(TOTAL, total_cap, total))
        total = total_cap
    total = round(total, 2)
    trigger = next((t for t in scoring.triggers if t.fires(facts.fields)), None)
    if trigger is not None:
        grade: str | None = trigger.grade
    else:
        grade = next((g.name for g in scoring.grades if total >= g.min_score), None)
    threshold = scoring.mql_threshold
    mql = trigger is not None or (threshold is not None and total >= threshold)
    return Score(
        as_of=as_of,
        score=total,
        grade=grade,
        mql=mql,
        trigger=trigger.name if trigger is not None else None,
        threshold=threshold,
        lines=tuple(lines),
        capped=tuple(capped),
    )


def score_rows(scoring: Scoring, rows: Iterable[Row], as_of: int) -> Score:
    """:func:`score_lead` over a lead's event rows (any order) up to ``as_of``."""
    ordered = sorted(rows, key=lambda row: row[0])
    return score_lead(scoring, facts_at(ordered, as_of, scoring.behaviour_fields()), as_of)
