"""A plain reference for business time, to check ``leadsla.core.calendar`` against.

It shares no code with the engine on purpose: no precomputed table, no binary
search, just a walk over local days with ``datetime`` and ``zoneinfo``. It is
slow and obvious, so that when the two disagree the engine is the suspect.

The rules it encodes (SPEC §2 and §4):

- a weekday's windows are local wall times; ``24:00`` is the next local midnight;
- a wall time inside a spring-forward gap is read with the offset in force
  before the gap, an ambiguous one as its first occurrence (``fold=0``);
- a holiday closes the whole local day;
- business time is the real time spent inside open windows, and an instant
  counts once even if two windows of a day cover it after the conversion to UTC
  (possible in a gap, where wall-time order and UTC order differ);
- ``add(start, d)`` is the earliest ``t >= start`` with ``elapsed(start, t) == d``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

MICROS_PER_SECOND = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_DAY = timedelta(days=1)

# Beyond this an add is taken to be lost in a calendar that never opens again.
_MAX_WALK_DAYS = 200 * 366


def to_micros(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime, in integers only (floats lose microseconds)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


def from_micros(instant: int, zone: tzinfo = UTC) -> datetime:
    return (_EPOCH + timedelta(microseconds=instant)).astimezone(zone)


def wall_to_micros(day: date, minute: int, zone: tzinfo) -> int:
    """The UTC instant of ``minute`` minutes after ``day``'s midnight on the wall clock."""
    if minute == 24 * 60:
        day, minute = day + _ONE_DAY, 0
    hour, minute = divmod(minute, 60)
    # A naive wall time given a zone keeps fold=0, which is exactly the reading the spec asks.
    return to_micros(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone))


def parse_window(text: str) -> tuple[int, int]:
    """``"09:00-17:30"`` as minutes after midnight, ``(540, 1050)``."""
    start, end = text.split("-")
    return _minutes(start), _minutes(end)


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    return int(hours) * 60 + int(minutes)


class ReferenceCalendar:
    """Weekly windows in a zone minus holidays, evaluated by walking day by day."""

    def __init__(
        self,
        timezone: str | tzinfo,
        hours: Mapping[int, Sequence[tuple[int, int] | str]],
        holidays: Callable[[int], Collection[date]] | None = None,
    ) -> None:
        self.zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.hours = {
            weekday: [parse_window(w) if isinstance(w, str) else tuple(w) for w in windows]
            for weekday, windows in hours.items()
        }
        self.holidays = holidays
        self._closed: dict[int, set[date]] = {}

    def is_holiday(self, day: date) -> bool:
        if self.holidays is None:
            return False
        if day.year not in self._closed:
            self._closed[day.year] = set(self.holidays(day.year))
        return day in self._closed[day.year]

    def day_intervals(self, day: date) -> list[tuple[int, int]]:
        """The open UTC intervals of one local day, sorted and with overlaps merged."""
        windows = self.hours.get(day.weekday(), [])
        if not windows or self.is_holiday(day):
            return []
        pieces = []
        for start_minute, end_minute in windows:
            opened = wall_to_micros(day, start_minute, self.zone)
            closed = wall_to_micros(day, end_minute, self.zone)
            # A window lying wholly in a spring-forward gap can come out backwards: it is empty.
            if closed > opened:
                pieces.append((opened, closed))
        pieces.sort()
        merged: list[tuple[int, int]] = []
        for opened, closed in pieces:
            if merged and opened <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], closed))
            else:
                merged.append((opened, closed))
        return merged

    def _intervals_from(self, first_day: date) -> Iterator[tuple[int, int]]:
        """Open intervals of every local day from ``first_day`` on, never counting time twice."""
        covered_until: int | None = None
        day = first_day
        for _ in range(_MAX_WALK_DAYS):
            for opened, closed in self.day_intervals(day):
                if covered_until is not None:
                    opened = max(opened, covered_until)
                if closed > opened:
                    yield opened, closed
                    covered_until = closed
            day += _ONE_DAY
        raise ValueError("the calendar does not open again within 200 years")

    def _local_date(self, instant: int) -> date:
        return from_micros(instant, self.zone).date()

    def elapsed(self, start: int, end: int) -> int:
        """Business microseconds between two instants; negative when ``end < start``."""
        if end < start:
            return -self.elapsed(end, start)
        total = 0
        # A day early, as cheap insurance against a DST shift carrying a window past midnight.
        for opened, closed in self._intervals_from(self._local_date(start) - _ONE_DAY):
            if opened >= end:
                break
            total += max(0, min(closed, end) - max(opened, start))
        return total

    def is_open(self, instant: int) -> bool:
        """Whether ``instant`` lies in an open interval ``[opening, closing)``."""
        for opened, closed in self._intervals_from(self._local_date(instant) - _ONE_DAY):
            if opened > instant:
                return False
            if instant < closed:
                return True
        raise AssertionError("unreachable: the walk raises before running out")

    def next_opening(self, instant: int) -> int:
        """The earliest ``t >= instant`` at which the calendar is open."""
        for opened, closed in self._intervals_from(self._local_date(instant) - _ONE_DAY):
            if instant < closed:
                return max(opened, instant)
        raise AssertionError("unreachable: the walk raises before running out")

    def add(self, start: int, duration: int) -> int:
        """The earliest instant ``t >= start`` with ``elapsed(start, t) == duration``."""
        if duration < 0:
            raise ValueError("a duration to add must not be negative")
        if duration == 0:
            return start
        accrued = 0
        for opened, closed in self._intervals_from(self._local_date(start) - _ONE_DAY):
            opened = max(opened, start)
            if closed <= opened:
                continue
            if accrued + (closed - opened) >= duration:
                return opened + (duration - accrued)
            accrued += closed - opened
        raise AssertionError("unreachable: the walk raises before running out")
