"""The offline replay: every lead of an event table through the clock, judged at one instant.

The table is columnar (see :mod:`leadsla.core.events`); rows are turned into Python
values a block at a time, so a history of millions of rows never becomes millions
of live Python objects. Each lead's rows go through :func:`~leadsla.core.clock.by_instant`
and :func:`~leadsla.core.clock.replay` — the grouping and the ``apply`` the live
service's :meth:`~leadsla.core.clock.LeadClocks.extend` runs too.

Most leads have a plain history (:mod:`leadsla.core.plain`): their verdicts are
judged a block at a time in columns, as replaying them would judge them (a property
test checks it), and their clocks are replayed only if a caller asks for them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from leadsla.core.clock import Change, LeadClocks, Verdict, by_instant, judge_lead, replay
from leadsla.core.columns import IndexArray
from leadsla.core.events import EventTable
from leadsla.core.plain import PlainRows, plain_rows, plain_verdicts
from leadsla.core.plain import supported as plain_supported
from leadsla.core.policy import Rulebook
from leadsla.core.scoring import Row

BLOCK_ROWS = 262_144


class LeadResult:
    """One lead replayed and judged: its verdicts, the instants replayed when asked for
    (what the metrics read), and its clocks (replayed on first use for a lead whose
    verdicts were judged in columns)."""

    __slots__ = ("_clocks", "_rebuild", "instants", "lead_id", "verdicts")

    def __init__(
        self,
        lead_id: str,
        clocks: LeadClocks | None,
        verdicts: list[Verdict],
        instants: list[tuple[int, list[Change]]],
        rebuild: Callable[[], LeadClocks] | None = None,
    ) -> None:
        self.lead_id = lead_id
        self.verdicts = verdicts
        self.instants = instants
        self._clocks = clocks
        self._rebuild = rebuild

    @property
    def clocks(self) -> LeadClocks:
        if self._clocks is None:
            assert self._rebuild is not None
            self._clocks = self._rebuild()
        return self._clocks


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
    leads = table.lead
    # Codes become Python values a block at a time through object arrays (one C-level
    # gather each), and rows become tuples in one zip: per-row Python work is what
    # dominates a replay of millions of rows.
    field_names = np.array(table.fields, dtype=object)
    values = np.array([*table.values, None], dtype=object)  # code -1 (cleared) -> None
    lead_ids = table.lead_ids
    # The metrics read each lead's instants: those leads are all replayed.
    columns = not with_instants and plain_supported(rules)

    def rows_of(chosen: IndexArray) -> list[Row]:
        return _rows(table, chosen, field_names, values)

    for start, stop in _blocks(table, rows, block_rows):
        block_leads = leads[start:stop]
        late = bool((table.at[start:stop] > as_of).any())
        lead_starts = [0, *(np.flatnonzero(np.diff(block_leads)) + 1).tolist()]
        lead_stops = [*lead_starts[1:], stop - start]
        if columns:
            plain = plain_verdicts(rules, table, as_of, start, stop)
            exact = plain.exact.tolist()
            # Only the leads left to the engine become Python rows.
            replayed = np.repeat(plain.exact, np.diff([*lead_starts, stop - start]))
            block_rows_ = rows_of(start + np.flatnonzero(replayed))
        else:
            exact = [True] * len(lead_starts)
            block_rows_ = rows_of(np.arange(start, stop))
        offset = 0
        block_ids = [lead_ids[code] for code in block_leads[lead_starts].tolist()]
        for index, (first, last) in enumerate(zip(lead_starts, lead_stops, strict=True)):
            lead_id = block_ids[index]
            if not exact[index]:
                yield LeadResult(
                    lead_id,
                    None,
                    plain.of(index),
                    [],
                    partial(_replayed, rules, table, as_of, lead_id, start + first, start + last),
                )
                continue
            lead_rows = block_rows_[offset : offset + last - first]
            offset += last - first
            yield _judged(rules, lead_id, lead_rows, as_of, late=late, keep=with_instants)
        if progress is not None:
            progress(stop)


def _blocks(
    table: EventTable, rows: tuple[int, int] | None, block_rows: int
) -> Iterator[tuple[int, int]]:
    """Row ranges of about ``block_rows`` within ``rows`` (default: all), cut between leads
    so that a lead is replayed from one block."""
    start, total = rows if rows is not None else (0, len(table))
    if total <= start:
        return
    boundaries = np.flatnonzero(np.diff(table.lead[start:total])) + 1 + start
    while start < total:
        stop = min(start + block_rows, total)
        if stop < total:
            cut = int(np.searchsorted(boundaries, stop, side="left"))
            stop = int(boundaries[cut]) if cut < len(boundaries) else total
        yield start, stop
        start = stop


def _judged(
    rules: Rulebook, lead_id: str, lead_rows: list[Row], as_of: int, *, late: bool, keep: bool
) -> LeadResult:
    """One lead replayed from its rows (those after ``as_of`` dropped if ``late``) and
    judged at ``as_of``; ``keep``: with the instants applied."""
    if late:
        lead_rows = [row for row in lead_rows if row[0] <= as_of]
    instants = by_instant(lead_rows)
    applied = list(instants) if keep else []
    lead = replay(rules, lead_id, applied or instants)
    return LeadResult(lead.lead_id, lead, judge_lead(rules, lead, as_of), applied)


@dataclass(frozen=True)
class LeadBlock:
    """The leads of a block of rows judged at one instant: ``leads`` (their codes in the
    table, in order), the cycles of the plain ones in columns (``plain.exact`` marks the
    others) and the verdicts of those others, replayed (by their index in ``leads``)."""

    leads: IndexArray
    plain: PlainRows
    replayed: list[tuple[int, list[Verdict]]]
    stop: int  # the row after the block


def lead_blocks(
    rules: Rulebook,
    table: EventTable,
    as_of: int,
    *,
    block_rows: int = BLOCK_ROWS,
    rows: tuple[int, int] | None = None,
) -> Iterator[LeadBlock]:
    """:func:`lead_results` a block of leads at a time, the plain leads left in columns:
    for writers that take columns (the clocks CSV), so that no verdict object is made
    for a lead that needs no replay."""
    field_names = np.array(table.fields, dtype=object)
    values = np.array([*table.values, None], dtype=object)
    for start, stop in _blocks(table, rows, block_rows):
        block_leads = table.lead[start:stop]
        heads = np.ones(block_leads.size, dtype=np.bool_)
        np.not_equal(block_leads[1:], block_leads[:-1], out=heads[1:])
        lead_starts = np.flatnonzero(heads)
        plain = plain_rows(rules, table, as_of, start, stop)
        exact = np.flatnonzero(plain.exact)
        replayed: list[tuple[int, list[Verdict]]] = []
        if exact.size:
            late = bool((table.at[start:stop] > as_of).any())
            sizes = np.diff(np.append(lead_starts, stop - start))
            chosen = np.repeat(plain.exact, sizes)
            block_rows_ = _rows(table, start + np.flatnonzero(chosen), field_names, values)
            offset = 0
            for index, size in zip(exact.tolist(), sizes[exact].tolist(), strict=True):
                lead_id = table.lead_ids[int(block_leads[lead_starts[index]])]
                lead_rows = block_rows_[offset : offset + size]
                offset += size
                result = _judged(rules, lead_id, lead_rows, as_of, late=late, keep=False)
                replayed.append((index, result.verdicts))
        yield LeadBlock(block_leads[lead_starts].astype(np.intp), plain, replayed, stop)


def _rows(
    table: EventTable,
    chosen: IndexArray,
    field_names: npt.NDArray[np.object_],
    values: npt.NDArray[np.object_],
) -> list[Row]:
    """Rows of the table as Python tuples (``values``: the value names, ``None`` last)."""
    return list(
        zip(
            table.at[chosen].tolist(),
            field_names[table.field[chosen]].tolist(),
            values[table.value[chosen]].tolist(),
            strict=True,
        )
    )


def _replayed(
    rules: Rulebook, table: EventTable, as_of: int, lead_id: str, first: int, last: int
) -> LeadClocks:
    """The clocks of the lead whose rows are ``[first, last)``, replayed up to ``as_of``."""
    field_names = np.array(table.fields, dtype=object)
    values = np.array([*table.values, None], dtype=object)
    rows = _rows(table, np.arange(first, last), field_names, values)
    return replay(rules, lead_id, by_instant(row for row in rows if row[0] <= as_of))


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
