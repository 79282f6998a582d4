"""The qualification sections of ``leadsla.yaml``: ``scoring`` (and what builds on it).

Validated like the rest of the file (see :mod:`leadsla.config`): pydantic checks the
shape of each key, :func:`qualify_problems` the names that refer to other sections
(a trigger's grade, the MQL status), so every problem names its line and key.
See ``docs/qualification.md`` for the meaning of every key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, model_validator

from leadsla.core.durations import Duration, parse_duration
from leadsla.core.policy import Grade
from leadsla.core.scoring import (
    BEHAVIOUR,
    LIST_OPERATORS,
    NUMERIC_OPERATORS,
    PROFILE,
    TOTAL,
    BehaviourRule,
    Condition,
    Operator,
    ProfileRule,
    Scoring,
    Trigger,
)

__all__ = [
    "BehaviourRuleConfig",
    "ConditionConfig",
    "ProfileRuleConfig",
    "ScoringConfig",
    "TriggerConfig",
    "build_scoring",
    "qualify_problems",
]

Problem = tuple[tuple[str | int, ...], str]


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


def _conditions(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class TriggerConfig(_Section):
    name: Annotated[str, Field(min_length=1)]
    when: Annotated[list[ConditionConfig], BeforeValidator(_conditions)] = Field(min_length=1)
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
    from leadsla.config import _mapping, _text, _unknown

    scoring = _mapping(data.get("scoring"))
    if not scoring:
        return
    at: tuple[str | int, ...] = ("scoring",)
    status = _text(scoring.get("mql_status", "New"))
    if status_names is not None and status and status not in status_names:
        yield (*at, "mql_status"), _unknown("status", status, status_names)
    triggers = scoring.get("triggers")
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        grade = _text(_mapping(trigger).get("grade"))
        if grade_names is not None and grade and grade not in grade_names:
            yield (*at, "triggers", index, "grade"), _unknown("grade", grade, grade_names)
    groups = {TOTAL}
    for section, default in (("profile", PROFILE), ("behaviour", BEHAVIOUR)):
        rules = scoring.get(section)
        for rule in rules if isinstance(rules, list) else []:
            groups.add(_text(_mapping(rule).get("group")) or default)
    for group in _mapping(scoring.get("caps")):
        if group not in groups:
            yield (*at, "caps", group), _unknown("rule group", group, groups)
