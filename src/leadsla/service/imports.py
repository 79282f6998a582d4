"""Loading a whole events file into the database, idempotently.

Each row gets a key from its content (lead, instant, field, value), so loading
the same file twice — or an export that overlaps the last one — stores nothing
twice. Leads are loaded in chunks, each in its own transaction: a crash loses at
most the chunk in flight, and running the import again completes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from leadsla.core.events import EventTable
from leadsla.core.policy import Rulebook
from leadsla.service.ingest import IncomingEvent, IngestResult, ingest

# Rows per transaction; cut between leads so that a lead is never split.
CHUNK_ROWS = 20_000


@dataclass
class ImportResult:
    accepted: int = 0
    duplicates: int = 0
    leads: int = 0


def row_key(lead_id: str, at: int, field: str, value: str | None) -> str:
    """A stable idempotency key from a row's content."""
    text = "\x1f".join((lead_id, str(at), field, value or ""))
    return "row:" + hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def import_table(
    engine: Engine,
    rules: Rulebook,
    table: EventTable,
    *,
    source: str,
    recorded_at: int,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Store a sorted table's rows (duplicates dropped) and bring the leads' clocks up to date."""
    result = ImportResult()
    rows = list(table.lead_slices())
    start = 0
    while start < len(rows):
        stop = start
        size = 0
        while stop < len(rows) and (
            size == 0 or size + rows[stop][2] - rows[stop][1] <= CHUNK_ROWS
        ):
            size += rows[stop][2] - rows[stop][1]
            stop += 1
        first_row = rows[start][1]
        last_row = rows[stop - 1][2]
        incoming = [
            IncomingEvent(lead_id, at, field, value, row_key(lead_id, at, field, value))
            for lead_id, at, field, value, _line in _rows(table, first_row, last_row)
        ]
        _store_chunk(engine, rules, incoming, source, recorded_at, result)
        if progress is not None:
            progress(last_row)
        start = stop
    return result


def _rows(table: EventTable, first: int, last: int) -> list[tuple[str, int, str, str | None, int]]:
    leads = table.lead[first:last].tolist()
    ats = table.at[first:last].tolist()
    fields = table.field[first:last].tolist()
    values = table.value[first:last].tolist()
    lines = table.line[first:last].tolist()
    return [
        (
            table.lead_ids[lead],
            at,
            table.fields[field],
            None if value < 0 else table.values[value],
            line,
        )
        for lead, at, field, value, line in zip(leads, ats, fields, values, lines, strict=True)
    ]


def import_incoming(
    engine: Engine,
    rules: Rulebook,
    incoming: list[IncomingEvent],
    *,
    source: str,
    recorded_at: int,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Store converted events (from CRM exports) in chunks of whole leads."""
    ordered = sorted(incoming, key=lambda e: (e.lead_id, e.at))  # stable: source order kept
    result = ImportResult()
    start = 0
    while start < len(ordered):
        stop = min(start + CHUNK_ROWS, len(ordered))
        while stop < len(ordered) and ordered[stop].lead_id == ordered[stop - 1].lead_id:
            stop += 1
        _store_chunk(engine, rules, ordered[start:stop], source, recorded_at, result)
        if progress is not None:
            progress(stop)
        start = stop
    return result


def _store_chunk(
    engine: Engine,
    rules: Rulebook,
    events: list[IncomingEvent],
    source: str,
    recorded_at: int,
    result: ImportResult,
) -> None:
    """One transaction: a chunk of whole leads stored, their clocks brought up to date."""
    with engine.begin() as connection:
        chunk: IngestResult = ingest(
            connection, rules, events, source=source, recorded_at=recorded_at
        )
    result.accepted += chunk.accepted
    result.duplicates += chunk.duplicates
    result.leads += chunk.leads
