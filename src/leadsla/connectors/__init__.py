"""CRM export connectors: the files RevOps people have, as native events (SPEC §3).

Each connector reads one export format from an iterable of text lines (a file
opened with ``newline=""``) and yields, in file order, a :class:`ConvertedRow` per
event, a :class:`RejectedRow` per row that could not be converted and a
:class:`SkippedRow` per good row that makes no event (an open task, a report's
footer), with its reason; a bad row never stops the rest of the file. How source
values become ours is an :class:`ImportMapping` (:func:`load_mapping` reads one from YAML).

Formats, by the names :func:`detect_format` gives them:

- ``native``: our own events CSV, read by :func:`leadsla.core.events.read_events`;
- ``salesforce-lead``, ``salesforce-history``, ``salesforce-task``: Salesforce Lead,
  LeadHistory and Task exports, and ``salesforce-history-report``, the Lead History
  report's export (:mod:`leadsla.connectors.salesforce`);
- ``hubspot-contacts``, ``hubspot-history``: HubSpot contacts and contact property
  history (:mod:`leadsla.connectors.hubspot`).

Nothing here opens files or reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from leadsla.connectors import hubspot, salesforce
from leadsla.connectors.mapping import (
    Connector,
    ConnectorError,
    Converted,
    ConvertedRow,
    CsvSource,
    ImportMapping,
    MappingError,
    RejectedRow,
    SkippedRow,
    load_mapping,
    mapping_from_dict,
)
from leadsla.core.events import EVENT_COLUMNS

__all__ = [
    "CONNECTORS",
    "FORMATS",
    "NATIVE",
    "Connector",
    "ConnectorError",
    "Converted",
    "ConvertedRow",
    "ImportMapping",
    "MappingError",
    "RejectedRow",
    "SkippedRow",
    "convert",
    "detect_format",
    "hubspot",
    "load_mapping",
    "mapping_from_dict",
    "salesforce",
]

NATIVE = "native"
# In the order headers are tried: the most specific shapes first.
CONNECTORS: dict[str, Connector] = {
    connector.name: connector for connector in (*salesforce.CONNECTORS, *hubspot.CONNECTORS)
}
FORMATS: tuple[str, ...] = (NATIVE, *CONNECTORS)


def detect_format(header: Sequence[str]) -> str:
    """The name of the format whose header this is; :class:`ConnectorError` if none.

    The error lists the columns each format needs, so a user can see which export
    to make instead.
    """
    names = {name.strip().lstrip("\ufeff").casefold() for name in header}
    if all(column in names for column in EVENT_COLUMNS):
        return NATIVE
    for name, connector in CONNECTORS.items():
        if connector.detect(header):
            return name
    shown = ", ".join(name.lstrip("\ufeff").strip() for name in header) or "an empty row"
    expected = "\n".join(
        [f"  {NATIVE}: {', '.join(EVENT_COLUMNS)}"]
        + [f"  {name}: {connector.expects}" for name, connector in CONNECTORS.items()]
    )
    raise ConnectorError(
        f"the header ({shown}) is not one of a known export; expected one of:\n{expected}"
    )


def convert(
    lines: Iterable[str],
    mapping: ImportMapping,
    *,
    source: str = "export.csv",
    format: str | None = None,
) -> Iterator[Converted]:
    """Events of a CRM export, its format given or detected from its header.

    Raises :class:`ConnectorError` at once for an unknown format, a header that is no
    known export's, or a native events file (read those with ``read_events``).
    """
    export = CsvSource(lines, source)
    name = format if format is not None else detect_format(export.header)
    if name == NATIVE:
        raise ConnectorError(
            f"{source}: is a native events file: it needs no conversion (read_events reads it)"
        )
    connector = CONNECTORS.get(name)
    if connector is None:
        raise ConnectorError(
            f"unknown export format {name!r}; expected one of: {', '.join(CONNECTORS)}"
        )
    return connector.convert_source(export, mapping)
