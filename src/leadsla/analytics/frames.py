"""Events as a Polars frame, from an events table or from the database.

Both give the same frame — ``lead`` (an integer code per lead: figures never name a
lead, and integers group and join much faster than text), ``at`` (epoch µs),
``field`` (the index of the field's name in the ``fields`` asked for), ``value``
(null where the row clears the field) — in (lead, instant,
arrival) order, with a ``seq`` column keeping that order; so every figure computed
from the frame is the same whichever path the events came by.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from sqlalchemy import Connection, select

from leadsla.core.events import EventTable
from leadsla.store.tables import events

SCHEMA = {"lead": pl.Utf8, "at": pl.Int64, "field": pl.Utf8, "value": pl.Utf8}
COLUMNS = ("seq", "lead", "at", "field", "value")
STREAM_ROWS = 50_000


def events_frame(table: EventTable, fields: Sequence[str], as_of: int) -> pl.DataFrame:
    """The rows of ``fields`` at or before ``as_of``, from a (sorted or unsorted) table."""
    ordered = table if table.ordered else table.sorted()
    index = {name: k for k, name in enumerate(fields)}
    # Table field code → index in ``fields`` (-1: not asked for).
    remap = np.array([index.get(name, -1) for name in ordered.fields] + [-1], dtype=np.int16)
    codes = [code for code, name in enumerate(ordered.fields) if name in index]
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
    values = pl.Series(ordered.values, dtype=pl.Utf8)
    value_codes = frame["value"].cast(pl.Int64)
    return pl.DataFrame(
        {
            "seq": frame["seq"].cast(pl.Int64),
            "lead": frame["lead"].cast(pl.Int64),
            "at": frame["at"],
            "field": remap[frame["field"].to_numpy()],
            "value": values.gather(value_codes.set(value_codes < 0, None)),
        }
    )


def stored_events_frame(connection: Connection, fields: Sequence[str], as_of: int) -> pl.DataFrame:
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
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=SCHEMA)
    # Rows come in lead order: a lead's code is the number of lead changes before it.
    first_of_lead = pl.col("lead") != pl.col("lead").shift(1)
    return frame.with_row_index("seq").select(
        pl.col("seq").cast(pl.Int64),
        (first_of_lead.fill_null(True).cum_sum() - 1).cast(pl.Int64).alias("lead"),
        "at",
        pl.col("field")
        .replace_strict({name: k for k, name in enumerate(fields)}, return_dtype=pl.Int16)
        .alias("field"),
        # The database keeps an empty value as "" or NULL: both clear the field.
        pl.when(pl.col("value") == "").then(None).otherwise(pl.col("value")).alias("value"),
    )
