"""Durations of the config: ``"8 business hours"``, ``"24 hours"``, ``"1.5 business days"``.

A duration keeps its unit rather than a number of microseconds because one
business day is as long as the calendar it is counted on says (``day_hours``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from leadsla.core.columns import MICROS_PER_HOUR, MICROS_PER_MINUTE

_UNITS: dict[str, str] = {
    "minute": "minutes",
    "minutes": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "hour": "hours",
    "hours": "hours",
    "day": "days",
    "days": "days",
}

_PATTERN = re.compile(r"^\s*(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s+(?P<rest>.+?)\s*$")

DURATION_FORMAT = (
    '"<number> <unit>" with unit minutes, hours, days, business minutes, '
    'business hours or business days (e.g. "8 business hours", "24 hours", "1.5 days")'
)


class DurationError(ValueError):
    """A duration text that cannot be read; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class Duration:
    """An amount of wall-clock or business time, as written in the config."""

    amount: Decimal
    unit: str  # "minutes" | "hours" | "days"
    business: bool

    def micros(self, day_hours: float = 8.0) -> int:
        """Length in microseconds; business days count ``day_hours`` hours, wall days 24."""
        if self.unit == "minutes":
            per_unit = Decimal(MICROS_PER_MINUTE)
        elif self.unit == "hours":
            per_unit = Decimal(MICROS_PER_HOUR)
        else:
            hours = Decimal(str(day_hours)) if self.business else Decimal(24)
            per_unit = hours * MICROS_PER_HOUR
        return int((self.amount * per_unit).to_integral_value())

    def __str__(self) -> str:
        prefix = "business " if self.business else ""
        return f"{self.amount.normalize():f} {prefix}{self.unit}"


def parse_duration(text: str) -> Duration:
    """Read ``"<number> [business] <unit>"``; raise :class:`DurationError` naming the problem."""
    if not isinstance(text, str):
        raise DurationError(f"expected a duration text like {DURATION_FORMAT}, got {text!r}")
    match = _PATTERN.match(text)
    if match is None:
        raise DurationError(f"{text!r} is not a duration: expected {DURATION_FORMAT}")
    try:
        amount = Decimal(match.group("number"))
    except InvalidOperation as exc:  # the pattern admits only digits, so this is defensive
        raise DurationError(f"{text!r} has no readable number") from exc
    words = match.group("rest").lower().split()
    business = False
    if words and words[0] == "business":
        business = True
        words = words[1:]
    if len(words) != 1 or words[0] not in _UNITS:
        raise DurationError(f"{text!r} has an unknown unit: expected {DURATION_FORMAT}")
    return Duration(amount=amount, unit=_UNITS[words[0]], business=business)
