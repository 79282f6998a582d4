"""The offline replay: every lead of an event table through the clock, judged at one instant.

The table is columnar (see :mod:`leadsla.core.events`); rows are turned into Python
values a block at a time, so a history of millions of rows never becomes millions
of live Python objects. Each lead goes through :meth:`LeadClocks.apply` — the very
code the live service runs event by event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from leadsla.core.clock import Change, LeadClocks, Verdict, judge_lead
from leadsla.core.events import EventTable
from leadsla.core.policy import Rulebook

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
    field_names = table.fields
    values = table.values
    lead_ids = table.lead_ids
    while start < total:
        stop = min(start + block_rows, total)
        if stop < total:
            cut = int(np.searchsorted(boundaries, stop, side="left"))
            stop = int(boundaries[cut]) if cut < len(boundaries) else total
        block_leads = leads[start:stop].tolist()
        block_at = table.at[start:stop].tolist()
        block_fields = table.field[start:stop].tolist()
        block_values = table.value[start:stop].tolist()
        index = 0
        count = stop - start
        while index < count:
            code = block_leads[index]
            lead = LeadClocks(lead_ids[code])
            instants: list[tuple[int, list[Change]]] = []
            pending: list[Change] = []
            pending_at = 0
            while index < count and block_leads[index] == code:
                at = block_at[index]
                if at <= as_of:
                    if pending and at != pending_at:
                        lead.apply(rules, pending_at, pending)
                        if with_instants:
                            instants.append((pending_at, pending))
                        pending = []
                    pending_at = at
                    value = block_values[index]
                    pending.append(
                        (field_names[block_fields[index]], None if value < 0 else values[value])
                    )
                index += 1
            if pending:
                lead.apply(rules, pending_at, pending)
                if with_instants:
                    instants.append((pending_at, pending))
            yield LeadResult(lead.lead_id, lead, judge_lead(rules, lead, as_of), instants)
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
