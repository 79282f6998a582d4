"""``leadsla.yaml``: load, validate and turn into the core's :class:`~leadsla.core.policy.Rulebook`.

Every key is validated at load time (SPEC §2). A bad file is refused with one
line per problem naming the file, the line, the key path and what was expected;
all problems are reported together, so a user fixes the file in one pass.

Validation runs in two layers. Pydantic models check the shape and the values
of each key. Checks that relate keys to each other (a team's calendar must be
defined, a policy's statuses must be known, ...) run beside them on the raw
document, so a typo in one key does not hide a bad reference next to it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadsla.config.qualify import (
    AssignmentConfig,
    CapacityConfig,
    IntakeConfig,
    ScoringConfig,
    build_assignment,
    build_intake,
    build_scoring,
    qualify_problems,
)
from leadsla.core.calendar import WEEKDAYS, BusinessCalendar, HolidaySource
from leadsla.core.durations import Duration, parse_duration
from leadsla.core.metrics import score_band_edges
from leadsla.core.policy import (
    DEFAULT_STATUSES,
    DEFAULT_TARGET,
    EscalationStep,
    Person,
    Policy,
    Rep,
    Rulebook,
    Team,
)
from leadsla.core.scoring import Grade

__all__ = [
    "METRICS",
    "RESERVED_CALENDAR_NAMES",
    "CalendarConfig",
    "CommitmentConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "EmailConfig",
    "EscalationConfig",
    "GradeConfig",
    "HolidaysConfig",
    "HoursConfig",
    "HoursWindow",
    "Metric",
    "NotificationsConfig",
    "NotifyTarget",
    "Period",
    "PersonConfig",
    "PolicyConfig",
    "RepConfig",
    "SlackConfig",
    "Stage",
    "StatusConfig",
    "StatusSetConfig",
    "TeamConfig",
    "WebhookConfig",
    "WorkableConfig",
    "build_rulebook",
    "load_config",
    "load_config_text",
]

Path_ = tuple[str | int, ...]
"""A key path into the YAML document: mapping keys and sequence indices."""

MINUTES_PER_DAY = 24 * 60
RESERVED_CALENDAR_NAMES = frozenset({"owner", "team"})

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


# -- errors --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the file: where (key path, 1-based line) and what."""

    path: str
    line: int | None
    message: str

    def render(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; ``str()`` gives one line per problem."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        # Problems without a line (missing top-level keys) read best after the located ones.
        self.problems = sorted(
            problems, key=lambda p: (p.line is None, p.line if p.line is not None else 0)
        )
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(problem.render(self.source) for problem in self.problems)


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
        raise ValueError(f'expected a percentage of the target like "75%", got {_show(value)}')
    share = float(match.group(1))
    if not 0 < share < 100:
        raise ValueError(f"{_show(value)} must be between 0% and 100% (both excluded)")
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


def _window(value: Any) -> HoursWindow:
    if isinstance(value, HoursWindow):
        return value
    expected = 'expected "HH:MM-HH:MM" (e.g. "09:00-17:00")'
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{expected}, got {_show(value)}")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{_show(value)} is not a time range: hours run 00:00 to 24:00")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(
            f"{_show(value)} does not end after it starts; a window past midnight is written as "
            'two, e.g. mon: ["22:00-24:00"] and tue: ["00:00-02:00"]'
        )
    return HoursWindow(start=start, end=end, text=value)


Window = Annotated[HoursWindow, PlainValidator(_window)]
Windows = Annotated[list[Window], BeforeValidator(_one_or_many)]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Names = Annotated[list[Name], BeforeValidator(_one_or_many)]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f'{_show(value)} is not an email address like "dana@example.com"')
    return value


Email = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_email)]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            f"{_show(value)} is not an environment variable name like SLACK_WEBHOOK_URL; "
            "the secret itself belongs in the environment, not in this file"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{_show(value)} is not an http(s) URL")
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
                f"{_show(value)} is not a country the holidays package knows: expected an "
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
            f"{_show(value)} is not a subdivision of {country}; expected one of: {known}"
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
            hint = _did_you_mean(value, sorted(available_timezones()))
            raise ValueError(
                f"{_show(value)} is not an IANA time zone{hint}: expected a name such as "
                "America/New_York or Europe/London"
            ) from None
        return value


class PersonConfig(_Model):
    name: Name
    email: Email
    slack: str | None = None


class RepConfig(_Model):
    id: Name
    name: Name
    email: Email
    calendar: str | None = None
    capacity: int | None = Field(default=None, ge=0)


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


class StatusSetConfig(_Model):
    status: Names = []


class EscalationConfig(_Model):
    after: DurationValue
    notify: Annotated[list[NotifyTarget], BeforeValidator(_one_or_many)] = Field(min_length=1)
    message: str | None = None

    @field_validator("notify")
    @classmethod
    def _no_repeats(cls, value: list[NotifyTarget]) -> list[NotifyTarget]:
        if len(set(value)) != len(value):
            raise ValueError("names a recipient twice")
        return value


class PolicyConfig(_Model):
    applies_to: dict[str, Names] = {}
    start: StatusSetConfig
    stop: StatusSetConfig
    pause: StatusSetConfig = StatusSetConfig()
    target: dict[str, PositiveDuration] = {}
    optional: Names = []
    calendar: Name = "owner"
    warn_at: Fraction | None = None
    escalate: list[EscalationConfig] = []

    @field_validator("start", "stop")
    @classmethod
    def _some_status(cls, value: StatusSetConfig, info: ValidationInfo) -> StatusSetConfig:
        if not value.status:
            raise ValueError(f"lists no status: the clock would never {info.field_name}")
        return value


class CommitmentConfig(_Model):
    name: Name
    metric: Metric
    period: Period
    target: float = Field(gt=0)
    segment: dict[str, Names] | None = None


class WorkableConfig(_Model):
    grade: Names


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
    email: EmailConfig | None = None
    slack: SlackConfig | None = None
    webhooks: list[WebhookConfig] = []
    max_delay: Annotated[PositiveDuration, AfterValidator(_wall_clock)] = parse_duration("24 hours")
    # A directory whose notification.txt.j2 / notification.html.j2 replace ours.
    templates: str | None = None
    # Where the web pages are served, for the link to the lead in each email.
    base_url: str | None = None


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


# -- loading -------------------------------------------------------------------------------


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raise :class:`ConfigError` listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", None, "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError(source, [ConfigProblem("", None, "is a directory, not a file")]) from None
    except UnicodeDecodeError as exc:
        message = f"is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError(source, [ConfigProblem("", None, message)]) from None
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
        raise ConfigError(source, [ConfigProblem("", None, message)]) from None
    return load_config_text(text, source)


def load_config_text(text: str, source: str = "leadsla.yaml") -> Config:
    """Validate config text; ``source`` names it in messages (a path, or an upload's name)."""
    # Duplicate keys are reported with the rest; a syntax error leaves nothing to validate.
    data, lines, problems = _parse_yaml(text, source)
    if not isinstance(data, dict):
        got = "is empty" if data is None else f"holds a {_yaml_kind(data)}"
        message = f"{got}; expected a mapping of keys such as calendars, teams and policies"
        raise ConfigError(source, [ConfigProblem("", 1 if data is not None else None, message)])

    located = _Locator(data, lines)
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problem(error, located) for error in exc.errors())
    problems.extend(located.problem(path, message) for path, message in _cross_check(data))
    if problems or config is None:
        raise ConfigError(source, problems)
    config._source = source
    return config


# -- YAML with line numbers ------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """A safe loader that also reports the line of every mapping key and sequence item."""

    def load_with_lines(self) -> tuple[Any, dict[tuple[str, ...], int], list[ConfigProblem]]:
        node = self.get_single_node()
        if node is None:
            return None, {}, []
        lines: dict[tuple[str, ...], int] = {}
        duplicates: list[ConfigProblem] = []
        self._walk(node, (), lines, duplicates, set())
        return self.construct_document(node), lines, duplicates

    def _walk(
        self,
        node: yaml.Node,
        path: tuple[str, ...],
        lines: dict[tuple[str, ...], int],
        duplicates: list[ConfigProblem],
        active: set[int],
    ) -> None:
        # An alias may point back at an enclosing node; the data is then recursive.
        if id(node) in active:
            return
        active.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self._key_text(key_node)
                line = key_node.start_mark.line + 1
                child = (*path, key)
                if child in lines:
                    duplicates.append(
                        ConfigProblem(
                            _format_path(child),
                            line,
                            f"duplicate key (first given at line {lines[child]}); "
                            "YAML would silently keep only the last one",
                        )
                    )
                lines.setdefault(child, line)
                self._walk(value_node, child, lines, duplicates, active)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, str(index))
                lines[child] = item.start_mark.line + 1
                self._walk(item, child, lines, duplicates, active)
        active.discard(id(node))

    def _key_text(self, node: yaml.Node) -> str:
        # Keys are matched to pydantic's error locations by their constructed value
        # (``1:`` is the int 1 there); only scalar keys have one worth showing.
        if isinstance(node, yaml.ScalarNode):
            return str(self.construct_object(node))
        return f"<complex key at line {node.start_mark.line + 1}>"


def _parse_yaml(
    text: str, source: str
) -> tuple[Any, dict[tuple[str, ...], int], list[ConfigProblem]]:
    """The document, the line of each key path, and its duplicate keys; syntax errors raise."""
    loader = _LineLoader(text)
    try:
        return loader.load_with_lines()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = exc.problem or exc.context or "unreadable"
        # The context ("while parsing a flow mapping") often starts lines earlier than the
        # problem itself; its line is where the missing bracket or quote was opened.
        if exc.problem and exc.context and exc.context_mark is not None:
            detail += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise ConfigError(source, [ConfigProblem("", line, f"invalid YAML: {detail}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigProblem("", None, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


class _Locator:
    """Turns key paths (pydantic ``loc`` tuples, or ours) into display paths and lines."""

    def __init__(self, data: Any, lines: Mapping[tuple[str, ...], int]) -> None:
        self._data = data
        self._lines = lines

    def clean(self, loc: Sequence[str | int]) -> Path_:
        """The parts of ``loc`` that are keys of the document, minus pydantic's own tags.

        Pydantic adds parts such as ``[key]`` or ``function-after[...]``; a last part
        that is not in the data is kept, as it names a missing or unknown key.
        """
        path: list[str | int] = []
        current: Any = self._data
        for position, part in enumerate(loc):
            last = position == len(loc) - 1
            in_mapping = isinstance(current, dict) and part in current
            in_list = (
                isinstance(current, list) and isinstance(part, int) and -1 < part < len(current)
            )
            if in_mapping or in_list:
                path.append(part)
                current = current[part]
            elif last and isinstance(current, dict) and part != "[key]":
                path.append(part)
                current = None
            else:
                current = None
        return tuple(path)

    def line(self, path: Path_) -> int | None:
        parts = tuple(str(part) for part in path)
        while parts:
            found = self._lines.get(parts)
            if found is not None:
                return found
            parts = parts[:-1]
        return None

    def problem(self, path: Path_, message: str) -> ConfigProblem:
        return ConfigProblem(_format_path(path), self.line(path), message)


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _format_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if _PLAIN_KEY.match(part) else json.dumps(part, ensure_ascii=False)
        text += f".{key}" if text else key
    return text


# -- pydantic's errors, in our words ---------------------------------------------------------


def _pydantic_problem(error: Mapping[str, Any], located: _Locator) -> ConfigProblem:
    path = located.clean(error["loc"])
    kind: str = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        expected = _expected_keys(path[:-1])
        key = str(path[-1]) if path else "?"
        message = f'unknown key "{key}"'
        if expected:
            message += _did_you_mean(key, expected) + "; expected one of: " + ", ".join(expected)
    elif kind == "missing":
        message = "is required but missing"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping of keys, got {_show(value)}"
    elif kind == "list_type":
        message = f"expected a list, got {_show(value)}"
    elif kind == "literal_error":
        expected_text = error.get("ctx", {}).get("expected", "")
        message = f"expected {expected_text}, got {_show(value)}"
    elif kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        message = _lower_first(str(error["msg"])) + f", got {_show(value)}"
    return located.problem(path, message)


def _expected_keys(path: Path_) -> list[str]:
    """The keys the model at ``path`` accepts (by alias), for "unknown key" messages."""
    current: Any = Config
    for part in path:
        current = _strip_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {field.alias or name: field for name, field in current.model_fields.items()}
            field = fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _strip_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _strip_optional(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [arg for arg in get_args(annotation) if arg is not NoneType]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean "mon" or "sun"?)`` for the equally closest choices, or nothing."""
    scored = [
        (difflib.SequenceMatcher(None, word.lower(), choice.lower()).ratio(), choice)
        for choice in choices
    ]
    best = max((score for score, _ in scored), default=0.0)
    if best < 0.6:
        return ""
    closest = [choice for score, choice in scored if score == best][:3]
    return " (did you mean " + " or ".join(f'"{choice}"' for choice in closest) + "?)"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return f"a {_yaml_kind(value)}"


def _yaml_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# -- checks across keys ---------------------------------------------------------------------
#
# These read the raw document rather than the models: an entry that fails validation
# elsewhere (a bad email in a team) must not hide a reference error in it (its calendar).
# Values of the wrong type are skipped here, since pydantic already reports them.

Problem = tuple[Path_, str]


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int | float):
        return str(value).strip()
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return {str(key): item for key, item in value.items()} if isinstance(value, dict) else {}


def _texts(path: Path_, value: Any) -> Iterator[tuple[Path_, str]]:
    """The texts of a one-or-many value, each with its own path."""
    single = _text(value)
    if single is not None:
        yield path, single
    elif isinstance(value, list):
        for index, item in enumerate(value):
            text = _text(item)
            if text is not None:
                yield (*path, index), text


def _declared_names(section: Any) -> set[str] | None:
    """Names a list section declares, read loosely so a broken entry still defines its name.

    ``None`` when the section is not a list at all: references to it are then not checked,
    since its own error already says what is wrong.
    """
    if not isinstance(section, list):
        return None
    names = (_text(item.get("name")) for item in section if isinstance(item, dict))
    return {name for name in names if name}


def _unknown(kind: str, name: str, known: Iterable[str], *, also: Sequence[str] = ()) -> str:
    choices = [*also, *sorted(known)]
    listed = "expected one of: " + ", ".join(choices) if choices else f"no {kind}s are defined"
    return f'unknown {kind} "{name}"{_did_you_mean(name, choices)}; {listed}'


def _cross_check(data: Mapping[str, Any]) -> Iterator[Problem]:
    raw_calendars = data.get("calendars")
    calendar_names = set(_mapping(raw_calendars)) if isinstance(raw_calendars, dict) else None
    yield from _check_calendars(_mapping(raw_calendars))
    yield from _check_default_calendar(data.get("default_calendar"), calendar_names)

    status_names = (
        set(DEFAULT_STATUSES) if "statuses" not in data else _declared_names(data["statuses"])
    )
    grade_names = _declared_names(data.get("grades", []))
    for section, kind in (("grades", "grade"), ("statuses", "status"), ("commitments", "")):
        yield from _unique_names(section, data.get(section), kind or "commitment")
    yield from _check_teams(_mapping(data.get("teams")), calendar_names)

    executives = data.get("executives", [])
    # A malformed executives section has its own error; do not add a second one.
    has_executives = bool(executives) or not isinstance(executives, list)
    references = _References(calendar_names, grade_names, status_names, has_executives)
    for name, policy in _mapping(data.get("policies")).items():
        yield from references.check_policy(("policies", name), _mapping(policy))
    workable = _mapping(data.get("workable"))
    yield from references.grades(_texts(("workable", "grade"), workable.get("grade")))
    yield from qualify_problems(data, grade_names, status_names)


def _check_calendars(calendars: Mapping[str, Any]) -> Iterator[Problem]:
    for name, calendar in calendars.items():
        if name in RESERVED_CALENDAR_NAMES:
            yield (
                ("calendars", name),
                (
                    f'"{name}" cannot name a calendar: a policy\'s calendar "{name}" means the '
                    f"{name}'s calendar"
                ),
            )
        hours = _mapping(_mapping(calendar).get("hours"))
        for day in WEEKDAYS:
            earlier: list[HoursWindow] = []
            for path, text in _texts(("calendars", name, "hours", day), hours.get(day)):
                try:
                    window = _window(text)
                except ValueError:
                    continue
                overlapped = next((w for w in earlier if w.overlaps(window)), None)
                if overlapped is not None:
                    yield (
                        path,
                        (
                            f'"{window.text}" overlaps "{overlapped.text}": the windows of a day '
                            "must not overlap"
                        ),
                    )
                earlier.append(window)


def _check_default_calendar(default: Any, names: set[str] | None) -> Iterator[Problem]:
    if names is None:
        return
    if default is None:
        if len(names) > 1:
            yield (
                ("default_calendar",),
                (
                    "is required when there are several calendars; expected one of: "
                    + ", ".join(sorted(names))
                ),
            )
    elif isinstance(default, str) and default not in names:
        yield ("default_calendar",), _unknown("calendar", default, names)


def _unique_names(section: str, raw: Any, kind: str) -> Iterator[Problem]:
    if not isinstance(raw, list):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        name = _text(item.get("name")) if isinstance(item, dict) else None
        if not name:
            continue
        if name in seen:
            yield (
                (section, index, "name"),
                (f'{kind} "{name}" is already defined at {_format_path((section, seen[name]))}'),
            )
        else:
            seen[name] = index


def _check_teams(teams: Mapping[str, Any], calendar_names: set[str] | None) -> Iterator[Problem]:
    rep_ids: dict[str, Path_] = {}
    for team_name, team in teams.items():
        at: Path_ = ("teams", team_name)
        team_map = _mapping(team)
        yield from _check_calendar_ref((*at, "calendar"), team_map.get("calendar"), calendar_names)
        reps = team_map.get("reps")
        for index, rep in enumerate(reps if isinstance(reps, list) else []):
            where: Path_ = (*at, "reps", index)
            rep_map = _mapping(rep)
            yield from _check_calendar_ref(
                (*where, "calendar"), rep_map.get("calendar"), calendar_names
            )
            rep_id = _text(rep_map.get("id"))
            if not rep_id:
                continue
            if rep_id in rep_ids:
                yield (
                    (*where, "id"),
                    (
                        f'rep id "{rep_id}" is already used at {_format_path(rep_ids[rep_id])}; '
                        "a rep belongs to one team"
                    ),
                )
            else:
                rep_ids[rep_id] = where


def _check_calendar_ref(
    path: Path_, value: Any, names: set[str] | None, *, also: Sequence[str] = ()
) -> Iterator[Problem]:
    name = _text(value)
    if names is not None and name and name not in names and name not in also:
        yield path, _unknown("calendar", name, names, also=also)


@dataclass(frozen=True, slots=True)
class _References:
    """What the file defines, for checking the names a policy uses; ``None``: not checkable."""

    calendars: set[str] | None
    grade_names: set[str] | None
    status_names: set[str] | None
    has_executives: bool

    def grades(
        self, used: Iterable[tuple[Path_, str]], *, also: Sequence[str] = ()
    ) -> Iterator[Problem]:
        if self.grade_names is None:
            return
        for path, grade in used:
            if grade not in self.grade_names and grade not in also:
                yield path, _unknown("grade", grade, self.grade_names, also=also)

    def statuses(self, used: Iterable[tuple[Path_, str]]) -> Iterator[Problem]:
        if self.status_names is None:
            return
        for path, status in used:
            if status not in self.status_names:
                yield path, _unknown("status", status, self.status_names)

    def check_policy(self, at: Path_, policy: Mapping[str, Any]) -> Iterator[Problem]:
        sets = {
            name: list(_texts((*at, name, "status"), _mapping(policy.get(name)).get("status")))
            for name in ("start", "stop", "pause")
        }
        for used in sets.values():
            yield from self.statuses(used)
        # A status in both sets would stop (or pause) a clock at the instant it acts.
        for name, other in (("stop", "start"), ("pause", "stop")):
            others = {status for _, status in sets[other]}
            for path, status in sets[name]:
                if status in others:
                    yield path, f'status "{status}" is in both {other} and {name}'

        targets = _mapping(policy.get("target"))
        yield from self.grades(
            (((*at, "target", grade), grade) for grade in targets), also=[DEFAULT_TARGET]
        )
        yield from self.grades(_texts((*at, "optional"), policy.get("optional")))
        applies_to = _mapping(policy.get("applies_to"))
        yield from self.grades(_texts((*at, "applies_to", "grade"), applies_to.get("grade")))
        yield from self.statuses(_texts((*at, "applies_to", "status"), applies_to.get("status")))
        yield from _check_calendar_ref(
            (*at, "calendar"),
            policy.get("calendar"),
            self.calendars,
            also=sorted(RESERVED_CALENDAR_NAMES),
        )
        if self.has_executives:
            return
        steps = policy.get("escalate")
        for step, escalation in enumerate(steps if isinstance(steps, list) else []):
            notify = _mapping(escalation).get("notify")
            for path, target in _texts((*at, "escalate", step, "notify"), notify):
                if target == "executive":
                    yield path, "notifies executive, but no executives are defined"


# -- the rulebook --------------------------------------------------------------------------


def build_rulebook(config: Config) -> Rulebook:
    """The core's view of a validated config."""
    teams: dict[str, Team] = {}
    reps: dict[str, Rep] = {}
    for team_name, team in config.teams.items():
        teams[team_name] = Team(
            name=team_name,
            calendar=team.calendar,
            manager=_person(team.manager) if team.manager is not None else None,
            reps=tuple(rep.id for rep in team.reps),
        )
        for rep in team.reps:
            reps[rep.id] = Rep(
                id=rep.id,
                name=rep.name,
                email=rep.email,
                team=team_name,
                calendar=rep.calendar,
                capacity=rep.capacity,
            )
    grades = tuple(Grade(name=g.name, min_score=g.min_score) for g in config.grades)
    intake = build_intake(config.intake, config.default_calendar_name)
    rulebook = Rulebook(
        calendars={name: _calendar(name, c) for name, c in config.calendars.items()},
        default_calendar=config.default_calendar_name,
        policies=tuple(_policy(name, p) for name, p in config.policies.items())
        + ((intake,) if intake is not None else ()),
        grades=grades,
        statuses={status.name: status.stage for status in config.statuses},
        teams=teams,
        reps=reps,
        executives=tuple(_person(person) for person in config.executives),
        scoring=build_scoring(config.scoring, grades),
        intake=intake,
    )
    return replace(rulebook, assignment=build_assignment(config.assignment, rulebook))


def _person(person: PersonConfig) -> Person:
    return Person(name=person.name, email=person.email, slack=person.slack)


def _calendar(name: str, calendar: CalendarConfig) -> BusinessCalendar:
    hours = {
        number: [(window.start, window.end) for window in windows]
        for number, windows in calendar.hours.by_weekday().items()
        if windows
    }
    return BusinessCalendar(
        name=name,
        timezone=calendar.timezone,
        hours=hours,
        holidays=_holiday_source(calendar.holidays) if calendar.holidays else None,
        day_hours=calendar.day_hours,
    )


def _holiday_source(config: HolidaysConfig) -> HolidaySource:
    country, subdivision, extra = config.country, config.subdivision, tuple(config.dates)

    def closed_dates(year: int) -> set[date]:
        closed = {day for day in extra if day.year == year}
        if country is not None:
            closed.update(holidays.country_holidays(country, subdiv=subdivision, years=year))
        return closed

    return closed_dates


def _policy(name: str, policy: PolicyConfig) -> Policy:
    return Policy(
        name=name,
        start=frozenset(policy.start.status),
        stop=frozenset(policy.stop.status),
        pause=frozenset(policy.pause.status),
        applies_to={key: frozenset(values) for key, values in policy.applies_to.items()},
        targets=dict(policy.target),
        optional=frozenset(policy.optional),
        calendar=policy.calendar,
        warn_at=policy.warn_at,
        escalate=tuple(
            EscalationStep(
                number=number,
                after=step.after,
                notify=tuple(step.notify),
                message=step.message,
            )
            for number, step in enumerate(policy.escalate, start=1)
        ),
    )
