"""Salesforce exports of ``Lead``, ``LeadHistory`` and ``Task`` as native events.

What the shapes are based on:

- Columns are the objects' API field names, as Data Loader (and the Bulk API) write
  them in the header (matched ignoring case: Data Loader upper-cases them), per
  Salesforce's object reference for Lead (``Id``, ``CreatedDate``, ``Status``,
  ``OwnerId``, ``Rating``, ``LeadSource``, ``Industry``, ``Country``, ...),
  LeadHistory (``Id``, ``LeadId``, ``CreatedDate``, ``Field``, ``DataType``,
  ``OldValue``, ``NewValue``) and Task (``Id``, ``WhoId``, ``ActivityDate``,
  ``CreatedDate``, ``CompletedDateTime``, ``Status``, ``IsClosed``, ``Type``,
  ``TaskSubtype`` — Task, Email, ListEmail, Cadence, Call, LinkedIn —, ``CallType``,
  ``CallDisposition``). Lead reports' labels ``Lead ID``, ``Created Date``,
  ``Lead Status``, ``Lead Owner`` and ``Lead Source`` are accepted too.
- Date-times are what Data Loader writes, ``2026-03-02T14:15:00.000+0000`` (UTC), or
  ``...Z``; Salesforce's Data Loader guide documents ``yyyy-MM-ddTHH:mm:ss.SSS+/-HHmm``.
  Report exports write local times in the user's locale: they are read only with the
  mapping's ``timezone`` (and ``date_format`` for non-ISO dates), never guessed.
- ``LeadHistory.Field`` holds the changed field's API name, or an event name:
  ``created``, ``leadConverted``, ``leadMerged``. A change of a lookup such as the
  owner is recorded twice, once with record ids and once with names (``DataType``
  ``EntityId`` and ``Text``); the id row is kept.

Record ids of 15 characters (reports) are widened to the 18-character form (Data
Loader) with Salesforce's checksum, so a lead's id is the same in every file.

A Lead row holds the lead's values as of the export, placed at ``CreatedDate``; the
lead's history, when also imported, says when they changed. Tasks are activities
when completed (``IsClosed``, else ``Status`` = Completed) and linked by ``WhoId``
to a lead (id prefix ``00Q``); others make no events. A task's instant is
``CompletedDateTime``, else ``CreatedDate``, else its ``ActivityDate`` (a date).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Final

from leadsla.connectors.mapping import (
    Column,
    Columns,
    Connector,
    ConnectorError,
    Converted,
    ConvertedRow,
    ImportMapping,
    RowConverter,
    RowProblem,
    RowSkipped,
    cell,
    connector_among,
    convert_export,
    digest,
    instant_of,
    snapshot_events,
    snapshot_targets,
)
from leadsla.core.crm_activity import SALESFORCE_FIELDS, Decision, decide
from leadsla.core.crm_identity import CrmSettings, id18

__all__ = [
    "CONNECTORS",
    "HISTORY_REPORT",
    "LEAD",
    "LEAD_HISTORY",
    "REPORT_DATE_FORMATS",
    "TASK",
    "connector_for",
    "convert",
    "detect",
    "id18",
    "report_instant",
    "task_activity",
]

_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", re.ASCII)
LEAD_PREFIX = "00Q"
# Users (005) and queues (00G) can own leads; values of other shapes are names.
_OWNER_ID = re.compile(r"(?:005|00G)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", re.ASCII)


def _owner_spellings(value: str) -> tuple[str, ...]:
    # Mappings may name a user by either id form; the 18-character one passes through.
    wide = id18(value)
    return (wide, wide[:15]) if wide != value or _ID.fullmatch(value) else (value,)


def _is_record_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


# -- Lead ------------------------------------------------------------------------------------

_LEAD_ID = Column.of("Id", "Lead ID")
_CREATED = Column.of("CreatedDate", "Created Date")


class LeadExport(Connector):
    """A Lead export: each row is a lead's values, placed at its ``CreatedDate``."""

    name = "salesforce-lead"
    expects = "Id and CreatedDate, with Status, OwnerId, Rating or other mapped columns"

    def detect(self, header: Sequence[str]) -> bool:
        columns = Columns(header)
        return (
            columns.has(*_LEAD_ID.spellings)
            and columns.has(*_CREATED.spellings)
            and not columns.has("LeadId", "WhoId", "Field", "Field / Event")
        )

    def _bind(self, columns: Columns, mapping: ImportMapping, source: str) -> RowConverter:
        at = self.positions(columns, {"id": _LEAD_ID, "at": _CREATED}, "Salesforce Lead", source)
        id_at, created_at = at["id"], at["at"]
        assert id_at is not None and created_at is not None  # required columns
        targets = snapshot_targets(columns, mapping, (id_at, created_at))
        if not targets:
            raise ConnectorError(
                f"{source}: no column maps to a lead field (status, owner, grade, ...): "
                f"the header has {', '.join(columns.names)}; map columns under fields:"
            )
        id_name, created_name = columns.names[id_at], columns.names[created_at]

        def convert(line: int, row: list[str]) -> list[ConvertedRow]:
            lead = id18(row[id_at].strip())
            if not lead:
                raise RowProblem(f"{id_name}: empty: every row needs the lead's id")
            created = instant_of(mapping, created_name, row[created_at])
            return snapshot_events(
                line, lead, created, row, targets, mapping, f"sf:Lead:{lead}", _owner_spellings
            )

        return convert


# -- LeadHistory -------------------------------------------------------------------------------

_HISTORY_COLUMNS = {
    "lead": Column.of("LeadId"),
    "field": Column.of("Field"),
    "new": Column.of("NewValue"),
    "at": Column.of("CreatedDate"),
    "id": Column.of("Id", required=False),
    "old": Column.of("OldValue", required=False),
    "type": Column.of("DataType", required=False),
}
_REQUIRED_HISTORY = ("lead", "field", "new", "at")


class LeadHistoryExport(Connector):
    """A LeadHistory export: each row is one change of a tracked field."""

    name = "salesforce-history"
    expects = "LeadId, Field, NewValue and CreatedDate (Id, OldValue, DataType optional)"

    def detect(self, header: Sequence[str]) -> bool:
        columns = Columns(header)
        return all(columns.has(*_HISTORY_COLUMNS[role].spellings) for role in _REQUIRED_HISTORY)

    def _bind(self, columns: Columns, mapping: ImportMapping, source: str) -> RowConverter:
        at = self.positions(columns, _HISTORY_COLUMNS, "Salesforce LeadHistory", source)
        lead_at, field_at, new_at, when_at = at["lead"], at["field"], at["new"], at["at"]
        assert lead_at is not None and field_at is not None and new_at is not None
        assert when_at is not None
        id_at, old_at, type_at = at["id"], at["old"], at["type"]
        when_name = columns.names[when_at]

        def convert(line: int, row: list[str]) -> list[ConvertedRow]:
            lead = id18(row[lead_at].strip())
            if not lead:
                raise RowProblem(f"{columns.names[lead_at]}: empty: every row needs the lead's id")
            when = instant_of(mapping, when_name, row[when_at])
            field = row[field_at].strip()
            new = row[new_at].strip()
            row_id = id18(cell(row, id_at))
            key = (
                f"sf:LeadHistory:{row_id}"
                if row_id
                else f"sf:LeadHistory:~{digest(lead, field, when, cell(row, old_at), new)}"
            )
            folded = field.casefold()
            if folded == "leadconverted":
                # Conversion may be recorded without a Status row: it is the qualified status.
                if mapping.converted_status is None:
                    return []
                return [ConvertedRow(line, lead, when, "status", mapping.converted_status, key)]
            # Other event names (created, leadMerged) carry no value and map to nothing.
            target = mapping.target(field)
            if target is None:
                return []
            if target == "owner":
                if type_at is not None:
                    by_id = row[type_at].strip().casefold() == "entityid"
                else:
                    old = cell(row, old_at)
                    by_id = any(_OWNER_ID.fullmatch(value) for value in (new, old) if value)
                if not by_id:
                    return []  # the names twin of the id row
            if not new:
                return [ConvertedRow(line, lead, when, target, None, key)]
            spellings = _owner_spellings(new) if target == "owner" else (new,)
            value = mapping.translate(target, *spellings)
            old = cell(row, old_at)
            before: str | None = None
            if old:
                before = mapping.translate(
                    target, *(_owner_spellings(old) if target == "owner" else (old,))
                )
            if value is None:
                return []
            return [ConvertedRow(line, lead, when, target, value, key, previous=before)]

        return convert


# -- Task ------------------------------------------------------------------------------------

_TASK_COLUMNS = {
    "who": Column.of("WhoId"),
    "id": Column.of("Id", required=False),
    "completed": Column.of("CompletedDateTime", required=False),
    "created": Column.of("CreatedDate", required=False),
    "date": Column.of("ActivityDate", required=False),
    **{name: Column.of(name, required=False) for name in SALESFORCE_FIELDS},
}
_TIMES = ("completed", "created", "date")
_KINDS = ("CallDisposition", "TaskSubtype", "Type")
# Whether a task is done: IsClosed, else Status, else CompletedDateTime (docs/crm.md).
_DONE = ("IsClosed", "Status", "completed")


class TaskExport(Connector):
    """A Task export: each completed call, email, meeting or text to a lead is an activity."""

    name = "salesforce-task"
    expects = (
        "WhoId, a time (CompletedDateTime, CreatedDate or ActivityDate), a kind "
        "(TaskSubtype, Type or CallDisposition) and whether it is done (IsClosed, Status "
        "or CompletedDateTime)"
    )

    def detect(self, header: Sequence[str]) -> bool:
        columns = Columns(header)
        return (
            columns.has("WhoId")
            and any(columns.has(*_TASK_COLUMNS[role].spellings) for role in _TIMES)
            and any(columns.has(*_TASK_COLUMNS[role].spellings) for role in _KINDS)
        )

    def _bind(self, columns: Columns, mapping: ImportMapping, source: str) -> RowConverter:
        at = self.positions(columns, _TASK_COLUMNS, "Salesforce Task", source)
        for roles, what in (
            (_TIMES, "time"),
            (_KINDS, "kind"),
            (_DONE, "column saying whether the task is done (an open to-do is no attempt)"),
        ):
            if all(at[role] is None for role in roles):
                names = " or ".join(_TASK_COLUMNS[role].name for role in roles)
                raise ConnectorError(
                    f"{source}: not a Salesforce Task export this tool can read: no {what} "
                    f"({names})"
                )
        who_at = at["who"]
        assert who_at is not None
        times = [(columns.names[p], p) for role in _TIMES if (p := at[role]) is not None]
        rules = mapping.activity_rules("salesforce")
        # An export holds few distinct combinations of the rules' fields: decide each once.
        decided: dict[tuple[str, ...], Decision] = {}

        def decision_of(record: Mapping[str, str]) -> Decision:
            key = tuple(record[name] for name in SALESFORCE_FIELDS)
            found = decided.get(key)
            if found is None:
                found = decided[key] = decide(record, rules)
            return found

        def convert(line: int, row: list[str]) -> list[ConvertedRow]:
            record = {name: cell(row, at[name]) for name in SALESFORCE_FIELDS}
            record["CompletedDateTime"] = cell(row, at["completed"])
            who = id18(row[who_at].strip())
            if not who:
                raise RowProblem(f"{columns.names[who_at]}: empty: the task names no lead")
            if _is_record_id(who) and not who.startswith(LEAD_PREFIX):
                raise RowSkipped("a task of a contact or another record, not of a lead")
            activity = _task_activity(record, decision_of, mapping)
            when_text = next(((name, text) for name, p in times if (text := row[p].strip())), None)
            if when_text is None:
                shown = ", ".join(name for name, _ in times)
                raise RowProblem(f"{shown}: empty: the task has no time")
            when = instant_of(mapping, when_text[0], when_text[1])
            row_id = id18(cell(row, at["id"]))
            key = f"sf:Task:{row_id}" if row_id else f"sf:Task:~{digest(who, when, activity)}"
            return [ConvertedRow(line, who, when, "activity", activity, key)]

        return convert


def task_activity(record: Mapping[str, str], mapping: ImportMapping) -> Decision:
    """What a Salesforce task is, from its fields by API name (``IsClosed`` as
    ``"true"``/``"false"``; a blank or absent field is ``""``): an activity, or none
    and why. The import and the sync both decide through this. An ``IsClosed`` that is
    neither true nor false raises :class:`RowProblem`."""
    open_reason = _open_reason(record, mapping.crm)
    if open_reason is not None:
        return Decision(None, open_reason, None)
    return decide(record, mapping.activity_rules("salesforce"))


def _open_reason(record: Mapping[str, str], crm: CrmSettings) -> str | None:
    """Why the task is not done yet, or ``None`` when it is."""
    closed = record.get("IsClosed", "").strip().casefold()
    if closed in ("true", "1"):
        return None
    if closed in ("false", "0"):
        return "an open task (IsClosed false) is no attempt yet"
    if closed:
        raise RowProblem(f'IsClosed: "{record["IsClosed"].strip()}" is neither true nor false')
    status = record.get("Status", "").strip()
    if status:
        if crm.task_closed(status):
            return None
        return (
            f'an open task (Status "{status}") is no attempt yet; a status that closes '
            "tasks goes in connectors.salesforce.closed_statuses"
        )
    if record.get("CompletedDateTime", "").strip():
        return None  # Salesforce stamps CompletedDateTime when a task closes
    return "neither IsClosed, Status nor CompletedDateTime says the task is done"


def _task_activity(
    record: Mapping[str, str],
    decision_of: Callable[[Mapping[str, str]], Decision],
    mapping: ImportMapping,
) -> str:
    """The task's ``kind:outcome``; :class:`RowSkipped` when it is none (and why)."""
    open_reason = _open_reason(record, mapping.crm)
    if open_reason is not None:
        raise RowSkipped(open_reason)
    decision = decision_of(record)
    disposition = record.get("CallDisposition", "")
    if mapping.strict and (
        decision.rule is None
        or (disposition and all(name != "CallDisposition" for name, _ in decision.rule.when))
    ):
        # Strict: a call's outcome is never guessed from its type.
        column, text = (
            ("CallDisposition", disposition)
            if disposition
            else next(((k, record[k]) for k in _KINDS if record.get(k)), ("TaskSubtype", ""))
        )
        raise RowProblem(
            f'{column}: "{text}" is not in the mapping\'s activity: map it to a '
            f"<kind>:<outcome> such as call:no_answer, or to null to skip such tasks"
        )
    if decision.activity is None:
        raise RowSkipped(decision.reason or "not an attempt")
    return decision.activity


# -- the Lead History report ---------------------------------------------------------------

# Date-time formats of report exports by the exporting user's locale (Setup › Personal
# Information › Locale). Salesforce writes them as that locale's short date and time; ICU
# locale formats add a comma after the date, which the reader drops.
REPORT_DATE_FORMATS: Final[Mapping[str, str]] = {
    "en_US": "%m/%d/%Y %I:%M %p",  # 3/2/2026 9:15 AM
    "en_CA": "%Y-%m-%d %I:%M %p",  # 2026-03-02 9:15 AM
    "en_GB": "%d/%m/%Y %H:%M",  # 02/03/2026 09:15
    "en_IE": "%d/%m/%Y %H:%M",
    "en_AU": "%d/%m/%Y %I:%M %p",  # 2/03/2026 9:15 AM
    "de_DE": "%d.%m.%Y %H:%M",  # 02.03.2026 09:15
    "fr_FR": "%d/%m/%Y %H:%M",
    "es_ES": "%d/%m/%Y %H:%M",
    "nl_NL": "%d-%m-%Y %H:%M",
    "ja_JP": "%Y/%m/%d %H:%M",  # 2026/03/02 9:15
}

_REPORT_COLUMNS = {
    "lead": Column.of("Lead ID", "Lead: Lead ID", "LeadId"),
    "field": Column.of("Field / Event", "Field/Event"),
    "old": Column.of("Old Value"),
    "new": Column.of("New Value"),
    "at": Column.of("Edit Date"),
}
# "Field / Event" names a field by its label, or one of these events.
_CREATED_EVENTS = frozenset({"created.", "created", "lead created."})
_CONVERTED_EVENTS = frozenset({"lead converted.", "lead converted", "converted", "leadconverted"})


def report_instant(mapping: ImportMapping, column: str, text: str) -> int:
    """An ``Edit Date`` in the exporting user's locale and time zone (the mapping's
    ``date_format`` and ``timezone``), ICU's comma and narrow spaces forgiven."""
    plain = " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())
    plain = re.sub(r"^([^,]*\d),\s*(\d)", r"\1 \2", plain)  # "3/2/2026, 9:15 AM"
    return instant_of(mapping, column, plain)


class LeadHistoryReport(Connector):
    """The Lead History *report* export (Reports › Lead History, Export › Details Only):
    each row one change, its field by label, its date in the user's locale and zone."""

    name = "salesforce-history-report"
    expects = 'Lead ID, "Field / Event", "Old Value", "New Value" and "Edit Date"'

    def detect(self, header: Sequence[str]) -> bool:
        columns = Columns(header)
        return all(columns.has(*_REPORT_COLUMNS[role].spellings) for role in ("field", "new", "at"))

    def stray_row(self, row: list[str]) -> str | None:
        # The export ends with a few one-cell lines: copyright, "Confidential Information",
        # "Generated By: ...", the org's name.
        return "the report's footer" if sum(1 for c in row if c.strip()) <= 1 else None

    def _bind(self, columns: Columns, mapping: ImportMapping, source: str) -> RowConverter:
        at = self.positions(columns, _REPORT_COLUMNS, "Salesforce Lead History report", source)
        if mapping.timezone is None or mapping.date_format is None:
            raise ConnectorError(
                f"{source}: a Lead History report writes Edit Date in the exporting user's "
                "locale and time zone: give them (leadsla import --zone America/New_York "
                "--locale en_US, or --date-format), as the user's Settings › Locale shows them"
            )
        lead_at, field_at, new_at, when_at = at["lead"], at["field"], at["new"], at["at"]
        old_at = at["old"]
        assert lead_at is not None and field_at is not None and new_at is not None
        assert when_at is not None
        when_name = columns.names[when_at]
        # One save of a lead changes several fields at one Edit Date: read each date once.
        instants: dict[str, int] = {}

        def convert(line: int, row: list[str]) -> list[ConvertedRow]:
            lead = id18(row[lead_at].strip())
            if not lead:
                raise RowProblem(f"{columns.names[lead_at]}: empty: every row needs the lead's id")
            text = row[when_at]
            when = instants.get(text)
            if when is None:
                when = instants[text] = report_instant(mapping, when_name, text)
            label = row[field_at].strip()
            new, old = row[new_at].strip(), cell(row, old_at)
            key = f"sf:LeadHistoryReport:{digest(lead, label, when, old, new)}"
            folded = label.casefold()
            if folded in _CONVERTED_EVENTS:
                if mapping.converted_status is None:
                    raise RowSkipped("conversion, and converted_status is null")
                return [ConvertedRow(line, lead, when, "status", mapping.converted_status, key)]
            if folded in _CREATED_EVENTS:
                raise RowSkipped("the lead's creation carries no value")
            target = mapping.target(label)
            if target is None:
                raise RowSkipped(f'field "{label}" maps to no lead field')
            if not new:
                return [ConvertedRow(line, lead, when, target, None, key)]
            spellings = _owner_spellings(new) if target == "owner" else (new,)
            value = mapping.translate(target, *spellings)
            if value is None:
                raise RowSkipped(f'"{new}" is mapped to null')
            before = None
            if old:
                before = mapping.translate(
                    target, *(_owner_spellings(old) if target == "owner" else (old,))
                )
            return [ConvertedRow(line, lead, when, target, value, key, previous=before)]

        return convert


LEAD = LeadExport()
LEAD_HISTORY = LeadHistoryExport()
TASK = TaskExport()
HISTORY_REPORT = LeadHistoryReport()
CONNECTORS: tuple[Connector, ...] = (HISTORY_REPORT, LEAD_HISTORY, TASK, LEAD)


def connector_for(header: Sequence[str]) -> Connector | None:
    """The Salesforce export whose header this is, if any."""
    return connector_among(CONNECTORS, header)


def detect(header: Sequence[str]) -> bool:
    """Whether ``header`` is that of a Salesforce Lead, LeadHistory or Task export."""
    return connector_for(header) is not None


def convert(
    lines: Iterable[str], mapping: ImportMapping, *, source: str = "salesforce.csv"
) -> Iterator[Converted]:
    """Events of a Salesforce export of any of the three kinds, told apart by its header."""
    return convert_export(CONNECTORS, "Salesforce", lines, mapping, source)
