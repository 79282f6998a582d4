"""The analytics figures from the lead and MQL-entry frames: JSON-ready dicts.

Definitions: ``docs/analytics.md``. Ratios are fractions, ``null`` where the
denominator is 0; intervals are 95 % Wilson score intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from leadsla.core.analytics import SPEED_BUCKETS, WorkableRule, speed_bucket_index, wilson_bounds
from leadsla.core.columns import MICROS_PER_SECOND, SECONDS_PER_DAY, BoolArray
from leadsla.core.instants import offsets_seconds
from leadsla.core.metrics import Commitment, mql_policy_of, period_containing
from leadsla.core.policy import Rulebook
from leadsla.core.workable import Coded, Workable
from leadsla.report.settings import Costs

WATERFALL_GROUPS = {
    "by_grade": "grade",
    "by_owner": "owner",
    "by_team": "team",
    "by_month": "month",
}
STAGES = ("inquiries", "mqls", "sals", "opportunities", "won")
BURN_UP_METRICS = ("mqls", "workable_leads")
# Fields segments are often cut by (any field of the events will do: ``leadsla segments
# --by``, ``GET /segments?by=``).
SEGMENT_FIELDS = ("source", "industry", "product_line", "grade", "owner", "team", "segment")


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else float(numerator) / float(denominator)


def _number(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


# -- demand waterfall ---------------------------------------------------------------------


# What the waterfall tells leads apart by: its groups and the stages a lead reached.
WATERFALL_KEYS = (*WATERFALL_GROUPS.values(), "mql", "sal", "opportunity", "won", "lost")


def waterfall_tally(leads: pl.DataFrame) -> pl.DataFrame:
    """The leads counted (``n``) per group and stages reached: all the waterfall reads.
    Tallies of disjoint sets of leads, stacked, are the tally of all of them (``n``
    summed per key by :func:`waterfall`)."""
    untouched = (pl.col("mql") & pl.col("touch_at").is_null()).alias("untouched")
    return (
        leads.select(*WATERFALL_KEYS, untouched)
        .group_by(*WATERFALL_KEYS, "untouched")
        .agg(pl.len().cast(pl.Int64).alias("n"))
    )


def _waterfall_aggs() -> list[pl.Expr]:
    n = pl.col("n")
    return [
        n.sum().alias("inquiries"),
        n.filter(pl.col("mql")).sum().alias("mqls"),
        n.filter(pl.col("sal")).sum().alias("sals"),
        n.filter(pl.col("opportunity")).sum().alias("opportunities"),
        n.filter(pl.col("won")).sum().alias("won"),
        n.filter(pl.col("lost")).sum().alias("lost"),
        n.filter(pl.col("untouched")).sum().alias("never_touched"),
    ]


def _waterfall_figure(row: Mapping[str, Any]) -> dict[str, Any]:
    counts = {name: int(row[name]) for name in (*STAGES, "lost", "never_touched")}
    return {
        **{name: counts[name] for name in STAGES},
        "lost": counts["lost"],
        "inquiry_to_mql": ratio(counts["mqls"], counts["inquiries"]),
        "mql_to_sal": ratio(counts["sals"], counts["mqls"]),
        "sal_to_opportunity": ratio(counts["opportunities"], counts["sals"]),
        "opportunity_to_won": ratio(counts["won"], counts["opportunities"]),
        "lead_to_opportunity": ratio(counts["opportunities"], counts["inquiries"]),
        "win_rate": ratio(counts["won"], counts["won"] + counts["lost"]),
        "never_touched": counts["never_touched"],
        "never_touched_share": ratio(counts["never_touched"], counts["mqls"]),
    }


def waterfall(tally: pl.DataFrame) -> dict[str, Any]:
    """Inquiry → MQL → SAL → opportunity → won, overall (the whole history up to the
    evaluation instant) and by grade, owner, team (at the MQL instant) and inquiry month,
    of the leads of a :func:`waterfall_tally` (or of several, stacked)."""
    overall = tally.select(_waterfall_aggs()).row(0, named=True)
    result: dict[str, Any] = {"overall": _waterfall_figure(overall)}
    for group, column in WATERFALL_GROUPS.items():
        rows = (
            tally.filter(pl.col(column).is_not_null())
            .group_by(column)
            .agg(_waterfall_aggs())
            .sort(column)
        )
        result[group] = {row[column]: _waterfall_figure(row) for row in rows.iter_rows(named=True)}
    return result


# -- speed to lead ------------------------------------------------------------------------


SPEED_CLOCKS = ("wall", "business")


def mql_calendars(owners: pl.Series, rules: Rulebook) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The calendars each lead's business time is measured on, as names and a code per
    lead into them: the one the MQL policy's clock runs on for ``owners`` (the owner at
    the MQL instant; SPEC §4 rule 2, a lead without owner as the clock treats it), else
    the default calendar."""
    policy = mql_policy_of(rules)

    def calendar_for(owner: str | None) -> str:
        return rules.default_calendar if policy is None else rules.calendar_name_for(policy, owner)

    owner_codes, owner_names = _coded(owners)
    named = [calendar_for(name) for name in owner_names]
    names = sorted({*named, calendar_for(None)})
    index = {name: k for k, name in enumerate(names)}
    # By owner code; code -1 (no owner) reads the last slot. Codes, not a replace of
    # millions of strings: a third of the time.
    calendar_of = np.array([index[name] for name in [*named, calendar_for(None)]], dtype=np.int64)
    return names, calendar_of[owner_codes]


def business_waits(mqls: pl.DataFrame, rules: Rulebook) -> npt.NDArray[np.int64]:
    """Business seconds from each MQL instant to the first touch (0 where untouched).

    The calendar is the one the MQL policy's clock runs on for the owner at the MQL
    instant (SPEC §4 rule 2; a lead without owner as the clock treats it), else the
    default calendar.
    """
    names, calendar = mql_calendars(mqls["owner"], rules)
    start = mqls["mql_at"].to_numpy().astype(np.int64)
    touched = mqls["touch_at"].is_not_null().to_numpy()
    end = np.where(touched, mqls["touch_at"].fill_null(0).to_numpy(), start).astype(np.int64)
    waits = np.zeros(len(mqls), dtype=np.int64)
    for code, name in enumerate(names):
        on = np.flatnonzero(calendar == code)
        elapsed = rules.calendars[name].elapsed_many(start[on], end[on])
        waits[on] = np.asarray(elapsed, dtype=np.int64) // MICROS_PER_SECOND
    return waits


def speed_to_lead(
    leads: pl.DataFrame,
    rules: Rulebook | None = None,
    clock: str = "wall",
    waits: npt.NDArray[np.int64] | None = None,
) -> dict[str, Any]:
    """Conversion to opportunity of MQL leads by time to first touch: wall-clock time,
    or business time (``clock="business"``, which needs the ``rules``' calendars).
    ``waits``: the MQLs' :func:`business_waits`, if the caller has them already."""
    return speed_to_lead_figure(speed_to_lead_tally(leads, rules, clock, waits), clock)


def speed_to_lead_tally(
    leads: pl.DataFrame,
    rules: Rulebook | None = None,
    clock: str = "wall",
    waits: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """Per bucket of :data:`SPEED_BUCKETS` (columns), the MQL leads, their
    opportunities and their wins (rows): all :func:`speed_to_lead` reads. Tallies of
    disjoint sets of leads add."""
    if clock not in SPEED_CLOCKS:
        raise ValueError(f"speed to lead is measured in {' or '.join(SPEED_CLOCKS)} time")
    mqls = leads.filter(pl.col("mql"))
    touched = mqls["touch_at"].is_not_null().to_numpy()
    if clock == "business":
        if rules is None:
            raise ValueError("speed to lead in business time needs the calendars")
        waited = business_waits(mqls, rules) if waits is None else waits
    else:
        waited = ((mqls["touch_at"].fill_null(0) - mqls["mql_at"]) // MICROS_PER_SECOND).to_numpy()
    bucket = speed_bucket_index(waited.astype(np.int64), touched)
    size = len(SPEED_BUCKETS)
    tally = np.zeros((3, size), dtype=np.int64)
    tally[0] = np.bincount(bucket, minlength=size)
    tally[1] = np.bincount(bucket[mqls["opportunity"].to_numpy()], minlength=size)
    tally[2] = np.bincount(bucket[mqls["won"].to_numpy()], minlength=size)
    return tally


def speed_to_lead_figure(tally: npt.NDArray[np.int64], clock: str) -> dict[str, Any]:
    """:func:`speed_to_lead` of a :func:`speed_to_lead_tally`."""
    counts, opportunities, won = tally
    low, high = wilson_bounds(opportunities.astype(np.float64), counts.astype(np.float64))
    buckets = [
        {
            "bucket": spec.name,
            "label": spec.label,
            "leads": int(counts[k]),
            "opportunities": int(opportunities[k]),
            "won": int(won[k]),
            "conversion": ratio(opportunities[k], counts[k]),
            "conversion_low": _number(low[k]),
            "conversion_high": _number(high[k]),
        }
        for k, spec in enumerate(SPEED_BUCKETS)
    ]
    leads = int(counts.sum())
    return {"clock": clock, "conversion": "opportunity", "leads": leads, "buckets": buckets}


# -- commitment burn-up -------------------------------------------------------------------


def _local_days(instants: np.ndarray[Any, Any], zone: tzinfo) -> np.ndarray[Any, Any]:
    instants = np.asarray(instants, dtype=np.int64)
    local = instants // MICROS_PER_SECOND + offsets_seconds(instants, zone)
    return local // SECONDS_PER_DAY


def _segment_filter(commitment: Commitment) -> pl.Expr:
    keep = pl.lit(True)
    for name, allowed in commitment.segment.items():
        keep = keep & pl.col(name).is_in(sorted(allowed))
    return keep


def _coded(values: pl.Series) -> Coded:
    """A text column as value codes (-1: null) and the name of each code."""
    names, codes = text_codes(values, ordered=False)
    return codes, names


def text_codes(values: pl.Series, *, ordered: bool) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The distinct values of a text column, sorted if ``ordered`` (else in the order they
    first appear), and each value's index among them (-1: null)."""
    distinct = values.drop_nulls().unique(maintain_order=True)
    names = sorted(distinct.to_list()) if ordered else distinct.to_list()
    if values.dtype != pl.Categorical:
        # A cast to the names as an enum codes them: a third of the time of a replace.
        codes = values.cast(pl.Enum(names)).to_physical().cast(pl.Int64).fill_null(-1)
        return names, codes.to_numpy()
    # A categorical is integers already: its few categories are mapped to the names'
    # indices, where a cast would look every value up by its text.
    index = {name: k for k, name in enumerate(names)}
    categories = distinct.to_physical().cast(pl.Int64).to_numpy()
    table = np.full(int(categories.max(initial=-1)) + 2, -1, dtype=np.int64)
    table[categories] = [index[name] for name in distinct.to_list()]
    physical = values.to_physical().cast(pl.Int64).fill_null(len(table) - 1)
    return names, table[physical.to_numpy()]


def workable_mask(frame: pl.DataFrame, workable: Workable) -> BoolArray:
    """Which rows (MQL entries, with ``grade`` and the fields the rule reads as they
    stood at the MQL instant) are workable: :meth:`Workable.column`, as the scorecard."""
    missing = pl.Series([None] * len(frame), dtype=pl.Utf8)
    fields = {
        name: _coded(frame[name] if name in frame.columns else missing) for name in workable.fields
    }
    return workable.column(_coded(frame["grade"].cast(pl.Utf8)), fields)


def burn_up(
    entries: pl.DataFrame,
    commitments: Sequence[Commitment],
    workable: Workable,
    as_of: int,
    zone: tzinfo,
) -> list[dict[str, Any]]:
    """Cumulative MQL entries per day of each ``mqls``/``workable_leads`` commitment's
    current period, up to the evaluation instant, beside the target."""
    daily = burn_up_tally(entries, commitments, workable, as_of, zone)
    return burn_up_figure(daily, commitments, as_of, zone)


def burn_up_tally(
    entries: pl.DataFrame,
    commitments: Sequence[Commitment],
    workable: Workable,
    as_of: int,
    zone: tzinfo,
) -> list[npt.NDArray[np.int64]]:
    """Per ``mqls``/``workable_leads`` commitment, its MQL entries per day of its
    current period up to ``as_of``: all :func:`burn_up` reads. Tallies of disjoint
    sets of leads add."""
    result: list[npt.NDArray[np.int64]] = []
    for commitment in commitments:
        if commitment.metric not in BURN_UP_METRICS:
            continue
        period = period_containing(as_of, commitment.period, zone)
        chosen = entries.filter((pl.col("at") >= period.start) & (pl.col("at") <= as_of)).filter(
            _segment_filter(commitment)
        )
        if commitment.metric == "workable_leads":
            chosen = chosen.filter(workable_mask(chosen, workable))
        first, last = _local_days(np.array([period.start, as_of]), zone).tolist()
        days = _local_days(chosen["at"].to_numpy(), zone) - first
        result.append(np.bincount(days.astype(np.int64), minlength=last - first + 1))
    return result


def burn_up_figure(
    daily_counts: Sequence[npt.NDArray[np.int64]],
    commitments: Sequence[Commitment],
    as_of: int,
    zone: tzinfo,
) -> list[dict[str, Any]]:
    """:func:`burn_up` of a :func:`burn_up_tally`."""
    chosen = [c for c in commitments if c.metric in BURN_UP_METRICS]
    result: list[dict[str, Any]] = []
    for commitment, daily in zip(chosen, daily_counts, strict=True):
        period = period_containing(as_of, commitment.period, zone)
        first, last = _local_days(np.array([period.start, as_of]), zone).tolist()
        cumulative = np.cumsum(daily).tolist()
        dates = (np.arange(first, last + 1).astype("datetime64[D]")).astype(str).tolist()
        result.append(
            {
                "name": commitment.name,
                "metric": commitment.metric,
                "period": period.describe(zone),
                "target": int(commitment.target)
                if commitment.target.is_integer()
                else commitment.target,
                "count": int(cumulative[-1]) if cumulative else 0,
                "days": [
                    {"date": d, "count": int(c)} for d, c in zip(dates, cumulative, strict=True)
                ],
            }
        )
    return result


# -- closed-loop segments -----------------------------------------------------------------


SORT_KEYS = {
    "profit": "profit_per_lead",
    "revenue": "revenue_per_lead",
    "conversion": "conversion",
    "win": "win_rate",
    "leads": "leads",
}


def segments(
    leads: pl.DataFrame,
    by: Sequence[str],
    costs: Costs | None,
    rule: WorkableRule,
    capacities: Mapping[str, int | None],
    sort: str = "profit",
) -> dict[str, Any]:
    """Every combination of the ``by`` fields, ranked; which are workable; capacity."""
    cost_map = dict(costs.per_lead) if costs is not None else {}
    default = costs.default if costs is not None else None
    if "source" in leads.columns:
        cost = pl.col("source").replace_strict(cost_map, default=default, return_dtype=pl.Float64)
    else:
        cost = pl.lit(default, dtype=pl.Float64)
    leads = leads.with_columns(cost.alias("_cost"))
    months = leads["month"].drop_nulls().unique().sort()
    span = _month_span(months.to_list())
    table = (
        leads.group_by(list(by))
        .agg(
            pl.len().alias("leads"),
            pl.col("mql").sum().alias("mqls"),
            pl.col("opportunity").sum().alias("opportunities"),
            pl.col("won").sum().alias("won"),
            pl.col("lost").sum().alias("lost"),
            pl.col("amount").filter(pl.col("won")).fill_null(0).sum().alias("revenue"),
            pl.col("_cost").fill_null(0).sum().alias("cost"),
            pl.col("_cost").is_null().sum().alias("leads_without_cost"),
        )
        .with_columns(
            (pl.col("revenue") / pl.col("leads")).alias("revenue_per_lead"),
            (pl.col("cost") / pl.col("leads")).alias("cost_per_lead"),
            (pl.col("opportunities") / pl.col("leads")).alias("conversion"),
            (pl.col("won") / pl.col("leads")).alias("win_rate"),
        )
        .with_columns(
            (pl.col("revenue_per_lead") - pl.col("cost_per_lead")).alias("profit_per_lead"),
        )
    )
    leads_n = table["leads"].to_numpy().astype(np.float64)
    conv_low, conv_high = wilson_bounds(table["opportunities"].to_numpy(), leads_n)
    win_low, win_high = wilson_bounds(table["won"].to_numpy(), leads_n)
    won = table["won"].to_numpy().astype(np.float64)
    revenue = table["revenue"].to_numpy()
    # A segment without a win has no deal of its own to price its win rate at: it takes
    # the mean won deal of every segment, so its interval shows what a first win could be
    # worth (0 wins of 1 lead is not "never": Wilson's high end is 79 %).
    overall_won = float(won.sum())
    overall_deal = float(revenue.sum()) / overall_won if overall_won else 0.0
    mean_deal = np.full_like(revenue, overall_deal)
    np.divide(revenue, won, out=mean_deal, where=won > 0)
    cost_per_lead = table["cost_per_lead"].to_numpy()
    table = table.with_columns(
        pl.Series("conversion_low", conv_low),
        pl.Series("conversion_high", conv_high),
        pl.Series("win_rate_low", win_low),
        pl.Series("win_rate_high", win_high),
        pl.Series("profit_per_lead_low", win_low * mean_deal - cost_per_lead),
        pl.Series("profit_per_lead_high", win_high * mean_deal - cost_per_lead),
        (pl.col("leads") / span).alias("leads_per_month"),
    )
    key = SORT_KEYS[sort]
    table = table.sort([key, *by], descending=[True] + [False] * len(by), nulls_last=True)

    capacity = sum(c for c in capacities.values() if c is not None)
    reps = len(capacities)
    rows: list[dict[str, Any]] = []
    planned = 0.0
    for row in table.iter_rows(named=True):
        is_workable = rule.workable(int(row["leads"]), row["profit_per_lead_low"])
        fits = False
        if is_workable:
            planned += row["leads_per_month"]
            fits = planned <= capacity
        rows.append(
            {
                "segment": {name: row[name] for name in by},
                **{
                    name: _clean(row[name])
                    for name in (
                        "leads",
                        "mqls",
                        "opportunities",
                        "won",
                        "lost",
                        "conversion",
                        "conversion_low",
                        "conversion_high",
                        "win_rate",
                        "win_rate_low",
                        "win_rate_high",
                        "revenue",
                        "cost",
                        "leads_without_cost",
                        "revenue_per_lead",
                        "cost_per_lead",
                        "profit_per_lead",
                        "profit_per_lead_low",
                        "profit_per_lead_high",
                        "leads_per_month",
                    )
                },
                "workable": is_workable,
                "within_capacity": fits,
            }
        )
    workable_volume = sum(r["leads_per_month"] for r in rows if r["workable"])
    supported = min(workable_volume, capacity)
    return {
        "by": list(by),
        "sort": sort,
        "currency": costs.currency if costs is not None else None,
        "months": span,
        "rule": {"min_leads": rule.min_leads, "profit_per_lead_low_above": 0},
        "segments": rows,
        "capacity": {
            "reps": reps,
            "reps_with_capacity": sum(c is not None for c in capacities.values()),
            "capacity_per_month": capacity,
            "workable_leads_per_month": workable_volume,
            "workable_leads_per_rep_per_month": ratio(supported, reps),
            "capacity_per_rep_per_month": ratio(capacity, reps),
            "utilisation": ratio(workable_volume, capacity),
        },
    }


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _number(value)
    return value


def _month_span(labels: Sequence[str]) -> int:
    """Calendar months from the first to the last label, both included (at least 1)."""
    if not labels:
        return 1

    def number(label: str) -> int:
        year, month = label.split("-")
        return int(year) * 12 + int(month) - 1

    return number(labels[-1]) - number(labels[0]) + 1
