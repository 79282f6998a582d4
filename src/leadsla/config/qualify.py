"""The qualification sections of ``leadsla.yaml``: ``scoring`` (and what builds on it).

Validated like the rest of the file (see :mod:`leadsla.config.load`): pydantic checks the
shape of each key, :func:`qualify_problems` the names that refer to other sections
(a trigger's grade, the MQL status), so every problem names its line and key.
See ``docs/qualification.md`` for the meaning of every key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, model_validator

from leadsla.config.document import KeyPath, Problem, mapping_of, text_of, texts_of, unknown_name
from leadsla.core.calendar import local_instant
from leadsla.core.durations import Duration, parse_duration
from leadsla.core.policy import DEFAULT_TARGET, Policy, Rulebook
from leadsla.core.routing import FREE_MAIL_DOMAINS, Absence, Assignment, Method, RoutingRule
from leadsla.core.scoring import (
    BEHAVIOUR,
    LIST_OPERATORS,
    NUMERIC_OPERATORS,
    PROFILE,
    TOTAL,
    BehaviourRule,
    Condition,
    Grade,
    Operator,
    ProfileRule,
    Scoring,
    Trigger,
)

__all__ = [
    "AbsenceConfig",
    "AssignmentConfig",
    "BehaviourRuleConfig",
    "CapacityConfig",
    "ConditionConfig",
    "IntakeConfig",
    "ProfileRuleConfig",
    "RerouteConfig",
    "RoutingRuleConfig",
    "ScoringConfig",
    "TriggerConfig",
    "build_assignment",
    "build_intake",
    "build_scoring",
    "conditions_of",
    "qualify_problems",
]


class _Section(BaseModel):
    # As the other sections of the file: unknown keys refused, numbers read as text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def _listed(value: Any) -> Any:
    """A lone value where a list is expected; null is an empty list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _half_life(value: Any) -> Duration:
    duration = value if isinstance(value, Duration) else parse_duration(value)
    if duration.business:
        raise ValueError(
            f'"{duration}" is in business units; a half-life is wall-clock time (e.g. "30 days")'
        )
    if duration.amount <= 0:
        raise ValueError(f'"{duration}" must be longer than zero')
    return duration


HalfLife = Annotated[Duration, PlainValidator(_half_life)]
Scalar = str | float | bool
Texts = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_listed)]


class ConditionConfig(_Section):
    """``field op value``: ``op`` one of eq, ne, in, not_in, gt, gte, lt, lte, contains, exists."""

    field: Annotated[str, Field(min_length=1)]
    op: Operator = "eq"
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> ConditionConfig:
        value = self.value
        if self.op in NUMERIC_OPERATORS:
            if isinstance(value, bool) or _as_number(value) is None:
                raise ValueError(f"op {self.op} compares numbers: value must be a number")
        elif self.op in LIST_OPERATORS:
            if value is None or value == []:
                raise ValueError(f"op {self.op} needs a value or a list of values")
        elif self.op == "exists":
            if value is not None and not isinstance(value, bool):
                raise ValueError("op exists takes value true or false")
        elif value is None or isinstance(value, list):
            raise ValueError(f"op {self.op} needs one value (a list is for op in / not_in)")
        return self

    def build(self) -> Condition:
        value = self.value
        if self.op in NUMERIC_OPERATORS:
            number = _as_number(value)
            assert number is not None
            return Condition(self.field, self.op, number)
        if self.op in LIST_OPERATORS:
            items = value if isinstance(value, list) else [value]
            return Condition(self.field, self.op, tuple(str(item) for item in items))
        if self.op == "exists":
            return Condition(self.field, self.op, True if value is None else bool(value))
        return Condition(self.field, self.op, str(value))


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or isinstance(value, list):
        return None
    try:
        return float(value)
    except ValueError:
        return None


class ProfileRuleConfig(ConditionConfig):
    name: str | None = None
    points: float
    group: Annotated[str, Field(min_length=1)] = PROFILE


class BehaviourRuleConfig(_Section):
    name: str | None = None
    field: Annotated[str, Field(min_length=1)] = "web"
    value: Texts = Field(min_length=1)
    points: float
    half_life: HalfLife | None = None
    group: Annotated[str, Field(min_length=1)] = BEHAVIOUR


def conditions_of(value: Any) -> Any:
    """``when``: one condition or a list of them."""
    return [value] if isinstance(value, dict) else value


class TriggerConfig(_Section):
    name: Annotated[str, Field(min_length=1)]
    when: Annotated[list[ConditionConfig], BeforeValidator(conditions_of)] = Field(min_length=1)
    grade: Annotated[str, Field(min_length=1)]


class ScoringConfig(_Section):
    mql_threshold: float | None = None
    mql_status: Annotated[str, Field(min_length=1)] = "New"
    profile: list[ProfileRuleConfig] = []
    behaviour: list[BehaviourRuleConfig] = []
    caps: dict[str, Annotated[float, Field(ge=0)]] = {}
    triggers: list[TriggerConfig] = []

    @model_validator(mode="after")
    def _can_qualify(self) -> ScoringConfig:
        if self.mql_threshold is None and not self.triggers:
            raise ValueError(
                "has neither mql_threshold nor triggers: no lead would ever become an MQL"
            )
        return self


class RoutingRuleConfig(_Section):
    name: Annotated[str, Field(min_length=1)]
    when: Annotated[list[ConditionConfig], BeforeValidator(conditions_of)] = []
    team: str | None = None
    reps: Texts = []
    method: Method = "round_robin"
    weights: dict[str, Annotated[float, Field(gt=0)]] = {}

    @model_validator(mode="after")
    def _team_or_reps(self) -> RoutingRuleConfig:
        if (self.team is None) == (not self.reps):
            raise ValueError("names either a team or reps (one of the two)")
        return self


class AbsenceConfig(_Section):
    rep: Annotated[str, Field(min_length=1)]
    start: date = Field(alias="from")
    until: date

    @model_validator(mode="after")
    def _ordered(self) -> AbsenceConfig:
        if self.until < self.start:
            raise ValueError(f"until {self.until} is before from {self.start}")
        return self


class RerouteConfig(_Section):
    policy: Annotated[str, Field(min_length=1)] = "follow_up"
    after_step: int = Field(ge=1)


class AssignmentConfig(_Section):
    rules: list[RoutingRuleConfig] = Field(min_length=1)
    capacity: bool = True
    calendars: bool = True
    open_lead_cap: int | None = Field(default=None, ge=1)
    account_field: str | None = None
    # Account match (with account_field) by the email's domain too (docs/crm.md): the lead
    # field holding the email (null: no domain match), and the domains that name no company.
    email_field: str | None = "email"
    free_mail_domains: Texts = list(FREE_MAIL_DOMAINS)
    out_of_office: list[AbsenceConfig] = []
    reroute: RerouteConfig | None = None


# A policy whose clock runs on the owner's calendar: the rep's own, else the team's,
# else the default (SPEC §4 rule 2): the calendar a rep is available on.
_OWNER_CALENDAR = Policy("owner calendar", frozenset(), frozenset(), calendar="owner")


def _target(value: Any) -> Duration:
    duration = value if isinstance(value, Duration) else parse_duration(value)
    if duration.amount <= 0:
        raise ValueError(f'"{duration}" must be longer than zero')
    return duration


class IntakeConfig(_Section):
    """Marketing's intake SLA: from ``captured_at`` to the MQL or nurture decision."""

    target: Annotated[Duration, PlainValidator(_target)]
    calendar: str | None = None  # default: default_calendar
    applies_to: dict[str, Texts] = {}


INTAKE_POLICY = "intake"


def build_intake(config: IntakeConfig | None, default_calendar: str) -> Policy | None:
    """The ``intake`` policy the clock runs (its start and stop are not statuses)."""
    if config is None:
        return None
    return Policy(
        name=INTAKE_POLICY,
        start=frozenset(),
        stop=frozenset(),
        applies_to={key: frozenset(values) for key, values in config.applies_to.items()},
        targets={DEFAULT_TARGET: config.target},
        calendar=config.calendar or default_calendar,
    )


def _share(value: Any) -> Any:
    """``"70%"`` as 0.7; a plain number is taken as the fraction itself."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f'"{value}" is not a percentage like "70%"') from None
    return value


class CapacityConfig(_Section):
    """``leadsla capacity``: what the sales SLA asks per workable lead, and a rep's time."""

    attempts_per_lead: float = Field(gt=0)
    minutes_per_attempt: float = Field(gt=0)
    hours_per_rep: float = Field(gt=0)  # hours a month a rep spends working new leads
    workable_share: Annotated[float, BeforeValidator(_share), Field(gt=0, le=1)] = 1.0


def build_assignment(config: AssignmentConfig | None, rules: Rulebook) -> Assignment | None:
    """The core's routing rules (rules: the rulebook without them), or ``None``."""
    if config is None:
        return None
    routing = tuple(
        RoutingRule(
            name=rule.name,
            conditions=tuple(c.build() for c in rule.when),
            reps=rules.teams[rule.team].reps if rule.team is not None else tuple(rule.reps),
            method=rule.method,
            weights=dict(rule.weights),
        )
        for rule in config.rules
    )
    calendars = {
        rep: rules.calendars[rules.calendar_name_for(_OWNER_CALENDAR, rep)] for rep in rules.reps
    }
    absences = []
    for absence in config.out_of_office:
        zone = calendars[absence.rep].zone
        absences.append(
            Absence(
                absence.rep,
                local_instant(absence.start, 0, zone),
                local_instant(absence.until + timedelta(days=1), 0, zone),
            )
        )
    capacity = {rep.id: rep.capacity for rep in rules.reps.values() if rep.capacity is not None}
    return Assignment(
        rules=routing,
        capacity=capacity if config.capacity else {},
        open_lead_cap=config.open_lead_cap,
        absences=tuple(absences),
        calendars=calendars,
        use_calendars=config.calendars,
        account_field=config.account_field.strip().lower() if config.account_field else None,
        email_field=config.email_field.strip().lower() if config.email_field else None,
        free_mail_domains=frozenset(
            d.strip().lstrip("@").casefold() for d in config.free_mail_domains
        ),
        reroute_policy=config.reroute.policy if config.reroute else None,
        reroute_after_step=config.reroute.after_step if config.reroute else None,
    )


def build_scoring(config: ScoringConfig | None, grades: tuple[Grade, ...]) -> Scoring | None:
    """The core's scoring rules, or ``None`` when the file has no ``scoring`` section."""
    if config is None:
        return None
    profile = tuple(
        ProfileRule(
            name=rule.name or rule.build().describe(),
            condition=rule.build(),
            points=rule.points,
            group=rule.group,
        )
        for rule in config.profile
    )
    behaviour = tuple(
        BehaviourRule(
            name=rule.name or f"{rule.field} {', '.join(rule.value)}",
            field=rule.field.strip().lower(),
            values=frozenset(value.strip().casefold() for value in rule.value),
            points=rule.points,
            half_life=rule.half_life.micros() if rule.half_life is not None else None,
            group=rule.group,
        )
        for rule in config.behaviour
    )
    triggers = tuple(
        Trigger(t.name, tuple(c.build() for c in t.when), t.grade) for t in config.triggers
    )
    return Scoring(
        profile=profile,
        behaviour=behaviour,
        caps=dict(config.caps),
        triggers=triggers,
        mql_threshold=config.mql_threshold,
        mql_status=config.mql_status,
        grades=grades,
    )


def qualify_problems(
    data: Mapping[str, Any], grade_names: set[str] | None, status_names: set[str] | None
) -> Iterator[Problem]:
    """Names in the qualification sections that the rest of the file does not define."""
    yield from _assignment_problems(mapping_of(data.get("assignment")), data)
    intake = mapping_of(data.get("intake"))
    calendars = mapping_of(data.get("calendars"))
    calendar = text_of(intake.get("calendar"))
    if calendar and calendars and calendar not in calendars:
        yield ("intake", "calendar"), unknown_name("calendar", calendar, calendars)
    if intake and INTAKE_POLICY in mapping_of(data.get("policies")):
        yield (
            ("policies", INTAKE_POLICY),
            f'"{INTAKE_POLICY}" names the clock of the intake section; rename this policy',
        )
    scoring = mapping_of(data.get("scoring"))
    if not scoring:
        return
    at: KeyPath = ("scoring",)
    status = text_of(scoring.get("mql_status", "New"))
    if status_names is not None and status and status not in status_names:
        yield (*at, "mql_status"), unknown_name("status", status, status_names)
    triggers = scoring.get("triggers")
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        grade = text_of(mapping_of(trigger).get("grade"))
        if grade_names is not None and grade and grade not in grade_names:
            yield (*at, "triggers", index, "grade"), unknown_name("grade", grade, grade_names)
    groups = {TOTAL}
    for section, default in (("profile", PROFILE), ("behaviour", BEHAVIOUR)):
        rules = scoring.get(section)
        for rule in rules if isinstance(rules, list) else []:
            groups.add(text_of(mapping_of(rule).get("group")) or default)
    for group in mapping_of(scoring.get("caps")):
        if group not in groups:
            yield (*at, "caps", group), unknown_name("rule group", group, groups)


def _assignment_problems(
    assignment: Mapping[str, Any], data: Mapping[str, Any]
) -> Iterator[Problem]:
    """Teams, reps and policies the ``assignment`` section names must be defined."""
    if not assignment:
        return
    teams = mapping_of(data.get("teams"))
    team_reps = {
        name: {text_of(mapping_of(rep).get("id")) for rep in mapping_of(team).get("reps") or []}
        for name, team in teams.items()
    }
    reps = {rep for members in team_reps.values() for rep in members if rep}
    rules = assignment.get("rules")
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        at: KeyPath = ("assignment", "rules", index)
        rule_map = mapping_of(rule)
        team = text_of(rule_map.get("team"))
        members: set[str] = set()
        if team:
            if team not in teams:
                yield (*at, "team"), unknown_name("team", team, teams)
            members = {rep for rep in team_reps.get(team, set()) if rep}
        for path, rep in texts_of((*at, "reps"), rule_map.get("reps")):
            members.add(rep)
            if rep not in reps:
                yield path, unknown_name("rep", rep, reps)
        for rep in mapping_of(rule_map.get("weights")):
            if rep not in members:
                yield (*at, "weights", rep), unknown_name("rep of this rule", rep, members)
    absences = assignment.get("out_of_office")
    for index, absence in enumerate(absences if isinstance(absences, list) else []):
        absent = text_of(mapping_of(absence).get("rep"))
        if absent and absent not in reps:
            yield ("assignment", "out_of_office", index, "rep"), unknown_name("rep", absent, reps)
    reroute = mapping_of(assignment.get("reroute"))
    if reroute:
        policies = mapping_of(data.get("policies"))
        policy = text_of(reroute.get("policy", "follow_up")) or ""
        steps = mapping_of(policies.get(policy)).get("escalate")
        step = reroute.get("after_step")
        if policy not in policies:
            yield ("assignment", "reroute", "policy"), unknown_name("policy", policy, policies)
        elif isinstance(step, int) and step > len(steps if isinstance(steps, list) else []):
            yield (
                ("assignment", "reroute", "after_step"),
                f"policy {policy} has {len(steps) if isinstance(steps, list) else 0} "
                f"escalation step(s); there is no step {step}",
            )
