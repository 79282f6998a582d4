"""Events from wherever Spark reads them: a CSV or Parquet path (a file, a folder of part
files, a cloud URL), or a table of the session's catalog.

What leaves here is what leadsla's reader reads: the four event columns as text, plus
``row``, the rows' order in the source (Spark's monotonically increasing id: increasing
in the order a file is read, one range per input split). The text is checked, stripped
and parsed by :func:`~leadsla.core.events.read_events` in the workers, exactly as a file
is read on one machine (:mod:`.clocks`); nothing is judged here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from leadsla.core.events import EVENT_COLUMNS, normalize_field
from leadsla.report.fast_reader import BLANKS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

FORMATS = ("auto", "csv", "parquet", "orc", "json", "table")
# The suffixes ``auto`` knows; a path with none of them is a folder of Parquet files,
# the common shape of a data platform's exports.
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".orc": "orc", ".json": "json"}
# Spark's monotonically increasing id: the input partition above this many bits.
_PARTITION_SHIFT = 33
# What ``str.strip()`` removes, as a Java pattern: a lead id is grouped as stripped.
_EDGE_BLANKS = "^[{0}]+|[{0}]+$".format("".join(f"\\x{{{ord(c):x}}}" for c in BLANKS))
# An instant held as a Spark timestamp, written as leadsla reads instants (UTC, µs).
_UTC_LAYOUT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"


class SourceError(ValueError):
    """Events Spark cannot read, or that lack a column: one line, naming the source."""


@dataclass(frozen=True)
class EventSource:
    """Where the events are: ``location`` (a path or URL, or a table name) and its format."""

    location: str
    format: str = "auto"

    @property
    def kind(self) -> str:
        """The format, ``auto`` resolved by the location's suffix."""
        if self.format != "auto":
            return self.format
        lowered = self.location.lower().rstrip("/")
        for suffix, kind in _SUFFIXES.items():
            if lowered.endswith(suffix) or lowered.endswith(suffix + ".gz"):
                return kind
        return "parquet"

    def where(self, ordinal: int) -> tuple[str, int]:
        """How a message names the source's row ``ordinal`` (from 0), as a source and a
        number: a CSV's line (its header is line 1, one line a record), another source's
        row (from 1, in the order Spark reads it)."""
        if self.kind == "csv":
            return self.location, ordinal + 2
        return f"{self.location} row", ordinal + 1


def read_source(spark: SparkSession, source: EventSource) -> DataFrame:
    """The source's events as ``lead_id, at, field, value`` (text, null where empty) and
    ``row`` (their order); a :class:`SourceError` if it cannot be read or lacks a column.

    Columns are matched as the events CSV's header is (any case, blanks around); others
    are dropped. A timestamp ``at`` becomes UTC text to the microsecond; any other type
    is cast to text and read as text is.
    """
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    kind = source.kind
    if kind not in FORMATS:
        raise SourceError(f"{source.location}: {kind!r} is not one of {', '.join(FORMATS)}")
    try:
        if kind == "table":
            frame = spark.table(source.location)
        elif kind == "csv":
            # RFC 4180 quoting (a quote doubled inside quotes), as leadsla's own reader
            # reads it; every column as text.
            frame = spark.read.csv(
                source.location, header=True, inferSchema=False, escape='"', encoding="UTF-8"
            )
        else:
            frame = spark.read.format(kind).load(source.location)
        names = {normalize_field(name.lstrip("\ufeff")): name for name in frame.columns}
    except PySparkException as exc:
        raise SourceError(f"{source.location}: cannot read: {_first_line(exc)}") from None
    missing = [name for name in EVENT_COLUMNS if name not in names]
    if missing:
        raise SourceError(
            f"{source.location}: no column {', '.join(missing)} "
            f"(found {', '.join(frame.columns)}; expected {', '.join(EVENT_COLUMNS)})"
        )
    types = dict(frame.dtypes)
    columns: list[Column] = []
    for name in EVENT_COLUMNS:
        column = F.col(f"`{names[name]}`")
        if name == "at" and types[names[name]].startswith("timestamp"):
            column = F.date_format(column, _UTC_LAYOUT)
        elif types[names[name]] != "string":
            column = column.cast("string")
        columns.append(column.alias(name))
    return frame.select(*columns, F.monotonically_increasing_id().alias("row"))


def lead_key(lead_id: Column) -> Column:
    """The lead id as the reader will name it (stripped of blanks): the grouping key."""
    from pyspark.sql import functions as F

    return F.regexp_replace(lead_id, _EDGE_BLANKS, "")


def ordinals(events: DataFrame, rows: list[int]) -> dict[int, int]:
    """The position in the source (from 0) of each given ``row`` id of :func:`read_source`:
    the rows of the input splits before its own, plus its place in its split. One pass
    over the source; run only for the rows a message names."""
    from pyspark.sql import functions as F

    if not rows:
        return {}
    split = F.shiftright(F.col("row"), _PARTITION_SHIFT)
    counts = dict(
        (int(r["split"]), int(r["count"]))
        for r in events.groupBy(split.alias("split")).count().collect()
    )
    before: dict[int, int] = {}
    total = 0
    for index in sorted(counts):
        before[index] = total
        total += counts[index]
    mask = (1 << _PARTITION_SHIFT) - 1
    return {row: before.get(row >> _PARTITION_SHIFT, 0) + (row & mask) for row in rows}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
