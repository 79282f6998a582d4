"""The shape of ``leadsla.yaml``: the pydantic models of its keys, and :class:`Config`.

Every key is validated at load time (SPEC §2). These models check the shape and the
values of each key; how keys relate to each other (a team's calendar must be defined)
is :mod:`leadsla.config.checks`, and :func:`leadsla.config.load.load_config` runs both
and reports every problem with its line. The ``scoring``, ``assignment``, ``capacity``
and ``intake`` sections are modelled in :mod:`leadsla.config.qualify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadsla.config.connectors import ConnectorsConfig, CrmIdsConfig
from leadsla.config.document import did_you_mean, shown
from leadsla.config.qualify import (
    AssignmentConfig,
    CapacityConfig,
    IntakeConfig,
    ScoringConfig,
    conditions_of,
)
from leadsla.config.qualify import ConditionConfig as FieldCondition
from leadsla.core.calendar import WEEKDAYS
from leadsla.core.durations import Duration, parse_duration
from leadsla.core.metrics import score_band_edges
from leadsla.core.objectives import DEFAULT_BURN_RATE
from leadsla.core.policy import ACTIVITY_KINDS, ACTIVITY_OUTCOMES, DEFAULT_STATUSES
from leadsla.core.workable import EVENT_FIELDS, Workable, WorkableSegment

__all__ = [
    "METRICS",
    "CalendarConfig",
    "CommitmentConfig",
    "Config",
    "CostsConfig",
    "EmailConfig",
    "EscalationConfig",
    "GradeConfig",
    "HolidaysConfig",
    "HoursConfig",
    "HoursWindow",
    "Metric",
    "NotificationsConfig",
    "NotifyTarget",
    "ObjectiveAlertConfig",
    "ObjectiveConfig",
    "Period",
    "PersonConfig",
    "PolicyConfig",
    "RepConfig",
    "SlackConfig",
    "SpeedToLeadConfig",
    "Stage",
    "StatusConfig",
    "StatusSetConfig",
    "TeamConfig",
    "WebhookConfig",
    "WorkableConfig",
    "hours_window",
]

Stage = Literal["open", "working", "qualified", "disqualified", "nurture"]
NotifyTarget = Literal["owner", "manager", "executive"]
Period = Literal["month", "quarter", "year"]
Metric = Literal["mqls", "sals", "workable_leads", "workable_leads_per_rep", "opportunities"]
METRICS: tuple[str, ...] = get_args(Metric)
"""Metrics a commitment may track:

- ``mqls``: leads entering a status of stage ``open`` (SPEC §8);
- ``sals``: MQLs whose ``follow_up`` clock stopped on a ``working`` status;
- ``workable_leads``: MQLs whose grade is workable;
- ``workable_leads_per_rep``: workable MQLs per owner (the target is per rep);
- ``opportunities``: workable leads reaching a status of stage ``qualified``.
"""


# -- value types -----------------------------------------------------------------------


def _one_or_many(value: Any) -> Any:
    """Accept a lone value where a list is expected (``grade: A``); null means empty."""
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [value]
    return value


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    return parse_duration(value)


def _positive(duration: Duration) -> Duration:
    if duration.amount <= 0:
        raise ValueError(f'"{duration}" must be longer than zero')
    return duration


def _wall_clock(duration: Duration) -> Duration:
    if duration.business:
        raise ValueError(
            f'"{duration}" is in business units; this age is measured in wall-clock time '
            '(e.g. "24 hours")'
        )
    return duration


DurationValue = Annotated[Duration, PlainValidator(_duration)]
PositiveDuration = Annotated[Duration, PlainValidator(_duration), AfterValidator(_positive)]

_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


def _percent(value: Any) -> float:
    match = _PERCENT.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'expected a percentage of the target like "75%", got {shown(value)}')
    share = float(match.group(1))
    if not 0 < share < 100:
        raise ValueError(f"{shown(value)} must be between 0% and 100% (both excluded)")
    return share / 100


Fraction = Annotated[float, PlainValidator(_percent)]
"""``"75%"`` in the file, ``0.75`` in the model."""

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class HoursWindow:
    """An open interval of one day, in minutes after local midnight, with its text for messages."""

    start: int
    end: int
    text: str

    def overlaps(self, other: HoursWindow) -> bool:
        return self.start < other.end and other.start < self.end


def hours_window(value: Any) -> HoursWindow:
    """A window of open hours from its ``"HH:MM-HH:MM"`` text; ``ValueError`` says why not."""
    if isinstance(value, HoursWindow):
        return value
    expected = 'expected "HH:MM-HH:MM" (e.g. "09:00-17:00")'
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{expected}, got {shown(value)}")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{shown(value)} is not a time range: hours run 00:00 to 24:00")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(
            f"{shown(value)} does not end after it starts; a window past midnight is written as "
            'two, e.g. mon: ["22:00-24:00"] and tue: ["00:00-02:00"]'
        )
    return HoursWindow(start=start, end=end, text=value)


Window = Annotated[HoursWindow, PlainValidator(hours_window)]
Windows = Annotated[list[Window], BeforeValidator(_one_or_many)]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Names = Annotated[list[Name], BeforeValidator(_one_or_many)]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f'{shown(value)} is not an email address like "dana@example.com"')
    return value


Email = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_email)]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            f"{shown(value)} is not an environment variable name like SLACK_WEBHOOK_URL; "
            "the secret itself belongs in the environment, not in this file"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{shown(value)} is not an http(s) URL")
    return value


# -- the models --------------------------------------------------------------------------


class _Model(BaseModel):
    # Numbers become text where text is expected: a CRM's rep id 1042 is the string "1042".
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class HoursConfig(_Model):
    """Weekly open hours; an absent weekday is closed."""

    mon: Windows = []
    tue: Windows = []
    wed: Windows = []
    thu: Windows = []
    fri: Windows = []
    sat: Windows = []
    sun: Windows = []

    def by_weekday(self) -> dict[int, list[HoursWindow]]:
        """Weekday number (0 = Monday) → windows as written."""
        return {number: getattr(self, day) for number, day in enumerate(WEEKDAYS)}

    @model_validator(mode="after")
    def _some_open(self) -> HoursConfig:
        if not any(self.by_weekday().values()):
            raise ValueError("the calendar is never open: give at least one weekday a window")
        return self


class HolidaysConfig(_Model):
    country: Name | None = None
    subdivision: Name | None = None
    dates: Annotated[list[date], BeforeValidator(_one_or_many)] = []

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # ISO codes are upper case; "us" is what a user means by "US".
        code = value.upper()
        try:
            holidays.country_holidays(code)
        except NotImplementedError:
            raise ValueError(
                f"{shown(value)} is not a country the holidays package knows: expected an "
                'ISO 3166 code such as "US" or "GB"'
            ) from None
        return code

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is None or country is None:
            return value
        for candidate in dict.fromkeys((value, value.upper())):
            try:
                holidays.country_holidays(country, subdiv=candidate)
            except NotImplementedError:
                continue
            return candidate
        known = ", ".join(holidays.country_holidays(country).subdivisions) or "none"
        raise ValueError(
            f"{shown(value)} is not a subdivision of {country}; expected one of: {known}"
        )

    @model_validator(mode="after")
    def _subdivision_needs_country(self) -> HolidaysConfig:
        if self.subdivision is not None and self.country is None:
            raise ValueError("a subdivision needs its country (e.g. country: US, subdivision: NY)")
        return self


class CalendarConfig(_Model):
    timezone: str
    hours: HoursConfig
    holidays: HolidaysConfig | None = None
    day_hours: float = Field(default=8.0, gt=0, le=24)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            hint = did_you_mean(value, sorted(available_timezones()))
            raise ValueError(
                f"{shown(value)} is not an IANA time zone{hint}: expected a name such as "
                "America/New_York or Europe/London"
            ) from None
        return value


class PersonConfig(_Model):
    name: Name
    email: Email
    slack: str | None = None
    # SPEC §9.4: an executive's (or an unassigned desk's) hours for delivery in them.
    calendar: str | None = None


class RepConfig(_Model):
    id: Name
    name: Name
    email: Email
    calendar: str | None = None
    capacity: int | None = Field(default=None, ge=0)
    # The rep's user ids in the CRMs: owner ids in exports, webhooks and sync map to the rep.
    crm: CrmIdsConfig | None = None


class TeamConfig(_Model):
    calendar: str | None = None
    manager: PersonConfig | None = None
    reps: list[RepConfig] = []
    # "HH:MM" on the team's calendar: the manager's daily digest of breached and at-risk
    # leads is sent once a day from then on. Absent: no digest.
    digest: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None


class GradeConfig(_Model):
    name: Name
    min_score: float


class StatusConfig(_Model):
    name: Name
    stage: Stage | None = None
    # Where a cycle of work ends on this status, when its stage does not say it (SPEC §9.5:
    # a nurture status is ``recycled`` unless it is named Deferred; docs/sla-rules.md).
    outcome: Literal["converted", "deferred", "recycled", "disqualified"] | None = None


class SalConfig(_Model):
    """SPEC §9.5: the closed list of ``sal_reason`` values (absent: free text)."""

    reasons: Names | None = None


class ReasonsConfig(_Model):
    """The closed lists of ``reason`` values at a recycle, defer or disqualify."""

    recycled: Names | None = None
    deferred: Names | None = None
    disqualified: Names | None = None


class StatusSetConfig(_Model):
    status: Names = []


def _activity_entry(value: str) -> str:
    """SPEC §9.1: ``kind`` (every outcome of it) or ``kind:outcome``."""
    kind, colon, outcome = value.partition(":")
    if kind not in ACTIVITY_KINDS:
        raise ValueError(
            f"{shown(value)} is not an activity: expected a kind "
            f"({', '.join(sorted(ACTIVITY_KINDS))}) or kind:outcome such as call:connected"
        )
    if colon and outcome not in ACTIVITY_OUTCOMES:
        raise ValueError(
            f"{shown(value)} has no such outcome: expected one of "
            + ", ".join(sorted(ACTIVITY_OUTCOMES))
        )
    return value


ActivityEntries = Annotated[
    list[Annotated[str, AfterValidator(_activity_entry)]], BeforeValidator(_one_or_many)
]


class ConditionConfig(_Model):
    """``start`` and ``stop`` (SPEC §9.1): statuses, activities, and the assignment."""

    status: Names = []
    activity: ActivityEntries = []
    assigned: bool = False


class EscalationConfig(_Model):
    after: DurationValue
    notify: Annotated[list[NotifyTarget], BeforeValidator(_one_or_many)] = Field(min_length=1)
    message: str | None = None
    urgent: bool = False  # SPEC §9.4: sent at once, even outside the recipient's hours

    @field_validator("notify")
    @classmethod
    def _no_repeats(cls, value: list[NotifyTarget]) -> list[NotifyTarget]:
        if len(set(value)) != len(value):
            raise ValueError("names a recipient twice")
        return value


class PolicyConfig(_Model):
    kind: Literal["sla", "cadence"] = "sla"
    applies_to: dict[str, Names] = {}
    start: ConditionConfig
    stop: ConditionConfig
    pause: StatusSetConfig = StatusSetConfig()
    target: dict[str, PositiveDuration] = {}
    optional: Names = []
    calendar: Name = "owner"
    warn_at: Fraction | None = None
    escalate: list[EscalationConfig] = []
    on_reassign: Literal["carry", "restart"] = "carry"  # SPEC §9.2
    # SPEC §9.3 (kind: cadence): attempts required within a window, at most ``gap`` apart.
    attempts: int | None = Field(default=None, ge=1)
    within: PositiveDuration | None = None
    gap: PositiveDuration | None = None

    @field_validator("start", "stop")
    @classmethod
    def _some_condition(cls, value: ConditionConfig, info: ValidationInfo) -> ConditionConfig:
        if info.field_name == "start":
            if value.assigned and not value.status:
                raise ValueError(
                    "has assigned: true but lists no status: assigned adds a condition to the "
                    "status (the clock starts when the status is in the set and the lead has an "
                    "owner)"
                )
            if not value.status and not value.activity:
                raise ValueError("lists no status or activity: the clock would never start")
        elif not value.status and not value.activity and not value.assigned:
            raise ValueError("lists no status, activity or assigned: the clock would never stop")
        return value

    @model_validator(mode="after")
    def _kind_keys(self) -> PolicyConfig:
        if self.kind == "cadence":
            missing = [k for k in ("attempts", "within", "gap") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    "kind: cadence needs " + ", ".join(missing) + " (attempts required, the "
                    "window from the start, and the longest wait between attempts)"
                )
            unused = [k for k in ("target", "optional", "warn_at") if getattr(self, k)]
            if unused:
                raise ValueError(
                    "kind: cadence has no " + ", ".join(unused) + ": a cadence is judged on "
                    "its attempts, window and gap"
                )
        else:
            unused = [k for k in ("attempts", "within", "gap") if getattr(self, k) is not None]
            if unused:
                raise ValueError(
                    ", ".join(unused) + " belong to kind: cadence; add kind: cadence or remove them"
                )
        return self


class CommitmentConfig(_Model):
    name: Name
    metric: Metric
    period: Period
    target: float = Field(gt=0)
    segment: dict[str, Names] | None = None
    # A team's share of the target, as a manager's view compares it with the team's count;
    # a team without one is shown the company-wide figure.
    team_targets: dict[Name, Annotated[float, Field(gt=0)]] | None = None


class WorkableSegmentConfig(_Model):
    """A segment of leads that is workable whatever its grade: every condition of
    ``when`` (scoring's conditions, docs/qualification.md) holds at the MQL instant."""

    name: Name
    when: Annotated[list[FieldCondition], BeforeValidator(conditions_of)] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _lead_fields(cls, value: list[FieldCondition]) -> list[FieldCondition]:
        for condition in value:
            if condition.field in EVENT_FIELDS:
                raise ValueError(
                    f"field {condition.field!r} is an event, not a field of the lead: at the "
                    "MQL instant the status is always the MQL status"
                )
        return value

    def build(self) -> WorkableSegment:
        return WorkableSegment(self.name, tuple(c.build() for c in self.when))


class WorkableConfig(_Model):
    """``grade``: workable grades; ``segments``: workable whatever the grade
    (docs/qualification.md)."""

    grade: Names = []
    segments: list[WorkableSegmentConfig] = []

    @model_validator(mode="after")
    def _something_workable(self) -> WorkableConfig:
        if not self.grade and not self.segments:
            raise ValueError("lists no grade and no segment: no lead would be workable")
        names = [segment.name for segment in self.segments]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError("names segment " + ", ".join(repeated) + " twice")
        return self

    def build(self) -> Workable:
        return Workable.of(self.grade, (segment.build() for segment in self.segments))


class SpeedToLeadConfig(_Model):
    # Time to first touch in wall-clock time (the classic study) or in the business
    # time of the owner's follow-up calendar (nights and weekends not held against sales).
    clock: Literal["wall", "business"] = "wall"


# Edges that cut lead scores into the report's ``by_score_band`` groups.
ScoreBands = Annotated[
    list[Annotated[float, Field(allow_inf_nan=False)]],
    Field(min_length=1),
    AfterValidator(lambda edges: list(score_band_edges(edges))),
]


def _currency(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isupper() or not value.isalpha():
        raise ValueError(f"{value!r} is not a 3-letter ISO 4217 currency code such as USD")
    return value


class CostsConfig(_Model):
    """What a lead costs marketing, by ``source`` (closed-loop ``leadsla segments``)."""

    per_lead: dict[Name, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(min_length=1)
    # The cost of a lead whose source is not listed (absent: such leads cost nothing).
    default: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    currency: Annotated[str, AfterValidator(_currency)] = "USD"


def _objective_target(value: Any) -> float:
    """``"95%"`` (or the fraction ``0.95``) as the fraction 0.95, strictly between 0 and 1."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match is None:
            raise ValueError(f'expected a percentage like "95%", got {shown(value)}')
        share = float(match.group(1)) / 100
    elif isinstance(value, int | float) and not isinstance(value, bool):
        share = float(value)
    else:
        raise ValueError(f'expected a percentage like "95%", got {shown(value)}')
    if not 0 < share < 1:
        raise ValueError(
            f"{shown(value)} must be between 0% and 100% (both excluded): at 100% there is "
            "no error budget to burn"
        )
    return share


WallDuration = Annotated[
    Duration, PlainValidator(_duration), AfterValidator(_positive), AfterValidator(_wall_clock)
]


class ObjectiveAlertConfig(_Model):
    """The two-window burn-rate rule (docs/worker.md); absent keys take the defaults."""

    burn_rate: float = Field(default=DEFAULT_BURN_RATE, gt=1, allow_inf_nan=False)
    long_window: WallDuration | None = None  # default: the objective's window / 12
    short_window: WallDuration | None = None  # default: the long window / 12


class ObjectiveConfig(_Model):
    """A compliance objective: ``target`` of ``policy``'s clocks met over a rolling ``window``."""

    name: Name
    policy: Name
    grades: Names = []
    target: Annotated[float, PlainValidator(_objective_target)]
    window: WallDuration
    per: Literal["company", "team", "owner"] = "company"
    alert: ObjectiveAlertConfig = ObjectiveAlertConfig()

    @model_validator(mode="after")
    def _alert_fits(self) -> ObjectiveConfig:
        # At most every clock breaches: the burn rate cannot exceed 1 / budget.
        highest = 1 / (1 - self.target)
        if self.alert.burn_rate >= highest:
            raise ValueError(
                f"alert.burn_rate {self.alert.burn_rate:g} can never be exceeded with a target "
                f"of {self.target:.4g}: even with every clock breached the burn rate is "
                f"{highest:.4g}; lower the burn rate or raise the target"
            )
        window = self.window.micros()
        long = self.alert.long_window.micros() if self.alert.long_window else None
        short = self.alert.short_window.micros() if self.alert.short_window else None
        if long is not None and long > window:
            raise ValueError(f"alert.long_window {self.alert.long_window} is longer than window")
        if short is not None and short >= (long if long is not None else window // 12):
            raise ValueError(
                f"alert.short_window {self.alert.short_window} must be shorter than the long window"
            )
        return self


class EmailConfig(_Model):
    host: Name
    port: int = Field(default=25, ge=1, le=65535)
    sender: Email = Field(alias="from")
    starttls: bool = False
    username: str | None = None
    password_env: EnvName | None = None


class SlackConfig(_Model):
    webhook_url_env: EnvName


class WebhookConfig(_Model):
    url: Annotated[str, AfterValidator(_http_url)]
    secret_env: EnvName | None = None


class NotificationsConfig(_Model):
    # SPEC §9.4: hold a warning or step that falls outside the recipient's hours until
    # their calendar's next opening (``immediately``: send when it falls, as before).
    deliver: Literal["immediately", "recipient_hours"] = "immediately"
    # Who gets the ``owner`` and ``manager`` steps of a lead that has no owner.
    unassigned: list[PersonConfig] = []
    email: EmailConfig | None = None
    slack: SlackConfig | None = None
    webhooks: list[WebhookConfig] = []
    max_delay: Annotated[PositiveDuration, AfterValidator(_wall_clock)] = parse_duration("24 hours")
    # A directory whose notification.txt.j2 / notification.html.j2 replace ours.
    templates: str | None = None
    # Where the web pages are served, for the link to the lead in each email (http(s):
    # the link goes into an HTML href, where a javascript: URL would run).
    base_url: Annotated[str, AfterValidator(_http_url)] | None = None


def _default_statuses() -> list[StatusConfig]:
    return [
        StatusConfig.model_validate({"name": name, "stage": stage})
        for name, stage in DEFAULT_STATUSES.items()
    ]


class Config(_Model):
    """The whole ``leadsla.yaml``; :attr:`source` names the file in messages."""

    calendars: dict[str, CalendarConfig] = Field(min_length=1)
    default_calendar: str | None = None
    teams: dict[str, TeamConfig] = {}
    executives: list[PersonConfig] = []
    grades: list[GradeConfig] = []
    policies: dict[str, PolicyConfig] = {}
    commitments: list[CommitmentConfig] = []
    objectives: list[ObjectiveConfig] = []  # docs/worker.md (compliance objectives)
    workable: WorkableConfig | None = None
    score_bands: ScoreBands | None = None  # docs/analytics.md (default 0, 25, 50, 75, 100)
    speed_to_lead: SpeedToLeadConfig = SpeedToLeadConfig()  # docs/analytics.md
    costs: CostsConfig | None = None
    notifications: NotificationsConfig = NotificationsConfig()
    statuses: list[StatusConfig] = Field(default_factory=_default_statuses)
    scoring: ScoringConfig | None = None  # docs/qualification.md
    assignment: AssignmentConfig | None = None  # docs/qualification.md
    capacity: CapacityConfig | None = None  # docs/qualification.md (leadsla capacity)
    intake: IntakeConfig | None = None  # docs/qualification.md (marketing's intake clock)
    sal: SalConfig | None = None  # docs/sla-rules.md (sales acceptance)
    reasons: ReasonsConfig | None = None  # docs/sla-rules.md (sales acceptance)
    connectors: ConnectorsConfig = ConnectorsConfig()  # docs/crm.md

    _source: str = PrivateAttr(default="<config>")

    @property
    def source(self) -> str:
        return self._source

    @property
    def default_calendar_name(self) -> str:
        """``default_calendar``, or the only calendar when there is one and it is not set."""
        if self.default_calendar is not None:
            return self.default_calendar
        return next(iter(self.calendars))
