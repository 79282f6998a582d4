"""The rules of the agreement as the core sees them: grades, reps, teams, SLA policies.

These are plain frozen values. ``leadsla.config.schema`` builds them from ``leadsla.yaml``;
tests build them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo

from leadsla.core.acceptance import Acceptance
from leadsla.core.calendar import BusinessCalendar
from leadsla.core.crm_identity import CrmSettings
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
    {
        "connected",
        "no_answer",
        "voicemail",
        "sent",
        "replied",
        "bounced",
        "held",
        # SPEC §9.1: a call logged without a disposition (an attempt, not a connect), and
        # a sequence or mass send (neither an attempt nor a connect, never a first touch).
        "attempted",
        "automated",
    }
)
CONNECT_OUTCOMES = frozenset({"connected", "replied", "held"})
# The one activity that is not an attempt (SPEC §9.1).
AUTOMATED_EMAIL = "email:automated"

SLA_KIND = "sla"
CADENCE_KIND = "cadence"
CARRY = "carry"
RESTART = "restart"

NOTIFY_TARGETS = frozenset({"owner", "manager", "executive"})
DEFAULT_TARGET = "default"


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str
    slack: str | None = None
    calendar: str | None = None  # SPEC §9.4: an executive's hours (else the default calendar)


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
    urgent: bool = False  # SPEC §9.4: sent at once, even outside the recipient's hours


def is_attempt(activity: str | None) -> bool:
    """SPEC §3 and §9.1: every activity row is an attempt, except an automated email."""
    return bool(activity) and activity != AUTOMATED_EMAIL


def activity_matches(activity: str | None, entries: frozenset[str]) -> bool:
    """SPEC §9.1: ``call`` matches every outcome of the kind, ``call:connected`` only that
    outcome; an automated email matches only when named exactly."""
    if not activity or not entries:
        return False
    if activity in entries:
        return True
    if activity == AUTOMATED_EMAIL:
        return False
    return activity.partition(":")[0] in entries


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    # ``start`` and ``stop`` are the status sets of SPEC §4; the other conditions of
    # §9.1 sit beside them so that status-only code keeps reading the same sets.
    start: frozenset[str]
    stop: frozenset[str]
    pause: frozenset[str] = frozenset()
    applies_to: Mapping[str, frozenset[str]] = field(default_factory=dict)
    targets: Mapping[str, Duration] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    calendar: str = "owner"  # "owner" | "team" | a calendar name
    warn_at: float | None = None  # share of the target, 0 < warn_at < 1
    escalate: tuple[EscalationStep, ...] = ()
    # SPEC §9.1: activities that start / stop the clock, and the assignment conditions.
    start_activity: frozenset[str] = frozenset()
    start_assigned: bool = False  # start = status in the start set *and* an owner
    stop_activity: frozenset[str] = frozenset()
    stop_assigned: bool = False  # stop at the first instant the lead has an owner
    on_reassign: str = CARRY  # SPEC §9.2: carry | restart
    # SPEC §9.3: a cadence policy counts attempts instead of running to a target.
    kind: str = SLA_KIND  # sla | cadence
    attempts: int = 0  # attempts required (cadence)
    within: Duration | None = None  # window from the start (cadence)
    gap: Duration | None = None  # longest wait between attempts, start → first included

    @property
    def is_cadence(self) -> bool:
        return self.kind == CADENCE_KIND

    @property
    def has_v2_conditions(self) -> bool:
        """Whether any §9.1–9.3 key is set (a v1 policy behaves exactly as before)."""
        return bool(
            self.start_activity
            or self.start_assigned
            or self.stop_activity
            or self.stop_assigned
            or self.on_reassign != CARRY
            or self.is_cadence
        )

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
    acceptance: Acceptance = field(default_factory=Acceptance)  # SPEC §9.5 (core/acceptance.py)
    crm: CrmSettings = field(default_factory=CrmSettings)  # CRM owner ids, activity rules
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
