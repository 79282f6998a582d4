"""The analytics beyond the SPEC §8 scorecard, from an event table of any source
(:mod:`.sources`): the report's analytics keys (``waterfall``, ``speed_to_lead``,
``burn_up``), the closed-loop segments and the follow-up times the charts draw.

Each runs on the table's event columns (:mod:`.columns`), so a file and the database
holding the same events give the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from leadsla.core.analytics import WorkableRule
from leadsla.core.evaluate import lead_results
from leadsla.core.events import EventTable
from leadsla.report import figures, speed
from leadsla.report.columns import event_columns
from leadsla.report.leads import (
    COMPUTED,
    LEAD_COLUMNS,
    Rows,
    lead_frame,
    mql_entries,
    needed_fields,
)
from leadsla.report.settings import ReportSettings
from leadsla.report.speed import with_milestones


def _scoped(frame: pl.DataFrame, scope: frozenset[str] | None) -> pl.DataFrame:
    if scope is None:
        return frame
    return frame.filter(pl.col("owner").is_in(sorted(scope)))


def analytics(
    table: EventTable,
    settings: ReportSettings,
    as_of: int,
    scope: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The analytics keys of the report, of the events up to ``as_of``.

    ``scope`` keeps the leads (and MQL entries) whose owner at the MQL instant is one
    of these reps, as the scorecard does for a manager's view.
    """
    leads, entries = analytics_frames(table, settings, as_of, scope)
    return analytics_figures(leads, entries, settings, as_of)


def analytics_frames(
    table: EventTable,
    settings: ReportSettings,
    as_of: int,
    scope: frozenset[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the analytics keys are computed from: the lead frame (one row per lead, in
    the table's lead order, with its speed milestones) and the MQL entries (one row per
    entry, in lead order). Frames of disjoint sets of leads, concatenated in lead order,
    give the figures of all of them (:mod:`.partials`)."""
    attributes = list(settings.metric.watched_fields)
    # ``segment`` cuts the speed legs (the lead's last value, like any attribute).
    fields = needed_fields(list(dict.fromkeys([*attributes, "segment"])))
    # Rows keeps only the settled rows it needs: the columns are not held here, so on a
    # large history they are freed as soon as Rows is built.
    rows = Rows(event_columns(table, fields, as_of), settings, fields)
    leads = _scoped(with_milestones(rows, lead_frame(rows, settings, ["segment"]), settings), scope)
    entries = _scoped(mql_entries(rows, settings, attributes), scope)
    # The row arrays (hundreds of MB on millions of leads) go with this frame, before
    # the figures, the speed legs' arrays above all, are worked out.
    return leads, entries


@dataclass(frozen=True)
class AnalyticsTally:
    """All the analytics keys read of a set of leads: counts per group where a figure
    is a count or a sum (the waterfall's leads per group and stage, speed to lead's per
    bucket, the burn-up's MQL entries per day, the touch decay's leads and seconds per
    bin), and the speed legs' exact lengths as value histograms per group. The
    tallies of disjoint sets of leads add up (:meth:`plus`) to the tally of all."""

    waterfall: pl.DataFrame  # figures.waterfall_tally
    speed_to_lead: npt.NDArray[np.int64]  # figures.speed_to_lead_tally
    burn_up: list[npt.NDArray[np.int64]]  # figures.burn_up_tally
    decay: npt.NDArray[np.int64]  # speed.decay_tally
    legs: speed.LegTally | None  # None: left to speed.speed_legs (a report in memory)

    def plus(self, other: AnalyticsTally) -> AnalyticsTally:
        # The waterfall's counts are summed per key again, so that it stays one row per
        # group and stage however many parts are added.
        keys = [name for name in self.waterfall.columns if name != "n"]
        stacked = pl.concat([self.waterfall, other.waterfall], how="vertical")
        return AnalyticsTally(
            waterfall=stacked.group_by(keys).agg(pl.col("n").sum()),
            speed_to_lead=self.speed_to_lead + other.speed_to_lead,
            burn_up=[a + b for a, b in zip(self.burn_up, other.burn_up, strict=True)],
            decay=self.decay + other.decay,
            legs=None if self.legs is None or other.legs is None else self.legs.plus(other.legs),
        )


def analytics_tally(
    leads: pl.DataFrame,
    entries: pl.DataFrame,
    settings: ReportSettings,
    as_of: int,
    milestones: speed.Milestones | None = None,
    legs: bool = True,
) -> AnalyticsTally:
    """The tally of the frames of :func:`analytics_frames` (``milestones``: the leads',
    if the caller has them; ``legs``: whether to tally the speed legs)."""
    metric = settings.metric
    # Speed to lead and the speed legs read the same milestones in business time.
    if milestones is None:
        milestones = speed.Milestones.of(leads, settings.rules)
    return AnalyticsTally(
        waterfall=figures.waterfall_tally(leads),
        speed_to_lead=figures.speed_to_lead_tally(
            leads, settings.rules, metric.speed_clock, milestones.waits
        ),
        burn_up=figures.burn_up_tally(
            entries, metric.commitments, metric.workable, as_of, settings.zone
        ),
        decay=speed.decay_tally(milestones.mqls, milestones.present, milestones.business),
        legs=speed.LegTally.of(
            milestones.mqls, milestones.instants, milestones.present, milestones.business
        )
        if legs
        else None,
    )


def tally_figures(tally: AnalyticsTally, settings: ReportSettings, as_of: int) -> dict[str, Any]:
    """The analytics keys of an :class:`AnalyticsTally` (``speed_legs`` ``None`` if it
    holds no legs)."""
    metric = settings.metric
    return {
        "waterfall": figures.waterfall(tally.waterfall),
        "speed_to_lead": figures.speed_to_lead_figure(tally.speed_to_lead, metric.speed_clock),
        "burn_up": figures.burn_up_figure(tally.burn_up, metric.commitments, as_of, settings.zone),
        "speed_legs": None if tally.legs is None else speed.legs_figure(tally.legs),
        "touch_decay": speed.decay_figure(tally.decay),
    }


def analytics_figures(
    leads: pl.DataFrame, entries: pl.DataFrame, settings: ReportSettings, as_of: int
) -> dict[str, Any]:
    """The analytics keys of the frames of :func:`analytics_frames`: those of their
    tally, so that a report in parts (:mod:`.partials`) and one in memory are the same;
    but the speed legs straight from the leads' lengths, which takes a third of the
    time of their value histograms (:func:`.speed.speed_legs`; the partitions' tests
    compare the two ways)."""
    milestones = speed.Milestones.of(leads, settings.rules)
    tally = analytics_tally(leads, entries, settings, as_of, milestones, legs=False)
    found = tally_figures(tally, settings, as_of)
    found["speed_legs"] = speed.speed_legs(
        milestones.mqls, milestones.instants, milestones.present, milestones.business
    )
    return found


# Columns the segments table works out per lead: cutting by a field of the same name
# would mix the field with the figure.
RESERVED = (frozenset(LEAD_COLUMNS) | {"mql", "sal", "opportunity", "month"}) - COMPUTED
ALWAYS = COMPUTED | {"source"}


def segment_field_problem(table: EventTable, by: Sequence[str]) -> str | None:
    """Why the segments cannot be cut ``by`` these fields of this table (``None``: they can).

    Any field of the events will do, and ``grade``, ``owner`` and ``team`` (worked out at
    the MQL instant) and ``source`` (what costs are read by, the default cut) even when
    no event carries them; any other field no event carries is a typo, not a segment of
    one value."""
    if not by:
        return "name at least one field"
    if len(set(by)) != len(by):
        return "names a field twice"
    for name in by:
        if name in RESERVED:
            return f"{name!r} is a figure of the segments table, not a field to cut by"
    carried = set(table.fields)
    missing = [name for name in by if name not in ALWAYS and name not in carried]
    if missing and len(table):
        return f"no event carries the field {missing[0]!r}"
    return None


def segment_fields(by: Sequence[str]) -> tuple[str, ...]:
    """The fields the segments cut ``by`` read (a database source may read only these)."""
    return needed_fields([*by, "source"])


def segments(
    table: EventTable,
    settings: ReportSettings,
    as_of: int,
    by: Sequence[str],
    *,
    min_leads: int,
    sort: str,
    scope: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The closed-loop segments cut ``by`` these fields, ranked by ``sort``.

    ``scope`` keeps the leads whose owner at the MQL instant is one of these reps (a
    manager's view, as the report's) and the capacity of those reps only. Raises
    ``ValueError`` when :func:`segment_field_problem` finds one."""
    problem = segment_field_problem(table, by)
    if problem is not None:
        raise ValueError(problem)
    fields = segment_fields(by)
    rows = Rows(event_columns(table, fields, as_of), settings, fields)
    leads = _scoped(lead_frame(rows, settings, [*by, "source"]), scope)
    capacities = {
        rep.id: rep.capacity
        for rep in settings.rules.reps.values()
        if scope is None or rep.id in scope
    }
    rule = WorkableRule(min_leads)
    return figures.segments(leads, by, settings.costs, rule, capacities, sort=sort)


def follow_up_seconds(
    table: EventTable, settings: ReportSettings, as_of: int
) -> npt.NDArray[np.int64]:
    """Business seconds of every stopped clock of the MQL policy (time to follow-up; a
    cycle ended by a reassignment is none), of a table with its lead ids (the replay
    names each lead)."""
    mql_policy = settings.metric.mql_policy
    if mql_policy is None:
        return np.zeros(0, dtype=np.int64)
    ordered = table if table.ordered else table.sorted()
    values: list[int] = []
    for result in lead_results(settings.rules, ordered, as_of):
        verdicts = [v for v in result.verdicts if v.policy == mql_policy]
        # A cycle ended by a reassignment is the only one whose stop is the next cycle's
        # start (SPEC §9.2): it was handed over, not followed up.
        handed_over = {later.started_at for later in verdicts[1:]}
        values.extend(
            v.business_seconds
            for v in verdicts
            if v.stopped_at is not None and v.stopped_at not in handed_over
        )
    return np.array(values, dtype=np.int64)
