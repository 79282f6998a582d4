"""The report's ``speed_legs`` and ``touch_decay``: each lead's milestones found in the
event rows, the legs and the decay fit worked out by :mod:`leadsla.core.speed`.

Milestones (``docs/analytics.md``, "Speed to lead, leg by leg"), per lead:

* **captured**: its first event; **MQL**: the lead frame's MQL instant;
* **assigned**: the MQL instant if the lead had an owner then, else the first
  instant after it at which an owner is set;
* **first attempt**: the first touch, the MQL policy's stop, exactly as speed to lead
  and the scorecard's time to follow-up read it (:func:`.leads.first_touches`);
* **first connect**: the first ``connected``, ``replied`` or ``held`` activity at or
  after the first attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from leadsla.core.columns import MICROS_PER_SECOND, BoolArray, FloatArray, Int32Array, Int64Array
from leadsla.core.metrics import grouped_quantiles
from leadsla.core.policy import CONNECT_OUTCOMES, Rulebook
from leadsla.core.speed import (
    LEGS,
    MAX_HOURS,
    MILESTONES,
    Cut,
    clock_leg_figures,
    decay_bin_index,
    fit_decay_bins,
    leg_spans,
)
from leadsla.report.figures import mql_calendars, text_codes
from leadsla.report.leads import NONE, Rows
from leadsla.report.settings import ReportSettings

SECONDS_PER_HOUR = 3600
# The groups of ``speed_legs`` besides ``overall``: lead frame column by key.
LEG_GROUPS = {
    "by_segment": "segment",
    "by_team": "assignee_team",
    "by_owner": "assignee",
}
# Bootstrap of the decay fit: fixed, so that one history always gives one report.
RESAMPLES = 200
SEED = 17
BIN_HOURS = 0.25


def with_milestones(rows: Rows, leads: pl.DataFrame, settings: ReportSettings) -> pl.DataFrame:
    """``leads`` (one row per lead, in the rows' lead order) with ``assigned_at`` and
    ``connect_at`` (null where they never happened), and ``assignee`` and its
    ``assignee_team``: the owner at the MQL instant, else the first owner after it."""
    if rows.size == 0:
        return leads.with_columns(
            pl.lit(None, dtype=pl.Int64).alias("assigned_at"),
            pl.lit(None, dtype=pl.Int64).alias("connect_at"),
            pl.lit(None, dtype=pl.Categorical).alias("assignee"),
            pl.lit(None, dtype=pl.Categorical).alias("assignee_team"),
        )
    mql_at = leads["mql_at"].fill_null(NONE).to_numpy()
    touch_at = leads["touch_at"].fill_null(NONE).to_numpy()
    owned_at_mql = leads["owner"].is_not_null().to_numpy()
    # Row-sized arrays cost 80 MB each at 10 M rows: only the owner and connect rows are
    # compared with their lead's instants.
    # A lead never an MQL (``mql_at`` NONE) has no owner row after it, so no assignment.
    first_owner_row = rows.first_row(rows.fields["owner"] & rows.has_value, mql_at)
    assigned = np.where(owned_at_mql, mql_at, rows.instants(first_owner_row))
    later_name = rows.text(rows.codes(first_owner_row))
    assignee = leads["owner"].zip_with(pl.Series(owned_at_mql), later_name).alias("assignee")
    texts = rows.names.to_list()
    connect_of = np.array(
        [text is not None and text.partition(":")[2] in CONNECT_OUTCOMES for text in texts],
        dtype=np.bool_,
    )
    connect_row = rows.first_row(rows.fields["activity"] & connect_of[rows.value], touch_at)
    connect = rows.instants(connect_row)
    team = assignee.replace_strict(
        dict(settings.team_of), default=None, return_dtype=pl.Categorical
    )
    return leads.with_columns(
        _nullable("assigned_at", assigned),
        _nullable("connect_at", connect),
        assignee,
        team.alias("assignee_team"),
    )


def _nullable(name: str, values: Int64Array) -> pl.Series:
    series = pl.Series(name, values, dtype=pl.Int64)
    return series.set(series == NONE, None)


def _marks(mqls: pl.DataFrame) -> tuple[Int64Array, BoolArray]:
    columns = ("first_at", "mql_at", "assigned_at", "touch_at", "connect_at")
    # Milestone by milestone in memory (column-major): each is read as one column below.
    instants = np.empty((len(columns), len(mqls)), dtype=np.int64)
    present = np.empty((len(columns), len(mqls)), dtype=np.bool_)
    for j, column in enumerate(columns):
        instants[j] = mqls[column].fill_null(0).to_numpy()
        present[j] = mqls[column].is_not_null().to_numpy()
    return instants.T, present.T


@dataclass(frozen=True)
class Milestones:
    """The MQLs of a lead frame (:func:`with_milestones`) and their milestones, as
    epoch µs (``instants``, ``(leads, 5)`` in :data:`MILESTONES` order), which happened
    (``present``), and the business time of each (:func:`business_marks`); with speed
    to lead's business time to first touch (``waits``, as
    :func:`~leadsla.report.figures.business_waits`), which reads the same instants on
    the same calendars, so both come from one conversion to business time."""

    mqls: pl.DataFrame
    instants: Int64Array
    present: BoolArray
    business: Int32Array
    waits: Int64Array

    @classmethod
    def of(cls, leads: pl.DataFrame, rules: Rulebook) -> Milestones:
        mqls = leads.filter(pl.col("mql"))
        instants, present = _marks(mqls)
        business, waits = _business_times(mqls, instants, present, rules)
        return cls(mqls, instants, present, business, waits)


def business_marks(mqls: pl.DataFrame, instants: Int64Array, rules: Rulebook) -> Int32Array:
    """Business seconds from each lead's capture to each of its milestones (0 for a
    milestone that did not happen), on the calendar its MQL policy clock runs on for
    its owner at the MQL instant (as speed to lead's business clock): differences of
    these are the legs in business time."""
    present = np.ones(instants.shape, dtype=np.bool_)
    return _business_times(mqls, instants, present, rules)[0]


def _business_times(
    mqls: pl.DataFrame, instants: Int64Array, present: BoolArray, rules: Rulebook
) -> tuple[Int32Array, Int64Array]:
    """:func:`business_marks`, and the business seconds from the MQL instant to the
    first touch (0 where untouched).

    Each milestone is turned into its position on its calendar's business time line
    once (``positions``: ``elapsed_many(a, b)`` is ``positions(b) - positions(a)``);
    a milestone that did not happen sits at the capture."""
    names, calendar = mql_calendars(mqls["owner"], rules)
    marks = np.zeros(instants.shape[::-1], dtype=np.int32).T
    waits = np.zeros(len(instants), dtype=np.int64)
    first_touch = MILESTONES.index("first_attempt")
    mql = MILESTONES.index("mql")
    for code, name in enumerate(names):
        on = np.flatnonzero(calendar == code)
        if on.size == 0:
            continue
        business = rules.calendars[name]
        captured = instants[on, 0]
        later = [np.maximum(instants[on, j], captured) for j in range(1, instants.shape[1])]
        # Positions are differenced, so all are taken on one table: it is made to cover
        # every milestone first (a table rebuilt between two calls need not keep its origin).
        business.positions(np.array([captured.min(), max(int(m.max()) for m in later)]))
        start = business.positions(captured)
        at_mql = start
        for j, milestone in enumerate(later, start=1):
            position = business.positions(milestone)
            marks[on, j] = (position - start) // MICROS_PER_SECOND
            if j == mql:
                at_mql = position
            elif j == first_touch:
                touched = present[on, j]
                waits[on] = np.where(touched, position - at_mql, 0) // MICROS_PER_SECOND
    return marks, waits


def _hours(values: FloatArray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v) / SECONDS_PER_HOUR, 4) for v in values]


def _cut(column: pl.Series) -> tuple[list[str], Cut]:
    """The groups of a text column, named in sorted order (null: in no group)."""
    names, codes = text_codes(column, ordered=True)
    return names, Cut(codes, len(names))


@dataclass(frozen=True)
class LegTally:
    """What ``speed_legs`` reads of a set of MQL leads: how many leads have each length
    (whole seconds) of each leg, on each clock, per group (``frame``: columns
    ``clock`` (0 wall, 1 business), ``leg``, a column per cut of :data:`LEG_GROUPS`,
    ``seconds`` and the count ``n``), and the groups' names of each cut (``names``,
    sorted; a group whose leads have no leg still shows). The percentiles are taken
    over these exact values, each as often as it occurs: a value histogram, which adds.
    Tallies of disjoint sets of leads add up (:meth:`plus`)."""

    frame: pl.DataFrame
    names: dict[str, list[str]]

    @classmethod
    def of(
        cls, mqls: pl.DataFrame, instants: Int64Array, present: BoolArray, business: Int32Array
    ) -> LegTally:
        wall, valid = leg_spans(instants, present)
        in_business, _ = leg_spans(instants, present, business)
        names: dict[str, list[str]] = {}
        codes: dict[str, Int64Array] = {}
        for key, column in LEG_GROUPS.items():
            if column in mqls.columns:
                names[key], cut = _cut(mqls[column])
                codes[key] = cut.codes
        pieces: list[pl.DataFrame] = []
        for clock, spans in enumerate((wall, in_business)):
            for k in range(len(LEGS)):
                rows = np.flatnonzero(valid[:, k])
                piece = pl.DataFrame(
                    {
                        **{key: code[rows].astype(np.int32) for key, code in codes.items()},
                        "seconds": spans[rows, k],
                    }
                )
                counted = piece.group_by(piece.columns).agg(pl.len().cast(pl.Int64).alias("n"))
                pieces.append(
                    counted.with_columns(
                        pl.lit(clock, dtype=pl.Int8).alias("clock"),
                        pl.lit(k, dtype=pl.Int8).alias("leg"),
                    )
                )
        frame = pl.concat(pieces, how="vertical")
        # The groups by name (null: in no group), so that parts with other codes add.
        frame = frame.with_columns(_named(frame[key], names[key]).alias(key) for key in codes)
        return cls(frame.select("clock", "leg", *codes, "seconds", "n"), names)

    def plus(self, other: LegTally) -> LegTally:
        keys = [name for name in self.frame.columns if name != "n"]
        stacked = pl.concat([self.frame, other.frame], how="vertical")
        names = {key: sorted({*own, *other.names[key]}) for key, own in self.names.items()}
        return LegTally(stacked.group_by(keys).agg(pl.col("n").sum()), names)


def _named(codes: pl.Series, names: list[str]) -> pl.Series:
    """Group codes (-1: none) as the groups' names (null)."""
    lookup = pl.Series(names, dtype=pl.Utf8)
    index = codes.cast(pl.Int64)
    return lookup.gather(index.set(index < 0, None))


def speed_legs(
    mqls: pl.DataFrame, instants: Int64Array, present: BoolArray, business: Int32Array
) -> dict[str, Any]:
    """Median and 90th percentile of each leg, business and wall time, overall and by
    segment (the lead's last value), and the rep the lead was assigned to and that rep's
    team.

    Straight from the leads' lengths (:func:`~leadsla.core.speed.clock_leg_figures`),
    for a report in memory: a third of the time of their value histograms, which a
    report in parts needs (:func:`legs_figure`; ``tests/integration/test_partitions.py``
    checks that the two give the same figures)."""
    wall, valid = leg_spans(instants, present)
    in_business, _ = leg_spans(instants, present, business)
    cuts = {"overall": (["overall"], Cut(np.zeros(len(mqls), dtype=np.int64), 1))}
    for key, column in LEG_GROUPS.items():
        if column in mqls.columns:
            cuts[key] = _cut(mqls[column])
    walls, businesses = clock_leg_figures(
        [cut for _, cut in cuts.values()], [wall, in_business], valid
    )
    result = _legs_header()
    for (key, (names, _)), in_wall, in_biz in zip(cuts.items(), walls, businesses, strict=True):
        groups = _leg_groups(
            names, in_wall.leads, (in_wall.p50, in_biz.p50), (in_wall.p90, in_biz.p90)
        )
        result[key] = groups["overall"] if key == "overall" else groups
    return result


def _legs_header() -> dict[str, Any]:
    return {
        "clock": "business and wall",
        "legs": [
            {
                "leg": leg.name,
                "label": leg.label,
                "from": MILESTONES[leg.start],
                "to": MILESTONES[leg.end],
            }
            for leg in LEGS
        ],
    }


def _leg_groups(
    names: list[str],
    leads: Int64Array,
    p50: tuple[FloatArray, FloatArray],
    p90: tuple[FloatArray, FloatArray],
) -> dict[str, Any]:
    """Each group's legs: leads, and median and 90th percentile on the wall clock (0)
    and the business clock (1); arrays of (group, leg)."""
    groups: dict[str, Any] = {}
    for g, name in enumerate(names):
        wall50, wall90 = _hours(p50[0][g]), _hours(p90[0][g])
        biz50, biz90 = _hours(p50[1][g]), _hours(p90[1][g])
        groups[name] = {
            leg.name: {
                "leads": int(leads[g, k]),
                "business_p50_hours": biz50[k],
                "business_p90_hours": biz90[k],
                "wall_p50_hours": wall50[k],
                "wall_p90_hours": wall90[k],
            }
            for k, leg in enumerate(LEGS)
        }
    return groups


def legs_figure(tally: LegTally) -> dict[str, Any]:
    """:func:`speed_legs` of the leads of a :class:`LegTally`."""
    result = _legs_header()
    frame = tally.frame
    cuts: dict[str, list[str]] = {"overall": ["overall"], **tally.names}
    for key, names in cuts.items():
        # Per clock: leads, median and 90th percentile of each group and leg.
        shape = (len(names), len(LEGS))
        leads = np.zeros(shape, dtype=np.int64)
        p50 = (np.full(shape, np.nan), np.full(shape, np.nan))
        p90 = (np.full(shape, np.nan), np.full(shape, np.nan))
        if key == "overall":
            codes = pl.lit(0, dtype=pl.Int64)
        else:
            codes = pl.col(key).cast(pl.Enum(names)).to_physical().cast(pl.Int64)
        coded = frame.select("clock", "leg", codes.alias("group"), "seconds", "n").filter(
            pl.col("group").is_not_null()
        )
        for (clock, k), part in coded.group_by("clock", "leg"):
            counts, _, (middle, high) = grouped_quantiles(
                part["group"].to_numpy(),
                part["seconds"].to_numpy().astype(np.int64),
                len(names),
                (0.5, 0.9),
                part["n"].to_numpy(),
            )
            leads[:, int(k)] = counts  # the same leads on both clocks
            p50[int(clock)][:, int(k)] = middle
            p90[int(clock)][:, int(k)] = high
        groups = _leg_groups(names, leads, p50, p90)
        result[key] = groups["overall"] if key == "overall" else groups
    return result


def _clean(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


def decay_tally(mqls: pl.DataFrame, present: BoolArray, business: Int32Array) -> Int64Array:
    """Per bin of the touch decay (columns): the touched MQL leads, the converted ones and
    the sum of their business seconds to first touch (rows): all the report's
    ``touch_decay`` (conversion to opportunity of touched MQLs fitted against business
    hours to first touch, on speed to lead's business calendar) reads.
    The seconds are whole, so their sums add exactly, in any order: tallies of disjoint
    sets of leads add."""
    touched = present[:, 3]
    seconds = (business[touched, 3] - business[touched, 1]).astype(np.int64)
    index = decay_bin_index(seconds / SECONDS_PER_HOUR, BIN_HOURS)
    bins = int(np.ceil(MAX_HOURS / BIN_HOURS)) + 1
    converted = mqls["opportunity"].to_numpy()[touched]
    tally = np.zeros((3, bins), dtype=np.int64)
    tally[0] = np.bincount(index, minlength=bins)
    tally[1] = np.bincount(index[converted], minlength=bins)
    # Through float64: exact for whole sums below 2**53 seconds.
    tally[2] = np.rint(np.bincount(index, weights=seconds.astype(np.float64), minlength=bins))
    return tally


def decay_figure(tally: Int64Array) -> dict[str, Any]:
    """The report's ``touch_decay`` of a :func:`decay_tally`."""
    leads, converted, seconds = tally
    fit = fit_decay_bins(
        leads, converted, seconds / SECONDS_PER_HOUR, resamples=RESAMPLES, seed=SEED
    )
    points = [
        {
            "hours": round(float(fit.hours[k]), 4),
            "leads": int(fit.leads[k]),
            "opportunities": int(fit.converted[k]),
            "conversion": round(float(fit.converted[k]) / float(fit.leads[k]), 6),
            "fit": _clean(fit.fit[k]),
            "fit_low": _clean(fit.fit_low[k]),
            "fit_high": _clean(fit.fit_high[k]),
        }
        for k in range(len(fit.hours))
    ]
    return {
        "clock": "business",
        "conversion": "opportunity",
        "leads": int(leads.sum()),
        "bin_hours": BIN_HOURS,
        "resamples": fit.resamples,
        "seed": SEED,
        "loss_per_hour": _clean(fit.loss_per_hour),
        "loss_per_hour_low": _clean(fit.loss_per_hour_low),
        "loss_per_hour_high": _clean(fit.loss_per_hour_high),
        "points": points,
    }
