"""The report of a history computed in parts (leads split by a hash of their id) and
merged exactly: what one part's computation returns, and the merge.

The interface, for every engine that splits a history by lead (the partitions of
:mod:`.partition` on one machine, Spark's groups):

* :func:`report_partial` takes one part's events (a :class:`~.sources.LeadEvents` of
  whole leads: every event of a lead is in the same part) and returns a
  :class:`ReportPartial`. It holds no figure: it holds what the figures are computed
  from, reduced to one row per MQL, clock cycle, lead or MQL entry of the part:

  - ``facts``: the scorecard's :class:`~leadsla.core.metrics.Facts` of the part's plain
    leads (the column path) and of its replayed leads, NumPy columns with their name
    lists (counts and sums merge by concatenation; the percentiles, time to follow-up,
    need the exact values, which these are);
  - ``leads``: the analytics' lead frame (one row per lead, with its speed-to-lead
    milestones), the columns the figures read; ``entries``: one row per MQL entry (the
    burn-up's). Polars frames: ``frame.to_arrow()`` gives them to Arrow.

  A partial is plain data: it pickles (the worker processes return it that way) and
  every column converts to Arrow.

* :func:`merged` takes the partials of all the parts and returns the report's figures:
  exactly the dict :func:`leadsla.report.full.report` returns for the whole history,
  the same JSON to the byte, when the parts are given in the order of their leads in
  the whole history's table. For a file read on Polars that order is the order of the
  64-bit Polars hash (seed 0) of the lead ids (:mod:`.fast_reader`), which is why
  :mod:`.partition` cuts that hash into ranges, the lowest first. Parts in any other
  order give the same counts, rates and percentiles; only the touch-decay's mean hours
  per bin, a floating-point sum in lead order, may then differ in its last bits.

Nothing here is approximate: no sketch, no sampling. The merge concatenates the
parts' columns and runs the one set of figure functions the in-memory report runs.
Its memory is that of the reduced rows (measured in ``docs/benchmarks.md``), far
below that of the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from leadsla.core import metrics
from leadsla.core.metrics import Facts
from leadsla.report.analytics import analytics_figures, analytics_frames
from leadsla.report.scorecard import scorecard_facts
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents

# Lead-frame columns no figure reads (the part's own lead numbers, the instant and
# stage of the opportunity, the deal's amount): left out of a partial.
_UNREAD_LEAD_COLUMNS = ("lead", "opportunity_at", "level", "amount")


@dataclass(frozen=True)
class ReportPartial:
    """What one part of a history (whole leads) contributes to the report."""

    fast_facts: Facts  # the plain leads' scorecard facts (the column path)
    replayed_facts: Facts  # those of the leads the exact engine replays
    leads: pl.DataFrame  # analytics' lead frame, in the part's lead order
    entries: pl.DataFrame  # analytics' MQL entries, in the part's lead order

    @property
    def lead_count(self) -> int:
        return self.leads.height


def report_partial(events: LeadEvents, settings: ReportSettings, as_of: int) -> ReportPartial:
    """The partial of one part's events, judged at ``as_of`` (the whole company's view:
    a scoped view is computed in memory)."""
    fast, replayed = scorecard_facts(events, settings, as_of)
    leads, entries = analytics_frames(events.table, settings, as_of)
    kept = [name for name in leads.columns if name not in _UNREAD_LEAD_COLUMNS]
    return ReportPartial(fast, replayed, leads.select(kept), entries.drop("lead", strict=False))


def merged(
    partials: Iterable[ReportPartial],
    settings: ReportSettings,
    as_of: int,
    period: str = "month",
) -> dict[str, Any]:
    """The report (SPEC §8 scorecard and analytics keys) of all the parts' leads.

    The facts are merged as the in-memory report merges its two sets (every part's
    column-path facts, then every part's replayed ones), the frames concatenated in the
    parts' order. Given an iterator, this holds each partial's parts only as long as
    they are needed: the parts' facts go once they are merged."""
    fast: list[Facts] = []
    replayed: list[Facts] = []
    leads: list[pl.DataFrame] = []
    entries: list[pl.DataFrame] = []
    for partial in partials:
        fast.append(partial.fast_facts)
        replayed.append(partial.replayed_facts)
        leads.append(partial.leads)
        entries.append(partial.entries)
    if not fast:
        raise ValueError("merged needs at least one partial")
    facts = metrics.merge_facts(fast + replayed)
    fast.clear()
    replayed.clear()
    figures = metrics.scorecard(facts, settings.metric, as_of, period)
    del facts
    lead_frame = pl.concat(leads, how="vertical", rechunk=False)
    entry_frame = pl.concat(entries, how="vertical", rechunk=False)
    leads.clear()
    entries.clear()
    figures.update(analytics_figures(lead_frame, entry_frame, settings, as_of))
    return figures
