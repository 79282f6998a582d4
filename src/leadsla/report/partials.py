"""The report of a history computed in parts (leads split by a hash of their id) and
merged exactly: what one part's computation returns, and the merge.

The interface, for every engine that splits a history by lead (the partitions of
:mod:`.partition` on one machine, Spark's groups):

* :func:`report_partial` takes one part's events (a :class:`~.sources.LeadEvents` of
  whole leads: every event of a lead is in the same part; ``LeadEvents.of(table)``
  for an :class:`~leadsla.core.events.EventTable`) and the
  :class:`~.settings.ReportSettings`, and returns a :class:`ReportPartial`. It holds
  no figure: it holds what the figures are computed from, as tallies.

  - ``facts``: the scorecard's :class:`~leadsla.core.metrics.Facts` of the part's
    leads, tallied (:func:`tally_facts`): the MQLs, and the clocks, that no figure
    tells apart are one row with a weight (how many it stands for), their attempts
    and connects summed. Time to follow-up, the scorecard's one percentile, keeps
    its exact values: a row per group and whole number of seconds, with how often it
    occurs (a value histogram, which adds).
  - ``analytics``: the analytics keys' :class:`~.analytics.AnalyticsTally`: counts
    per group (waterfall group and stage, speed-to-lead bucket, burn-up day, touch
    decay bin with its whole seconds summed) and the speed legs' exact lengths as a
    value histogram per leg, clock and group.

  A partial is plain data: it pickles (the worker processes and Spark's Python
  workers return it that way). The settings do not pickle (the calendars' holiday
  sources are closures): ship the :class:`~leadsla.config.Config`, which does, and
  build ``ReportSettings.of(build_rulebook(config), config)`` where the part is
  computed (:func:`.partition._worker_start` does so once per worker process).

* :func:`merged` takes the partials of all the parts (a list, or an iterator, which
  lets each partial go once added) and returns the report's figures: exactly the dict
  :func:`leadsla.report.full.report` returns for the whole history, the same JSON to
  the byte, in whatever order the parts come: counts and whole sums add the same in
  any order, and the percentiles are order statistics of the exact values.

Nothing here is approximate: no sketch, no sampling. The merge adds the tallies and
runs the one set of figure functions the in-memory report runs (which makes the same
analytics tallies of its one part, and reads its unfolded facts, a weight of one
each, with the same functions). The parent's memory is then that of the
tallies, which grow with the number of groups and of distinct seconds values, not
with the leads (``docs/scale.md``). Only the whole
company's report is made this way (a manager's scoped view, and a database's
recorded policy versions, are computed in memory).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from leadsla.core import metrics
from leadsla.core.metrics import Facts, MetricRules
from leadsla.report.analytics import (
    AnalyticsTally,
    analytics_frames,
    analytics_tally,
    tally_figures,
)
from leadsla.report.scorecard import scorecard_facts
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents


@dataclass(frozen=True)
class ReportPartial:
    """What one part of a history (whole leads) contributes to the report."""

    facts: Facts  # the scorecard's facts, tallied (weighted rows)
    analytics: AnalyticsTally
    lead_count: int


def report_partial(events: LeadEvents, settings: ReportSettings, as_of: int) -> ReportPartial:
    """The partial of one part's events, judged at ``as_of`` (the whole company's view:
    a scoped view is computed in memory)."""
    fast, replayed = scorecard_facts(events, settings, as_of)
    facts = tally_facts(metrics.merge_facts([fast, replayed]), settings.metric, as_of)
    del fast, replayed
    leads, entries = analytics_frames(events.table, settings, as_of)
    count = leads.height
    tally = analytics_tally(leads, entries, settings, as_of)
    return ReportPartial(facts, tally, count)


def merged(
    partials: Iterable[ReportPartial],
    settings: ReportSettings,
    as_of: int,
    period: str = "month",
) -> dict[str, Any]:
    """The report (SPEC §8 scorecard and analytics keys) of all the parts' leads.

    Each partial is added to the running tallies as it comes (its facts merged and
    tallied again, so that the running facts stay one row per group): given an
    iterator, only the running tallies and one partial are held at a time."""
    facts: Facts | None = None
    tally: AnalyticsTally | None = None
    for partial in partials:
        if facts is None or tally is None:
            facts, tally = partial.facts, partial.analytics
            continue
        facts = tally_facts(metrics.merge_facts([facts, partial.facts]), settings.metric, as_of)
        tally = tally.plus(partial.analytics)
    if facts is None or tally is None:
        raise ValueError("merged needs at least one partial")
    figures = metrics.scorecard(facts, settings.metric, as_of, period)
    del facts
    figures.update(tally_figures(tally, settings, as_of))
    return figures


# -- the scorecard's facts, tallied --------------------------------------------------------

# The MQL columns summed over the MQLs a row stands for (every figure sums them).
_SUMMED = ("attempts", "connects")
# The columns a row's weight is kept in while its facts are a frame.
_WEIGHT = "_weight"


def tally_facts(facts: Facts, metric: MetricRules, as_of: int) -> Facts:
    """The facts with the rows no figure of :func:`~leadsla.core.metrics.scorecard`
    tells apart folded into one, with its weight; the same figures as ``facts``.

    What a row keeps:

    * its instant moved back to the start of its month, or of the month-to-date
      stretch it is in (:func:`~leadsla.core.metrics.snapped_instants`): figures read
      instants only through those;
    * outside the report's widest period (the quarter of ``as_of``, which holds its
      month), a clock's grade, owner, team, score band and outcome, and an MQL's grade,
      team and score band: only ``by_month`` reads rows outside it, and it reads none
      of these; an MQL's owner and segment fields outside every commitment's period
      as well;
    * an MQL's attempts and connects as sums, with whether any connect (the connect
      rate counts MQLs with one);
    * a clock's business seconds only where time to follow-up reads them (a stopped
      clock of the MQL policy): a value histogram per group.
    """
    zone = metric.zone
    quarter = metrics.period_containing(as_of, "quarter", zone)
    periods = [quarter] + [
        metrics.period_containing(as_of, commitment.period, zone)
        for commitment in metric.commitments
    ]
    window = (min(p.start for p in periods), max(p.end for p in periods))
    mql_weight = metrics.row_weights(facts, clocks=False)
    clock_weight = metrics.row_weights(facts, clocks=True)

    mql_at = metrics.snapped_instants(facts.mql_at, as_of, zone)
    in_quarter = (mql_at >= quarter.start) & (mql_at < quarter.end)
    in_window = (mql_at >= window[0]) & (mql_at < window[1])
    mqls = pl.DataFrame(
        {
            "mql_at": mql_at,
            "grade": _blanked(facts.grade, in_quarter),
            "owner": _blanked(facts.owner, in_window),
            "team": _blanked(facts.team, in_quarter),
            "is_sal": facts.is_sal,
            "workable": facts.workable,
            "qualified": facts.qualified,
            "score_band": _blanked(facts.score_band, in_quarter),
            "sal_rejected": facts.sal_rejected,
            "sal_reason": facts.sal_reason,
            "reason_outcome": facts.reason_outcome,
            "reason": facts.reason,
            "connected": facts.connects > 0,
            **{
                f"segment:{name}": _blanked(codes, in_window)
                for name, codes in facts.segment.items()
            },
            "attempts": facts.attempts,
            "connects": facts.connects,
            _WEIGHT: mql_weight,
        }
    )
    keys = [name for name in mqls.columns if name not in (*_SUMMED, _WEIGHT)]
    mqls = mqls.group_by(keys).agg(pl.col(*_SUMMED, _WEIGHT).sum())

    started = metrics.snapped_instants(facts.clock_started_at, as_of, zone)
    clock_in = (started >= quarter.start) & (started < quarter.end)
    policy = metric.mql_policy
    mql_code = facts.policies.index(policy) if policy in facts.policies else -1
    timed = facts.clock_stopped & (facts.clock_policy == mql_code)
    clocks = pl.DataFrame(
        {
            "clock_policy": facts.clock_policy,
            "clock_started_at": started,
            "clock_state": facts.clock_state,
            "clock_grade": _blanked(facts.clock_grade, clock_in),
            "clock_owner": _blanked(facts.clock_owner, clock_in),
            "clock_team": _blanked(facts.clock_team, clock_in),
            "clock_score_band": _blanked(facts.clock_score_band, clock_in),
            "clock_stopped": facts.clock_stopped,
            "clock_seconds": np.where(timed, facts.clock_seconds, 0),
            "clock_outcome": _blanked(facts.clock_outcome, clock_in),
            _WEIGHT: clock_weight,
        }
    )
    keys = [name for name in clocks.columns if name != _WEIGHT]
    clocks = clocks.group_by(keys).agg(pl.col(_WEIGHT).sum())

    columns = {name: mqls[name].to_numpy() for name in mqls.columns}
    columns.update({name: clocks[name].to_numpy() for name in clocks.columns})
    return metrics.facts_of(
        columns,
        segment={name: columns[f"segment:{name}"] for name in facts.segment},
        grades=facts.grades,
        owners=facts.owners,
        teams=facts.teams,
        segment_values=facts.segment_values,
        policies=facts.policies,
        score_bands=facts.score_bands,
        sal_reasons=facts.sal_reasons,
        reasons=facts.reasons,
        mql_weight=mqls[_WEIGHT].to_numpy().astype(np.int64),
        clock_weight=clocks[_WEIGHT].to_numpy().astype(np.int64),
    )


def _blanked(codes: Any, kept: Any) -> Any:
    """The codes where ``kept``, else -1 (none): a value no figure reads there."""
    return np.where(kept, codes, -1).astype(codes.dtype)
