"""Pure definitions behind the analytics figures: intervals, speed buckets, workable rule.

The aggregation itself runs in :mod:`leadsla.report` (Polars); what a figure
*means* is decided here, in plain Python and NumPy, so that it is tested on its own
and every adapter uses the same edges and the same rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from leadsla.core.columns import BoolArray, FloatArray, Int64Array

__all__ = [
    "SPEED_BUCKETS",
    "WILSON_Z95",
    "SpeedBucket",
    "WorkableRule",
    "speed_bucket_index",
    "wilson_bounds",
    "wilson_interval",
]


# The two-sided 95 % quantile of the standard normal distribution.
WILSON_Z95 = 1.959963984540054


def wilson_interval(
    successes: int, trials: int, z: float = WILSON_Z95
) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``successes / trials``; ``None`` at 0 trials.

    Unlike the normal ("Wald") interval it stays inside [0, 1] and is sensible for
    small counts and for rates of 0 or 1, which small segments often have.
    """
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and {trials}, not {successes}")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # The interval always holds the observed rate; at a rate of 0 or 1 the two terms
    # cancel exactly only on paper, and rounding left a bound like 1e-20 above a rate of 0.
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def wilson_bounds(
    successes: npt.ArrayLike, trials: npt.ArrayLike, z: float = WILSON_Z95
) -> tuple[FloatArray, FloatArray]:
    """:func:`wilson_interval` for whole columns; NaN where there are no trials."""
    successes = np.asarray(successes, dtype=np.float64)
    trials = np.asarray(trials, dtype=np.float64)
    safe = np.where(trials > 0, trials, 1.0)
    p = successes / safe
    z2 = z * z
    denominator = 1 + z2 / safe
    centre = (p + z2 / (2 * safe)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / safe + z2 / (4 * safe * safe))
    # As in wilson_interval: the bounds enclose the observed rate despite rounding.
    low: FloatArray = np.where(trials > 0, np.maximum(0.0, np.minimum(centre - half, p)), np.nan)
    high: FloatArray = np.where(trials > 0, np.minimum(1.0, np.maximum(centre + half, p)), np.nan)
    return low, high


@dataclass(frozen=True, slots=True)
class SpeedBucket:
    """Time to first touch in ``[low, high)`` seconds; ``low`` is ``None`` for never."""

    name: str
    label: str
    low: int | None
    high: int | None


SPEED_BUCKETS: tuple[SpeedBucket, ...] = (
    SpeedBucket("under_5m", "< 5 min", 0, 5 * 60),
    SpeedBucket("5m_30m", "5–30 min", 5 * 60, 30 * 60),
    SpeedBucket("30m_1h", "30–60 min", 30 * 60, 3600),
    SpeedBucket("1h_4h", "1–4 h", 3600, 4 * 3600),
    SpeedBucket("4h_24h", "4–24 h", 4 * 3600, 24 * 3600),
    SpeedBucket("over_24h", "> 24 h", 24 * 3600, None),
    SpeedBucket("never", "never", None, None),
)
_EDGES = np.array([b.high for b in SPEED_BUCKETS[:-2]], dtype=np.int64)
NEVER = len(SPEED_BUCKETS) - 1


def speed_bucket_index(seconds: Int64Array, touched: BoolArray) -> Int64Array:
    """The index into :data:`SPEED_BUCKETS` of each time to first touch (in seconds).

    A bucket holds its lower edge: exactly 5 minutes is in ``5–30 min``. Untouched
    leads (``touched`` false) are ``never`` whatever their seconds say.
    """
    index: Int64Array = np.searchsorted(_EDGES, np.asarray(seconds), side="right").astype(np.int64)
    index[~np.asarray(touched, dtype=np.bool_)] = NEVER
    return index


@dataclass(frozen=True, slots=True)
class WorkableRule:
    """Which historical segments sales should work.

    A segment is workable when it holds at least ``min_leads`` leads and the lower
    bound of its profit per lead is above zero: even at the pessimistic end of the
    95 % interval of its win rate, a lead of the segment earns more than it costs.
    """

    min_leads: int = 30

    def workable(self, leads: int, profit_per_lead_low: float | None) -> bool:
        return (
            leads >= self.min_leads
            and profit_per_lead_low is not None
            and not math.isnan(profit_per_lead_low)
            and profit_per_lead_low > 0
        )
