"""``leadsla evaluate --engine spark``: the clocks CSV's rows, computed by lead group.

Each group of leads (:mod:`.groups`) is read in a Python worker and judged a block of
leads at a time, its rows made by :func:`~leadsla.report.clocks_csv.block_frame`, as
``leadsla evaluate`` does on one machine. No figure is merged: a lead's clock rows
depend on its own events alone. The groups' answers are kept (memory, then disk) while
the clock rows are written and the bad rows and counts collected on the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import polars as pl

from leadsla.core.evaluate import lead_blocks
from leadsla.core.events import ReadReport
from leadsla.core.policy import Rulebook
from leadsla.report.clocks_csv import COLUMNS, block_frame, render_frame
from leadsla.spark.groups import (
    READ_SCHEMA,
    answer_table,
    grouped,
    read_counts,
    read_group,
    read_rows,
    table_function,
)
from leadsla.spark.sources import EventSource

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

_TEXT = {"lead_id", "policy", "grade", "owner", "state", "started_at", "due_at", "stopped_at"}
CLOCK_SCHEMA = ", ".join(f"{c} {'string' if c in _TEXT else 'long'}" for c in COLUMNS)
# ``seq``: a clock row's place in its group (lead order, then the lead's cycles).
GROUP_SCHEMA = f"kind string, {CLOCK_SCHEMA}, seq long, {READ_SCHEMA}"


@dataclass(frozen=True)
class Evaluated:
    """The clock rows of every group (a Spark frame of :data:`COLUMNS` and ``seq``) and
    what reading the events did."""

    clocks: DataFrame
    report: ReadReport
    leads: int


def judge_group(rules: Rulebook, as_of: int, group: pa.Table) -> pa.Table:
    """The answer of one group of leads: its clock rows, bad rows and counts."""
    table, report, line_rows = read_group(rules, group)
    lead_ids = pl.Series(table.lead_ids, dtype=pl.String)
    frames = [block_frame(rules, lead_ids, block) for block in lead_blocks(rules, table, as_of)]
    clocks = pl.concat(frames) if frames else _empty_clocks()
    clocks = clocks.with_columns(kind=pl.lit("clock"), seq=pl.int_range(pl.len(), dtype=pl.Int64))
    return answer_table([clocks, *read_rows(report, line_rows, len(table.lead_ids))], GROUP_SCHEMA)


def _empty_clocks() -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String if c in _TEXT else pl.Int64 for c in COLUMNS})


def evaluate(
    events: DataFrame, source: EventSource, rules: Rulebook, as_of: int, groups: int
) -> Evaluated:
    """Judge every lead of ``events`` (:func:`~.sources.read_source`) at ``as_of`` in
    ``groups`` lead groups. Bad rows come back named by their place in the source."""
    from pyspark import StorageLevel

    answers = (
        grouped(events, groups)
        .groupBy("group")
        .applyInArrow(table_function(partial(judge_group, rules, as_of)), GROUP_SCHEMA)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    report, leads = read_counts(answers, events, source)
    return Evaluated(answers.where("kind = 'clock'").select(*COLUMNS, "seq"), report, leads)


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
