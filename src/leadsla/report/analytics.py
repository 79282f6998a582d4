"""The analytics keys of the report (``waterfall``, ``speed_to_lead``, ``burn_up``) and the
closed-loop segments, from an events table or from the database.

Both paths build the same event columns (:mod:`leadsla.report.frames`) and run the
same code on them, so a file and the database holding the same events give the same
figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from leadsla.config.schema import Config
from leadsla.core.analytics import WorkableRule
from leadsla.core.evaluate import LeadResult, lead_results
from leadsla.core.events import EventTable
from leadsla.core.metrics import MetricRules
from leadsla.core.policy import Rulebook
from leadsla.report.figures import burn_up, segments, speed_to_lead, waterfall
from leadsla.report.frames import EventColumns, event_columns, stored_event_columns
from leadsla.report.leads import Rows, lead_frame, mql_entries, needed_fields
from leadsla.report.scorecard import (
    metric_rules_from_config,
    report_from_database,
    stored_lead_results,
)
from leadsla.report.settings import ReportSettings

if TYPE_CHECKING:
    from sqlalchemy import Connection

ANALYTICS_KEYS = ("waterfall", "speed_to_lead", "burn_up")


def _commitment_fields(metric: MetricRules) -> list[str]:
    return list(metric.segment_fields)


def _scoped(frame: pl.DataFrame, owners: frozenset[str] | None) -> pl.DataFrame:
    if owners is None:
        return frame
    return frame.filter(pl.col("owner").is_in(sorted(owners)))


def analytics_of_columns(
    columns: EventColumns,
    settings: ReportSettings,
    metric: MetricRules,
    as_of: int,
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The analytics keys of the report, from event columns.

    ``scope_owners`` keeps the leads (and MQL entries) whose owner at the MQL instant is
    one of them, as the scorecard does for a manager's view.
    """
    attributes = _commitment_fields(metric)
    rows = Rows(columns, settings, needed_fields(attributes))
    # Rows keeps the settled rows it needs: the caller passes the columns without keeping
    # them, so on a large history they are freed here, not held to the end.
    del columns
    leads = _scoped(lead_frame(rows, settings), scope_owners)
    entries = _scoped(mql_entries(rows, settings, attributes), scope_owners)
    return {
        "waterfall": waterfall(leads),
        "speed_to_lead": speed_to_lead(leads, settings.rules, metric.speed_clock),
        "burn_up": burn_up(entries, metric.commitments, metric.workable, as_of, settings.zone),
    }


def analytics_from_events(
    rules: Rulebook,
    config: Config,
    table: EventTable,
    as_of: int,
    *,
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    metric = metric_rules_from_config(rules, config, scope_owners=scope_owners)
    fields = needed_fields(_commitment_fields(metric))
    return analytics_of_columns(
        event_columns(table, fields, as_of),
        ReportSettings.of(rules, config),
        metric,
        as_of,
        scope_owners,
    )


def analytics_from_database(
    connection: Connection,
    rules: Rulebook,
    config: Config,
    as_of: int,
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    metric = metric_rules_from_config(rules, config, scope_owners=scope_owners)
    fields = needed_fields(_commitment_fields(metric))
    return analytics_of_columns(
        stored_event_columns(connection, fields, as_of),
        ReportSettings.of(rules, config),
        metric,
        as_of,
        scope_owners,
    )


def full_report_from_database(
    connection: Connection,
    rules: Rulebook,
    config: Config,
    as_of: int,
    period: str = "month",
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The SPEC §8 report with the analytics keys: what ``GET /report`` and the pages show."""
    figures = report_from_database(connection, rules, config, as_of, period, scope_owners)
    figures.update(analytics_from_database(connection, rules, config, as_of, scope_owners))
    return figures


# -- closed-loop segments ---------------------------------------------------------------


def segments_of_columns(
    columns: EventColumns,
    settings: ReportSettings,
    by: Sequence[str],
    *,
    min_leads: int,
    sort: str,
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    """``scope_owners`` keeps the leads whose owner at the MQL instant is one of them (a
    manager's view, as the report's) and the capacity of those reps only."""
    leads = lead_frame(Rows(columns, settings, segment_fields(by)), settings, [*by, "source"])
    leads = _scoped(leads, scope_owners)
    capacities = {
        rep.id: rep.capacity
        for rep in settings.rules.reps.values()
        if scope_owners is None or rep.id in scope_owners
    }
    return segments(leads, by, settings.costs, WorkableRule(min_leads), capacities, sort=sort)


def segment_fields(by: Sequence[str]) -> tuple[str, ...]:
    return needed_fields([*by, "source"])


def segments_from_events(
    rules: Rulebook,
    config: Config,
    table: EventTable,
    as_of: int,
    by: Sequence[str],
    *,
    min_leads: int,
    sort: str,
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    columns = event_columns(table, segment_fields(by), as_of)
    return segments_of_columns(
        columns,
        ReportSettings.of(rules, config),
        by,
        min_leads=min_leads, sort=sort, scope_owners=scope_owners
    )


def segments_from_database(
    connection: Connection,
    rules: Rulebook,
    config: Config,
    as_of: int,
    by: Sequence[str],
    *,
    min_leads: int,
    sort: str,
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    columns = stored_event_columns(connection, segment_fields(by), as_of)
    return segments_of_columns(
        columns,
        ReportSettings.of(rules, config),
        by,
        min_leads=min_leads, sort=sort, scope_owners=scope_owners
    )


# -- per-clock values the charts need -----------------------------------------------------


def follow_up_seconds(
    results: Iterable[LeadResult], mql_policy: str | None
) -> npt.NDArray[np.int64]:
    """Business seconds of every stopped clock of the MQL policy (time to follow-up)."""
    values = [
        v.business_seconds
        for result in results
        for v in result.verdicts
        if v.policy == mql_policy and v.stopped_at is not None
    ]
    return np.array(values, dtype=np.int64)


def follow_up_seconds_from_events(
    rules: Rulebook, config: Config, table: EventTable, as_of: int
) -> npt.NDArray[np.int64]:
    metric = metric_rules_from_config(rules, config)
    ordered = table if table.ordered else table.sorted()
    return follow_up_seconds(lead_results(rules, ordered, as_of), metric.mql_policy)


def follow_up_seconds_from_database(
    connection: Connection, rules: Rulebook, config: Config, as_of: int
) -> npt.NDArray[np.int64]:
    metric = metric_rules_from_config(rules, config)
    return follow_up_seconds(stored_lead_results(connection, rules, as_of), metric.mql_policy)
