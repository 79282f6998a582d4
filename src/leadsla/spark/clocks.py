"""``leadsla evaluate --engine spark``: the clocks CSV's rows, computed by lead group.

Spark spreads the events (:func:`~.sources.read_source`) into ``groups`` by a hash of
the stripped lead id, so that each lead's rows meet in one group, and hands each group
to a Python worker as one Arrow table (``applyInArrow``). The worker does what
``leadsla evaluate`` does on one machine, on that group alone: the rows, in source
order, go through :func:`~leadsla.core.events.read_events` (the same checks, the same
bad-row messages), the table is sorted and judged a block of leads at a time, and the
rows are made by :func:`~leadsla.report.clocks_csv.block_frame`. No figure is merged:
a lead's clock rows depend on its own events alone.

A group's answer holds its clock rows, its bad rows and one row of counts, told apart
by ``kind``; the answer is kept (memory, then disk) while the clock rows are written
and the rest is collected on the driver.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import polars as pl

from leadsla.core.evaluate import lead_blocks
from leadsla.core.events import EVENT_COLUMNS, EventTable, ReadReport, RowError, read_events
from leadsla.core.policy import Rulebook
from leadsla.report.clocks_csv import COLUMNS, block_frame, render_frame
from leadsla.spark.sources import EventSource, lead_key, ordinals

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

# Bad rows a group reports by message; all are counted.
KEPT_ERRORS = 1000
_TEXT = {"lead_id", "policy", "grade", "owner", "state", "started_at", "due_at", "stopped_at"}
CLOCK_SCHEMA = ", ".join(f"{c} {'string' if c in _TEXT else 'long'}" for c in COLUMNS)
# ``seq``: a clock row's place in its group (lead order, then the lead's cycles);
# ``row``, ``column``, ``message``: a bad row; ``rows_read``, ``rows_accepted``, ``leads``:
# a group's counts.
GROUP_SCHEMA = (
    f"kind string, {CLOCK_SCHEMA}, seq long, row long, column string, message string, "
    "rows_read long, rows_accepted long, leads long"
)
_LINE_BREAK = re.compile("\r\n|\r|\n")


@dataclass(frozen=True)
class Evaluated:
    """The clock rows of every group (a Spark frame of :data:`COLUMNS` and ``seq``) and
    what reading the events did."""

    clocks: DataFrame
    report: ReadReport
    leads: int


def group_table(rules: Rulebook, group: pa.Table) -> tuple[EventTable, ReadReport, np.ndarray]:
    """A group's events read as a file of them is (in source order), sorted by lead; and
    the source ``row`` of each line of that text (the reader's line numbers)."""
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


def _row_of_line(events: pl.DataFrame, rows: np.ndarray) -> np.ndarray:
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


def judge_group(rules: Rulebook, as_of: int, group: pa.Table) -> pa.Table:
    """The answer of one group of leads: its clock rows, bad rows and counts."""
    table, report, line_rows = group_table(rules, group)
    lead_ids = pl.Series(table.lead_ids, dtype=pl.String)
    frames = [block_frame(rules, lead_ids, block) for block in lead_blocks(rules, table, as_of)]
    parts = [pl.concat(frames) if frames else _empty_clocks()]
    parts[0] = parts[0].with_columns(
        kind=pl.lit("clock"), seq=pl.int_range(pl.len(), dtype=pl.Int64)
    )
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
    parts.append(
        pl.DataFrame(
            {
                "kind": ["read"],
                "rows_read": [report.rows_read],
                "rows_accepted": [report.rows_accepted],
                "leads": [len(table.lead_ids)],
            }
        )
    )
    answer = pl.concat(parts, how="diagonal_relaxed")
    return _as_group_schema(answer)


def _empty_clocks() -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String if c in _TEXT else pl.Int64 for c in COLUMNS})


def _as_group_schema(answer: pl.DataFrame) -> pa.Table:
    """The answer with every column of :data:`GROUP_SCHEMA`, in order, typed as it says
    (Arrow's ``string``, which Spark wants, not Polars' ``large_string``)."""
    import pyarrow as pa

    columns = [part.strip().split(" ") for part in GROUP_SCHEMA.split(",")]
    types = {"string": (pl.String, pa.string()), "long": (pl.Int64, pa.int64())}
    table = answer.select(
        (
            pl.col(name).cast(types[kind][0])
            if name in answer.columns
            else pl.lit(None, dtype=types[kind][0]).alias(name)
        )
        for name, kind in columns
    ).to_arrow()
    return table.cast(pa.schema([(name, types[kind][1]) for name, kind in columns]))


def table_function(work: Callable[[pa.Table], pa.Table]) -> Callable[[pa.Table], pa.Table]:
    """``work`` as ``applyInArrow`` takes a function of a whole group: PySpark tells the
    kind from the type hints, which it must be able to evaluate at run time."""
    import pyarrow as pa

    def whole_group(group: pa.Table) -> pa.Table:
        return work(group)

    whole_group.__annotations__ = {"group": pa.Table, "return": pa.Table}
    return whole_group


def evaluate(
    events: DataFrame, source: EventSource, rules: Rulebook, as_of: int, groups: int
) -> Evaluated:
    """Judge every lead of ``events`` (:func:`~.sources.read_source`) at ``as_of`` in
    ``groups`` lead groups. Bad rows come back named by their place in the source."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    group = F.pmod(F.xxhash64(lead_key(F.col("lead_id"))), F.lit(groups)).alias("group")
    answers = (
        events.repartition(groups, group)
        .groupBy(group)
        .applyInArrow(table_function(partial(judge_group, rules, as_of)), GROUP_SCHEMA)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = answers.where("kind = 'read'").agg(
        F.sum("rows_read").alias("read"),
        F.sum("rows_accepted").alias("accepted"),
        F.sum("leads").alias("leads"),
    )
    totals = counts.first()
    assert totals is not None
    skipped = (
        answers.where("kind = 'skipped'")
        .orderBy("row")
        .limit(KEPT_ERRORS)
        .select("row", "column", "message")
        .collect()
    )
    place = ordinals(events, [int(r["row"]) for r in skipped])
    errors = [
        RowError(
            place[int(r["row"])],
            r["column"],
            r["message"],
            source=source.where(place[int(r["row"])]),
        )
        for r in skipped
    ]
    clocks = answers.where("kind = 'clock'").select(*COLUMNS, "seq")
    report = ReadReport(int(totals["read"] or 0), int(totals["accepted"] or 0), errors)
    return Evaluated(clocks, report, int(totals["leads"] or 0))


def write_parquet(evaluated: Evaluated, path: str) -> int:
    """Write the clock rows as a Parquet folder at ``path`` (which must not exist) and
    return their number."""
    rows = evaluated.clocks.count()
    evaluated.clocks.drop("seq").write.mode("errorifexists").parquet(path)
    return rows


def write_csv(
    evaluated: Evaluated, out: TextIO, progress: Callable[[int], None] | None = None
) -> int:
    """Write the clocks CSV to ``out``, byte for byte what ``leadsla evaluate`` writes for
    the same events (by lead id, then the lead's cycles); return its rows. The rows are
    sorted by Spark and rendered in the workers; the driver holds one part at a time."""
    import csv

    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    ordered = evaluated.clocks.orderBy("lead_id", "seq").drop("seq")
    texts = ordered.mapInArrow(_rendered_batches, "text string, rows long")
    written = 0
    for part in texts.toLocalIterator(prefetchPartitions=True):
        out.write(part["text"])
        written += int(part["rows"])
        if progress is not None:
            progress(written)
    return written


def _rendered_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The CSV text of each batch of sorted clock rows, as one row."""
    import pyarrow as pa

    for batch in batches:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        odd = bool(frame["lead_id"].str.contains("\r", literal=True).any())
        text = render_frame(frame, odd_ids=odd)
        yield pa.RecordBatch.from_pydict(
            {"text": [text], "rows": [frame.height]},
            schema=pa.schema([("text", pa.string()), ("rows", pa.int64())]),
        )


def output_is_csv(output: str) -> bool:
    """``--output`` names the clocks CSV (``.csv``) rather than a Parquet folder."""
    return Path(output).suffix.lower() == ".csv"
