"""The scorecard of SPEC §8, from the events of any source (:mod:`.sources`).

The plain leads are evaluated in columns (:func:`~leadsla.core.columnar.columnar_facts`),
the others replayed by :meth:`LeadClocks.apply` and judged by :func:`judge_lead`, and
both sets of facts go to the one :func:`~leadsla.core.metrics.scorecard`: a file and the
database holding the same events give the same figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leadsla.core import metrics
from leadsla.core.columnar import columnar_facts, replayed_facts
from leadsla.core.metrics import Facts
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents


def scorecard(
    events: LeadEvents,
    settings: ReportSettings,
    as_of: int,
    period: str = "month",
    *,
    scope: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The SPEC §8 figures of the events, judged at ``as_of``.

    ``scope`` (a manager's or rep's view) keeps the MQLs whose owner at the MQL
    instant, and the clocks whose attributed owner, is one of these reps.
    """
    metric = settings.metric_for(scope)
    facts = metrics.merge_facts(scorecard_facts(events, settings, as_of, scope=scope))
    return metrics.scorecard(facts, metric, as_of, period)


def scorecard_facts(
    events: LeadEvents,
    settings: ReportSettings,
    as_of: int,
    *,
    scope: frozenset[str] | None = None,
) -> tuple[Facts, Facts]:
    """The facts the scorecard is computed from: those of the plain leads (the column
    path) and those of the leads the exact engine replays, in that order; merged by
    :func:`~leadsla.core.metrics.merge_facts`."""
    metric = settings.metric_for(scope)
    fast, exact_rows = columnar_facts(events.table, metric, as_of, owners=scope)
    # Only the leads the columns leave to the exact engine are named and replayed.
    rest = events.named(np.flatnonzero(exact_rows))
    return fast, replayed_facts(rest, metric, as_of, owners=scope)
