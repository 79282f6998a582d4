"""The settings page's plain words: calendars' weekly hours and policies as sentences."""

from collections.abc import Iterable, Mapping
from typing import Any

from leadsla.config.schema import PolicyConfig

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def week_hours(by_weekday: Mapping[int, Any]) -> list[tuple[str, str]]:
    return [
        (WEEKDAY_NAMES[day], ", ".join(w.text for w in windows) if windows else "closed")
        for day, windows in by_weekday.items()
    ]


def join_words(words: Iterable[str], last: str = "or") -> str:
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def policy_sentences(name: str, policy: PolicyConfig) -> list[str]:
    """The policy in plain words, one sentence per rule."""
    where = {"owner": "the owner's calendar", "team": "the owner's team's calendar"}.get(
        policy.calendar, f"the {policy.calendar} calendar"
    )
    lines = [
        f"The clock starts when a lead's status becomes {join_words(policy.start.status)} "
        f"and stops at {join_words(policy.stop.status)}; it runs on {where}."
    ]
    if policy.pause.status:
        lines.append(f"It pauses while the status is {join_words(policy.pause.status)}.")
    for grade, duration in policy.target.items():
        who = "Every lead" if grade == "default" else f"{grade} leads"
        optional = " (optional: a miss is not a breach)" if grade in policy.optional else ""
        lines.append(f"{who}: within {duration}{optional}.")
    if policy.warn_at is not None:
        lines.append(f"The owner is warned at {policy.warn_at:.0%} of the target.")
    for number, step in enumerate(policy.escalate, start=1):
        lines.append(
            f"Step {number}: {step.after} after the start, notify {join_words(step.notify, 'and')}."
        )
    return lines
