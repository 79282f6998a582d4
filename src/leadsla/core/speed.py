"""Speed to lead decomposed: each lead's path cut into legs, and conversion fitted
against the time to first touch.

Pure NumPy over one row per lead; the adapter (:mod:`leadsla.report.speed`) finds the
milestone instants in the events and names the groups. Definitions, with worked
examples: ``docs/analytics.md`` ("Speed to lead, leg by leg" and "Touch decay").

* **Legs**: capture → MQL (marketing), MQL → assigned (routing), assigned → first
  attempt (rep), first attempt → first connect (reachability). A leg counts for a
  lead only when both of its milestones happened and the later one is not before
  the earlier one; a leg that never happened is left out of that leg's figures
  (never counted as 0, never as "infinite").
* **Touch decay**: the share of touched MQLs that became opportunities, fitted as a
  non-increasing function of business hours to first touch (isotonic regression by
  pool-adjacent-violators), with pointwise 95 % bands from a bootstrap of the leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from leadsla.core.columns import MICROS_PER_SECOND, BoolArray, FloatArray, Int32Array, Int64Array

__all__ = [
    "LEGS",
    "MAX_HOURS",
    "MILESTONES",
    "Cut",
    "DecayFit",
    "Leg",
    "LegFigures",
    "clock_leg_figures",
    "decay_bin_index",
    "fit_decay_bins",
    "isotonic_decreasing",
    "leg_figures",
    "leg_spans",
    "touch_decay",
]

# The milestones of a lead's path, in order; a leg joins two neighbours.
MILESTONES = ("captured", "mql", "assigned", "first_attempt", "first_connect")


@dataclass(frozen=True, slots=True)
class Leg:
    name: str  # who owns the time: marketing, routing, rep, reachability
    label: str
    start: int  # index into MILESTONES
    end: int


LEGS: tuple[Leg, ...] = (
    Leg("marketing", "capture → MQL", 0, 1),
    Leg("routing", "MQL → assigned", 1, 2),
    Leg("rep", "assigned → first attempt", 2, 3),
    Leg("reachability", "first attempt → first connect", 3, 4),
)


def leg_spans(
    instants: Int64Array, present: BoolArray, marks: Int32Array | None = None
) -> tuple[Int32Array, BoolArray]:
    """Each lead's legs from its milestones (``instants``, epoch µs of shape
    ``(leads, 5)`` in :data:`MILESTONES` order; ``present`` says which happened).

    Returns the legs' lengths in seconds (``(leads, 4)``, 0 where the leg does not
    count) and which legs count: both ends present and the end not before the start.
    ``marks`` (seconds from the capture to each milestone on some other clock, e.g. a
    business calendar) gives the lengths on that clock instead, for the same legs.

    Both results are laid out leg by leg (column-major), so that each leg's column,
    which :func:`leg_figures` reads, is one contiguous array.
    """
    instants = np.asarray(instants, dtype=np.int64)
    if marks is None:
        # Seconds since the capture fit 32 bits (68 years), at half the memory.
        marks = ((instants - instants[:, :1]) // MICROS_PER_SECOND).astype(np.int32)
    spans = np.empty((len(LEGS), len(instants)), dtype=np.int32)
    valid = np.empty((len(LEGS), len(instants)), dtype=np.bool_)
    for k, leg in enumerate(LEGS):
        np.logical_and(present[:, leg.start], present[:, leg.end], out=valid[k])
        valid[k] &= instants[:, leg.end] >= instants[:, leg.start]
        np.subtract(marks[:, leg.end], marks[:, leg.start], out=spans[k])
        spans[k] *= valid[k]
    return spans.T, valid.T


@dataclass(frozen=True, slots=True)
class LegFigures:
    """Per group and leg (arrays of shape ``(groups, 4)``): leads with the leg, and
    the median and 90th percentile of its length (NaN where no lead has it)."""

    leads: Int64Array
    p50: FloatArray
    p90: FloatArray


@dataclass(frozen=True, slots=True)
class Cut:
    """A grouping of the leads: a group code per lead (0 … ``size`` - 1; -1: in no group)."""

    codes: Int64Array
    size: int


def leg_figures(cuts: Sequence[Cut], spans: Int32Array, valid: BoolArray) -> list[LegFigures]:
    """:class:`LegFigures` of each cut's groups. Percentiles are ``numpy.quantile``'s
    linear method, as the scorecard's time to follow-up."""
    return clock_leg_figures(cuts, [spans], valid)[0]


def clock_leg_figures(
    cuts: Sequence[Cut], clocks: Sequence[Int32Array], valid: BoolArray
) -> list[list[LegFigures]]:
    """:func:`leg_figures` of the same legs measured on several clocks (one ``spans``
    array each, as :func:`leg_spans` gives them): per clock, per cut.

    Each group's quantiles come from ``numpy.quantile`` on its lengths (a selection, not
    a sort: sorting two million lengths per leg and clock was the report's slowest
    step). A cut's leads are put in group order once, by a stable sort of their small
    integer codes, for every leg and clock: which leads a group holds does not depend
    on either.
    """
    shape = [(cut.size, len(LEGS)) for cut in cuts]
    figures = [
        [LegFigures(np.zeros(size, dtype=np.int64), np.full(size, np.nan), np.full(size, np.nan))
         for size in shape]
        for _ in clocks
    ]  # fmt: skip
    for c, cut in enumerate(cuts):
        if cut.size == 0 or len(cut.codes) == 0:
            continue
        order: Int64Array | None = None
        if not (cut.size == 1 and int(cut.codes.min()) == 0):  # else one group of all
            # Group codes in 16 bits where they fit: NumPy sorts those by radix.
            small = cut.codes.astype(np.int16) if cut.size < 2**15 else cut.codes
            order = np.argsort(small, kind="stable")
            order = order[cut.codes[order] >= 0]
        for k in range(len(LEGS)):
            # The leads with the leg, in group order. A leg's column is contiguous
            # (leg_spans' layout): taken first, it is gathered from as a flat array,
            # where indexing rows and leg together walks the two-dimensional index.
            has_leg = valid[:, k]
            rows = np.flatnonzero(has_leg) if order is None else order[has_leg[order]]
            if order is None:
                counts = np.array([rows.size], dtype=np.int64)
            else:
                counts = np.bincount(cut.codes[rows], minlength=cut.size).astype(np.int64)
            bounds = np.cumsum(counts)[:-1]
            for s, spans in enumerate(clocks):
                leg = figures[s][c]
                leg.leads[:, k] = counts
                for g, part in enumerate(np.split(spans[:, k][rows], bounds)):
                    if part.size:
                        leg.p50[g, k], leg.p90[g, k] = _median_and_p90(part)
    return figures


def _median_and_p90(lengths: Int32Array) -> tuple[float, float]:
    """``numpy.quantile(lengths, (0.5, 0.9))``, without the selection when it can only
    give 0: a leg that takes no time for most leads (a lead captured as an MQL, one
    owned from the start, a first attempt that connects) has zeros at every position
    the quantiles read, which lie at or below ``0.9 (n - 1) + 1``."""
    zeros = lengths.size - np.count_nonzero(lengths)
    if zeros > 0.9 * lengths.size + 2 and int(lengths.min()) == 0:
        return 0.0, 0.0
    # On the integers themselves: the same values as on their float64 copy, without
    # the copy.
    middle, high = np.quantile(lengths, (0.5, 0.9))
    return float(middle), float(high)


# -- touch decay ---------------------------------------------------------------------------


def isotonic_decreasing(values: FloatArray, weights: FloatArray) -> FloatArray:
    """The non-increasing sequence closest to ``values`` in weighted least squares
    (pool adjacent violators). Points of weight 0 take their neighbours' fit."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    fitted = np.full(len(values), np.nan)
    used = np.flatnonzero(weights > 0)
    if used.size == 0:
        return fitted
    # Blocks as parallel lists: a block's mean, weight and number of points. The loop
    # runs over bins (a few hundred), never over leads.
    means: list[float] = []
    totals: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(values[used].tolist(), weights[used].tolist(), strict=True):
        mean, total, size = value, weight, 1
        while means and means[-1] < mean:
            merged = totals[-1] + total
            mean = (means[-1] * totals[-1] + mean * total) / merged
            total = merged
            size += sizes[-1]
            means.pop()
            totals.pop()
            sizes.pop()
        means.append(mean)
        totals.append(total)
        sizes.append(size)
    fitted[used] = np.repeat(means, sizes)
    # Empty points sit between fitted ones: carry the fit across them.
    position = np.arange(len(values))
    carried: FloatArray = np.interp(position, used, fitted[used])
    return carried


@dataclass(frozen=True, slots=True)
class DecayFit:
    """The fit of conversion against business hours to first touch, per bin."""

    hours: FloatArray  # mean hours to first touch of the bin's leads
    leads: Int64Array
    converted: Int64Array
    fit: FloatArray
    fit_low: FloatArray
    fit_high: FloatArray
    # Share of the expected opportunities lost if every touched lead waited one more
    # business hour (a fraction), with its bootstrap 95 % interval.
    loss_per_hour: float | None
    loss_per_hour_low: float | None
    loss_per_hour_high: float | None
    resamples: int


# Beyond this many business hours to first touch, leads share one bin: a week of 8-hour
# days is late enough for any follow-up target.
MAX_HOURS = 40.0


def _expected_loss(
    hours: FloatArray, fit: FloatArray, counts: FloatArray, delay: float
) -> float | None:
    """1 - (expected conversions after ``delay`` more hours) / (expected now)."""
    now = float(np.dot(counts, fit))
    if now <= 0:
        return None
    later = float(np.dot(counts, np.interp(hours + delay, hours, fit)))
    return 1.0 - later / now


def touch_decay(
    hours: FloatArray,
    converted: BoolArray,
    *,
    bin_hours: float = 0.25,
    resamples: int = 200,
    seed: int = 17,
) -> DecayFit:
    """Fit conversion (``converted``) against ``hours`` to first touch, one value per
    touched lead.

    The leads are binned by ``bin_hours`` up to :data:`MAX_HOURS` (one open bin beyond);
    a bin sits at its leads' mean hours. The fit is :func:`isotonic_decreasing` of the
    bins' conversion weighted by their leads. The bands resample the leads with
    replacement ``resamples`` times (a multinomial draw over the (bin, converted)
    cells, which is the same as resampling leads) with a fixed ``seed``, refit, and take
    the 2.5th and 97.5th percentiles at each bin. The loss per hour is computed on
    every refit too, for its interval.
    """
    hours = np.asarray(hours, dtype=np.float64)
    converted = np.asarray(converted, dtype=np.bool_)
    index = decay_bin_index(hours, bin_hours)
    bins = int(np.ceil(MAX_HOURS / bin_hours)) + 1
    return fit_decay_bins(
        np.bincount(index, minlength=bins),
        np.bincount(index[converted], minlength=bins),
        np.bincount(index, weights=hours, minlength=bins),
        resamples=resamples,
        seed=seed,
    )


def decay_bin_index(hours: FloatArray, bin_hours: float) -> Int64Array:
    """The bin of each lead's hours to first touch (:func:`touch_decay`): ``bin_hours``
    wide from 0, one open bin from :data:`MAX_HOURS` on."""
    last = int(np.ceil(MAX_HOURS / bin_hours))
    index: Int64Array = np.minimum(np.floor(np.maximum(hours, 0.0) / bin_hours), last).astype(
        np.int64
    )
    return index


def fit_decay_bins(
    leads: npt.ArrayLike,
    converted: npt.ArrayLike,
    hours: npt.ArrayLike,
    *,
    resamples: int = 200,
    seed: int = 17,
) -> DecayFit:
    """:func:`touch_decay` of leads already counted per bin (every bin of
    :func:`decay_bin_index`, empty ones too): the leads, the converted ones and the sum
    of their hours in each. Counts per bin of disjoint sets of leads add, so the fit of
    parts is the fit of the whole."""
    counts_all = np.asarray(leads, dtype=np.int64)
    occupied = np.flatnonzero(counts_all)
    # Bins with leads only: the fit and its bands are read at these hours.
    size = occupied.size
    counts = counts_all[occupied].astype(np.float64)
    wins = np.asarray(converted, dtype=np.float64)[occupied]
    sums = np.asarray(hours, dtype=np.float64)[occupied]
    at = np.divide(sums, counts, out=np.zeros(size), where=counts > 0)
    rate = np.divide(wins, counts, out=np.zeros(size), where=counts > 0)
    fit = isotonic_decreasing(rate, counts)
    loss = _expected_loss(at, fit, counts, 1.0) if size else None

    low = np.full(size, np.nan)
    high = np.full(size, np.nan)
    loss_low: float | None = None
    loss_high: float | None = None
    total = int(counts.sum())
    if size and resamples > 0:
        rng = np.random.default_rng(seed)
        cells = np.concatenate([wins, counts - wins]) / total
        draws = rng.multinomial(total, cells, size=resamples).astype(np.float64)
        fits = np.empty((resamples, size))
        losses: list[float] = []
        for r in range(resamples):
            won, missed = draws[r, :size], draws[r, size:]
            weight = won + missed
            share = np.divide(won, weight, out=np.zeros(size), where=weight > 0)
            fits[r] = isotonic_decreasing(share, weight)
            # The loss is judged on the resample's own leads.
            value = _expected_loss(at, fits[r], weight, 1.0)
            if value is not None:
                losses.append(value)
        low, high = np.percentile(fits, [2.5, 97.5], axis=0)
        if losses:
            loss_low, loss_high = (float(v) for v in np.percentile(losses, [2.5, 97.5]))
    return DecayFit(
        hours=at,
        leads=counts.astype(np.int64),
        converted=wins.astype(np.int64),
        fit=fit,
        fit_low=low,
        fit_high=high,
        loss_per_hour=loss,
        loss_per_hour_low=loss_low,
        loss_per_hour_high=loss_high,
        resamples=resamples if size else 0,
    )
