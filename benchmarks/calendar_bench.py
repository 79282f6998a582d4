"""How fast is business-time arithmetic in leadsla, against what people use instead?

A realistic calendar (New York, Mon-Fri 09:00-12:00 and 13:00-17:00, US/NY
holidays plus one extra closed day, 2026-2027 so both DST changes are crossed),
random start instants and durations up to 40 business hours. leadsla is timed on
``--n`` instants; the peers, much slower, on the first ``--peer-n`` of them, and
leadsla again on that same sample so that every speed-up compares the same work:

- pandas ``CustomBusinessHour`` (two windows a day, holidays): ``ts + n * offset``
  one timestamp at a time, and its best vectorised form, a ``DatetimeIndex`` plus
  one offset per distinct duration. It adds whole business hours only and has no
  business-time difference, so its durations are whole hours and it has no elapsed row.
- ``businesstime``: one window a day (09:00-17:00, it cannot express a lunch break)
  on naive local times; it offers ``businesstimedelta`` (elapsed) and no add.
- the day-by-day loop of ``peers.py``, the way helpdesk SLA code computes deadlines.

Inputs are converted to each tool's own types before timing starts: what is timed
is the calendar arithmetic, not the conversions (one extra leadsla row shows the
cost of converting ``datetime`` in and out on the live path).

Run: ``.venv/bin/python benchmarks/calendar_bench.py``
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_data
import numpy as np

from leadsla.core.calendar import BusinessCalendar
from peers import DayByDayCalendar  # beside this script, which Python puts first on sys.path

ZONE_NAME = "America/New_York"
ZONE = ZoneInfo(ZONE_NAME)
EXTRA_CLOSED = date(2026, 11, 27)  # the Friday after Thanksgiving, closed by company decision
WINDOWS = [(9 * 60, 12 * 60), (13 * 60, 17 * 60)]
WEEKDAYS = range(5)
MICROS_PER_SECOND = 1_000_000
MINUTE = 60 * MICROS_PER_SECOND
HOUR = 60 * MINUTE
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def closed_days(year: int) -> set[date]:
    days = set(holiday_data.country_holidays("US", subdiv="NY", years=year))
    if year == EXTRA_CLOSED.year:
        days.add(EXTRA_CLOSED)
    return days


def to_micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


def from_micros(instant: int) -> datetime:
    return (EPOCH + timedelta(microseconds=instant)).astimezone(ZONE)


def best_time(run: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs, with the collector off (it only adds noise here)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            began = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - began)
        finally:
            gc.enable()
    return best


class Row:
    def __init__(self, who: str, what: str, count: int, seconds: float) -> None:
        self.who, self.what, self.count, self.seconds = who, what, count, seconds

    @property
    def per_op(self) -> float:
        return self.seconds / self.count

    def line(self) -> str:
        per_op = self.per_op
        shown = f"{per_op * 1e9:,.0f} ns" if per_op < 1e-6 else f"{per_op * 1e6:,.2f} µs"
        return (
            f"| {self.who} | {self.what} | {self.count:,} | {self.seconds:.3f} "
            f"| {1 / per_op:,.0f} | {shown} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="instants for leadsla")
    parser.add_argument("--peer-n", type=int, default=10_000, help="instants for the peers")
    parser.add_argument(
        "--scalar-n", type=int, default=200_000, help="calls for the leadsla scalar rows"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument("--seed", type=int, default=20260302)
    args = parser.parse_args()
    n, peer_n, scalar_n = args.n, min(args.peer_n, args.n), min(args.scalar_n, args.n)

    import pandas as pd
    from businesstime import BusinessTime
    from pandas.tseries.offsets import CustomBusinessHour

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"holidays {holiday_data.__version__}"
    )

    # -- the work -------------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    low = to_micros(datetime(2026, 1, 1, tzinfo=ZONE))
    high = to_micros(datetime(2028, 1, 1, tzinfo=ZONE))
    starts = rng.integers(low, high, n, dtype=np.int64)
    durations = rng.integers(1, 40 * 60 + 1, n, dtype=np.int64) * MINUTE
    # Ends up to two weeks later: the span a lead's clock usually runs.
    ends = starts + rng.integers(0, 14 * 24 * HOUR, n, dtype=np.int64)

    calendar = BusinessCalendar(
        "new york", ZONE_NAME, {day: WINDOWS for day in WEEKDAYS}, holidays=closed_days
    )
    build = best_time(
        lambda: BusinessCalendar(
            "cold", ZONE_NAME, {day: WINDOWS for day in WEEKDAYS}, holidays=closed_days
        ).elapsed_many(starts, ends),
        1,
    )
    calendar.elapsed_many(starts, ends)  # builds the table once, outside the timings
    calendar.add_many(starts, durations)

    rows = [
        Row(
            "leadsla",
            "add_many (vectorised)",
            n,
            best_time(lambda: calendar.add_many(starts, durations), args.repeat),
        ),
        Row(
            "leadsla",
            "elapsed_many (vectorised)",
            n,
            best_time(lambda: calendar.elapsed_many(starts, ends), args.repeat),
        ),
    ]
    s_list = starts[:scalar_n].tolist()
    d_list = durations[:scalar_n].tolist()
    e_list = ends[:scalar_n].tolist()
    add, elapsed = calendar.add, calendar.elapsed
    rows.append(
        Row(
            "leadsla",
            "add (scalar)",
            scalar_n,
            best_time(
                lambda: [add(s, d) for s, d in zip(s_list, d_list, strict=True)], args.repeat
            ),
        )
    )
    rows.append(
        Row(
            "leadsla",
            "elapsed (scalar)",
            scalar_n,
            best_time(
                lambda: [elapsed(s, e) for s, e in zip(s_list, e_list, strict=True)], args.repeat
            ),
        )
    )
    s_datetimes = [from_micros(s) for s in s_list]
    d_deltas = [timedelta(microseconds=d) for d in d_list]
    rows.append(
        Row(
            "leadsla",
            "add (scalar, datetime in and out)",
            scalar_n,
            best_time(
                lambda: [
                    from_micros(add(to_micros(s), d // timedelta(microseconds=1)))
                    for s, d in zip(s_datetimes, d_deltas, strict=True)
                ],
                args.repeat,
            ),
        )
    )

    # -- the peers, on the first peer_n instants ------------------------------------------
    # pandas adds whole business hours only, so the shared sample uses whole hours.
    p_starts = starts[:peer_n]
    p_ends = ends[:peer_n]
    p_hours = np.ceil(durations[:peer_n] / HOUR).astype(np.int64)
    p_durations = p_hours * HOUR
    p_start_list, p_end_list = p_starts.tolist(), p_ends.tolist()
    p_hour_list, p_duration_list = p_hours.tolist(), p_durations.tolist()

    # Runs on the small sample last milliseconds: more of them keep noise out of the ratios.
    small_repeat = 5 * args.repeat
    same = {
        "add_many": Row(
            "leadsla",
            "add_many (vectorised)",
            peer_n,
            best_time(lambda: calendar.add_many(p_starts, p_durations), small_repeat),
        ),
        "elapsed_many": Row(
            "leadsla",
            "elapsed_many (vectorised)",
            peer_n,
            best_time(lambda: calendar.elapsed_many(p_starts, p_ends), small_repeat),
        ),
        "add": Row(
            "leadsla",
            "add (scalar)",
            peer_n,
            best_time(
                lambda: [add(s, d) for s, d in zip(p_start_list, p_duration_list, strict=True)],
                small_repeat,
            ),
        ),
        "elapsed": Row(
            "leadsla",
            "elapsed (scalar)",
            peer_n,
            best_time(
                lambda: [elapsed(s, e) for s, e in zip(p_start_list, p_end_list, strict=True)],
                small_repeat,
            ),
        ),
    }

    peer_rows: dict[str, Row] = {}
    results: dict[str, Any] = {}

    def timed(key: str, who: str, what: str, run: Callable[[], object]) -> None:
        out: list[object] = []
        seconds = best_time(lambda: out.append(run()), args.repeat)
        results[key] = out[-1]
        peer_rows[key] = Row(who, what, peer_n, seconds)

    # pandas CustomBusinessHour
    offset = CustomBusinessHour(
        start=["09:00", "13:00"],
        end=["12:00", "17:00"],
        holidays=sorted(closed_days(2026) | closed_days(2027) | closed_days(2028)),
    )
    p_index = pd.DatetimeIndex(pd.to_datetime(p_starts, unit="us", utc=True)).tz_convert(ZONE_NAME)
    p_timestamps = list(p_index)

    def pandas_scalar() -> list[Any]:
        return [ts + k * offset for ts, k in zip(p_timestamps, p_hour_list, strict=True)]

    def pandas_vectorised() -> np.ndarray:
        # One offset per distinct duration, applied to all the starts that share it.
        result = np.empty(peer_n, dtype=np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns that offsets are not vectorised
            for k in np.unique(p_hours).tolist():
                mask = p_hours == k
                moved = p_index[mask] + k * offset
                result[mask] = moved.tz_convert("UTC").as_unit("us").asi8
        return result

    timed("pandas_scalar", "pandas CustomBusinessHour", "ts + n * offset", pandas_scalar)
    timed(
        "pandas_vectorised",
        "pandas CustomBusinessHour",
        "DatetimeIndex + offset, per distinct n",
        pandas_vectorised,
    )

    # businesstime: one window a day, naive local wall times.
    closed_set = closed_days(2026) | closed_days(2027) | closed_days(2028)
    business_time = BusinessTime(business_hours=(clock(9), clock(17)), holidays=closed_set)
    naive_starts = [from_micros(s).replace(tzinfo=None) for s in p_start_list]
    naive_ends = [from_micros(e).replace(tzinfo=None) for e in p_end_list]
    timed(
        "businesstime",
        "businesstime (09-17, no lunch)",
        "businesstimedelta",
        lambda: [
            business_time.businesstimedelta(a, b)
            for a, b in zip(naive_starts, naive_ends, strict=True)
        ],
    )

    # The day-by-day loop.
    loop = DayByDayCalendar(
        ZONE, {day: [(clock(9), clock(12)), (clock(13), clock(17))] for day in WEEKDAYS}, closed_set
    )
    aware_starts = [from_micros(s) for s in p_start_list]
    aware_ends = [from_micros(e) for e in p_end_list]
    hour_deltas = [timedelta(hours=k) for k in p_hour_list]
    timed(
        "loop_add",
        "day-by-day loop (peers.py)",
        "add",
        lambda: [loop.add(s, d) for s, d in zip(aware_starts, hour_deltas, strict=True)],
    )
    timed(
        "loop_elapsed",
        "day-by-day loop (peers.py)",
        "elapsed",
        lambda: [loop.elapsed(s, e) for s, e in zip(aware_starts, aware_ends, strict=True)],
    )

    # -- figures ----------------------------------------------------------------------------
    header = "| implementation | operation | n | best run (s) | ops/s | per op |"
    rule = "| --- | --- | ---: | ---: | ---: | ---: |"
    print(f"\ntable build (cold, 2025-2029): {build * 1e3:.1f} ms")
    print(f"\nleadsla, n = {n:,} (scalar rows: {scalar_n:,} calls), best of {args.repeat}")
    print(header)
    print(rule)
    for row in rows:
        print(row.line())

    print(f"\nsame sample of {peer_n:,} instants, durations in whole business hours")
    print(header)
    print(rule)
    for row in same.values():
        print(row.line())
    for row in peer_rows.values():
        print(row.line())

    print("\nspeed-up of leadsla on the same sample")
    print("| leadsla | peer | speed-up |")
    print("| --- | --- | ---: |")
    comparisons = [
        ("add_many", "pandas_vectorised"),
        ("add_many", "pandas_scalar"),
        ("add", "pandas_scalar"),
        ("add", "loop_add"),
        ("add_many", "loop_add"),
        ("elapsed", "businesstime"),
        ("elapsed_many", "businesstime"),
        ("elapsed", "loop_elapsed"),
        ("elapsed_many", "loop_elapsed"),
    ]
    for mine, theirs in comparisons:
        ours, peer = same[mine], peer_rows[theirs]
        print(f"| {ours.what} | {peer.who}: {peer.what} | {peer.per_op / ours.per_op:,.0f}× |")

    # -- agreement --------------------------------------------------------------------------
    ours_add = calendar.add_many(p_starts, p_durations)
    ours_elapsed = calendar.elapsed_many(p_starts, p_ends)
    loop_add = np.array([to_micros(t) for t in results["loop_add"]], dtype=np.int64)
    loop_elapsed = np.array(
        [t // timedelta(microseconds=1) for t in results["loop_elapsed"]], dtype=np.int64
    )
    print("\nagreement on the sample")
    print(f"- day-by-day loop, add: {int((loop_add == ours_add).sum()):,} / {peer_n:,}")
    print(f"- day-by-day loop, elapsed: {int((loop_elapsed == ours_elapsed).sum()):,} / {peer_n:,}")
    pandas_add = results["pandas_vectorised"]
    exact = pandas_add == ours_add
    # pandas writes a deadline that falls on a closing time as the next opening (SPEC §4).
    convention = ~exact & (calendar.elapsed_many(ours_add, pandas_add) == 0)
    print(
        f"- pandas, add: {int(exact.sum()):,} identical, {int(convention.sum()):,} written as "
        f"the next opening instead of the closing instant, "
        f"{int((~exact & ~convention).sum()):,} different"
    )
    pandas_scalar_add = np.array(
        [ts.value // 1_000 for ts in results["pandas_scalar"]], dtype=np.int64
    )
    print(
        "- pandas, scalar and vectorised forms agree: "
        f"{int((pandas_scalar_add == pandas_add).sum()):,} / {peer_n:,}"
    )
    nine_to_five = BusinessCalendar(
        "9-17", ZONE_NAME, {day: [(540, 1020)] for day in WEEKDAYS}, holidays=closed_days
    )
    # businesstime counts whole business days as timedelta days: one of them is 8 hours here.
    theirs = np.array(
        [
            t.days * 8 * HOUR + (t - timedelta(days=t.days)) // timedelta(microseconds=1)
            for t in results["businesstime"]
        ],
        dtype=np.int64,
    )
    agree = int((nine_to_five.elapsed_many(p_starts, p_ends) == theirs).sum())
    print(f"- businesstime, elapsed, against leadsla on a 09-17 calendar: {agree:,} / {peer_n:,}")


if __name__ == "__main__":
    main()
