"""Business calendars: weekly open hours in a time zone, minus holidays.

Instants are int64 epoch microseconds (UTC) everywhere in the core: converting
to and from ``datetime`` costs more than the calendar arithmetic itself.

The calendar is materialised, lazily and per local year, as a sorted table of
open intervals in UTC with the business time accrued before each interval.
``elapsed`` and ``add`` are then a binary search plus one subtraction, in a
scalar form (``bisect`` on Python lists, for the live path) and a vectorised
form (``numpy.searchsorted``, for replays of whole histories). Both read the
same table, so they cannot disagree.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from leadsla.core.columns import MICROS_PER_SECOND, MINUTES_PER_DAY, SECONDS_PER_DAY, Int64Array

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Calendar years we are willing to materialise; beyond this an instant is surely a typo.
MIN_YEAR = 1971
MAX_YEAR = 2200

Window = tuple[int, int]
"""An open interval of one local day, in minutes after midnight; the end may be 1440 (24:00)."""

HolidaySource = Callable[[int], Collection[date]]
"""Returns the closed local dates of one calendar year."""


class CalendarError(ValueError):
    """An instant or duration the calendar cannot handle (out of range, never open)."""


class TimeMeasure(Protocol):
    """What the clock needs of a calendar: business time between instants and after a start."""

    name: str

    def elapsed(self, start: int, end: int) -> int: ...

    def add(self, start: int, duration: int) -> int: ...

    def elapsed_many(self, starts: Int64Array, ends: Int64Array) -> Int64Array: ...

    def add_many(self, starts: Int64Array, durations: Int64Array | int) -> Int64Array: ...


class WallClock:
    """The always-open calendar: wall-clock units (``24 hours``) are measured on it."""

    name = "wall clock"

    def elapsed(self, start: int, end: int) -> int:
        return end - start

    def add(self, start: int, duration: int) -> int:
        return start + duration

    def elapsed_many(self, starts: Int64Array, ends: Int64Array) -> Int64Array:
        return np.asarray(ends, dtype=np.int64) - np.asarray(starts, dtype=np.int64)

    def add_many(self, starts: Int64Array, durations: Int64Array | int) -> Int64Array:
        return np.asarray(starts, dtype=np.int64) + np.asarray(durations, dtype=np.int64)


WALL_CLOCK = WallClock()


def local_instant(day: date, minute: int, zone: tzinfo) -> int:
    """Epoch microseconds of a local wall time ``minute`` minutes after ``day``'s midnight.

    ``24:00`` is the next day's midnight. A wall time that does not exist (inside
    a spring-forward gap) is read with the offset in force before the gap, and an
    ambiguous one (fall-back) as its first occurrence: Python's ``fold=0``.
    """
    extra_days, minute = divmod(minute, MINUTES_PER_DAY)
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
    if extra_days:
        wall = local.replace(tzinfo=None) + timedelta(days=extra_days)
        local = wall.replace(tzinfo=zone)
    utc = local.astimezone(UTC)
    return _datetime_micros(utc)


def _datetime_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * SECONDS_PER_DAY + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _SortedIndex:
    """``searchsorted`` on a fixed, strictly increasing array, by bucket lookup.

    Binary search over a few thousand window edges costs ~60 ns per random query.
    Instead the value axis is cut into power-of-two buckets, each remembering how
    many values lie before it; a query is a shift, a gather and a compare or two
    (one per value a bucket can hold). Results equal ``numpy.searchsorted``.
    """

    MAX_BUCKETS = 1 << 22

    def __init__(self, values: Int64Array) -> None:
        self.values = values
        self.origin = int(values[0])
        span = int(values[-1]) - self.origin + 1
        gaps = np.diff(values)
        smallest = int(gaps.min()) if gaps.size else span
        # The widest bucket that holds at most one value, unless that needs too many buckets.
        shift = max(smallest.bit_length() - 1, 0)
        while (span >> shift) + 2 > self.MAX_BUCKETS:
            shift += 1
        self.shift = shift
        count = (span >> shift) + 2
        starts = self.origin + (np.arange(count, dtype=np.int64) << shift)
        self.before = np.searchsorted(values, starts, side="left").astype(np.int64)
        bucket_of = (values - self.origin) >> shift
        self.per_bucket = int(np.bincount(bucket_of).max())
        # A sentinel past the end lets the correction step read values[count] safely.
        self.padded = np.append(values, np.iinfo(np.int64).max)
        self.last_bucket = count - 1

    def count(self, queries: Int64Array, *, inclusive: bool) -> Int64Array:
        """How many values are ``<= q`` (inclusive) or ``< q``, for each query."""
        # One scratch array serves as bucket and then as the value ahead: each fresh
        # array of millions of queries costs about as much as a pass over them.
        scratch = np.subtract(queries, self.origin)
        np.right_shift(scratch, self.shift, out=scratch)
        np.clip(scratch, 0, self.last_bucket, out=scratch)
        result: Int64Array = self.before[scratch]
        passed = np.empty(queries.shape, dtype=np.bool_)
        compare = np.less_equal if inclusive else np.less
        for _ in range(self.per_bucket):
            np.take(self.padded, result, out=scratch)
            compare(scratch, queries, out=passed)
            result += passed
        return result


@dataclass(slots=True)
class _Table:
    """Merged open intervals in UTC with the business time accrued before each one."""

    first_year: int
    last_year: int
    opens: Int64Array
    closes: Int64Array
    accrued_before: Int64Array
    accrued_after: Int64Array
    # Python lists of the same numbers: bisect on lists beats numpy on single values.
    opens_list: list[int] = field(default_factory=list)
    accrued_before_list: list[int] = field(default_factory=list)
    accrued_after_list: list[int] = field(default_factory=list)
    lengths_list: list[int] = field(default_factory=list)
    open_index: _SortedIndex | None = None
    # Instants between these need no rebuild (checked on every scalar call, so precomputed).
    safe_low: int = 0
    safe_high: int = -1
    accrued_index: _SortedIndex | None = None
    # Indexed by the number of opens at or before an instant: the instant plus ``lead``,
    # capped at ``cap``, is its position (before the first open: the cap, 0).
    lead: Int64Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cap: Int64Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # ``opens - accrued_before``: a position in interval ``j`` plus this is its instant.
    open_less_before: Int64Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class BusinessCalendar:
    """Weekly open hours in a time zone, closed on holidays; counts business time exactly."""

    def __init__(
        self,
        name: str,
        timezone: str | tzinfo,
        hours: Mapping[int, Sequence[Window]],
        holidays: HolidaySource | None = None,
        day_hours: float = 8.0,
    ) -> None:
        self.name = name
        self.zone: tzinfo = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.hours: dict[int, tuple[Window, ...]] = {
            day: tuple(sorted(windows)) for day, windows in hours.items() if windows
        }
        _check_hours(self.hours)
        if not self.hours:
            raise CalendarError(f"calendar {name!r} has no open hours on any weekday")
        self.day_hours = day_hours
        self._holidays = holidays
        self._holiday_years: dict[int, frozenset[date]] = {}
        self._year_intervals: dict[int, list[tuple[int, int]]] = {}
        self._table: _Table | None = None

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.zone})"

    # -- the table -----------------------------------------------------------------

    def closed_dates(self, year: int) -> frozenset[date]:
        """Holidays and extra closed dates of a local calendar year."""
        cached = self._holiday_years.get(year)
        if cached is None:
            cached = frozenset(self._holidays(year)) if self._holidays else frozenset()
            self._holiday_years[year] = cached
        return cached

    def _intervals_of_year(self, year: int) -> list[tuple[int, int]]:
        cached = self._year_intervals.get(year)
        if cached is not None:
            return cached
        closed = self.closed_dates(year)
        intervals: list[tuple[int, int]] = []
        day = date(year, 1, 1)
        one_day = timedelta(days=1)
        while day.year == year:
            windows = self.hours.get(day.weekday())
            if windows and day not in closed:
                for start, end in windows:
                    opened = local_instant(day, start, self.zone)
                    closed_at = local_instant(day, end, self.zone)
                    if closed_at > opened:
                        intervals.append((opened, closed_at))
            day += one_day
        self._year_intervals[year] = intervals
        return intervals

    def _build(self, first_year: int, last_year: int) -> _Table:
        if first_year < MIN_YEAR or last_year > MAX_YEAR:
            raise CalendarError(
                f"calendar {self.name!r}: instants must fall between {MIN_YEAR} and {MAX_YEAR}"
            )
        intervals: list[tuple[int, int]] = []
        for year in range(first_year, last_year + 1):
            intervals.extend(self._intervals_of_year(year))
        # Wall-time order is not UTC order when a window edge falls in a DST gap (02:40
        # reads as 03:40), so sort before merging.
        intervals.sort()
        merged: list[list[int]] = []
        for opened, closed in intervals:
            # Adjacent or overlapping windows (Mon 24:00 / Tue 00:00) become one interval.
            if merged and opened <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], closed)
            else:
                merged.append([opened, closed])
        if not merged:
            raise CalendarError(
                f"calendar {self.name!r} is never open between {first_year} and {last_year}"
            )
        opens = np.array([m[0] for m in merged], dtype=np.int64)
        closes = np.array([m[1] for m in merged], dtype=np.int64)
        lengths = closes - opens
        accrued_after = np.cumsum(lengths, dtype=np.int64)
        accrued_before = accrued_after - lengths
        return _Table(
            first_year=first_year,
            last_year=last_year,
            opens=opens,
            closes=closes,
            accrued_before=accrued_before,
            accrued_after=accrued_after,
            opens_list=opens.tolist(),
            accrued_before_list=accrued_before.tolist(),
            accrued_after_list=accrued_after.tolist(),
            lengths_list=lengths.tolist(),
            open_index=_SortedIndex(opens),
            safe_low=_year_start(first_year + 1),
            safe_high=_year_start(last_year) - 1,
            accrued_index=_SortedIndex(accrued_after),
            lead=np.concatenate(([_BEFORE_FIRST_OPEN], accrued_before - opens)),
            cap=np.concatenate(([0], accrued_after)),
            open_less_before=opens - accrued_before,
        )

    def _covering(self, low: int, high: int) -> _Table:
        """The table, rebuilt if needed so that instants ``low``…``high`` lie well inside it."""
        table = self._table
        if table is not None and table.safe_low <= low and high <= table.safe_high:
            return table
        # A year of margin on each side absorbs time-zone offsets at year ends.
        first = _utc_year(low) - 1
        last = _utc_year(high) + 1
        if table is not None and table.first_year <= first and last <= table.last_year:
            return table
        if table is not None:
            first = min(first, table.first_year)
            last = max(last, table.last_year)
        self._table = self._build(max(first, MIN_YEAR), min(last, MAX_YEAR))
        return self._table

    def _extend_forward(self, table: _Table) -> _Table:
        """Materialise more years after the table, for an ``add`` that runs past its end."""
        span = table.last_year - table.first_year + 1
        last = min(table.last_year + max(span, 2), MAX_YEAR)
        if last <= table.last_year:
            raise CalendarError(f"calendar {self.name!r}: deadline falls after {MAX_YEAR}")
        self._table = self._build(table.first_year, last)
        return self._table

    # -- scalar form (live path) ---------------------------------------------------

    def position(self, instant: int) -> int:
        """Business microseconds accrued from the table's origin to ``instant``."""
        table = self._covering(instant, instant)
        return _position(table, instant)

    def elapsed(self, start: int, end: int) -> int:
        """Business microseconds in ``[start, end]``; negative when ``end`` is before ``start``."""
        table = self._covering(min(start, end), max(start, end))
        return _position(table, end) - _position(table, start)

    def add(self, start: int, duration: int) -> int:
        """The earliest instant ``t >= start`` with ``elapsed(start, t) == duration``."""
        if duration < 0:
            raise CalendarError("a duration to add must not be negative")
        if duration == 0:
            return start
        table = self._covering(start, start)
        target = _position(table, start) + duration
        while target > table.accrued_after_list[-1]:
            table = self._extend_forward(table)
        j = bisect.bisect_left(table.accrued_after_list, target)
        return table.opens_list[j] + (target - table.accrued_before_list[j])

    def is_open(self, instant: int) -> bool:
        """Whether ``instant`` lies inside an open interval (opening included, closing not)."""
        table = self._covering(instant, instant)
        i = bisect.bisect_right(table.opens_list, instant) - 1
        return i >= 0 and instant < table.opens_list[i] + table.lengths_list[i]

    def next_opening(self, instant: int) -> int:
        """The earliest instant ``t >= instant`` at which the calendar is open: ``instant``
        itself when it is open, else the start of the next open interval (holidays and
        closing instants are closed)."""
        table = self._covering(instant, instant)
        i = bisect.bisect_right(table.opens_list, instant) - 1
        if i >= 0 and instant < table.opens_list[i] + table.lengths_list[i]:
            return instant
        while i + 1 >= len(table.opens_list):
            # Extending forward keeps the table's origin, so ``i`` still points where it did.
            table = self._extend_forward(table)
        return table.opens_list[i + 1]

    def open_intervals(self, start: int, end: int) -> list[tuple[int, int]]:
        """The open intervals that meet ``[start, end)``, clipped to it."""
        table = self._covering(start, end)
        i = max(bisect.bisect_right(table.opens_list, start) - 1, 0)
        result: list[tuple[int, int]] = []
        while i < len(table.opens_list) and table.opens_list[i] < end:
            opened = max(table.opens_list[i], start)
            closed = min(table.opens_list[i] + table.lengths_list[i], end)
            if closed > opened:
                result.append((opened, closed))
            i += 1
        return result

    # -- vectorised form (replays) ---------------------------------------------------

    def positions(self, instants: Int64Array) -> Int64Array:
        instants = np.asarray(instants, dtype=np.int64)
        if instants.size == 0:
            return np.zeros(0, dtype=np.int64)
        table = self._covering(int(instants.min()), int(instants.max()))
        return _positions(table, instants)

    def elapsed_many(self, starts: Int64Array, ends: Int64Array) -> Int64Array:
        """Vectorised :meth:`elapsed` over equal-length arrays."""
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        if starts.size == 0:
            return np.zeros(0, dtype=np.int64)
        low = min(int(starts.min()), int(ends.min()))
        high = max(int(starts.max()), int(ends.max()))
        table = self._covering(low, high)
        return _positions(table, ends) - _positions(table, starts)

    def add_many(self, starts: Int64Array, durations: Int64Array | int) -> Int64Array:
        """Vectorised :meth:`add`; ``durations`` is an array or one number for all."""
        starts = np.asarray(starts, dtype=np.int64)
        amounts = np.asarray(durations, dtype=np.int64)
        if starts.size == 0:
            return np.zeros(0, dtype=np.int64)
        # One number is not spread into an array of millions: adding it is cheaper.
        shortest = int(amounts.min()) if amounts.size else 0
        if shortest < 0:
            raise CalendarError("a duration to add must not be negative")
        table = self._covering(int(starts.min()), int(starts.max()))
        targets = _positions(table, starts)
        targets += amounts
        while int(targets.max()) > int(table.accrued_after[-1]):
            # Extending forward keeps the origin, so the targets stay valid.
            table = self._extend_forward(table)
        assert table.accrued_index is not None
        j = table.accrued_index.count(targets, inclusive=False)
        result = np.take(table.open_less_before, j, out=j)
        result += targets
        if shortest == 0:
            # Adding nothing leaves a start in closed time where it is.
            result = np.where(np.broadcast_to(amounts, starts.shape) == 0, starts, result)
        return result


def _position(table: _Table, instant: int) -> int:
    i = bisect.bisect_right(table.opens_list, instant) - 1
    if i < 0:
        return 0
    return table.accrued_before_list[i] + min(instant - table.opens_list[i], table.lengths_list[i])


def _positions(table: _Table, instants: Int64Array) -> Int64Array:
    assert table.open_index is not None
    opened = table.open_index.count(instants, inclusive=True)
    capped = table.cap[opened]
    result: Int64Array = np.take(table.lead, opened, out=opened)
    result += instants
    np.minimum(result, capped, out=result)
    return result


# Far enough ahead that an instant before the first open plus it exceeds the cap 0,
# near enough that no instant (MAX_YEAR at most) plus it overflows.
_BEFORE_FIRST_OPEN = 1 << 62


def _year_start(year: int) -> int:
    """Epoch microseconds at which ``_utc_year`` first answers ``year``."""
    return (year - 1970) * 31_556_952 * MICROS_PER_SECOND


def _utc_year(instant: int) -> int:
    # 365.2425-day years are close enough: the table keeps a year of margin anyway.
    return 1970 + int(instant // (31_556_952 * MICROS_PER_SECOND))


def _check_hours(hours: Mapping[int, Sequence[Window]]) -> None:
    for day, windows in hours.items():
        if not 0 <= day <= 6:
            raise CalendarError(f"weekday {day} is not 0 (Monday) … 6 (Sunday)")
        previous_end = -1
        for start, end in windows:
            if not 0 <= start < end <= MINUTES_PER_DAY:
                raise CalendarError(
                    f"{WEEKDAYS[day]}: window {format_window((start, end))} is not a forward "
                    "interval within one day"
                )
            if start < previous_end:
                raise CalendarError(
                    f"{WEEKDAYS[day]}: window {format_window((start, end))} overlaps"
                )
            previous_end = end


def format_window(window: Window) -> str:
    start, end = window
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
