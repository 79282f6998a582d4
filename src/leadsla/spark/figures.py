"""``leadsla report --engine spark``: the report's figures from the groups' partials.

Each group of leads (:mod:`.groups`) is read in a Python worker, its leads put in the
order of their hash (the in-memory table's order), and reduced to a
:class:`~leadsla.report.partials.ReportPartial`, which comes back pickled. The driver
merges the partials in group order with :func:`~leadsla.report.partials.merged`, the
merge of the one-machine partitions: the figures are those of the whole history, exact.
"""

from __future__ import annotations

import pickle
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from leadsla.core.events import EventTable, ReadReport
from leadsla.core.policy import Rulebook
from leadsla.report.partials import ReportPartial, merged, report_partial
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents
from leadsla.spark.groups import (
    READ_SCHEMA,
    answer_table,
    grouped,
    lead_hashes,
    read_counts,
    read_group,
    read_rows,
    table_function,
)
from leadsla.spark.sources import EventSource

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

# ``part``: the place of a piece of a group's pickled partial; pieces of at most
# PIECE_BYTES keep every row small for Spark (a row's buffer grows in the JVM's heap,
# and a binary value cannot pass 2 GiB).
GROUP_SCHEMA = f"kind string, group long, part long, partial binary, {READ_SCHEMA}"
PIECE_BYTES = 4 << 20


def hash_ordered(table: EventTable) -> EventTable:
    """A table sorted by lead id, its leads reordered by hash (each lead's rows kept in
    order): the order in which the fast reader groups a file's leads."""
    total = len(table)
    if total == 0:
        return table
    heads = np.ones(total, dtype=np.bool_)
    np.not_equal(table.lead[1:], table.lead[:-1], out=heads[1:])
    starts = np.flatnonzero(heads)
    sizes = np.diff(np.append(starts, total))
    order = np.argsort(lead_hashes(pl.Series(table.lead_ids, dtype=pl.String)), kind="stable")
    new_sizes = sizes[order]
    new_starts = np.zeros(order.size, dtype=np.int64)
    np.cumsum(new_sizes[:-1], out=new_starts[1:])
    rows = np.repeat(starts[order] - new_starts, new_sizes) + np.arange(total)
    reordered = table.take(rows)
    reordered.lead = np.repeat(np.arange(order.size, dtype=np.int32), new_sizes)
    reordered.lead_ids = [table.lead_ids[i] for i in order.tolist()]
    return reordered


def partial_of(table: EventTable, settings: ReportSettings, as_of: int) -> ReportPartial:
    """The partial of a table sorted by lead id: its leads in hash order."""
    ordered = hash_ordered(table)
    return report_partial(LeadEvents(ordered, ordered.take), settings, as_of)


def report_group(
    rules: Rulebook, settings: ReportSettings, as_of: int, group: pa.Table
) -> pa.Table:
    """The answer of one group of leads: its partial (pickled), bad rows and counts."""
    number = int(group.column("group")[0].as_py())
    table, report, line_rows = read_group(rules, group)
    blob = pickle.dumps(partial_of(table, settings, as_of), protocol=pickle.HIGHEST_PROTOCOL)
    pieces = [blob[start : start + PIECE_BYTES] for start in range(0, len(blob), PIECE_BYTES)]
    found = pl.DataFrame(
        {
            "kind": "partial",
            "group": number,
            "part": list(range(len(pieces))),
            "partial": pieces,
        },
        schema_overrides={"partial": pl.Binary},
    )
    return answer_table([found, *read_rows(report, line_rows, len(table.lead_ids))], GROUP_SCHEMA)


def _partials(found: DataFrame) -> list[ReportPartial]:
    """The groups' partials, in group order. The pieces come a Spark partition at a
    time, unsorted (a sort would move every piece through the JVM once more, and
    fetch a sorted partition of many groups at once: a million leads overflowed the
    local JVM's heap); they are put in order here."""
    pieces: dict[int, dict[int, bytes]] = {}
    for row in found.select("group", "part", "partial").toLocalIterator():
        pieces.setdefault(int(row["group"]), {})[int(row["part"])] = bytes(row["partial"])
    partials: list[ReportPartial] = []
    for group in sorted(pieces):
        parts = pieces.pop(group)
        partials.append(pickle.loads(b"".join(parts[k] for k in sorted(parts))))
    return partials


def report(
    events: DataFrame,
    source: EventSource,
    rules: Rulebook,
    settings: ReportSettings,
    as_of: int,
    period: str,
    groups: int,
) -> tuple[dict[str, Any], ReadReport]:
    """The report of ``events`` (:func:`~.sources.read_source`) at ``as_of``, computed in
    ``groups`` lead groups, and what reading the events did."""
    from pyspark import StorageLevel

    answers = (
        grouped(events, groups)
        .groupBy("group")
        .applyInArrow(table_function(partial(report_group, rules, settings, as_of)), GROUP_SCHEMA)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    read, _leads = read_counts(answers, events, source)
    partials = _partials(answers.where("kind = 'partial'"))
    if not partials:  # no event at all: the figures of an empty history
        partials = [partial_of(EventTable.empty(), settings, as_of)]
    answers.unpersist()
    return merged(partials, settings, as_of, period), read
