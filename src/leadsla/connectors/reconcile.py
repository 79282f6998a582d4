"""Putting a snapshot export and a history export of the same records together.

A Lead (or HubSpot contacts) export holds each record's *current* values, which
the connector can only place at the creation instant. Where a history export
of the same records is loaded with it, the history knows better: the value a
field had at creation is the ``previous`` value of its first change (Salesforce's
``OldValue``), or, for HubSpot property history, the first history entry
itself. So snapshot events of fields that have history are corrected or dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from leadsla.connectors.mapping import ConvertedRow

SNAPSHOT_PREFIXES = ("sf:Lead:", "hs:contact:")


def is_snapshot(row: ConvertedRow) -> bool:
    return row.key.startswith(SNAPSHOT_PREFIXES)


def reconcile(rows: Iterable[ConvertedRow]) -> list[ConvertedRow]:
    """Snapshot rows of fields with history: replaced by the value before the first
    change (when the history says it), else dropped. Other rows pass unchanged."""
    rows = list(rows)
    first_change: dict[tuple[str, str], ConvertedRow] = {}
    for row in rows:
        if is_snapshot(row):
            continue
        key = (row.lead_id, row.field)
        known = first_change.get(key)
        if known is None or row.at < known.at:
            first_change[key] = row
    result: list[ConvertedRow] = []
    for row in rows:
        change = first_change.get((row.lead_id, row.field)) if is_snapshot(row) else None
        if change is None:
            result.append(row)
        elif change.previous is not None and change.at > row.at:
            result.append(
                ConvertedRow(row.line, row.lead_id, row.at, row.field, change.previous, row.key)
            )
        # else: the history's first entry is the creation value; the snapshot adds nothing.
    return result
