"""The rules of the agreement as the core sees them: grades, reps, teams, SLA policies.

These are plain frozen values. ``leadsla.config.schema`` builds them from ``leadsla.yaml``;
tests build them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo

from leadsla.core.calendar import BusinessCalendar
from leadsla.core.durations import Duration
from leadsla.core.routing import Assignment
from leadsla.core.scoring import Grade, Scoring

STAGES = ("open", "working", "qualified", "disqualified", "nurture")

DEFAULT_STATUSES: dict[str, str | None] = {
    "New": "open",
    "Attempting to Contact": "working",
    "Contacted": "working",
    "Invalid Information": "disqualified",
    "Not a Lead": "disqualified",
    "Demo Request": "working",
    "Qualified": "qualified",
    "Deferred": "nurture",
    "Recycled": "nurture",
}

ACTIVITY_KINDS = frozenset({"call", "email", "meeting", "sms"})
ACTIVITY_OUTCOMES = frozenset(
    {"connected", "no_answer", "voicemail", "sent", "replied", "bounced", "held"}
)
CONNECT_OUTCOMES = frozenset({"connected", "replied", "held"})

NOTIFY_TARGETS = frozenset({"owner", "manager", "executive"})
DEFAULT_TARGET = "default"


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str
    slack: str | None = None


@dataclass(frozen=True, slots=True)
class Rep:
    id: str
    name: str
    email: str
    team: str
    calendar: str | None = None
    capacity: int | None = None


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    calendar: str | None
    manager: Person | None
    reps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EscalationStep:
    number: int  # 1-based, in config order: "escalation 2 of 3"
    after: Duration
    notify: tuple[str, ...]
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    start: frozenset[str]
    stop: frozenset[str]
    pause: frozenset[str] = frozenset()
    applies_to: Mapping[str, frozenset[str]] = field(default_factory=dict)
    targets: Mapping[str, Duration] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    calendar: str = "owner"  # "owner" | "team" | a calendar name
    warn_at: float | None = None  # share of the target, 0 < warn_at < 1
    escalate: tuple[EscalationStep, ...] = ()

    def target_for(self, grade: str | None) -> Duration | None:
        """Rule 5: the target of the grade, else ``default``, else none (never breached)."""
        if grade is not None and grade in self.targets:
            return self.targets[grade]
        return self.targets.get(DEFAULT_TARGET)

    def applies(self, fields: Mapping[str, str]) -> bool:
        return all(fields.get(name) in allowed for name, allowed in self.applies_to.items())


@dataclass(frozen=True)
class Rulebook:
    """Everything the clock needs to know about the agreement."""

    calendars: Mapping[str, BusinessCalendar]
    default_calendar: str
    policies: tuple[Policy, ...]
    grades: tuple[Grade, ...] = ()
    statuses: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_STATUSES))
    teams: Mapping[str, Team] = field(default_factory=dict)
    reps: Mapping[str, Rep] = field(default_factory=dict)
    executives: tuple[Person, ...] = ()
    scoring: Scoring | None = None  # qualification at ingest (core/scoring.py)
    assignment: Assignment | None = None  # routing of new MQLs (core/routing.py)
    intake: Policy | None = None  # capture → decision clock (core/intake.py); also in policies
    # Derived per-policy tables that the clock keeps here (see ``clock.plan_for``).
    memo: dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def default_zone(self) -> tzinfo:
        """The default calendar's time zone: the one dates and reports are read and written in."""
        return self.calendars[self.default_calendar].zone

    def grade_for_score(self, score: float) -> str | None:
        """The first grade (in config order) whose ``min_score`` the score reaches."""
        for grade in self.grades:
            if score >= grade.min_score:
                return grade.name
        return None

    def team_of(self, owner: str | None) -> Team | None:
        rep = self.reps.get(owner) if owner is not None else None
        return self.teams.get(rep.team) if rep is not None else None

    def calendar_name_for(self, policy: Policy, owner: str | None) -> str:
        """Rule 2: ``owner`` → rep's own, else team's, else default; ``team`` → team's."""
        if policy.calendar not in ("owner", "team"):
            return policy.calendar
        rep = self.reps.get(owner) if owner is not None else None
        if policy.calendar == "owner" and rep is not None and rep.calendar:
            return rep.calendar
        team = self.team_of(owner)
        if team is not None and team.calendar:
            return team.calendar
        return self.default_calendar
