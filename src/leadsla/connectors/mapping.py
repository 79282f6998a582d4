"""How a CRM export maps onto native events, and what the export connectors share.

An :class:`ImportMapping` says how the values of an export become ours: which
source status is which of our statuses, which rating is which grade, which CRM
user is which rep, which call disposition or task type is which
``<kind>:<outcome>`` activity, which source column (or history field, or
HubSpot property) is which lead attribute, and in which zone to read timestamps
written without a UTC offset. Every map is laid over built-in defaults for the
standard Salesforce and HubSpot values; a key mapped to ``null`` drops the
events it would make. Keys are matched ignoring case, surrounding blanks and
``_`` versus space, so ``OPEN_DEAL`` and ``Open deal`` (HubSpot's internal value
and its label) are one key.

The mapping is YAML, on its own or as the ``mapping:`` section of a larger file::

    timezone: America/New_York       # for exports that write local times
    status: {"Working - Contacted": Contacted, "Recycled - Nurture": Recycled}
    rating: {Hot: A, Warm: B, Cold: C}
    owner: {"0058c00000AbCdEAAV": r1, "Sam Ortiz": r1}
    activity: {"Left Message": "call:voicemail", Demo: null}
    fields: {Lead_Score__c: score, Segment__c: segment}
    strict: true                     # refuse rows whose disposition/type is unmapped

A bad mapping is refused with one line per problem naming the key and its line,
as ``leadsla.yaml`` is, and read by the same YAML reader (:mod:`leadsla.config.document`:
anchors, aliases and ``<<`` merge keys work; :class:`MappingError` is a
:class:`~leadsla.config.document.ConfigError`).

The rest of this module is what the connectors share: the rows they produce
(:class:`ConvertedRow`, :class:`RejectedRow`), reading an export's CSV with the
line each row starts on, and the :class:`Connector` base that turns each source
row into events or into one rejection, never into part of both.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from leadsla.config.document import (
    ConfigError,
    ConfigProblem,
    Lines,
    format_path,
    line_at,
    read_document,
)
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.crm_activity import ActivityRule
from leadsla.core.crm_identity import CRMS, Crm, CrmSettings
from leadsla.core.events import INSTANT_FORMAT, InstantError, parse_instant
from leadsla.core.limits import (
    MAX_KEY,
    event_problem,
    instant_in_range,
    range_problem,
    text_problem,
)
from leadsla.core.policy import ACTIVITY_KINDS, ACTIVITY_OUTCOMES, Rulebook

# -- built-in defaults -------------------------------------------------------------------

DEFAULT_STATUS: Final[Mapping[str, str | None]] = {
    # Salesforce's standard Lead Status picklist.
    "Open - Not Contacted": "New",
    "Working - Contacted": "Contacted",
    "Closed - Converted": "Qualified",
    "Closed - Not Converted": "Not a Lead",
    # HubSpot's hs_lead_status: internal values; labels fold onto them (OPEN_DEAL = Open deal)
    # except "Attempted to contact", whose internal value says "connect".
    "NEW": "New",
    # Open: handed to sales and not yet worked, which is where our clocks start.
    "OPEN": "New",
    "ATTEMPTED_TO_CONNECT": "Attempting to Contact",
    "Attempted to contact": "Attempting to Contact",
    "CONNECTED": "Contacted",
    "IN_PROGRESS": "Contacted",
    "OPEN_DEAL": "Qualified",
    "UNQUALIFIED": "Not a Lead",
    "BAD_TIMING": "Deferred",
}

DEFAULT_GRADE: Final[Mapping[str, str | None]] = {
    # Salesforce's standard Lead Rating picklist.
    "Hot": "A",
    "Warm": "B",
    "Cold": "C",
}

# Activities come from the rule tables of leadsla.core.crm_activity (docs/crm.md); a
# mapping's ``activity:`` entries are rules laid before them (see ``activity_rules``).

DEFAULT_FIELDS: Final[Mapping[str, str | None]] = {
    # Salesforce Lead columns (Data Loader API names and report labels) and the Field
    # values of LeadHistory ("Owner" there, "OwnerId" on the Lead).
    "Status": "status",
    "Lead Status": "status",  # also HubSpot's export label of hs_lead_status
    "OwnerId": "owner",
    "Owner": "owner",
    "Lead Owner": "owner",
    "Rating": "grade",
    "LeadSource": "source",
    "Lead Source": "source",
    "Industry": "industry",
    "Country": "country",
    # HubSpot contact properties: export labels and internal names.
    "hs_lead_status": "status",
    "Contact owner": "owner",
    "hubspot_owner_id": "owner",
    "HubSpot Score": "score",
    "hubspotscore": "score",
    "Lifecycle Stage": "lifecycle_stage",
    "lifecyclestage": "lifecycle_stage",
    "Country/Region": "country",
    "Original Source": "source",
    "hs_analytics_source": "source",
}

# Targets whose values go through a value map; any other target takes values as written.
VALUE_MAPS: Final = ("status", "grade", "owner")


def fold(text: str) -> str:
    """The form keys and column names are compared in: case, blanks and ``_`` ignored."""
    return " ".join(text.replace("_", " ").split()).casefold()


# -- the mapping -------------------------------------------------------------------------

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _activity_value(value: str) -> str:
    kind, colon, outcome = value.partition(":")
    if colon and kind in ACTIVITY_KINDS and outcome in ACTIVITY_OUTCOMES:
        return value
    kinds = ", ".join(sorted(ACTIVITY_KINDS))
    outcomes = ", ".join(sorted(ACTIVITY_OUTCOMES))
    raise ValueError(
        f"{json.dumps(value)} is not <kind>:<outcome> (kinds {kinds}; outcomes {outcomes})"
    )


def _zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {json.dumps(value)}; expected an IANA name such as "
            "America/New_York or Europe/London"
        ) from None
    return value


def _date_format(value: str) -> str:
    if "%" not in value:
        raise ValueError(
            f"{json.dumps(value)} has no strftime directive; expected a pattern such as "
            '"%m/%d/%Y %I:%M %p"'
        )
    sample = datetime(2026, 3, 2, 9, 5)
    try:
        datetime.strptime(sample.strftime(value), value)
    except ValueError as exc:
        raise ValueError(f"{json.dumps(value)} cannot be read back: {exc}") from None
    return value


_ValueMap = dict[_Text, _Text | None]


class ImportMapping(BaseModel):
    """How one CRM's export becomes native events (see the module docstring)."""

    # Numbers become text: HubSpot owner ids are numbers in YAML unless quoted.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    status: _ValueMap = {}
    grade: _ValueMap = {}  # also accepted as ``rating``
    owner: _ValueMap = {}
    activity: dict[_Text, Annotated[_Text, AfterValidator(_activity_value)] | None] = {}
    fields: _ValueMap = {}
    timezone: Annotated[_Text, AfterValidator(_zone_name)] | None = None
    date_format: Annotated[str, AfterValidator(_date_format)] | None = None
    strict: bool = False
    converted_status: _Text | None = "Qualified"
    defaults: bool = True

    _maps: dict[str, dict[str, str | None]] = PrivateAttr(default_factory=dict)
    _zone: ZoneInfo | None = PrivateAttr(default=None)
    _crm: CrmSettings = PrivateAttr(default_factory=CrmSettings)
    _rep_names: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _rating_is_grade(cls, data: Any) -> Any:
        # Salesforce calls it Rating, we call it grade; both spellings are natural.
        if isinstance(data, Mapping) and "rating" in data:
            if "grade" in data:
                raise PydanticCustomError(
                    "rating_and_grade", "give grade or rating, not both: they are one map"
                )
            data = {("grade" if key == "rating" else key): value for key, value in data.items()}
        return data

    @field_validator("status", "grade", "owner", "activity", "fields")
    @classmethod
    def _no_folded_twins(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        seen: dict[str, tuple[str, str | None]] = {}
        for key, target in value.items():
            first = seen.setdefault(fold(key), (key, target))
            if first[0] != key and first[1] != target:
                raise PydanticCustomError(
                    "folded_twin",
                    "{key} and {first} are one key (case, blanks and _ are ignored) but "
                    "map to different values",
                    {"key": json.dumps(key), "first": json.dumps(first[0]), "raw_key": key},
                )
        return value

    def model_post_init(self, context: Any, /) -> None:
        defaults = {
            "status": DEFAULT_STATUS,
            "grade": DEFAULT_GRADE,
            "owner": {},
            "activity": {},
            "fields": DEFAULT_FIELDS,
        }
        for name, builtin in defaults.items():
            merged = {fold(key): value for key, value in builtin.items()} if self.defaults else {}
            merged.update((fold(key), value) for key, value in getattr(self, name).items())
            self._maps[name] = merged
        self._zone = ZoneInfo(self.timezone) if self.timezone else None

    def with_rules(self, rules: Rulebook) -> ImportMapping:
        """This mapping with the config's CRM settings: reps' CRM ids and names (for owner
        values the mapping does not list) and ``connectors.<crm>.activity_map``."""
        copy = self.model_copy()
        copy._maps = self._maps
        copy._zone = self._zone
        copy._crm = rules.crm
        names: dict[str, str | None] = {}
        for rep in rules.reps.values():
            key = fold(rep.name)
            # A name two reps share names neither.
            names[key] = None if key in names and names[key] != rep.id else rep.id
        copy._rep_names = {key: rep for key, rep in names.items() if rep is not None}
        return copy

    @property
    def crm(self) -> CrmSettings:
        return self._crm

    def activity_rules(self, crm: Crm) -> tuple[ActivityRule, ...]:
        """The rules deciding a CRM activity record, first match wins: the config's
        ``connectors.<crm>.activity_map``, then this mapping's ``activity:`` entries (on a
        Salesforce task: as CallDisposition, then TaskSubtype, then Type; on HubSpot: as
        the disposition, then the type), then the built-in table unless ``defaults: false``.
        """
        fields = (
            ("CallDisposition", "TaskSubtype", "Type")
            if crm == "salesforce"
            else (
                "disposition",
                "type",
            )
        )
        entries = tuple(
            ActivityRule.of({name: key}, value, "mapped to null by the mapping", "the mapping")
            for name in fields
            for key, value in self.activity.items()
        )
        everything = self._crm.activity_rules(crm)
        user = self._crm.salesforce_rules if crm == "salesforce" else self._crm.hubspot_rules
        builtin = everything[len(user) :] if self.defaults else ()
        return (*user, *entries, *builtin)

    # -- lookups used by the connectors ----------------------------------------------------

    def target(self, column: str) -> str | None:
        """Our field for a source column, history field or property; ``None`` to skip it."""
        return self._maps["fields"].get(fold(column))

    def translate(self, target: str, value: str, *also: str) -> str | None:
        """``value`` of a source field as our ``target`` field holds it; ``None`` drops it.

        Status, grade and owner values go through their maps and pass unchanged when
        unmapped (the importer checks statuses and grades against the config). ``also``
        are other spellings of the same value to look up (a Salesforce id's 15-character
        form); the first spelling is what passes through.
        """
        if target not in VALUE_MAPS:
            return value
        table = self._maps[target]
        for spelling in (value, *also):
            key = fold(spelling)
            if key in table:
                return table[key]
        if target == "owner":
            return self._config_owner(value)
        return value

    def _config_owner(self, value: str) -> str:
        """An owner the mapping does not list: a rep by CRM user id or by name, else the
        value as written (kept, and listed by ``leadsla doctor``)."""
        for crm in CRMS:
            rep = self._crm.rep_for(crm, value)
            if rep is not None:
                return rep
        return self._rep_names.get(fold(value), value)

    def instant(self, text: str, *, epoch_millis: bool = False) -> int:
        """Epoch microseconds of a timestamp as an export writes it.

        Instants with an offset or ``Z`` are read as :func:`parse_instant` reads them.
        Local times (``2026-03-02 09:15``, or whatever ``date_format`` describes) are
        read in ``timezone`` and refused without one. ``epoch_millis`` also takes
        integers of milliseconds since 1970, as HubSpot's APIs write them.
        """
        stripped = text.strip()
        if not stripped:
            raise InstantError(f"empty: every event needs {INSTANT_FORMAT}")
        # Since 2001 an epoch in milliseconds has 13 digits; short numbers are not instants.
        if epoch_millis and stripped.isdigit() and len(stripped) >= 11:
            return int(stripped) * 1000
        try:
            return parse_instant(stripped)
        except InstantError as exc:
            refusal = exc
        local = _naive_iso(stripped)
        if local is None and self.date_format is not None:
            try:
                local = datetime.strptime(stripped, self.date_format)
            except ValueError:
                raise InstantError(
                    f"{_shown(stripped)} is neither {INSTANT_FORMAT} nor in the mapping's "
                    f"date_format {json.dumps(self.date_format)}"
                ) from None
        if local is None:
            hint = ""
            if re.fullmatch(r"\d{1,2}[/.]\d{1,2}[/.]\d{2,4}.*", stripped):
                hint = ' (for dates like this one, set date_format: such as "%m/%d/%Y %H:%M")'
            raise InstantError(f"{refusal}{hint}") from None
        if local.tzinfo is None:
            if self._zone is None:
                raise InstantError(
                    f"{_shown(stripped)} has no UTC offset: set timezone: in the mapping to "
                    "the zone the export was written in (such as America/New_York)"
                )
            # fold=0: a time repeated when clocks go back is read as the first of the two.
            local = local.replace(tzinfo=self._zone)
        try:
            delta = local.astimezone(UTC) - _EPOCH
        except (OverflowError, ValueError):  # year 1 east of UTC is before year 1 in UTC
            raise InstantError(range_problem(_shown(stripped))) from None
        return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE = re.compile(r"\d{4}-\d\d-\d\d(?:[Tt ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,6})?)?)?", re.ASCII)


def _naive_iso(text: str) -> datetime | None:
    """A local ISO date or date-time (no offset), or ``None`` if ``text`` is not one."""
    if _NAIVE.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text.replace(",", ".").replace("t", "T"))
    except ValueError:
        return None  # a range error (month 13): the caller words the refusal


def _shown(text: str, limit: int = 60) -> str:
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


# -- loading ------------------------------------------------------------------------------


class MappingError(ConfigError):
    """A mapping that cannot be used; ``str()`` gives one ``source:line: key: problem`` each."""


Path_ = tuple[str, ...]


def load_mapping(text: str, source: str = "mapping.yaml") -> ImportMapping:
    """Validate mapping YAML: the mapping itself, or a document with a ``mapping:`` section.

    An empty document, or an empty section, is the built-in defaults.
    """
    try:
        document = read_document(text, source)
    except ConfigError as exc:
        raise MappingError(source, exc.problems) from None
    data = document.data
    prefix: Path_ = ()
    if isinstance(data, dict) and "mapping" in data:
        data, prefix = data["mapping"], ("mapping",)
    if document.duplicates:
        raise MappingError(source, document.duplicates)
    return _validate(data, source=source, lines=document.lines, prefix=prefix)


def mapping_from_dict(
    data: Mapping[str, Any] | None,
    *,
    source: str = "mapping",
    lines: Lines | None = None,
    prefix: Path_ = (),
) -> ImportMapping:
    """Validate an already-parsed ``mapping:`` section.

    ``lines`` gives the line of each key path (as strings, from the document root) when
    the caller tracked them; ``prefix`` is the section's own path, shown in messages.
    """
    return _validate(data, source=source, lines=lines or {}, prefix=prefix)


def _validate(data: Any, *, source: str, lines: Lines, prefix: Path_) -> ImportMapping:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        where = line_at(lines, prefix) if prefix else 1
        kind = "list" if isinstance(data, list) else type(data).__name__
        message = f"expected a mapping of keys such as status, owner and fields, got a {kind}"
        raise MappingError(source, [ConfigProblem(format_path(prefix), where, message)])
    try:
        return ImportMapping.model_validate(data)
    except ValidationError as exc:
        used_rating = "rating" in data
        problems = [_problem(error, prefix, lines, used_rating) for error in exc.errors()]
        raise MappingError(source, problems) from None


# The keys a mapping may have: for "did you mean", and as "unknown key" messages list them.
_KEYS = (*ImportMapping.model_fields, "rating")
_KEYS_SHOWN = ", ".join(
    "grade (or rating)" if name == "grade" else name for name in ImportMapping.model_fields
)


def _problem(
    error: Mapping[str, Any], prefix: Path_, lines: Lines, used_rating: bool
) -> ConfigProblem:
    kind: str = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    # A mapping is two levels deep: a key of ours, then a source value under it. The rest
    # of pydantic's location ("[key]", "function-after[...]", "str") is its own bookkeeping.
    loc = list(error["loc"])
    path: list[str] = []
    if loc:
        name = str(loc[0])
        path.append("rating" if name == "grade" and used_rating else name)
    if kind == "folded_twin":
        path.append(str(ctx["raw_key"]))
    elif len(loc) > 1:
        # A bad key is named by its value: pydantic's location spells True as 1.
        path.append(str(value if loc[-1] == "[key]" else loc[1]))
    if kind == "rating_and_grade":
        path = ["grade"]
        message = str(error["msg"])
    elif kind == "folded_twin":
        message = str(error["msg"])
    elif kind == "extra_forbidden":
        key = path[-1] if path else "?"
        message = f'unknown key "{key}"{_did_you_mean(key, _KEYS)}; expected one of: {_KEYS_SHOWN}'
    elif kind == "string_type" and isinstance(value, bool):
        message = (
            f"expected text, got {str(value).lower()} (YAML reads yes/no/true/false/on/off "
            "as booleans: quote it)"
        )
    elif kind in ("string_type", "string_too_short"):
        message = f"expected text, got {_show(value)}"
    elif kind == "dict_type":
        message = f"expected a mapping of source values to ours, got {_show(value)}"
    elif kind in ("bool_type", "bool_parsing"):
        message = f"expected true or false, got {_show(value)}"
    elif kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        message = str(error["msg"])
    full = (*prefix, *path)
    return ConfigProblem(format_path(full), line_at(lines, full), message)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


# -- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConvertedRow:
    """One native event made from the source row that starts on ``line``.

    ``key`` names the event's origin stably (the export's own row id where it has one,
    else a digest of the row's content), so a second import of the same file can be
    recognised and skipped.
    """

    line: int
    lead_id: str
    at: int  # epoch microseconds
    field: str
    value: str | None  # None clears the field
    key: str
    # For a change row of a history export: the value before it (translated), which is
    # what a snapshot export's creation-time value should have been.
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A source row that made no events, and why."""

    line: int
    raw: list[str]
    reason: str


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A source row that is fine but makes no event, and why (an open task, a to-do, a
    contact's task): counted in the import's summary, not an error."""

    line: int
    reason: str


Converted = ConvertedRow | RejectedRow | SkippedRow


class ConnectorError(ValueError):
    """An export that cannot be converted at all: no header, or columns missing."""


class RowProblem(ValueError):
    """Why one row is rejected; the connector turns it into a :class:`RejectedRow`."""


class RowSkipped(Exception):
    """Why one good row makes no event; the connector turns it into a :class:`SkippedRow`."""


def digest(*parts: object) -> str:
    """A short stable digest of a row's content, for exports without row ids."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class Columns:
    """An export's header, looked up by any of a column's spellings."""

    def __init__(self, header: Sequence[str]) -> None:
        # Excel and HubSpot write a byte order mark before the first column name.
        self.names = [name.lstrip("\ufeff").strip() for name in header]
        self._index: dict[str, int] = {}
        for position, name in enumerate(self.names):
            self._index.setdefault(fold(name), position)

    def __len__(self) -> int:
        return len(self.names)

    def find(self, *spellings: str) -> int | None:
        for spelling in spellings:
            position = self._index.get(fold(spelling))
            if position is not None:
                return position
        return None

    def has(self, *spellings: str) -> bool:
        return self.find(*spellings) is not None


@dataclass(frozen=True, slots=True)
class Column:
    """One column a connector reads: its spellings, and whether it must be there."""

    spellings: tuple[str, ...]
    required: bool = True

    @classmethod
    def of(cls, *spellings: str, required: bool = True) -> Column:
        return cls(spellings, required)

    @property
    def name(self) -> str:
        return self.spellings[0]


class CsvSource:
    """An export's CSV rows with the line each starts on; the header is read at once."""

    def __init__(self, lines: Iterable[str], source: str) -> None:
        self.source = source
        self._reader = csv.reader(lines)
        header: list[str] | None = None
        try:
            for row in self._reader:
                if any(cell.strip() for cell in row):
                    header = row
                    break
        except csv.Error as exc:
            raise ConnectorError(f"{source}: the header cannot be read: {exc}") from None
        if header is None:
            raise ConnectorError(f"{source}: the file is empty: expected a header row")
        self.header = header
        self.columns = Columns(header)

    def rows(self) -> Iterator[tuple[int, list[str]] | RejectedRow]:
        """``(line, fields)`` per non-blank row, or a rejection where CSV itself fails."""
        while True:
            start = self._reader.line_num + 1
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RejectedRow(start, [], f"unreadable CSV: {exc}")
                continue
            if any(cell.strip() for cell in row):
                yield start, row


RowConverter = Callable[[int, list[str]], list[ConvertedRow]]


class Connector(ABC):
    """One export format: recognise its header, and convert its rows to events."""

    name: ClassVar[str]
    expects: ClassVar[str]  # the columns it needs, for messages

    @abstractmethod
    def detect(self, header: Sequence[str]) -> bool:
        """Whether ``header`` (an export's first row) is this format's."""

    @abstractmethod
    def _bind(self, columns: Columns, mapping: ImportMapping, source: str) -> RowConverter:
        """A converter of one row (its line and fields) to its events.

        Raises :class:`ConnectorError` when the header lacks columns; the converter
        raises :class:`RowProblem` for a row that cannot be converted.
        """

    def convert(
        self, lines: Iterable[str], mapping: ImportMapping, *, source: str = "export.csv"
    ) -> Iterator[Converted]:
        """Events of the export's rows, in file order, and the rows that made none.

        The header is checked before this returns (:class:`ConnectorError`); rows are
        read as the result is iterated. A row makes all of its events or is rejected
        whole. Rows that are not about leads (a contact's task, a to-do) make nothing.
        """
        return self.convert_source(CsvSource(lines, source), mapping)

    def convert_source(self, export: CsvSource, mapping: ImportMapping) -> Iterator[Converted]:
        """:meth:`convert` for an export whose header has already been read."""
        return self._run(export, self._bind(export.columns, mapping, export.source))

    def _run(self, export: CsvSource, convert_row: RowConverter) -> Iterator[Converted]:
        width = len(export.columns)
        for item in export.rows():
            if isinstance(item, RejectedRow):
                yield item
                continue
            line, row = item
            if len(row) != width:
                stray = self.stray_row(row)
                if stray is not None:
                    yield SkippedRow(line, stray)
                else:
                    yield RejectedRow(
                        line, row, f"has {len(row)} fields but the header has {width}"
                    )
                continue
            try:
                events = convert_row(line, row)
                for event in events:
                    _check_storable(event)
            except RowSkipped as skipped:
                yield SkippedRow(line, str(skipped))
                continue
            except RowProblem as problem:
                yield RejectedRow(line, row, str(problem))
                continue
            yield from events

    def stray_row(self, row: list[str]) -> str | None:
        """Why a row of another width than the header is no data row (a report's footer),
        or ``None``: it is a broken row."""
        return None

    @staticmethod
    def positions(
        columns: Columns, wanted: Mapping[str, Column], what: str, source: str
    ) -> dict[str, int | None]:
        """Where each wanted column is; all missing required ones are named in one error."""
        found = {role: columns.find(*column.spellings) for role, column in wanted.items()}
        missing = [
            " or ".join(column.spellings)
            for role, column in wanted.items()
            if column.required and found[role] is None
        ]
        if missing:
            raise ConnectorError(
                f"{source}: not a {what} export: missing column {'; '.join(missing)} "
                f"(the header has {', '.join(columns.names) or 'no names'})"
            )
        return found


def _check_storable(event: ConvertedRow) -> None:
    """Refuse an event the database could not store (:mod:`leadsla.core.limits`); its
    instant was checked where it was read, so this is about texts."""
    if not instant_in_range(event.at):
        raise RowProblem(f"at: {range_problem(f'{event.at} µs since 1970')}")
    found = event_problem(event.lead_id, event.field, event.value)
    if found is not None:
        column, problem = found
        raise RowProblem(f"{column}: {problem}")
    key_problem = text_problem(event.key, MAX_KEY)
    if key_problem is not None:
        raise RowProblem(f"the event's key: {key_problem}")
    if event.previous is not None:
        # Reconciling a snapshot with history may store the value before a change.
        found = event_problem(event.lead_id, event.field, event.previous)
        if found is not None:
            raise RowProblem(f"the value before the change: {found[1]}")


def cell(row: list[str], position: int | None) -> str:
    """The stripped text of a column that may be absent."""
    return row[position].strip() if position is not None else ""


def instant_of(
    mapping: ImportMapping, column: str, text: str, *, epoch_millis: bool = False
) -> int:
    """:meth:`ImportMapping.instant`, with a refusal worded as the row's problem."""
    try:
        at = mapping.instant(text, epoch_millis=epoch_millis)
    except InstantError as exc:
        raise RowProblem(f"{column}: {exc}") from None
    if not instant_in_range(at):
        raise RowProblem(f"{column}: {range_problem(_shown(text.strip()))}")
    return at


def snapshot_targets(
    columns: Columns, mapping: ImportMapping, skip: Iterable[int]
) -> list[tuple[int, str, str]]:
    """``(position, column, our field)`` of each column a record export maps, in order."""
    skipped = set(skip)
    wanted: list[tuple[int, str, str]] = []
    for position, name in enumerate(columns.names):
        target = mapping.target(name) if position not in skipped else None
        if target is not None:
            wanted.append((position, name, target))
    return wanted


def snapshot_events(
    line: int,
    lead: str,
    at: int,
    row: list[str],
    targets: Sequence[tuple[int, str, str]],
    mapping: ImportMapping,
    key: str,
    owner_spellings: Callable[[str], tuple[str, ...]] = lambda value: (value,),
) -> list[ConvertedRow]:
    """The events of one record of a record export (a Lead, a contact), all at ``at``.

    Empty cells make no event: a record export says what a lead has, not what it lost.
    When two columns map to one field, the first non-empty one counts. Keys are the
    record's key and our field, so re-importing the record is recognised.
    """
    events: list[ConvertedRow] = []
    done: set[str] = set()
    for position, _column, target in targets:
        text = row[position].strip()
        if not text or target in done:
            continue
        done.add(target)
        spellings = owner_spellings(text) if target == "owner" else (text,)
        value = mapping.translate(target, *spellings)
        if value is not None:
            events.append(ConvertedRow(line, lead, at, target, value, f"{key}:{target}"))
    return events


def connector_among(connectors: Sequence[Connector], header: Sequence[str]) -> Connector | None:
    """The first of ``connectors`` that recognises ``header``."""
    return next((connector for connector in connectors if connector.detect(header)), None)


def convert_export(
    connectors: Sequence[Connector],
    vendor: str,
    lines: Iterable[str],
    mapping: ImportMapping,
    source: str,
) -> Iterator[Converted]:
    """Events of an export of one of a vendor's formats, told apart by its header."""
    export = CsvSource(lines, source)
    connector = connector_among(connectors, export.header)
    if connector is None:
        expected = "; ".join(f"{c.name}: {c.expects}" for c in connectors)
        raise ConnectorError(
            f"{source}: not a {vendor} export this tool reads (header "
            f"{', '.join(export.columns.names)}); expected {expected}"
        )
    return connector.convert_source(export, mapping)
