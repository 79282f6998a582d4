"""HubSpot contact exports, and contact property history, as native events.

What the shapes are based on:

- The contacts export (CRM › Contacts › Export, or the exports API) names columns by
  property label by default — ``Record ID``, ``Create Date``, ``Lifecycle Stage``,
  ``Lead Status``, ``Contact owner``, ``HubSpot Score``, ``Industry``,
  ``Country/Region`` — or, when internal names are asked for, ``hs_object_id``,
  ``createdate``, ``lifecyclestage``, ``hs_lead_status``, ``hubspot_owner_id``,
  ``hubspotscore``, ... Both are accepted. HubSpot's exports API documents the
  label/internal-name choice; ``hs_lead_status`` values are NEW, OPEN, IN_PROGRESS,
  OPEN_DEAL, UNQUALIFIED, ATTEMPTED_TO_CONNECT, CONNECTED, BAD_TIMING (labels fold
  onto them in the mapping). ``Contact owner`` holds the owner's name (or email),
  and ``hubspot_owner_id`` the owner's numeric id: map either under ``owner:``.
  The export writes dates as local times without an offset (``2026-03-02 09:15``),
  in the exporting account's zone: set the mapping's ``timezone`` to read them.
- Property history has one row per change: the contact, the property, the value it
  took, and when. The columns follow HubSpot's documented history entries
  (``propertiesWithHistory`` in the CRM v3 API: ``value``, ``timestamp``,
  ``sourceType``, ``sourceId``, ``sourceLabel``, ``updatedByUserId``) with the
  record's id and the property's internal name beside them: ``hs_object_id`` (or
  ``Record ID``, ``objectId``, ``contactId``, ``vid``), ``property``, ``value``,
  ``timestamp``. The legacy v1 flattening (``vid``, ``property``, ``value``,
  ``source-type``, ``timestamp`` in epoch milliseconds, as the Airbyte HubSpot
  connector writes it) is read too. HubSpot's in-app "export property history"
  file could not be checked column by column; its columns are matched by these names.

A contact row holds the contact's values as of the export, placed at its create date;
the history, when also imported, says when they changed. The first entry of a
property's history is the value it was created with, so history alone is complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    connector_among,
    convert_export,
    digest,
    instant_of,
    snapshot_events,
    snapshot_targets,
)
from leadsla.core.crm_activity import Decision, decide

_RECORD_ID = Column.of("Record ID", "hs_object_id", "Contact ID")
_CREATE_DATE = Column.of("Create Date", "createdate")

_HISTORY_COLUMNS = {
    "id": Column.of("hs_object_id", "Record ID", "objectId", "contactId", "canonical-vid", "vid"),
    "property": Column.of("property", "propertyName", "Property name"),
    "value": Column.of("value"),
    "at": Column.of("timestamp"),
}


class ContactsExport(Connector):
    """A contacts export: each row is a contact's values, placed at its create date."""

    name = "hubspot-contacts"
    expects = "Record ID (or hs_object_id) and Create Date (or createdate)"

    def detect(self, header: Sequence[str]) -> bool:
        columns = Columns(header)
        return (
            columns.has(*_RECORD_ID.spellings)
            and columns.has(*_CREATE_DATE.spellings)
            and not columns.has(*_HISTORY_COLUMNS["property"].spellings)
        )

    def _bind(self, columns: Columns, mapping: ImportMapping, source: str) -> RowConverter:
        at = self.positions(
            columns, {"id": _RECORD_ID, "at": _CREATE_DATE}, "HubSpot contacts", source
        )
        id_at, created_at = at["id"], at["at"]
        assert id_at is not None and created_at is not None  # required columns
        targets = snapshot_targets(columns, mapping, (id_at, created_at))
        if not targets:
            raise ConnectorError(
                f"{source}: no column maps to a lead field (status, owner, score, ...): "
                f"the header has {', '.join(columns.names)}; map columns under fields:"
            )
        id_name, created_name = columns.names[id_at], columns.names[created_at]

        def convert(line: int, row: list[str]) -> list[ConvertedRow]:
            contact = row[id_at].strip()
            if not contact:
                raise RowProblem(f"{id_name}: empty: every row needs the contact's id")
            created = instant_of(mapping, created_name, row[created_at])
            return snapshot_events(
                line, contact, created, row, targets, mapping, f"hs:contact:{contact}"
            )

        return convert


class PropertyHistoryExport(Connector):
    """Contact property history: each row is one value a property took."""

    name = "hubspot-history"
    expects = "hs_object_id (or Record ID, objectId, vid), property, value and timestamp"

    def detect(self, header: Sequence[str]) -> bool:
        columns = Columns(header)
        return all(columns.has(*column.spellings) for column in _HISTORY_COLUMNS.values())

    def _bind(self, columns: Columns, mapping: ImportMapping, source: str) -> RowConverter:
        at = self.positions(columns, _HISTORY_COLUMNS, "HubSpot property history", source)
        id_at, property_at, value_at, when_at = at["id"], at["property"], at["value"], at["at"]
        assert id_at is not None and property_at is not None
        assert value_at is not None and when_at is not None
        when_name = columns.names[when_at]

        def convert(line: int, row: list[str]) -> list[ConvertedRow]:
            contact = row[id_at].strip()
            if not contact:
                raise RowProblem(f"{columns.names[id_at]}: empty: every row needs the contact's id")
            prop = row[property_at].strip()
            if not prop:
                raise RowProblem(f"{columns.names[property_at]}: empty: which property changed?")
            when = instant_of(mapping, when_name, row[when_at], epoch_millis=True)
            target = mapping.target(prop)
            if target is None:
                return []
            text = row[value_at].strip()
            # No row id in this shape: the change itself (who, what, when, to what) is the key.
            key = f"hs:history:{contact}:{prop}:{when}:{digest(text)}"
            if not text:
                return [ConvertedRow(line, contact, when, target, None, key)]
            value = mapping.translate(target, text)
            return [] if value is None else [ConvertedRow(line, contact, when, target, value, key)]

        return convert


# -- engagements ----------------------------------------------------------------------------

# CRM v3 object types of engagements → the engagement type the rules test (the legacy
# engagements API's names, which v3 emails keep in hs_email_direction).
_OBJECT_TYPES: Final[Mapping[str, str]] = {
    "calls": "CALL",
    "emails": "EMAIL",
    "meetings": "MEETING",
    "notes": "NOTE",
    "tasks": "TASK",
    "communications": "SMS",
}


def engagement_record(object_type: str, properties: Mapping[str, str | None]) -> dict[str, str]:
    """The fields the activity rules test (``type``, ``disposition``, ``status``,
    ``direction``, ``source``) of an engagement as the CRM v3 API returns it: its
    object type (``calls``, ``emails``, ... or a legacy type such as ``INCOMING_EMAIL``)
    and its properties (``hs_call_disposition``, ``hs_call_status``, ``hs_email_direction``,
    ``hs_email_status``, ``hs_meeting_outcome``, ``hs_communication_channel_type``,
    ``hs_engagement_source``)."""

    def prop(*names: str) -> str:
        for name in names:
            value = properties.get(name)
            if value is not None and str(value).strip():
                return str(value).strip()
        return ""

    kind = _OBJECT_TYPES.get(object_type.strip().casefold(), object_type.strip().upper())
    direction = prop("hs_email_direction", "hs_call_direction")
    if kind == "EMAIL" and direction in ("INCOMING_EMAIL", "FORWARDED_EMAIL"):
        kind = direction
    if kind == "SMS":
        kind = prop("hs_communication_channel_type") or kind
    return {
        "type": kind,
        "disposition": prop("hs_call_disposition"),
        "status": prop("hs_call_status", "hs_email_status", "hs_meeting_outcome"),
        "direction": direction,
        "source": prop("hs_engagement_source"),
    }


def engagement_activity(record: Mapping[str, str], mapping: ImportMapping) -> Decision:
    """What a HubSpot engagement is (its fields as :func:`engagement_record` gives them):
    an activity, or none and why; ``connectors.hubspot.activity_map`` first."""
    return decide(record, mapping.activity_rules("hubspot"))


CONTACTS = ContactsExport()
PROPERTY_HISTORY = PropertyHistoryExport()
CONNECTORS: tuple[Connector, ...] = (PROPERTY_HISTORY, CONTACTS)


def connector_for(header: Sequence[str]) -> Connector | None:
    """The HubSpot export whose header this is, if any."""
    return connector_among(CONNECTORS, header)


def detect(header: Sequence[str]) -> bool:
    """Whether ``header`` is that of a HubSpot contacts or property-history export."""
    return connector_for(header) is not None


def convert(
    lines: Iterable[str], mapping: ImportMapping, *, source: str = "hubspot.csv"
) -> Iterator[Converted]:
    """Events of a HubSpot export of either kind, told apart by its header."""
    return convert_export(CONNECTORS, "HubSpot", lines, mapping, source)
