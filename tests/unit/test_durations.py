"""Duration texts of the config (SPEC §2, "Durations")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from leadsla.core.durations import Duration, DurationError, parse_duration

MINUTE = 60 * 1_000_000
HOUR = 60 * MINUTE


@pytest.mark.parametrize(
    ("text", "unit", "business", "micros"),
    [
        ("45 minutes", "minutes", False, 45 * MINUTE),
        ("24 hours", "hours", False, 24 * HOUR),
        ("7 days", "days", False, 7 * 24 * HOUR),
        ("30 business minutes", "minutes", True, 30 * MINUTE),
        ("8 business hours", "hours", True, 8 * HOUR),
        ("5 business days", "days", True, 5 * 8 * HOUR),
    ],
)
def test_every_unit_of_the_spec(text: str, unit: str, business: bool, micros: int) -> None:
    duration = parse_duration(text)
    assert (duration.unit, duration.business) == (unit, business)
    assert duration.micros() == micros


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1 minute", MINUTE),
        ("1 hour", HOUR),
        ("1 day", 24 * HOUR),
        ("1 business minute", MINUTE),
        ("1 business hour", HOUR),
        ("1 business day", 8 * HOUR),
    ],
)
def test_singular_forms(text: str, micros: int) -> None:
    assert parse_duration(text).micros() == micros


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1.5 hours", 90 * MINUTE),
        ("0.25 business hours", 15 * MINUTE),
        (".5 days", 12 * HOUR),
        ("1.5 business days", 12 * HOUR),
        ("0.001 minutes", 60_000),
    ],
)
def test_decimal_amounts_are_exact(text: str, micros: int) -> None:
    assert parse_duration(text).micros() == micros


def test_decimals_are_kept_as_decimals() -> None:
    # 0.1 is not a binary fraction: a float would drift from the written amount.
    assert parse_duration("0.1 business hours").amount == Decimal("0.1")
    assert parse_duration("0.1 business hours").micros() == 6 * MINUTE


@pytest.mark.parametrize(
    ("text", "day_hours", "micros"),
    [
        ("1 business day", 8.0, 8 * HOUR),
        ("1 business day", 7.5, 450 * MINUTE),
        ("2 business days", 10, 20 * HOUR),
        ("1.5 business days", 7.5, 675 * MINUTE),
        ("0.5 business days", 24, 12 * HOUR),
    ],
)
def test_business_days_follow_the_calendar_day_hours(
    text: str, day_hours: float, micros: int
) -> None:
    assert parse_duration(text).micros(day_hours=day_hours) == micros


def test_wall_days_ignore_day_hours() -> None:
    assert parse_duration("2 days").micros(day_hours=7.5) == 48 * HOUR


def test_business_hours_ignore_day_hours() -> None:
    assert parse_duration("8 business hours").micros(day_hours=7.5) == 8 * HOUR


@pytest.mark.parametrize(
    "text",
    ["8 Business Hours", "  8 business hours  ", "8  business   hours", "8 BUSINESS HOURS"],
)
def test_case_and_spacing_do_not_matter(text: str) -> None:
    assert parse_duration(text) == Duration(Decimal(8), "hours", business=True)


@pytest.mark.parametrize(
    "text",
    [
        "8 biz hours",
        "8 business",
        "8 hours business",
        "8 business weeks",
        "2 weeks",
        "8",
        "hours",
        "8hours",
        "-1 hours",
        "+1 hours",
        "1e3 minutes",
        "1,5 hours",
        "1. hours",
        "eight hours",
        "8 business business hours",
        "",
        "   ",
    ],
)
def test_bad_texts_are_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_the_error_says_what_was_expected() -> None:
    with pytest.raises(DurationError, match="business hours") as info:
        parse_duration("8 biz hours")
    assert "8 biz hours" in str(info.value)


@pytest.mark.parametrize("value", [None, 8, 8.0, b"8 hours"])
def test_non_text_is_refused(value: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(value)  # type: ignore[arg-type]


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("8 business hours", "8 business hours"),
        ("1.50 days", "1.5 days"),
        ("90 min", "90 minutes"),
    ],
)
def test_str_writes_the_canonical_form(text: str, shown: str) -> None:
    assert str(parse_duration(text)) == shown
