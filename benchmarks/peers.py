"""The usual way to compute SLA deadlines, as a peer for ``calendar_bench.py``.

Helpdesk products such as Frappe/ERPNext (``get_expected_time_for`` in the
service level agreement) walk the calendar one day at a time: skip weekends and
holidays, and on each working day take as much of the day's support hours as
the remaining duration needs. This is that algorithm, written as directly as
such code usually is, on aware local ``datetime`` values, so the benchmark can
say how much the table-and-bisect calendar buys over it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo

_ONE_DAY = timedelta(days=1)


class DayByDayCalendar:
    """Weekly support hours in one zone, minus holidays, evaluated day by day."""

    def __init__(
        self,
        zone: tzinfo,
        hours: Mapping[int, Sequence[tuple[time, time]]],
        holidays: Collection[date],
    ) -> None:
        self.zone = zone
        self.hours = {weekday: list(windows) for weekday, windows in hours.items()}
        self.holidays = set(holidays)

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        return [
            (
                datetime.combine(day, opens, tzinfo=self.zone),
                datetime.combine(day, closes, tzinfo=self.zone),
            )
            for opens, closes in self.hours.get(day.weekday(), ())
        ]

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of support time after ``start`` is used up."""
        start = start.astimezone(self.zone)
        remaining = duration
        if remaining <= timedelta(0):
            return start
        day = start.date()
        # Ten years without an open window means the calendar is broken, not the lead late.
        for _ in range(3660):
            for opens, closes in self._windows(day):
                if closes <= start:
                    continue
                begin = max(opens, start)
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += _ONE_DAY
        raise ValueError("the calendar never opens")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Support time between two instants; negative when ``end`` is before ``start``."""
        if end < start:
            return -self.elapsed(end, start)
        start = start.astimezone(self.zone)
        end = end.astimezone(self.zone)
        total = timedelta(0)
        day = start.date()
        last = end.date()
        while day <= last:
            for opens, closes in self._windows(day):
                begin = max(opens, start)
                finish = min(closes, end)
                if finish > begin:
                    total += finish - begin
            day += _ONE_DAY
        return total
