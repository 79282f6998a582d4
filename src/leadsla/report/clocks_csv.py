"""Writing ``leadsla evaluate``'s clocks CSV, on all cores for large histories.

The replay of one lead does not depend on any other, so a sorted table is cut
into row ranges between leads and each range is replayed and rendered in a
forked worker; the parent writes the rendered parts in order. Small inputs stay
in-process, where forking would cost more than it saves.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import TextIO

import numpy as np

from leadsla.core.clock import Verdict
from leadsla.core.evaluate import lead_ranges, lead_results
from leadsla.core.events import EventTable
from leadsla.core.instants import format_instants
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
# Rows formatted at once: big enough for NumPy to pay, small enough for memory.
RENDER_BATCH = 50_000
# Below this many event rows one process does the work.
PARALLEL_ROWS = 200_000
# Ranges per worker: enough to balance load and move the progress bar.
RANGES_PER_JOB = 16

_INSTANT_COLUMNS = ("started_at", "due_at", "stopped_at")


def clock_rows(rules: Rulebook, batch: Sequence[tuple[str, Verdict]]) -> list[tuple[object, ...]]:
    """CSV rows for verdicts; instants in the zone of each clock's calendar."""
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


def _render(
    rules: Rulebook,
    table: EventTable,
    as_of: int,
    rows: tuple[int, int] | None,
    out: TextIO,
    progress: Callable[[int], None] | None = None,
) -> int:
    writer = csv.writer(out, lineterminator="\n")
    written = 0
    batch: list[tuple[str, Verdict]] = []
    for result in lead_results(rules, table, as_of, rows=rows, progress=progress):
        batch.extend((result.lead_id, verdict) for verdict in result.verdicts)
        if len(batch) >= RENDER_BATCH:
            writer.writerows(clock_rows(rules, batch))
            written += len(batch)
            batch = []
    writer.writerows(clock_rows(rules, batch))
    return written + len(batch)


# What forked workers inherit: set just before the pool starts, read by _render_range.
_SHARED: tuple[Rulebook, EventTable, int] | None = None


def _render_range(rows: tuple[int, int]) -> tuple[str, int, int]:
    assert _SHARED is not None
    rules, table, as_of = _SHARED
    out = io.StringIO()
    count = _render(rules, table, as_of, rows, out)
    return out.getvalue(), count, rows[1] - rows[0]


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


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
    """Replay a sorted table and write the clocks CSV (header included); return its rows.

    With ``jobs`` above one and at least ``parallel_rows`` events, the replay runs in
    forked workers (where the platform can fork); the output is the same.
    """
    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    jobs = default_jobs() if jobs is None else jobs
    if (
        jobs <= 1
        or len(table) < parallel_rows
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return _render(rules, table, as_of, None, out, progress)
    global _SHARED
    _SHARED = (rules, table, as_of)
    try:
        context = multiprocessing.get_context("fork")
        done = 0
        written = 0
        with context.Pool(jobs) as pool:
            ranges = lead_ranges(table, jobs * RANGES_PER_JOB)
            for text, count, size in pool.imap(_render_range, ranges):
                out.write(text)
                written += count
                done += size
                if progress is not None:
                    progress(done)
        return written
    finally:
        _SHARED = None
