"""The plain clock reference (tests/reference_clock.py) on hand-worked examples of SPEC §9.1–9.3.

Each figure below was worked out by hand on a New York 09:00–17:00 calendar (and a
London 08:30–17:30 one), in the week of Monday 2026-03-02, before US daylight saving
starts: New York is UTC−5 and London UTC+0 all week. These pin the reference, so that
the property test (test_clock_v2_properties.py) checks the engine against the rules and
not against a second reading of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clock_setup import book, steps, t, weekdays
from leadsla.core.durations import parse_duration
from leadsla.core.policy import Person, Policy, Rep, Team
from reference_clock import Change, reference_verdicts

CALENDARS = {
    "ny": ("America/New_York", weekdays((9 * 60, 17 * 60)), None, 8.0),
    "uk": ("Europe/London", weekdays((8 * 60 + 30, 17 * 60 + 30)), None, 8.0),
}
TEAMS = {
    "east": Team("east", "ny", Person("Dana", "dana@example.com"), ("r1", "r2")),
    "emea": Team("emea", "uk", Person("Tom", "tom@example.com"), ("r3",)),
}
REPS = {
    "r1": Rep("r1", "Sam", "sam@example.com", "east"),
    "r2": Rep("r2", "Priya", "priya@example.com", "east"),
    "r3": Rep("r3", "Ana", "ana@example.com", "emea"),
}
TARGETS = {
    "A": parse_duration("8 business hours"),
    "C": parse_duration("5 business days"),
    "default": parse_duration("16 business hours"),
}
NEW_A = [("status", "New"), ("grade", "A"), ("owner", "r1")]

CALL_STOPS = Policy(
    name="follow_up",
    start=frozenset({"New"}),
    stop=frozenset({"Contacted"}),
    stop_activity=frozenset({"call", "email:replied"}),
    targets=TARGETS,
    optional=frozenset({"C"}),
    warn_at=0.75,
    escalate=steps("24 hours", "48 hours"),
)
ROUTING = Policy(
    name="routing",
    start=frozenset({"New"}),
    stop=frozenset(),
    stop_assigned=True,
    targets={"default": parse_duration("4 business hours")},
)
FOLLOW_ASSIGNED = Policy(
    name="follow_up",
    start=frozenset({"New"}),
    start_assigned=True,
    stop=frozenset({"Contacted"}),
    stop_activity=frozenset({"call"}),
    targets=TARGETS,
)
RESTART = Policy(
    name="follow_up",
    start=frozenset({"New"}),
    stop=frozenset({"Contacted"}),
    pause=frozenset({"On Hold"}),
    targets=TARGETS,
    optional=frozenset({"C"}),
    warn_at=0.75,
    escalate=steps("24 hours"),
    on_reassign="restart",
)
CADENCE = Policy(
    name="attempts",
    kind="cadence",
    start=frozenset({"New"}),
    stop=frozenset({"Qualified", "Not a Lead", "Invalid Information", "Recycled", "Deferred"}),
    pause=frozenset({"On Hold"}),
    attempts=6,
    within=parse_duration("10 business days"),
    gap=parse_duration("1 business day"),
    escalate=steps("4 business hours", "1 business day"),
)


def ref(
    history: Sequence[tuple[str, Sequence[Change]]], as_of: str | int, *policies: Policy
) -> Any:
    """The reference's verdicts, New York wall times in; ``as_of`` may be an instant."""
    rules, calendars = book(CALENDARS, policies, REPS, TEAMS)
    instant = t(as_of) if isinstance(as_of, str) else as_of
    return reference_verdicts(rules, calendars, [(t(at), ch) for at, ch in history], instant)


def call(outcome: str = "no_answer") -> list[Change]:
    return [("activity", f"call:{outcome}")]


# -- §9.1: activities and assignment in start and stop ---------------------------------


def test_a_call_stops_the_clock_and_an_automated_email_does_not_count() -> None:
    history = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("activity", "email:automated")]),
        ("2026-03-02 10:30", [("activity", "email:sent")]),
        ("2026-03-02 11:00", call()),
        ("2026-03-03 10:00", call("connected")),  # after the stop: no new cycle
    ]
    (v,) = ref(history, "2026-03-02 10:45", CALL_STOPS)
    assert (v.state, v.business_seconds, v.attempts) == ("running", 6_300, 1)
    (v,) = ref(history, "2026-03-04 12:00", CALL_STOPS)
    assert (v.state, v.stopped_at, v.business_seconds, v.attempts) == (
        "met",
        t("2026-03-02 11:00"),
        7_200,
        2,
    )
    assert (v.due_at, v.owner, v.escalations, v.warned_at) == (t("2026-03-02 17:00"), "r1", 0, None)
    # Only the named outcome stops a `call:connected` policy.
    connected = Policy(
        name="follow_up",
        start=frozenset({"New"}),
        stop=frozenset(),
        stop_activity=frozenset({"call:connected"}),
        targets=TARGETS,
    )
    (v,) = ref(history, "2026-03-04 12:00", connected)
    assert (v.state, v.stopped_at, v.attempts) == ("breached", t("2026-03-03 10:00"), 3)
    assert v.breached_at == t("2026-03-03 09:00") + 1


def test_a_lead_waits_in_the_queue_until_assigned() -> None:
    history = [
        ("2026-03-02 09:00", [("status", "New"), ("grade", "A")]),
        ("2026-03-02 12:00", [("owner", "r3")]),  # a London rep: 17:00 there
    ]
    follow, routing = ref(history, "2026-03-02 14:00", ROUTING, FOLLOW_ASSIGNED)
    assert (routing.policy, routing.state, routing.calendar, routing.owner) == (
        "routing",
        "met",
        "ny",
        "r3",
    )
    assert (routing.stopped_at, routing.business_seconds, routing.due_at) == (
        t("2026-03-02 12:00"),
        10_800,
        t("2026-03-02 13:00"),
    )
    # The follow-up starts at the assignment, on the owner's London calendar:
    # 30 min on Monday (17:00-17:30 London), then 7 h 30 from Tuesday 08:30 London.
    assert (follow.started_at, follow.calendar, follow.state, follow.owner) == (
        t("2026-03-02 12:00"),
        "uk",
        "running",
        "r3",
    )
    assert (follow.business_seconds, follow.due_at) == (1_800, t("2026-03-03 11:00"))


def test_an_assigned_start_is_an_edge() -> None:
    history = [
        ("2026-03-02 09:00", [("status", "New"), ("grade", "A")]),
        ("2026-03-02 12:00", [("owner", "r3")]),
        ("2026-03-03 10:00", call()),  # stops the follow-up; the lead stays New and assigned
        ("2026-03-03 11:00", [("owner", "r1")]),  # still New and assigned: nothing starts
        ("2026-03-03 12:00", [("owner", "")]),
        ("2026-03-03 13:00", [("owner", "r2")]),  # New and assigned again: a new cycle
    ]
    one, two, routing = ref(history, "2026-03-03 14:00", ROUTING, FOLLOW_ASSIGNED)
    assert (one.state, one.stopped_at, one.owner, one.attempts) == (
        "met",
        t("2026-03-03 10:00"),
        "r3",
        1,
    )
    assert one.business_seconds == 1_800 + 6 * 3_600 + 1_800  # to 15:00 London
    assert (two.cycle, two.started_at, two.calendar, two.state, two.owner) == (
        2,
        t("2026-03-03 13:00"),
        "ny",
        "running",
        "r2",
    )
    assert (two.business_seconds, two.due_at, two.attempts) == (3_600, t("2026-03-04 13:00"), 0)
    assert (routing.cycle, routing.state) == (1, "met")  # no status edge: no second routing


def test_a_stop_condition_holding_at_the_start_stops_at_once() -> None:
    # A call logged at the lead's creation.
    (v,) = ref([("2026-03-02 09:00", [*NEW_A, *call("connected")])], "2026-03-04 12:00", CALL_STOPS)
    assert (v.state, v.started_at, v.stopped_at, v.business_seconds, v.attempts) == (
        "met",
        t("2026-03-02 09:00"),
        t("2026-03-02 09:00"),
        0,
        1,
    )
    # The deadline it had when it stopped (it started running).
    assert (v.due_at, v.escalations, v.warned_at, v.breached_at) == (
        t("2026-03-02 17:00"),
        0,
        None,
        None,
    )
    # A lead created assigned: its routing clock is met at once.
    follow, routing = ref(
        [("2026-03-02 09:00", NEW_A)], "2026-03-02 10:00", ROUTING, FOLLOW_ASSIGNED
    )
    assert (routing.state, routing.stopped_at, routing.business_seconds) == (
        "met",
        t("2026-03-02 09:00"),
        0,
    )
    assert (follow.state, follow.started_at, follow.business_seconds) == (
        "running",
        t("2026-03-02 09:00"),
        3_600,
    )
    # A clock started by an activity while the status is already in the stop set.
    meeting = Policy(
        name="meeting",
        start=frozenset(),
        start_activity=frozenset({"meeting:held"}),
        stop=frozenset({"Qualified"}),
        targets={"default": parse_duration("2 business days")},
    )
    history = [
        ("2026-03-02 09:00", [("status", "Qualified"), ("activity", "meeting:held")]),
        ("2026-03-02 11:00", [("status", "Demo Request"), ("activity", "meeting:held")]),
    ]
    one, two = ref(history, "2026-03-02 12:00", meeting)
    assert (one.state, one.stopped_at, one.business_seconds, one.attempts) == (
        "met",
        t("2026-03-02 09:00"),
        0,
        1,
    )
    assert (two.state, two.started_at, two.business_seconds, two.due_at) == (
        "running",
        t("2026-03-02 11:00"),
        3_600,
        t("2026-03-04 11:00"),
    )


def test_an_automated_email_is_no_attempt_and_matches_only_when_named() -> None:
    history = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("activity", "email:automated")]),
        ("2026-03-02 11:00", [("activity", "email:bounced")]),
    ]
    by_email = Policy(
        name="follow_up",
        start=frozenset({"New"}),
        stop=frozenset(),
        stop_activity=frozenset({"email"}),
        targets=TARGETS,
    )
    (v,) = ref(history, "2026-03-02 10:30", by_email)
    assert (v.state, v.attempts) == ("running", 0)
    (v,) = ref(history, "2026-03-02 12:00", by_email)
    assert (v.state, v.stopped_at, v.attempts) == ("met", t("2026-03-02 11:00"), 1)
    named = Policy(
        name="follow_up",
        start=frozenset({"New"}),
        stop=frozenset(),
        stop_activity=frozenset({"email:automated"}),
        targets=TARGETS,
    )
    (v,) = ref(history, "2026-03-02 12:00", named)
    assert (v.state, v.stopped_at, v.attempts) == ("met", t("2026-03-02 10:00"), 0)


# -- §9.2: reassignment with restart ---------------------------------------------------


def test_a_reassignment_restarts_before_and_after_the_target() -> None:
    history = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 13:00", [("owner", "r2")]),  # 4 h in: reassigned
        ("2026-03-03 14:00", [("owner", "r3")]),  # 9 h in: breached, then restarted
    ]
    one, two, three = ref(history, "2026-03-03 15:00", RESTART)
    assert (one.state, one.owner, one.stopped_at, one.business_seconds) == (
        "reassigned",
        "r1",
        t("2026-03-02 13:00"),
        14_400,
    )
    assert (one.due_at, one.breached_at, one.warned_at, one.escalations) == (
        t("2026-03-02 17:00"),
        None,
        None,
        0,
    )
    assert (two.started_at, two.calendar, two.state, two.owner) == (
        t("2026-03-02 13:00"),
        "ny",
        "breached",
        "r2",
    )
    assert (two.stopped_at, two.business_seconds, two.due_at, two.breached_at) == (
        t("2026-03-03 14:00"),
        32_400,
        t("2026-03-03 13:00"),
        t("2026-03-03 13:00") + 1,
    )
    assert (two.warned_at, two.escalations) == (t("2026-03-03 11:00"), 1)
    # 14:00 New York is 19:00 in London: nothing accrues until Wednesday 08:30 there.
    assert (three.cycle, three.started_at, three.calendar, three.state, three.owner) == (
        3,
        t("2026-03-03 14:00"),
        "uk",
        "running",
        "r3",
    )
    assert (three.business_seconds, three.due_at, three.grade) == (0, t("2026-03-04 11:30"), "A")


def test_what_is_not_a_reassignment() -> None:
    cleared_then_set = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("owner", "")]),
        ("2026-03-02 11:00", [("owner", "r2")]),
    ]
    (v,) = ref(cleared_then_set, "2026-03-02 12:00", RESTART)
    assert (v.state, v.owner, v.business_seconds) == ("running", "r2", 10_800)
    # A stop at the reassignment instant wins: one cycle, met, credited to the new owner.
    stopped = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 13:00", [("owner", "r2"), ("status", "Contacted")]),
    ]
    (v,) = ref(stopped, "2026-03-02 14:00", RESTART)
    assert (v.state, v.owner, v.stopped_at) == ("met", "r2", t("2026-03-02 13:00"))


def test_a_paused_clock_restarts_paused_and_an_optional_grade_lapses() -> None:
    paused = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        ("2026-03-02 11:00", [("owner", "r2")]),
    ]
    one, two = ref(paused, "2026-03-02 12:00", RESTART)
    assert (one.state, one.owner, one.business_seconds, one.due_at) == (
        "reassigned",
        "r1",
        3_600,
        None,
    )
    assert (two.state, two.owner, two.business_seconds, two.due_at) == ("paused", "r2", 0, None)
    late = [
        ("2026-03-02 09:00", [("status", "New"), ("grade", "C"), ("owner", "r1")]),
        ("2026-03-10 11:00", [("owner", "r2"), ("activity", "call:connected")]),
    ]
    one, two = ref(late, "2026-03-10 12:00", RESTART)
    assert (one.state, one.owner, one.business_seconds, one.breached_at) == (
        "lapsed",
        "r1",
        50 * 3_600,
        t("2026-03-09 09:00") + 1,
    )
    assert (one.escalations, one.attempts) == (0, 0)  # the call opens the new cycle
    assert (two.state, two.business_seconds, two.attempts) == ("running", 3_600, 1)


# -- §9.3: cadence ---------------------------------------------------------------------


def test_a_cadence_breaches_on_its_third_gap() -> None:
    history = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", call()),  # gap 1: 1 h
        ("2026-03-03 09:30", call("voicemail")),  # gap 2: 7 h 30
        ("2026-03-03 12:00", [("activity", "email:automated")]),  # no attempt, no new gap
        ("2026-03-04 10:00", [("activity", "email:sent")]),  # gap 3: 8 h 30, over 1 day
        ("2026-03-04 11:00", call()),
        ("2026-03-04 12:00", call()),
        ("2026-03-04 13:00", call("connected")),  # 6 attempts, but too late to be met
        ("2026-03-05 10:00", [("status", "Qualified")]),
    ]
    (v,) = ref(history, "2026-03-03 12:00", CADENCE)
    assert (v.state, v.attempts, v.business_seconds, v.escalations) == (
        "running",
        2,
        39_600,
        1,  # 4 business hours into gap 2: Monday 14:00
    )
    assert v.due_at == t("2026-03-04 09:30")  # the gap, before the window (Friday 03-13 17:00)
    assert v.step_instants == (t("2026-03-02 14:00"), t("2026-03-04 09:30"))
    (v,) = ref(history, "2026-03-04 09:30", CADENCE)
    assert (v.state, v.attempts, v.escalations, v.breached_at) == ("running", 2, 2, None)
    breach = t("2026-03-04 09:30") + 1
    (v,) = ref(history, breach, CADENCE)
    assert (v.state, v.due_at, v.breached_at, v.owner, v.stopped_at) == (
        "breached",
        breach,
        breach,
        "r1",
        None,
    )
    (v,) = ref(history, "2026-03-04 14:00", CADENCE)
    assert (v.state, v.attempts, v.stopped_at, v.due_at) == ("breached", 6, None, breach)
    (v,) = ref(history, "2026-03-05 12:00", CADENCE)
    assert (v.state, v.attempts, v.stopped_at) == ("breached", 6, t("2026-03-05 10:00"))
    assert v.business_seconds == (8 + 8 + 8 + 1) * 3_600


def test_a_cadence_is_met_by_its_sixth_attempt() -> None:
    history = [
        ("2026-03-02 09:00", NEW_A),
        *((f"2026-03-02 {hour}:00", call()) for hour in (10, 11, 12, 13, 14)),
        ("2026-03-02 14:30", [("activity", "email:automated")]),
        ("2026-03-02 15:00", [("activity", "sms:sent")]),
    ]
    (v,) = ref(history, "2026-03-03 12:00", CADENCE)
    assert (v.state, v.stopped_at, v.attempts, v.business_seconds) == (
        "met",
        t("2026-03-02 15:00"),
        6,
        21_600,
    )
    # The deadline the sixth attempt met: one business day from the fifth (14:00), before
    # the window's end; the last attempt opens no gap.
    assert (v.due_at, v.escalations, v.breached_at) == (t("2026-03-03 14:00"), 0, None)


def test_a_paused_cadence_excludes_the_pause() -> None:
    history = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", call()),
        ("2026-03-02 11:00", [("status", "On Hold")]),
        ("2026-03-03 15:00", [("status", "New")]),
    ]
    (v,) = ref(history, "2026-03-03 12:00", CADENCE)
    assert (v.state, v.due_at, v.business_seconds, v.attempts) == ("paused", None, 7_200, 1)
    (v,) = ref(history, "2026-03-03 16:00", CADENCE)
    # Gap 2: 1 h on Monday, then 2 h on Tuesday from 15:00 and 5 h on Wednesday.
    assert (v.state, v.due_at, v.business_seconds) == ("running", t("2026-03-04 14:00"), 10_800)
    assert v.step_instants == (t("2026-03-04 10:00"), t("2026-03-04 14:00"))
