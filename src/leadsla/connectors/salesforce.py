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
from collections.abc import Iterable, Iterator, Sequence

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
    cell,
    connector_among,
    convert_export,
    digest,
    instant_of,
    snapshot_events,
    snapshot_targets,
)

_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", re.ASCII)
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
LEAD_PREFIX = "00Q"
# Users (005) and queues (00G) can own leads; values of other shapes are names.
_OWNER_ID = re.compile(r"(?:005|00G)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", re.ASCII)


def id18(record_id: str) -> str:
    """The 18-character form of a Salesforce record id; other texts are returned as given.

    The three added characters encode which of the first 15 are upper case, which
    makes the id usable where case is ignored (Excel, most databases).
    """
    if len(record_id) != 15 or _ID.fullmatch(record_id) is None:
        return record_id
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << k for k, char in enumerate(record_id[start : start + 5]) if char.isupper())
        suffix += _CHECKSUM[bits]
    return record_id + suffix


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
            and not columns.has("LeadId", "WhoId", "Field")
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
    "disposition": Column.of("CallDisposition", required=False),
    "subtype": Column.of("TaskSubtype", required=False),
    "type": Column.of("Type", required=False),
    "status": Column.of("Status", required=False),
    "closed": Column.of("IsClosed", required=False),
}
_TIMES = ("completed", "created", "date")
_KINDS = ("disposition", "subtype", "type")


class TaskExport(Connector):
    """A Task export: each completed call, email, meeting or text to a lead is an activity."""

    name = "salesforce-task"
    expects = (
        "WhoId, a time (CompletedDateTime, CreatedDate or ActivityDate) and a kind "
        "(TaskSubtype, Type or CallDisposition)"
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
        for roles, what in ((_TIMES, "time"), (_KINDS, "kind")):
            if all(at[role] is None for role in roles):
                names = " or ".join(_TASK_COLUMNS[role].name for role in roles)
                raise ConnectorError(
                    f"{source}: not a Salesforce Task export: no {what} column ({names})"
                )
        who_at = at["who"]
        assert who_at is not None
        times = [(columns.names[p], p) for role in _TIMES if (p := at[role]) is not None]

        def convert(line: int, row: list[str]) -> list[ConvertedRow]:
            closed = cell(row, at["closed"]).casefold()
            status = cell(row, at["status"]).casefold()
            if (closed and closed not in ("true", "1")) or (
                not closed and status and status != "completed"
            ):
                return []  # an open task has not happened yet
            who = id18(row[who_at].strip())
            if not who:
                raise RowProblem(f"{columns.names[who_at]}: empty: the task names no lead")
            if _is_record_id(who) and not who.startswith(LEAD_PREFIX):
                return []  # a contact's or another record's task
            when_text = next(((name, text) for name, p in times if (text := row[p].strip())), None)
            if when_text is None:
                shown = ", ".join(name for name, _ in times)
                raise RowProblem(f"{shown}: empty: the task has no time")
            when = instant_of(mapping, when_text[0], when_text[1])
            activity = _activity(row, at, columns, mapping)
            if activity is None:
                return []
            row_id = id18(cell(row, at["id"]))
            key = f"sf:Task:{row_id}" if row_id else f"sf:Task:~{digest(who, when, activity)}"
            return [ConvertedRow(line, who, when, "activity", activity, key)]

        return convert


def _activity(
    row: list[str], at: dict[str, int | None], columns: Columns, mapping: ImportMapping
) -> str | None:
    """The task's ``kind:outcome``: its disposition's, else its subtype's, else its type's.

    ``None`` when the task is not an attempt (mapped to null, or unmapped and not strict).
    """
    unknown: list[tuple[str, str]] = []
    for role in _KINDS:
        position = at[role]
        text = cell(row, position)
        if position is None or not text:
            continue
        known, activity = mapping.activity_for(text)
        if activity is not None:
            return activity
        if known:
            if role == "disposition":
                return None  # a disposition mapped to null drops the call
            continue  # a generic subtype ("Task") may hide a specific Type ("Call")
        unknown.append((columns.names[position], text))
        if role == "disposition" and mapping.strict:
            break  # a call's outcome must not be guessed from its type when strict
    if unknown and mapping.strict:
        column, text = unknown[0]
        raise RowProblem(
            f'{column}: "{text}" is not in the mapping\'s activity: map it to a '
            f"<kind>:<outcome> such as call:no_answer, or to null to skip such tasks"
        )
    return None


LEAD = LeadExport()
LEAD_HISTORY = LeadHistoryExport()
TASK = TaskExport()
CONNECTORS: tuple[Connector, ...] = (LEAD_HISTORY, TASK, LEAD)


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
