"""Events as coded NumPy columns, from an events table or from the database.

Both give the same :class:`EventColumns` — ``lead`` (an integer code per lead: figures
never name a lead, and integers group much faster than text), ``at`` (epoch µs),
``field`` (the index of the field's name in the ``fields`` asked for), ``value`` (a
code into ``values``, -1 where the row clears the field) — in (lead, instant,
arrival) order; so every figure computed from them is the same whichever path the
events came by. Values stay codes: the per-lead frames look up what they need of a
value (its stage, whether it says ``won``, its amount) once per distinct value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl

from leadsla.core.events import EventTable

if TYPE_CHECKING:
    from sqlalchemy import Connection

SCHEMA = {"lead": pl.Utf8, "at": pl.Int64, "field": pl.Utf8, "value": pl.Utf8}
STREAM_ROWS = 50_000


@dataclass(frozen=True)
class EventColumns:
    """Rows of the fields asked for, in (lead, instant, arrival) order."""

    lead: npt.NDArray[np.int64]
    at: npt.NDArray[np.int64]
    field: npt.NDArray[np.int16]
    value: npt.NDArray[np.int32]
    values: list[str]

    def __len__(self) -> int:
        return len(self.lead)

    def take(self, rows: npt.NDArray[np.intp]) -> EventColumns:
        return EventColumns(
            self.lead[rows], self.at[rows], self.field[rows], self.value[rows], self.values
        )


def event_columns(table: EventTable, fields: Sequence[str], as_of: int) -> EventColumns:
    """The rows of ``fields`` at or before ``as_of``, from a (sorted or unsorted) table."""
    ordered = table if table.ordered else table.sorted()
    index = {name: k for k, name in enumerate(fields)}
    # Table field code → index in ``fields`` (-1: not asked for).
    remap = np.array([index.get(name, -1) for name in ordered.fields] + [-1], dtype=np.int16)
    field = remap[ordered.field]
    keep = np.flatnonzero((field >= 0) & (ordered.at <= as_of))
    return EventColumns(
        lead=ordered.lead[keep].astype(np.int64),
        at=ordered.at[keep],
        field=field[keep],
        value=ordered.value[keep].astype(np.int32, copy=False),
        values=list(ordered.values),
    )


def stored_event_columns(connection: Connection, fields: Sequence[str], as_of: int) -> EventColumns:
    """The stored rows of ``fields`` at or before ``as_of``, in (lead, instant, arrival) order."""
    # SQLAlchemy loads here, not with the module: analytics from a file never need it.
    from sqlalchemy import select

    from leadsla.store.tables import events

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
    frame = frame.select(
        (first_of_lead.fill_null(True).cum_sum() - 1).cast(pl.Int64).alias("lead"),
        "at",
        pl.col("field")
        .replace_strict({name: k for k, name in enumerate(fields)}, return_dtype=pl.Int16)
        .alias("field"),
        # The database keeps an empty value as "" or NULL: both clear the field.
        pl.when(pl.col("value") == "").then(None).otherwise(pl.col("value")).alias("value"),
    )
    names = frame["value"].drop_nulls().unique(maintain_order=True)
    lookup = pl.DataFrame(
        {"value": names, "code": pl.int_range(len(names), dtype=pl.Int32, eager=True)}
    )
    codes = frame.select("value").join(lookup, on="value", how="left", maintain_order="left")
    return EventColumns(
        lead=frame["lead"].to_numpy().astype(np.int64, copy=False),
        at=frame["at"].to_numpy().astype(np.int64, copy=False),
        field=frame["field"].to_numpy().astype(np.int16, copy=False),
        value=codes["code"].fill_null(-1).to_numpy().astype(np.int32, copy=False),
        values=names.to_list(),
    )
