"""Events as a Polars frame, from an events table or from the database.

Both give the same frame — ``lead`` (text), ``at`` (epoch µs), ``field``, ``value``
(null where the row clears the field) — in (lead, instant, arrival) order, with a
``seq`` column keeping that order; so every figure computed from the frame is the
same whichever path the events came by.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl
from sqlalchemy import Connection, select

from leadsla.core.events import EventTable
from leadsla.store.tables import events

SCHEMA = {"lead": pl.Utf8, "at": pl.Int64, "field": pl.Utf8, "value": pl.Utf8}
STREAM_ROWS = 50_000


def events_frame(table: EventTable, fields: Collection[str], as_of: int) -> pl.DataFrame:
    """The rows of ``fields`` at or before ``as_of``, from a (sorted or unsorted) table."""
    ordered = table if table.ordered else table.sorted()
    codes = [code for code, name in enumerate(ordered.fields) if name in fields]
    frame = pl.DataFrame(
        {
            "lead": ordered.lead,
            "at": ordered.at,
            "field": ordered.field,
            "value": ordered.value,
        },
        schema={"lead": pl.Int32, "at": pl.Int64, "field": pl.Int16, "value": pl.Int32},
    ).with_row_index("seq")
    frame = frame.filter(pl.col("field").is_in(codes) & (pl.col("at") <= as_of))
    lead_ids = pl.Series(ordered.lead_ids, dtype=pl.Utf8)
    names = pl.Series(ordered.fields, dtype=pl.Utf8)
    values = pl.Series(ordered.values, dtype=pl.Utf8)
    value_codes = frame["value"].cast(pl.Int64)
    return pl.DataFrame(
        {
            "seq": frame["seq"].cast(pl.Int64),
            "lead": lead_ids.gather(frame["lead"].cast(pl.Int64)),
            "at": frame["at"],
            "field": names.gather(frame["field"].cast(pl.Int64)),
            "value": values.gather(value_codes.set(value_codes < 0, None)),
        }
    )


def stored_events_frame(
    connection: Connection, fields: Collection[str], as_of: int
) -> pl.DataFrame:
    """The stored rows of ``fields`` at or before ``as_of``, in (lead, instant, arrival) order."""
    query = (
        select(events.c.lead_id, events.c.at, events.c.field, events.c.value)
        .where(events.c.at <= as_of, events.c.field.in_(sorted(fields)))
        .order_by(events.c.lead_id, events.c.at, events.c.seq)
    )
    parts: list[pl.DataFrame] = []
    result = connection.execute(query.execution_options(yield_per=STREAM_ROWS))
    for rows in result.partitions():
        parts.append(pl.DataFrame(rows, schema=SCHEMA, orient="row"))
    if not parts:
        return pl.DataFrame(schema=SCHEMA).with_row_index("seq").cast({"seq": pl.Int64})
    frame = pl.concat(parts).with_row_index("seq").cast({"seq": pl.Int64})
    # The database keeps an empty value as "" or NULL: both clear the field.
    return frame.with_columns(
        pl.when(pl.col("value") == "").then(None).otherwise(pl.col("value")).alias("value")
    )
