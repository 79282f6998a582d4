"""The offline replay: every lead of an event table through the clock, judged at one instant.

The table is columnar (see :mod:`leadsla.core.events`); rows are turned into Python
values a block at a time, so a history of millions of rows never becomes millions
of live Python objects. Each lead's rows go through :func:`~leadsla.core.clock.by_instant`
and :func:`~leadsla.core.clock.replay` — the grouping and the ``apply`` the live
service's :meth:`~leadsla.core.clock.LeadClocks.extend` runs too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from leadsla.core.clock import Change, LeadClocks, Verdict, by_instant, judge_lead, replay
from leadsla.core.events import EventTable
from leadsla.core.policy import Rulebook
from leadsla.core.scoring import Row

BLOCK_ROWS = 262_144


@dataclass(frozen=True, slots=True)
class LeadResult:
    lead_id: str
    clocks: LeadClocks
    verdicts: list[Verdict]
    # The instants replayed, in order, when asked for: what the metrics read.
    instants: list[tuple[int, list[Change]]]


def lead_results(
    rules: Rulebook,
    table: EventTable,
    as_of: int,
    *,
    progress: Callable[[int], None] | None = None,
    block_rows: int = BLOCK_ROWS,
    rows: tuple[int, int] | None = None,
    with_instants: bool = False,
) -> Iterator[LeadResult]:
    """Replay a table sorted by lead, instant and line; yield each lead judged at ``as_of``.

    Rows after ``as_of`` are ignored: the evaluation sees the history as it stood then.
    Leads come out in the table's lead order (``lead_id`` order for a sorted table).
    ``rows`` limits the replay to a row range that starts and ends between leads
    (see :func:`lead_ranges`), so that parts of a table can be replayed apart.
    ``with_instants`` keeps the applied instants on each result (the metrics read
    them; the clocks CSV does not, and skipping them saves time on large histories).
    """
    start, total = rows if rows is not None else (0, len(table))
    if total <= start:
        return
    leads = table.lead
    # Cut blocks only between leads, so that a lead is replayed from one block.
    boundaries = np.flatnonzero(np.diff(leads[start:total])) + 1 + start
    # Codes become Python values a block at a time through object arrays (one C-level
    # gather each), and rows become tuples in one zip: per-row Python work is what
    # dominates a replay of millions of rows.
    field_names = np.array(table.fields, dtype=object)
    values = np.array([*table.values, None], dtype=object)  # code -1 (cleared) -> None
    lead_ids = table.lead_ids
    while start < total:
        stop = min(start + block_rows, total)
        if stop < total:
            cut = int(np.searchsorted(boundaries, stop, side="left"))
            stop = int(boundaries[cut]) if cut < len(boundaries) else total
        block_leads = leads[start:stop]
        block_at = table.at[start:stop]
        late = bool((block_at > as_of).any())
        block_rows_: list[Row] = list(
            zip(
                block_at.tolist(),
                field_names[table.field[start:stop]].tolist(),
                values[table.value[start:stop]].tolist(),
                strict=True,
            )
        )
        lead_starts = [0, *(np.flatnonzero(np.diff(block_leads)) + 1).tolist()]
        lead_stops = [*lead_starts[1:], stop - start]
        for first, last in zip(lead_starts, lead_stops, strict=True):
            lead_rows = block_rows_[first:last]
            if late:
                lead_rows = [row for row in lead_rows if row[0] <= as_of]
            instants = by_instant(lead_rows)
            applied = list(instants) if with_instants else []
            lead = replay(rules, lead_ids[int(block_leads[first])], applied or instants)
            yield LeadResult(lead.lead_id, lead, judge_lead(rules, lead, as_of), applied)
        start = stop
        if progress is not None:
            progress(stop)


def lead_ranges(table: EventTable, parts: int) -> list[tuple[int, int]]:
    """Cut a sorted table into about ``parts`` row ranges of similar size, between leads."""
    total = len(table)
    if total == 0:
        return []
    boundaries = np.flatnonzero(np.diff(table.lead)) + 1
    cuts = [0]
    for k in range(1, parts):
        wanted = total * k // parts
        index = int(np.searchsorted(boundaries, wanted, side="left"))
        if index < len(boundaries) and int(boundaries[index]) > cuts[-1]:
            cuts.append(int(boundaries[index]))
    cuts.append(total)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
