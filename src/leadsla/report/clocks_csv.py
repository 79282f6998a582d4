"""Writing ``leadsla evaluate``'s clocks CSV, a block of leads at a time, in columns.

The core judges a sorted table a block of leads at a time
(:func:`~leadsla.core.evaluate.lead_blocks`): the plain leads' cycles come as
columns of codes and instants, the others as verdicts of the replay. A block
becomes one Polars frame, its instants are written as local ISO 8601 text per
calendar zone (the zone's offsets from :func:`~leadsla.core.instants.offsets_seconds`,
the text from Polars), and Polars writes the CSV text. That text is the one the
:mod:`csv` module writes for the same rows (a property test checks it): where
it might not be (a carriage return in a name, which the module leaves unquoted and
Polars quotes), the block is written by the module instead.

Blocks are judged and written on threads, not processes: Polars and NumPy let go
of the GIL for most of the work, and a Polars process must not fork.
"""

from __future__ import annotations

import csv
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TextIO

import numpy as np
import numpy.typing as npt
import polars as pl

from leadsla.core.clock import Verdict
from leadsla.core.columns import MICROS_PER_SECOND, Int64Array
from leadsla.core.evaluate import LeadBlock, lead_blocks, lead_ranges
from leadsla.core.events import EventTable
from leadsla.core.instants import format_instants, format_offset, offsets_seconds, unique_inverse
from leadsla.core.plain import JUDGED_STATES, NEVER
from leadsla.core.policy import Rulebook

COLUMNS = (
    "lead_id",
    "policy",
    "cycle",
    "grade",
    "owner",
    "state",
    "started_at",
    "due_at",
    "stopped_at",
    "business_seconds",
    "escalations",
    "attempts",  # SPEC §9.3: attempts made in the cycle (every policy, not only cadences)
)
# Below this many event rows one thread does the work.
PARALLEL_ROWS = 200_000
# Blocks per thread: enough to balance the load and move the progress bar.
RANGES_PER_JOB = 8
# Blocks judged ahead of the one being written, per thread: bounds the memory held.
AHEAD_PER_JOB = 2

_INSTANT_COLUMNS = ("started_at", "due_at", "stopped_at")
_TEXT_COLUMNS = ("lead_id", "policy", "grade", "owner")
_INTEGER_COLUMNS = ("lead", "cycle", "business_seconds", "escalations", "attempts")
# What the csv module (QUOTE_MINIMAL, "\n" line ends) and Polars ("necessary") may
# quote differently: a carriage return, which only Polars quotes.
_ODD = "\r"


def clock_rows(rules: Rulebook, batch: Sequence[tuple[str, Verdict]]) -> list[tuple[object, ...]]:
    """CSV rows for verdicts, one at a time: what the bulk render must equal (the tests
    compare them)."""
    texts = {column: [""] * len(batch) for column in _INSTANT_COLUMNS}
    by_calendar: dict[str, list[int]] = {}
    for i, (_, verdict) in enumerate(batch):
        by_calendar.setdefault(verdict.calendar, []).append(i)
    for name, indexes in by_calendar.items():
        zone = rules.calendars[name].zone
        for column in _INSTANT_COLUMNS:
            present = [(i, getattr(batch[i][1], column)) for i in indexes]
            present = [(i, value) for i, value in present if value is not None]
            formatted = format_instants(np.array([v for _, v in present], dtype=np.int64), zone)
            target = texts[column]
            for (i, _), text in zip(present, formatted, strict=True):
                target[i] = text
    started, due, stopped = (texts[c] for c in _INSTANT_COLUMNS)
    return [
        (
            lead_id,
            v.policy,
            v.cycle,
            v.grade or "",
            v.owner or "",
            v.state.value,
            started[i],
            due[i],
            stopped[i],
            v.business_seconds,
            v.escalations,
            v.attempts,
        )
        for i, (lead_id, v) in enumerate(batch)
    ]


def _named(codes: npt.NDArray[np.integer], names: Sequence[str]) -> pl.Series:
    """The name of each code (-1: null; an empty name is written as nothing too)."""
    lookup = pl.Series([*(name or None for name in names), None], dtype=pl.String)
    index = np.where(codes < 0, len(names), codes).astype(np.int64)
    return lookup.gather(index)


def _instants(values: Int64Array) -> pl.Series:
    """Epoch microseconds, ``NEVER`` as null."""
    series = pl.Series(values, dtype=pl.Int64)
    return series.set(pl.Series(values == NEVER), None) if (values == NEVER).any() else series


def _plain_frame(block: LeadBlock) -> pl.DataFrame:
    plain = block.plain
    states = [state.value for state in JUDGED_STATES]
    return pl.DataFrame(
        {
            "lead": plain.lead,
            "policy": _named(plain.policy, plain.policies),
            "cycle": np.ones(plain.size, dtype=np.int64),
            "calendar": _named(plain.calendar, plain.calendars),
            "grade": _named(plain.grade, plain.grades),
            "owner": _named(plain.owner, plain.owners),
            "state": _named(plain.state.astype(np.int64), states),
            "started_at": _instants(plain.started_at),
            "due_at": _instants(plain.due_at),
            "stopped_at": _instants(plain.stopped_at),
            # Floor division, as Verdict.business_seconds (never negative).
            "business_seconds": plain.business_micros // MICROS_PER_SECOND,
            "escalations": plain.escalations,
            "attempts": plain.attempts,
        }
    )


def _replayed_frame(replayed: Iterable[tuple[int, list[Verdict]]]) -> pl.DataFrame:
    rows = [(index, v) for index, verdicts in replayed for v in verdicts]
    return pl.DataFrame(
        {
            "lead": [index for index, _ in rows],
            "policy": [v.policy or None for _, v in rows],
            "cycle": [v.cycle for _, v in rows],
            "calendar": [v.calendar for _, v in rows],
            "grade": [v.grade or None for _, v in rows],
            "owner": [v.owner or None for _, v in rows],
            "state": [v.state.value for _, v in rows],
            "started_at": [v.started_at for _, v in rows],
            "due_at": [v.due_at for _, v in rows],
            "stopped_at": [v.stopped_at for _, v in rows],
            "business_seconds": [v.business_seconds for _, v in rows],
            "escalations": [v.escalations for _, v in rows],
            "attempts": [v.attempts for _, v in rows],
        },
        schema={
            "lead": pl.Int64,
            "policy": pl.String,
            "cycle": pl.Int64,
            "calendar": pl.String,
            "grade": pl.String,
            "owner": pl.String,
            "state": pl.String,
            **dict.fromkeys(_INSTANT_COLUMNS, pl.Int64),
            "business_seconds": pl.Int64,
            "escalations": pl.Int64,
            "attempts": pl.Int64,
        },
    )


def block_frame(rules: Rulebook, lead_ids: pl.Series, block: LeadBlock) -> pl.DataFrame:
    """The clocks CSV's rows of a block as a frame of :data:`COLUMNS`, in order: by lead,
    each lead's cycles in the order judged; instants as local text, none as null."""
    frame = _plain_frame(block)
    if block.replayed:
        frame = pl.concat([frame, _replayed_frame(block.replayed)], how="vertical_relaxed")
        # Each lead is plain or replayed as a whole: a stable sort keeps its cycles' order.
        frame = frame.sort("lead", maintain_order=True)
    leads = block.leads[frame["lead"].to_numpy()]
    return frame.with_columns(lead_id=lead_ids.gather(leads), **_local_texts(rules, frame)).select(
        COLUMNS
    )


def _local_texts(rules: Rulebook, frame: pl.DataFrame) -> dict[str, pl.Expr]:
    """Each instant column as ISO 8601 text at second precision in the local time of its
    row's calendar (``2026-03-02T17:00:00-05:00``), as
    :func:`~leadsla.core.instants.format_instant` writes it; null stays null."""
    size = frame.height
    calendars = frame["calendar"]
    # The three columns end to end, so that each zone's offsets are found in one pass;
    # a missing instant stands in as the start (near the others: a small span of hours).
    started = frame["started_at"]
    instants = np.concatenate(
        [
            frame[c].fill_null(started).to_numpy().astype(np.int64, copy=False)
            for c in _INSTANT_COLUMNS
        ]
    )
    offsets = np.zeros(instants.size, dtype=np.int64)
    for name in calendars.unique().to_list():
        rows = np.flatnonzero((calendars == name).to_numpy())
        rows = np.concatenate([rows + k * size for k in range(len(_INSTANT_COLUMNS))])
        offsets[rows] = offsets_seconds(instants[rows], rules.calendars[name].zone)
    # Floored to the second, as format_instant drops sub-second parts.
    day, second = np.divmod(instants // MICROS_PER_SECOND + offsets, SECONDS_PER_DAY)
    # A history spans a few hundred days and a day 86,400 seconds: each date and each
    # time of day is formatted once and looked up (half the time of a strftime a row).
    days, day_index = unique_inverse(day)
    dates = _strftime(days * SECONDS_PER_DAY, "%Y-%m-%dT")
    distinct, offset_index = unique_inverse(offsets)
    suffixes = pl.Series([format_offset(int(o)) for o in distinct.tolist()], dtype=pl.String)
    texts: dict[str, pl.Expr] = {}
    for k, column in enumerate(_INSTANT_COLUMNS):
        part = slice(k * size, (k + 1) * size)
        text = pl.concat_str(
            pl.lit(dates.gather(day_index[part])),
            pl.lit(_TIMES_OF_DAY.gather(second[part])),
            pl.lit(suffixes.gather(offset_index[part])),
        )
        texts[column] = pl.when(pl.col(column).is_null()).then(None).otherwise(text)
    return texts


def _strftime(seconds: Int64Array, layout: str) -> pl.Series:
    """Epoch seconds as text in a strftime layout."""
    return pl.from_epoch(pl.Series(seconds, dtype=pl.Int64), time_unit="s").dt.strftime(layout)


SECONDS_PER_DAY = 86_400
_TIMES_OF_DAY = _strftime(np.arange(SECONDS_PER_DAY, dtype=np.int64), "%H:%M:%S")


def render_frame(frame: pl.DataFrame, *, odd_ids: bool = False) -> str:
    """The CSV text of a block's rows (no header), as the :mod:`csv` module writes them.

    ``odd_ids``: a lead id may hold what Polars quotes differently (the caller checks
    the ids once, not every block)."""
    odd = odd_ids or any(
        frame[c].str.contains(_ODD, literal=True).any() for c in _TEXT_COLUMNS if c != "lead_id"
    )
    if odd:
        return render_rows(frame)
    text: str = frame.write_csv(
        include_header=False, quote_style="necessary", null_value="", line_terminator="\n"
    )
    return text


def render_rows(frame: pl.DataFrame) -> str:
    """The CSV text of a frame's rows by the :mod:`csv` module (null: nothing)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(frame.iter_rows())
    return out.getvalue()


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _rendered(
    rules: Rulebook,
    table: EventTable,
    names: tuple[pl.Series, bool],
    as_of: int,
    rows: tuple[int, int] | None,
) -> Iterator[tuple[str, int, int]]:
    """The CSV text of each block of a row range (default: all), its clock rows and the
    row after it. ``names``: the lead ids, and whether one may hold an odd character."""
    lead_ids, odd_ids = names
    for block in lead_blocks(rules, table, as_of, rows=rows):
        frame = block_frame(rules, lead_ids, block)
        yield render_frame(frame, odd_ids=odd_ids), frame.height, block.stop


def _joined(
    rules: Rulebook,
    table: EventTable,
    names: tuple[pl.Series, bool],
    as_of: int,
    rows: tuple[int, int],
) -> tuple[str, int, int]:
    """:func:`_rendered` of a range as one text: a thread's share of the work."""
    parts = list(_rendered(rules, table, names, as_of, rows))
    return "".join(text for text, _, _ in parts), sum(count for _, count, _ in parts), rows[1]


def write_clocks(
    rules: Rulebook,
    table: EventTable,
    as_of: int,
    out: TextIO,
    *,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    parallel_rows: int = PARALLEL_ROWS,
) -> int:
    """Judge a sorted table and write the clocks CSV (header included); return its rows.

    With ``jobs`` above one and at least ``parallel_rows`` events, row ranges are
    judged and written on ``jobs`` threads; the output is the same.
    """
    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    jobs = default_jobs() if jobs is None else jobs
    lead_ids = pl.Series(table.lead_ids, dtype=pl.String)
    names = (lead_ids, bool(lead_ids.str.contains(_ODD, literal=True).any()))
    if jobs <= 1 or len(table) < parallel_rows:
        return _write(_rendered(rules, table, names, as_of, None), out, progress)
    with ThreadPoolExecutor(jobs) as pool:
        ranges = lead_ranges(table, jobs * RANGES_PER_JOB)
        return _write(
            _in_order(pool, ranges, jobs * AHEAD_PER_JOB, rules, table, names, as_of),
            out,
            progress,
        )


def _in_order(
    pool: ThreadPoolExecutor,
    ranges: list[tuple[int, int]],
    ahead: int,
    rules: Rulebook,
    table: EventTable,
    names: tuple[pl.Series, bool],
    as_of: int,
) -> Iterator[tuple[str, int, int]]:
    """The ranges' results in order, at most ``ahead`` of them under way at once."""
    pending: deque[Future[tuple[str, int, int]]] = deque()
    queued = iter(ranges)
    for rows in queued:
        pending.append(pool.submit(_joined, rules, table, names, as_of, rows))
        if len(pending) >= ahead:
            break
    while pending:
        yield pending.popleft().result()
        for rows in queued:
            pending.append(pool.submit(_joined, rules, table, names, as_of, rows))
            break


def _write(
    results: Iterable[tuple[str, int, int]], out: TextIO, progress: Callable[[int], None] | None
) -> int:
    written = 0
    for text, count, done in results:
        out.write(text)
        written += count
        if progress is not None:
            progress(done)
    return written
