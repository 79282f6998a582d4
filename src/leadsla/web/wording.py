"""The settings page's plain words: calendars' weekly hours and policies as sentences."""

from collections.abc import Iterable, Mapping
from typing import Any

from leadsla.config.schema import PolicyConfig
from leadsla.core.durations import Duration

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# SPEC §3 and §9.1: an activity entry of ``start`` or ``stop`` as words. A kind alone
# matches every outcome of it; ``email`` never matches an automated email.
KIND_WORDS = {"call": "call", "email": "email", "meeting": "meeting", "sms": "text message"}
OUTCOME_WORDS = {
    "connected": "{a} {kind} that connected",
    "no_answer": "{a} {kind} with no answer",
    "voicemail": "{a} {kind} that went to voicemail",
    "sent": "{a} {kind} sent",
    "replied": "{a} {kind} replied to",
    "bounced": "{a} {kind} that bounced",
    "held": "{a} {kind} held",
    "attempted": "{a} {kind} without a disposition",
    "automated": "an automated {kind} (a sequence or mass send)",
}


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


def duration_words(duration: Duration | None) -> str:
    """``1 business days`` → "1 business day"; other amounts as written."""
    text = str(duration)
    return text[:-1] if duration is not None and duration.amount == 1 else text


def activity_words(entry: str) -> str:
    """``call`` → "any call"; ``email:replied`` → "an email replied to"."""
    kind, _, outcome = entry.partition(":")
    noun = KIND_WORDS.get(kind, kind)
    if not outcome:
        return f"any {noun}"
    article = "an" if noun[:1] in "aeiou" else "a"
    return OUTCOME_WORDS.get(outcome, "{a} {kind} (" + outcome + ")").format(a=article, kind=noun)


def _logged(entries: Iterable[str]) -> str:
    return f"when {join_words(activity_words(e) for e in entries)} is logged"


def policy_sentences(name: str, policy: PolicyConfig) -> list[str]:
    """The policy in plain words, one sentence per rule."""
    where = {"owner": "the owner's calendar", "team": "the owner's team's calendar"}.get(
        policy.calendar, f"the {policy.calendar} calendar"
    )
    start, stop = policy.start, policy.stop
    starts: list[str] = []
    if start.status and start.assigned:
        starts.append(
            f"when a lead's status is {join_words(start.status)} and it has an owner "
            "(whichever comes later)"
        )
    elif start.status:
        starts.append(f"when a lead's status becomes {join_words(start.status)}")
    if start.activity:
        starts.append(_logged(start.activity))
    stops: list[str] = []
    if stop.status:
        stops.append(f"at {join_words(stop.status)}")
    if stop.activity:
        stops.append(_logged(stop.activity))
    if stop.assigned:
        stops.append("once the lead has an owner")
    starting, stopping = " or ".join(starts), ", or ".join(stops)
    lines = [f"The clock starts {starting} and stops {stopping}; it runs on {where}."]
    if stop.activity or stop.assigned:
        lines.append("A stop that already holds when the clock starts stops it at once (met).")
    if "email" in stop.activity and "email:automated" not in stop.activity:
        lines.append("An automated email (a sequence or mass send) never stops it.")
    if policy.pause.status:
        lines.append(f"It pauses while the status is {join_words(policy.pause.status)}.")
    if policy.on_reassign == "restart":
        late = "it was already past its target"
        if policy.kind == "cadence":
            late = "a gap or the window had already run out"
        lines.append(
            "When the lead moves from one rep to another while the clock runs, the cycle "
            "ends (reassigned, counted in no compliance figure; breached, and charged to the "
            f"previous rep, if {late}) and a new one starts on the new "
            "owner's calendar."
        )
    if policy.kind == "cadence":
        count = f"{policy.attempts} attempt{'s' if policy.attempts != 1 else ''}"
        gap = duration_words(policy.gap)
        lines.append(
            f"It asks for {count} within {duration_words(policy.within)}, at most {gap} "
            f"apart (the first within {gap} of the start); an automated email is not an "
            "attempt."
        )
        lines.append(
            "It is met at the last attempt required, or when it stops before a gap or the "
            "window runs out; it is breached as soon as one of them does."
        )
    for grade, duration in policy.target.items():
        who = "Every lead" if grade == "default" else f"{grade} leads"
        optional = " (optional: a miss is not a breach)" if grade in policy.optional else ""
        lines.append(f"{who}: within {duration_words(duration)}{optional}.")
    if policy.warn_at is not None:
        lines.append(f"The owner is warned at {policy.warn_at:.0%} of the target.")
    since = "after the start"
    if policy.kind == "cadence":
        since += " or the latest attempt"  # SPEC §9.3: from the start of the current gap
    for number, step in enumerate(policy.escalate, start=1):
        urgent = " (urgent: sent at once, even outside their hours)" if step.urgent else ""
        lines.append(
            f"Step {number}: {duration_words(step.after)} {since}, "
            f"notify {join_words(step.notify, 'and')}{urgent}."
        )
    return lines
