"""Business time on random calendars, checked against a plain day-by-day reference.

The engine answers from a precomputed table with binary search; the reference in
``tests/reference_calendar.py`` walks local days with ``zoneinfo``. Any
difference between the two, on any zone, DST day, holiday set or window shape,
is a bug in one of them.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsla.core.calendar import BusinessCalendar


def _load_reference() -> ModuleType:
    # tests/ is not a package, so the reference is loaded from its path rather than imported.
    path = Path(__file__).resolve().parents[1] / "reference_calendar.py"
    spec = importlib.util.spec_from_file_location("reference_calendar", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_calendar", module)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
ReferenceCalendar = ref.ReferenceCalendar
to_micros = ref.to_micros
wall_to_micros = ref.wall_to_micros

HOUR = 3_600 * 1_000_000
MINUTE = 60 * 1_000_000

ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",  # moved its clocks at midnight until 2019
    "UTC",
)
FIRST_YEAR = 2015
LAST_YEAR = 2030
FIRST_DAY = date(FIRST_YEAR, 1, 1)
LAST_DAY = date(LAST_YEAR, 12, 31)

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def dst_days(zone_name: str) -> tuple[date, ...]:
    """Local days on which the zone's UTC offset changes, with their neighbours."""
    zone = ZoneInfo(zone_name)
    found: set[date] = set()
    day = FIRST_DAY
    offset = datetime(day.year, day.month, day.day, tzinfo=zone).utcoffset()
    while day <= LAST_DAY:
        following = day + timedelta(days=1)
        next_offset = datetime(
            following.year, following.month, following.day, tzinfo=zone
        ).utcoffset()
        if next_offset != offset:
            found.update({day - timedelta(days=1), day, following})
        day, offset = following, next_offset
    return tuple(sorted(found))


# -- calendars ------------------------------------------------------------------------

# Minutes that make windows meet DST changes (01:00-03:00 local), lunch breaks and midnight.
INTERESTING_MINUTES = (0, 30, 60, 90, 120, 135, 150, 165, 180, 210, 540, 720, 780, 1020, 1410, 1440)

TEMPLATES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((540, 1020),),  # 09:00-17:00
    ((540, 720), (780, 1020)),  # lunch break
    ((0, 1440),),  # round the clock
    ((0, 360), (1320, 1440)),  # night shift, joining the neighbouring days
    ((90, 210),),  # straddles most DST changes
    ((135, 165), (180, 240)),  # one window wholly inside a spring-forward gap
    ((0, 60), (60, 120)),  # adjacent windows
)

minutes = st.one_of(st.sampled_from(INTERESTING_MINUTES), st.integers(0, 1440))


@st.composite
def random_windows(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    count = draw(st.integers(1, 3))
    bounds = sorted(draw(st.lists(minutes, min_size=2 * count, max_size=2 * count)))
    return tuple(
        (bounds[i], bounds[i + 1]) for i in range(0, 2 * count, 2) if bounds[i] < bounds[i + 1]
    )


day_windows = st.one_of(
    st.just(()),
    st.sampled_from(TEMPLATES),
    random_windows(),
)


class Holidays:
    """Random closed days: some fixed dates and some recurring month-days."""

    def __init__(self, fixed: frozenset[date], recurring: frozenset[tuple[int, int]]) -> None:
        self.fixed = fixed
        self.recurring = recurring

    def __call__(self, year: int) -> set[date]:
        days = {d for d in self.fixed if d.year == year}
        days.update(date(year, month, day) for month, day in self.recurring)
        return days

    def __repr__(self) -> str:
        return f"Holidays({sorted(self.fixed)!r}, {sorted(self.recurring)!r})"


holiday_sets = st.builds(
    Holidays,
    st.frozensets(st.dates(date(FIRST_YEAR - 1, 1, 1), date(LAST_YEAR + 2, 12, 31)), max_size=40),
    st.frozensets(st.tuples(st.integers(1, 12), st.integers(1, 28)), max_size=4),
)


@st.composite
def calendar_specs(draw: st.DrawFn) -> dict[str, object]:
    hours = {weekday: draw(day_windows) for weekday in range(7)}
    hours = {weekday: windows for weekday, windows in hours.items() if windows}
    if not hours:
        hours = {draw(st.integers(0, 6)): draw(st.sampled_from(TEMPLATES))}
    return {
        "zone": draw(st.sampled_from(ZONES)),
        "hours": hours,
        "holidays": draw(holiday_sets),
    }


def weekly_open_micros(hours: dict[int, tuple[tuple[int, int], ...]]) -> int:
    return sum(end - start for windows in hours.values() for start, end in windows) * MINUTE


# -- instants and durations -------------------------------------------------------------

RANGE_LOW = to_micros(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC))
RANGE_HIGH = to_micros(datetime(LAST_YEAR, 12, 31, tzinfo=UTC))


@st.composite
def instants(draw: st.DrawFn, spec: dict[str, object]) -> int:
    """Any instant, a wall time on a DST day, or exactly a window boundary."""
    zone_name = str(spec["zone"])
    zone = ZoneInfo(zone_name)
    hours: dict[int, tuple[tuple[int, int], ...]] = spec["hours"]  # type: ignore[assignment]
    kind = draw(st.sampled_from(("anywhere", "dst_day", "boundary", "boundary")))
    if kind == "anywhere":
        return draw(st.integers(RANGE_LOW, RANGE_HIGH))
    if kind == "dst_day" and dst_days(zone_name):
        day = draw(st.sampled_from(dst_days(zone_name)))
        minute = draw(minutes.filter(lambda m: m < 1440))
        fold = draw(st.integers(0, 1))
        local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, fold=fold)
        instant = to_micros(local.replace(tzinfo=zone))
        return instant + draw(st.sampled_from((0, 0, -1, 1, 59 * MINUTE)))
    days_near_dst = st.sampled_from(dst_days(zone_name) or (FIRST_DAY,))
    day = draw(st.one_of(st.dates(FIRST_DAY, LAST_DAY), days_near_dst))
    while day.weekday() not in hours:
        day += timedelta(days=1)
    start, end = draw(st.sampled_from(hours[day.weekday()]))
    instant = wall_to_micros(day, draw(st.sampled_from((start, end))), zone)
    return instant + draw(st.sampled_from((0, 0, 0, -1, 1)))


@st.composite
def durations(draw: st.DrawFn, spec: dict[str, object]) -> int:
    """Zero up to hundreds of business hours, but no more than about three years' worth."""
    hours: dict[int, tuple[tuple[int, int], ...]] = spec["hours"]  # type: ignore[assignment]
    cap = max(1, min(600 * HOUR, weekly_open_micros(hours) * 52 * 3))
    return draw(
        st.one_of(
            st.just(0),
            st.integers(1, 60).map(lambda n: n * MINUTE),
            st.integers(0, cap // HOUR).map(lambda n: n * HOUR),
            st.integers(0, cap),
        )
    )


Case = tuple[dict[str, object], list[tuple[int, int, int]]]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A calendar and a few (start, duration, end) triples on it."""
    spec = draw(calendar_specs())
    triples = []
    for _ in range(draw(st.integers(1, 4))):
        start = draw(instants(spec))
        duration = draw(durations(spec))
        if draw(st.booleans()):
            end = draw(instants(spec))
        else:
            end = start + draw(st.integers(-3 * 366 * 24 * HOUR, 3 * 366 * 24 * HOUR))
        triples.append((start, duration, end))
    return spec, triples


def build(spec: dict[str, object]) -> tuple[BusinessCalendar, BusinessCalendar, object]:
    """Two engine calendars (one per code path, so each builds its own table) and the reference."""
    args = (spec["zone"], spec["hours"], spec["holidays"])
    scalar = BusinessCalendar("scalar", args[0], args[1], holidays=args[2])  # type: ignore[arg-type]
    vector = BusinessCalendar("vector", args[0], args[1], holidays=args[2])  # type: ignore[arg-type]
    return scalar, vector, ReferenceCalendar(*args)


# -- properties ---------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(cases())
def test_engine_matches_reference(case: Case) -> None:
    spec, triples = case
    scalar, vector, reference = build(spec)
    starts = np.array([t[0] for t in triples], dtype=np.int64)
    durations_ = np.array([t[1] for t in triples], dtype=np.int64)
    ends = np.array([t[2] for t in triples], dtype=np.int64)

    expected_adds = [reference.add(s, d) for s, d, _ in triples]
    expected_elapsed = [reference.elapsed(s, e) for s, _, e in triples]

    assert vector.add_many(starts, durations_).tolist() == expected_adds
    assert vector.elapsed_many(starts, ends).tolist() == expected_elapsed
    for (start, duration, end), due, between in zip(
        triples, expected_adds, expected_elapsed, strict=True
    ):
        assert scalar.add(start, duration) == due, (start, duration)
        assert scalar.elapsed(start, end) == between, (start, end)
        assert scalar.elapsed(end, start) == -between


@PROPERTY_SETTINGS
@given(cases())
def test_add_is_the_earliest_instant_reaching_the_duration(case: Case) -> None:
    spec, triples = case
    calendar, _, _ = build(spec)
    for start, duration, _ in triples:
        due = calendar.add(start, duration)
        assert due >= start
        assert calendar.elapsed(start, due) == duration
        if duration:
            # One microsecond earlier the duration is not yet reached: due is the closing
            # instant of the window that completes it, never the next opening.
            assert calendar.elapsed(start, due - 1) == duration - 1
        else:
            assert due == start


@PROPERTY_SETTINGS
@given(cases())
def test_open_and_next_opening_match_reference(case: Case) -> None:
    # SPEC §9.4: an instant is inside a calendar when it falls in an open interval
    # [opening, closing); the next opening of one outside is the start of the next.
    spec, triples = case
    calendar, _, reference = build(spec)
    for instant in {t for start, _, end in triples for t in (start, end)}:
        opening = calendar.next_opening(instant)
        assert calendar.is_open(instant) == reference.is_open(instant), instant
        assert opening == reference.next_opening(instant), instant
        assert opening >= instant and calendar.is_open(opening)
        # Nothing open is skipped on the way: no business time lies before the opening.
        assert calendar.elapsed(instant, opening) == 0
        assert (opening == instant) == calendar.is_open(instant)


# -- examples ---------------------------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_FIVE = {weekday: [(540, 1020)] for weekday in range(5)}


def ny(*parts: int) -> int:
    return to_micros(datetime(*parts, tzinfo=NEW_YORK))  # type: ignore[misc]


@pytest.fixture
def nine_to_five() -> BusinessCalendar:
    return BusinessCalendar("9-17", "America/New_York", NINE_TO_FIVE)


def test_spec_monday_morning_plus_eight_hours_is_monday_closing(
    nine_to_five: BusinessCalendar,
) -> None:
    monday_open = ny(2026, 3, 2, 9)
    monday_close = ny(2026, 3, 2, 17)
    assert nine_to_five.add(monday_open, 8 * HOUR) == monday_close
    assert nine_to_five.add(monday_open, 8 * HOUR) != ny(2026, 3, 3, 9)
    assert nine_to_five.add_many(np.array([monday_open]), 8 * HOUR).tolist() == [monday_close]


def test_spec_saturday_noon_plus_eight_hours_is_monday_closing(
    nine_to_five: BusinessCalendar,
) -> None:
    saturday_noon = ny(2026, 2, 28, 12)
    assert nine_to_five.add(saturday_noon, 8 * HOUR) == ny(2026, 3, 2, 17)
    assert nine_to_five.add_many(np.array([saturday_noon]), np.array([8 * HOUR])).tolist() == [
        ny(2026, 3, 2, 17)
    ]


def test_spec_no_business_time_after_closing(nine_to_five: BusinessCalendar) -> None:
    assert nine_to_five.elapsed(ny(2026, 3, 2, 17), ny(2026, 3, 2, 18, 30)) == 0
    assert nine_to_five.elapsed(ny(2026, 3, 2, 17), ny(2026, 3, 3, 9, 1)) == MINUTE
    assert nine_to_five.elapsed(ny(2026, 3, 3, 9, 1), ny(2026, 3, 2, 17)) == -MINUTE


ROUND_THE_CLOCK = {weekday: [(0, 1440)] for weekday in range(7)}


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2026, 3, 8), 23),  # spring forward: 02:00 EST becomes 03:00 EDT
        (date(2026, 11, 1), 25),  # fall back: 02:00 EDT becomes 01:00 EST
        (date(2026, 3, 9), 24),
    ],
)
def test_a_us_dst_day_lasts_its_real_length(day: date, hours: int) -> None:
    calendar = BusinessCalendar("24/7", "America/New_York", ROUND_THE_CLOCK)
    midnight = wall_to_micros(day, 0, NEW_YORK)
    next_midnight = wall_to_micros(day, 1440, NEW_YORK)
    assert calendar.elapsed(midnight, next_midnight) == hours * HOUR
    assert calendar.add(midnight, hours * HOUR) == next_midnight
    assert calendar.elapsed_many(np.array([midnight]), np.array([next_midnight])).tolist() == [
        hours * HOUR
    ]


def test_a_holiday_closes_the_whole_local_day() -> None:
    independence = date(2026, 7, 3)
    calendar = BusinessCalendar(
        "24/7 minus a holiday",
        "Asia/Kolkata",
        ROUND_THE_CLOCK,
        holidays=lambda year: {independence} if year == 2026 else set(),
    )
    kolkata = ZoneInfo("Asia/Kolkata")
    start = wall_to_micros(date(2026, 7, 2), 23 * 60, kolkata)
    assert calendar.elapsed(start, wall_to_micros(date(2026, 7, 4), 0, kolkata)) == HOUR
    assert calendar.add(start, 2 * HOUR) == wall_to_micros(date(2026, 7, 4), 60, kolkata)
    assert not calendar.is_open(wall_to_micros(independence, 12 * 60, kolkata))


def test_windows_meeting_at_midnight_join_across_days() -> None:
    calendar = BusinessCalendar("night", "UTC", {0: [(1320, 1440)], 1: [(0, 120)]})
    monday_late = to_micros(datetime(2026, 3, 2, 23, tzinfo=UTC))
    assert calendar.add(monday_late, 2 * HOUR) == to_micros(datetime(2026, 3, 3, 1, tzinfo=UTC))


def test_a_window_inside_a_spring_forward_gap_does_not_hide_the_next_one() -> None:
    # Read through the gap, a window can open (in UTC) after the window that follows it on the
    # wall clock; merging the day's intervals in wall-time order then loses the later one.
    # Sunday 8 March 2026 in New York: 02:40-02:50 does not exist and reads as 03:40-03:50 EDT
    # (07:40-07:50 UTC); 03:00-03:30 EDT is 07:00-07:30 UTC. Both are open: 40 minutes.
    hours = {6: [(160, 170), (180, 210)]}
    calendar = BusinessCalendar("gap", "America/New_York", hours)
    reference = ReferenceCalendar("America/New_York", hours)
    day = date(2026, 3, 8)
    start, end = wall_to_micros(day, 0, NEW_YORK), wall_to_micros(day, 1440, NEW_YORK)
    assert reference.elapsed(start, end) == 40 * MINUTE
    assert calendar.elapsed(start, end) == 40 * MINUTE


def test_next_opening_of_a_friday_evening_is_monday_morning_in_london() -> None:
    london = ZoneInfo("Europe/London")
    uk = BusinessCalendar(
        "uk", london, {**{day: [(510, 1050)] for day in range(4)}, 4: [(510, 960)]}
    )
    monday_open = wall_to_micros(date(2026, 4, 20), 510, london)
    friday_close = wall_to_micros(date(2026, 4, 17), 960, london)
    assert uk.next_opening(ny(2026, 4, 17, 18)) == monday_open
    assert uk.next_opening(friday_close) == monday_open  # the closing instant is outside
    assert uk.next_opening(friday_close - 1) == friday_close - 1
    assert uk.next_opening(monday_open) == monday_open
    assert not uk.is_open(friday_close) and uk.is_open(monday_open)


def shut(year: int) -> set[date]:
    """Christmas and the Monday after in 2026; every day of 2027 to 2029."""
    if year == 2026:
        return {date(2026, 12, 25), date(2026, 12, 28)}
    if 2027 <= year <= 2029:
        return {date(year, 1, 1) + timedelta(days=n) for n in range(366)} - {date(year + 1, 1, 1)}
    return set()


def test_next_opening_passes_holidays_and_the_end_of_the_table() -> None:
    calendar = BusinessCalendar("9-17", "America/New_York", NINE_TO_FIVE, holidays=shut)
    assert calendar.next_opening(ny(2026, 12, 24, 17)) == ny(2026, 12, 29, 9)
    # Three closed years: the opening lies past the table built around the instant.
    assert calendar.next_opening(ny(2027, 1, 4, 10)) == ny(2030, 1, 1, 9)
