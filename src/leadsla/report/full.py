"""The full report: the SPEC §8 scorecard and the analytics keys of the events of any
source (:mod:`.sources`). What ``leadsla report``, ``GET /report`` and the pages show.
"""

from __future__ import annotations

from typing import Any

from leadsla.report.analytics import analytics
from leadsla.report.scorecard import scorecard
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents


def report(
    events: LeadEvents,
    settings: ReportSettings,
    as_of: int,
    period: str = "month",
    scope: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The report of the events judged at ``as_of``; ``period`` is that of ``overall``.

    ``scope`` (a manager's or rep's view) keeps the MQLs, clocks and leads of these reps.
    """
    figures = scorecard(events, settings, as_of, period, scope=scope)
    # The helper computed the keys of the whole table while the scorecard was worked
    # out here; a scoped view, or a helper that failed, leaves them to this process.
    keys = events.helper.analytics() if events.helper is not None and scope is None else None
    if keys is None:
        keys = analytics(events.table, settings, as_of, scope)
    figures.update(keys)
    return figures
