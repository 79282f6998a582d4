"""Leads in groups: how Spark splits a history, and what each group's worker reads.

Every row goes to the group of its lead's hash: the 64-bit Polars hash (seed 0) of the
lead id as the reader names it (stripped of blanks), the hash the one-machine reader
orders leads by (:mod:`leadsla.report.fast_reader`), cut into ``groups`` equal ranges,
lowest first, as :mod:`leadsla.report.partition` cuts it into partitions. Each lead's
rows meet in one group, and groups taken in order, each in hash order, give the leads
in the in-memory table's order: what the report's exact merge needs to give the same
figures to the byte (:mod:`leadsla.report.partials`).

A worker reads its group as a file of those events is read: the rows, in source order,
go through :func:`~leadsla.core.events.read_events` (the same checks and messages). A
group's answer holds its results, its bad rows and one row of counts, told apart by
``kind``; :func:`read_counts` collects the last two on the driver.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from leadsla.core.columns import Int64Array
from leadsla.core.events import EVENT_COLUMNS, EventTable, ReadReport, RowError, read_events
from leadsla.core.policy import Rulebook
from leadsla.report.fast_reader import BLANKS
from leadsla.spark.sources import EventSource, ordinals

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

# Bad rows a group (and the whole run) reports by message; all are counted.
KEPT_ERRORS = 1000
# The columns every group's answer has after its own: a bad row, and the counts.
READ_SCHEMA = (
    "row long, column string, message string, rows_read long, rows_accepted long, leads long"
)
_LINE_BREAK = re.compile("\r\n|\r|\n")
_TYPES = {"string": pl.String, "long": pl.Int64, "binary": pl.Binary}


def lead_hashes(lead_ids: pl.Series) -> np.ndarray:
    """The 64-bit hash (unsigned) the fast reader orders leads by, of ids as named."""
    return lead_ids.hash(seed=0).to_numpy()


def _grouped_batches(groups: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each batch of events with its ``group``: the range of its stripped lead id's hash."""
    import pyarrow as pa

    for batch in batches:
        ids = pl.Series(batch.column("lead_id")).cast(pl.String).str.strip_chars(BLANKS)
        hashes = lead_hashes(ids).astype(np.uint64)
        # ``groups`` equal ranges of the 64-bit hash, in its order (no 128-bit product:
        # the top 32 bits are plenty to cut with).
        group = ((hashes >> np.uint64(32)) * np.uint64(groups)) >> np.uint64(32)
        yield batch.append_column("group", pa.array(group.astype(np.int64)))


def grouped(events: DataFrame, groups: int) -> DataFrame:
    """The events with a ``group`` column, spread into ``groups`` partitions by it."""
    schema = f"{', '.join(f'{c} string' for c in EVENT_COLUMNS)}, row long, group long"
    with_group = events.mapInArrow(partial(_grouped_batches, groups), schema)
    return with_group.repartition(groups, "group")


def read_group(rules: Rulebook, group: pa.Table) -> tuple[EventTable, ReadReport, Int64Array]:
    """A group's events read as a file of them is (in source order), sorted by lead id;
    and the source ``row`` of each line of that text (the reader's line numbers)."""
    frame = pl.from_arrow(group)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.sort("row")
    events = frame.select(EVENT_COLUMNS)
    text = events.write_csv(quote_style="necessary", null_value="", line_terminator="\n")
    table, report = read_events(
        io.StringIO(text, newline=""),
        statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
        acceptance=rules.acceptance,
        max_errors_kept=KEPT_ERRORS,
    )
    return table.sorted(), report, _row_of_line(events, frame["row"].to_numpy())


def _row_of_line(events: pl.DataFrame, rows: Int64Array) -> Int64Array:
    """Index: a line of the group's CSV text (header: line 1); value: the source row
    that starts there (-1 inside a record). One line a record unless a value holds a
    line break, which the text keeps in quotes."""
    breaks = np.zeros(events.height, dtype=np.int64)
    for name in EVENT_COLUMNS:
        column = events[name]
        if column.str.contains("[\r\n]").any():
            texts = column.fill_null("").to_list()
            breaks += np.array([len(_LINE_BREAK.findall(t)) for t in texts], dtype=np.int64)
    starts = 2 + np.arange(events.height, dtype=np.int64) + np.cumsum(breaks) - breaks
    line_rows = np.full(int(starts[-1]) + 1 if starts.size else 2, -1, dtype=np.int64)
    line_rows[starts] = rows
    return line_rows


def read_rows(report: ReadReport, line_rows: Int64Array, leads: int) -> list[pl.DataFrame]:
    """A group's bad rows (by source row) and its counts, as answer rows."""
    parts = []
    if report.errors:
        parts.append(
            pl.DataFrame(
                {
                    "kind": "skipped",
                    "row": [int(line_rows[e.line]) for e in report.errors],
                    "column": [e.column for e in report.errors],
                    "message": [e.message for e in report.errors],
                },
                schema_overrides={"column": pl.String},
            )
        )
    counts = {"rows_read": report.rows_read, "rows_accepted": report.rows_accepted}
    parts.append(pl.DataFrame({"kind": ["read"], **{k: [v] for k, v in counts.items()}}))
    parts[-1] = parts[-1].with_columns(leads=pl.lit(leads, dtype=pl.Int64))
    return parts


def answer_table(parts: list[pl.DataFrame], schema: str) -> pa.Table:
    """The parts of a group's answer as one Arrow table of ``schema`` (Spark DDL of
    string, long and binary columns), in order; a column a part lacks is null there.
    Arrow's ``string``, which Spark wants, not Polars' ``large_string``."""
    import pyarrow as pa

    answer = pl.concat(parts, how="diagonal_relaxed")
    columns = [part.strip().split(" ") for part in schema.split(",")]
    table = answer.select(
        (
            pl.col(name).cast(_TYPES[kind])
            if name in answer.columns
            else pl.lit(None, dtype=_TYPES[kind]).alias(name)
        )
        for name, kind in columns
    ).to_arrow()
    arrow = {"string": pa.string(), "long": pa.int64(), "binary": pa.binary()}
    return table.cast(pa.schema([(name, arrow[kind]) for name, kind in columns]))


def table_function(work: Callable[[pa.Table], pa.Table]) -> Callable[[pa.Table], pa.Table]:
    """``work`` as ``applyInArrow`` takes a function of a whole group: PySpark tells the
    kind from the type hints, which it must be able to evaluate at run time."""
    import pyarrow as pa

    def whole_group(group: pa.Table) -> pa.Table:
        return work(group)

    whole_group.__annotations__ = {"group": pa.Table, "return": pa.Table}
    return whole_group


def read_counts(
    answers: DataFrame, events: DataFrame, source: EventSource
) -> tuple[ReadReport, int]:
    """What reading did, over all groups: rows read and accepted, the first bad rows (by
    their place in the source), and the leads."""
    from pyspark.sql import functions as F

    totals = (
        answers.where("kind = 'read'")
        .agg(
            F.sum("rows_read").alias("read"),
            F.sum("rows_accepted").alias("accepted"),
            F.sum("leads").alias("leads"),
        )
        .first()
    )
    assert totals is not None
    skipped = (
        answers.where("kind = 'skipped'")
        .orderBy("row")
        .limit(KEPT_ERRORS)
        .select("row", "column", "message")
        .collect()
    )
    place = ordinals(events, [int(r["row"]) for r in skipped])
    errors = []
    for r in skipped:
        label, number = source.where(place[int(r["row"])])
        errors.append(RowError(number, r["column"], r["message"], source=label))
    report = ReadReport(int(totals["read"] or 0), int(totals["accepted"] or 0), errors)
    return report, int(totals["leads"] or 0)
