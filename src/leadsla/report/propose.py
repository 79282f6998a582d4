"""``leadsla segments --propose``: the ``workable`` rule the closed loop supports, as YAML.

The segments the result marks workable (at least ``min_leads`` leads, profit per lead
above 0 at the low end of its interval: :class:`~leadsla.core.analytics.WorkableRule`)
become the ``segments`` of a ``workable`` section, one condition per ``--by`` field:
``eq`` its value, or ``exists: false`` for the leads without one. Each carries its
evidence as comments, so that whoever pastes it sees what it rests on.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["proposed_rule"]


def _scalar(value: Any) -> str:
    # A JSON string is a YAML double-quoted scalar: safe whatever the value holds.
    return json.dumps(value, ensure_ascii=False)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def segment_name(segment: dict[str, Any]) -> str:
    """``campaign=spring, country=UK`` (``(none)`` for a lead without the field)."""
    return ", ".join(
        f"{name}={'(none)' if value is None else value}" for name, value in segment.items()
    )


def _condition(name: str, value: Any) -> str:
    if value is None:
        return f"{{field: {_scalar(name)}, op: exists, value: false}}"
    return f"{{field: {_scalar(name)}, op: eq, value: {_scalar(str(value))}}}"


def proposed_rule(result: dict[str, Any]) -> str:
    """The YAML snippet of the segments ``result`` (:func:`~.figures.segments`) marks workable."""
    currency = f"{result['currency']} " if result["currency"] else ""
    chosen = [row for row in result["segments"] if row["workable"]]
    months = result["months"]
    lines = [
        "# leadsla segments --propose: the workable rule the closed loop supports, by "
        + ", ".join(result["by"])
        + f" over {months} month{'' if months == 1 else 's'} of history.",
        f"# A segment is proposed when it has at least {result['rule']['min_leads']} leads and "
        "its profit per lead is above 0 at the low end of its 95% interval.",
        "# Paste it over the config's workable section (add grade: [...] to keep grades too).",
    ]
    if not chosen:
        lines.append("# No segment passes: the history does not support a workable rule.")
        return "\n".join(lines) + "\n"
    lines += ["workable:", "  segments:"]
    for row in chosen:
        lines += [
            f"    # {row['leads']} leads, {row['won']} won; win rate {_share(row['win_rate'])} "
            f"({_share(row['win_rate_low'])} to {_share(row['win_rate_high'])}); profit per "
            f"lead {currency}{_money(row['profit_per_lead'])} "
            f"({_money(row['profit_per_lead_low'])} to {_money(row['profit_per_lead_high'])})",
            f"    - name: {_scalar(segment_name(row['segment']))}",
            "      when:",
            *(f"        - {_condition(name, value)}" for name, value in row["segment"].items()),
        ]
    return "\n".join(lines) + "\n"
