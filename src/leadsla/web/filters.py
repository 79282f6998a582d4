"""How the dashboard's templates write figures: the filters and globals of its
template environment (:mod:`leadsla.web.render`).

Each takes what the services return (``None`` where there is no figure) and gives
text or chart positions; none computes a figure of its own.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any


def percent(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.0%}"


def number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


def whole(value: Any) -> str:
    """A count as people say it: rounded to a whole number (a forecast of 2,147.6 MQLs is
    2,148), with thousands separators. Rates keep their decimals (``percent``)."""
    if value is None:
        return "n/a"
    return f"{round(float(value)):,}"


def money(value: Any, currency: str | None = None) -> str:
    """An amount with no cents, the currency code after it (``n/a`` when there is none)."""
    if value is None:
        return "n/a"
    text = f"{float(value):,.0f}"
    return f"{text} {currency}" if currency else text


def business_span(seconds: Any) -> str:
    """Business seconds as ``2 h 05 min`` (``n/a`` when there is no figure)."""
    if seconds is None:
        return "n/a"
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    if hours:
        return f"{hours} h {rest // 60:02d} min"
    return f"{rest // 60} min {rest % 60:02d} s"


def countdown_text(seconds: int) -> str:
    """Business seconds left as ``H:MM:SS`` (the at-risk page's script writes the same)."""
    if seconds <= 0:
        return "due now"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


CHART_WIDTH = 600
CHART_HEIGHT = 260
PLOT = (56, 16, 584, 224)  # left, top, right, bottom of the burn-up's plot area


def burn_up_geometry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Where a burn-up's lines go in the SVG: the report's cumulative count at the end of
    each day, the target line, and the pro-rata pace (target × share of the period gone).

    Only positions: every figure the chart shows is the report's."""
    start = datetime.fromisoformat(entry["period"]["start"]).date()
    end = datetime.fromisoformat(entry["period"]["end"]).date()
    days = max((end - start).days, 1)
    counts = [int(day["count"]) for day in entry["days"]]
    target = float(entry["target"])
    top = max([target, *counts, 1.0]) * 1.08
    left, upper, right, bottom = PLOT

    def x(day: float) -> float:
        return round(left + (right - left) * day / days, 1)

    def y(value: float) -> float:
        return round(bottom - (bottom - upper) * value / top, 1)

    points = [(x(0), y(0))] + [(x(i + 1), y(c)) for i, c in enumerate(counts)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot": {"left": left, "top": upper, "right": right, "bottom": bottom},
        "line": " ".join(f"{a},{b}" for a, b in points),
        "last": points[-1],
        "target_y": y(target),
        "pace": (x(0), y(0), x(days), y(target)),
        "days": days,
        "first_date": start.isoformat(),
        "last_date": (end - timedelta(days=1)).isoformat(),
    }


def readable_instant(text: str | None) -> str:
    """An API instant (ISO 8601 with offset) as ``Wed 4 Mar 2026 10:30 (UTC-05:00)``."""
    if not text:
        return ""
    moment = datetime.fromisoformat(text)
    offset = text[19:] if len(text) > 19 else ""
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M} (UTC{offset})"


def readable_in(text: str | None, zone: tzinfo) -> str:
    """:func:`readable_instant` of the same instant in ``zone``: a page whose instants come
    from several calendars (a clock's, the history's) shows them all in one zone."""
    if not text:
        return ""
    moment = datetime.fromisoformat(text).astimezone(zone)
    return readable_instant(moment.isoformat(timespec="seconds"))


def decay_geometry(decay: Mapping[str, Any]) -> dict[str, Any]:
    """Where the touch decay chart's marks go: the fitted conversion as a line, its 95 %
    band as a polygon, and each bin's observed conversion as a dot sized by its leads.

    Only positions: every figure the chart shows is the report's ``touch_decay``."""
    points = [p for p in decay["points"] if p["fit"] is not None]
    left, upper, right, bottom = PLOT
    last_hour = max([float(p["hours"]) for p in points] + [1.0])
    highest = [float(p["fit_high"] or 0.0) for p in points] + [float(p["fit"]) for p in points]
    top = min(1.0, max([*highest, 0.05]) * 1.1)
    biggest = max([p["leads"] for p in points] + [1])

    def x(hours: float) -> float:
        return round(left + (right - left) * hours / last_hour, 1)

    def y(rate: float) -> float:
        return round(bottom - (bottom - upper) * min(rate, top) / top, 1)

    upper_edge = [f"{x(p['hours'])},{y(p['fit_high'] or p['fit'])}" for p in points]
    lower_edge = [f"{x(p['hours'])},{y(p['fit_low'] or 0.0)}" for p in reversed(points)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot": {"left": left, "top": upper, "right": right, "bottom": bottom},
        "line": " ".join(f"{x(p['hours'])},{y(p['fit'])}" for p in points),
        "band": " ".join(upper_edge + lower_edge),
        "dots": [
            (x(p["hours"]), y(p["conversion"]), round(1.5 + 3.5 * (p["leads"] / biggest) ** 0.5, 1))
            for p in points
        ],
        "top": top,
        "last_hour": last_hour,
    }
