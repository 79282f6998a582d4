"""API records fed to the export connectors as rows, so that a synced record becomes the
very events its exported row would: one conversion, one activity mapping, one set of keys.

A CRM API answers with records (JSON objects, or CSV pages from Salesforce's Bulk API
2.0); each is laid out as the row of the export with the same columns, and the
connector of that export converts it. A rejected record is named by its position in
the pull (``line``), like an export's rejected row by its line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from leadsla.connectors.mapping import (
    Columns,
    Connector,
    Converted,
    CsvSource,
    ImportMapping,
    RejectedRow,
)


class CrmApiError(RuntimeError):
    """A CRM call that failed for good (sign-in refused, limits never lifted, a refused
    query); the message names the call and the CRM's own error."""


class RecordRows(CsvSource):
    """Rows already split into fields, under a header, read as an export's rows."""

    def __init__(self, header: Sequence[str], rows: Iterable[list[str]], source: str) -> None:
        # Deliberately not CsvSource.__init__: there is no text to parse.
        self.source = source
        self.header = list(header)
        self.columns = Columns(self.header)
        self._records = rows

    def rows(self) -> Iterator[tuple[int, list[str]] | RejectedRow]:
        # Line 1 is the header, as in a file: record n is "line" n + 1.
        yield from enumerate(self._records, start=2)


def convert_rows(
    connector: Connector,
    header: Sequence[str],
    rows: Iterable[list[str]],
    mapping: ImportMapping,
    source: str,
) -> Iterator[Converted]:
    """The events of records laid out as rows of ``connector``'s export."""
    return connector.convert_source(RecordRows(header, rows, source), mapping)


@dataclass(frozen=True)
class Window:
    """``(since, until]`` in epoch microseconds; ``since`` None for the backfill."""

    since: int | None
    until: int

    @property
    def backfill(self) -> bool:
        return self.since is None


@dataclass
class Pulled:
    """A window's events (and rejected records), with how many records each object gave."""

    converted: list[Converted] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)


def utc_text(micros: int) -> str:
    """An instant as ``YYYY-MM-DDTHH:MM:SSZ`` (whole seconds): SOQL's date-time literal, and
    what both CRMs take in a date-time field."""
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
