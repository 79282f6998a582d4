"""Part 3 of docs/sla-rules.md (SPEC §9) against the engine: every figure of its
Examples 6–10 and of its rule sections, computed here from the page's own config.

The config is read from the page: the calendars of its first setup block and the
teams, policies and notifications of "The setup of Part 3", so a change to either
the page or the engine that makes them disagree fails here. Times are New York
wall times unless a London one is named; 2026-03-02 is a Monday.

Example 10's delivery in the recipient's hours is the worker's (its own test sends
the mail with three workers); here only the step instants and the calendar
arithmetic behind its table are pinned.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from leadsla.config import build_rulebook, load_config_text
from leadsla.core.calendar import BusinessCalendar
from leadsla.core.clock import Change, State, TimerKind, Verdict, judge_lead, replay
from leadsla.core.policy import DEFAULT_STATUSES, Rulebook

DOC = Path(__file__).resolve().parents[2] / "docs" / "sla-rules.md"
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SECOND = 1_000_000
HOUR = 3600 * SECOND

History = list[tuple[str, list[Change]]]


def t(text: str, zone: ZoneInfo = NY) -> int:
    """A wall time ``YYYY-MM-DD HH:MM[:SS]`` in ``zone`` as epoch microseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()) * SECOND


def uk(text: str) -> int:
    return t(text, LONDON)


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def doc_config() -> dict[str, Any]:
    """The page's config: Part 1's calendars with Part 3's teams, policies and
    notifications, the default statuses plus ``On Hold``, grades A, B, C."""
    text = DOC.read_text(encoding="utf-8")
    first = yaml.safe_load(yaml_blocks(text)[0])
    part3 = yaml.safe_load(yaml_blocks(text.split("## The setup of Part 3", 1)[1])[0])
    statuses = [{"name": name, "stage": stage} for name, stage in DEFAULT_STATUSES.items()]
    return {
        "default_calendar": first["default_calendar"],
        "calendars": first["calendars"],
        "statuses": [*statuses, {"name": "On Hold"}],
        "grades": [
            {"name": "A", "min_score": 80},
            {"name": "B", "min_score": 50},
            {"name": "C", "min_score": 0},
        ],
        **part3,
    }


CONFIG = doc_config()
RULES = build_rulebook(load_config_text(yaml.safe_dump(CONFIG, sort_keys=False), "sla-rules.md"))


def with_follow_up(**changes: Any) -> Rulebook:
    """The page's rules with the ``follow_up`` policy changed (e.g. ``on_reassign``)."""
    policies = tuple(replace(p, **changes) if p.name == "follow_up" else p for p in RULES.policies)
    return replace(RULES, policies=policies)


RESTART = with_follow_up(on_reassign="restart")


def judged(history: History, as_of: int, rules: Rulebook = RULES) -> dict[tuple[str, int], Verdict]:
    lead = replay(rules, "L1", [(t(at), changes) for at, changes in history])
    return {(v.policy, v.cycle): v for v in judge_lead(rules, lead, as_of)}


def row(v: Verdict) -> tuple[object, ...]:
    """A verdict as the page's tables show it."""
    return (
        v.owner,
        v.state,
        v.started_at,
        v.due_at,
        v.stopped_at,
        v.business_seconds,
        v.attempts,
        v.escalations,
    )


NEW_A_R1: list[Change] = [("status", "New"), ("grade", "A"), ("owner", "r1")]


def test_the_page_config_is_valid_and_has_the_three_clocks() -> None:
    assert [p.name for p in RULES.policies] == ["routing", "follow_up", "attempts"]
    routing, follow_up, attempts = RULES.policies
    assert routing.stop_assigned and not routing.stop and routing.calendar == "ny"
    assert follow_up.start_assigned and follow_up.stop_activity == {
        "call",
        "email:replied",
        "meeting",
    }
    assert follow_up.on_reassign == "carry"
    assert attempts.is_cadence and attempts.attempts == 6
    notifications = CONFIG["notifications"]
    assert notifications["deliver"] == "recipient_hours"
    assert notifications["unassigned"][0]["name"] == "Lead desk"


def test_with_these_numbers_the_window_never_decides() -> None:
    # Six attempts each at most one gap after the last fall within six gaps of the start.
    attempts = RULES.policies[2]
    assert attempts.gap is not None and attempts.within is not None
    day_hours = RULES.calendars["ny"].day_hours
    six_gaps = attempts.attempts * attempts.gap.micros(day_hours)
    assert six_gaps == 6 * 8 * HOUR < attempts.within.micros(day_hours)


# -- Example 6: a call that stops the clock ------------------------------------------

CALLED: History = [
    ("2026-03-02 09:00", NEW_A_R1),
    ("2026-03-02 09:01", [("activity", "email:automated")]),
    ("2026-03-02 09:12", [("activity", "call:no_answer")]),
]


def test_example_6_a_call_stops_the_follow_up_clock() -> None:
    v = judged(CALLED, t("2026-03-02 12:00"))
    assert row(v["attempts", 1]) == (
        "r1", State.RUNNING, t("2026-03-02 09:00"), t("2026-03-03 09:12"), None, 10_800, 1, 0,
    )  # fmt: skip
    assert row(v["follow_up", 1]) == (
        "r1", State.MET, t("2026-03-02 09:00"), t("2026-03-02 17:00"), t("2026-03-02 09:12"),
        720, 1, 0,
    )  # fmt: skip
    assert row(v["routing", 1]) == (
        "r1", State.MET, t("2026-03-02 09:00"), t("2026-03-02 11:00"), t("2026-03-02 09:00"),
        0, 0, 0,
    )  # fmt: skip
    # The lead stays New and assigned: no second follow-up cycle, even much later.
    assert ("follow_up", 2) not in judged(CALLED, t("2026-03-06 12:00"))


def test_example_6_with_the_status_only_policy_the_same_lead_breaches() -> None:
    status_only = with_follow_up(stop_activity=frozenset(), start_assigned=False)
    v = judged(CALLED, t("2026-03-03 09:00:00"), status_only)["follow_up", 1]
    assert v.state is State.RUNNING
    v = judged(CALLED, t("2026-03-03 09:00:01"), status_only)["follow_up", 1]
    assert (v.state, v.breached_at) == (State.BREACHED, t("2026-03-03 09:00") + 1)


def test_example_6_a_call_at_creation_meets_at_once() -> None:
    history: History = [("2026-03-02 09:00", [*NEW_A_R1, ("activity", "call:connected")])]
    v = judged(history, t("2026-03-02 12:00"))["follow_up", 1]
    assert (v.state, v.stopped_at, v.business_seconds) == (State.MET, t("2026-03-02 09:00"), 0)


def test_which_activities_stop_the_follow_up_clock() -> None:
    for activity, stops in [
        ("call:attempted", True),
        ("call:connected", True),
        ("email:replied", True),
        ("meeting:held", True),
        ("email:sent", False),
        ("email:automated", False),
        ("sms:sent", False),
    ]:
        history: History = [
            ("2026-03-02 09:00", NEW_A_R1),
            ("2026-03-02 10:00", [("activity", activity)]),
        ]
        v = judged(history, t("2026-03-02 12:00"))["follow_up", 1]
        assert (v.state is State.MET) is stops, activity
        assert v.attempts == (0 if activity == "email:automated" else 1), activity


# -- Example 7: a lead that waits in a queue -----------------------------------------

QUEUED: History = [
    ("2026-03-02 10:00", [("status", "New"), ("grade", "A")]),
    ("2026-03-02 13:30", [("owner", "r3")]),
    ("2026-03-03 04:00", [("activity", "call:connected")]),  # 09:00 in London
]


def test_example_7_the_queue_and_the_reps_clock() -> None:
    assert t("2026-03-02 13:30") == uk("2026-03-02 18:30")
    v = judged(QUEUED, t("2026-03-03 08:00"))
    assert row(v["attempts", 1]) == (
        "r3", State.RUNNING, uk("2026-03-02 18:30"), uk("2026-03-03 17:00"), None, 16_200, 1, 0,
    )  # fmt: skip
    assert row(v["follow_up", 1]) == (
        "r3", State.MET, uk("2026-03-02 18:30"), uk("2026-03-03 16:30"), uk("2026-03-03 09:00"),
        1_800, 1, 0,
    )  # fmt: skip
    assert row(v["routing", 1]) == (
        None, State.BREACHED, t("2026-03-02 10:00"), t("2026-03-02 12:00"),
        t("2026-03-02 13:30"), 12_600, 0, 1,
    )  # fmt: skip
    assert (v["follow_up", 1].calendar, v["routing", 1].calendar) == ("uk", "ny")
    assert v["routing", 1].breached_at == t("2026-03-02 12:00") + 1


def test_example_7_the_queue_step_comes_at_11_to_a_lead_without_an_owner() -> None:
    before = judged(QUEUED[:1], t("2026-03-02 10:59:59"))["routing", 1]
    at = judged(QUEUED[:1], t("2026-03-02 11:00"))["routing", 1]
    assert (before.escalations, at.escalations, at.owner) == (0, 1, None)
    # The lead desk works New York hours, open at 11:00: sent at once.
    assert RULES.calendars[RULES.default_calendar].is_open(t("2026-03-02 11:00"))


def test_example_7_without_assigned_the_rep_is_charged_the_queue() -> None:
    v = judged(QUEUED, t("2026-03-03 08:00"), with_follow_up(start_assigned=False))
    follow = v["follow_up", 1]
    assert (follow.calendar, follow.started_at, follow.state, follow.business_seconds) == (
        "ny",
        t("2026-03-02 10:00"),
        State.MET,
        25_200,
    )


def test_example_7_assigned_in_time_the_routing_clock_is_met_for_the_rep() -> None:
    history: History = [QUEUED[0], ("2026-03-02 10:40", [("owner", "r1")])]
    v = judged(history, t("2026-03-02 12:00"))["routing", 1]
    assert (v.state, v.business_seconds, v.owner) == (State.MET, 2_400, "r1")


def test_an_owner_cleared_and_set_again_while_new_is_a_new_edge() -> None:
    history: History = [
        ("2026-03-02 09:00", NEW_A_R1),
        ("2026-03-02 09:12", [("activity", "call:no_answer")]),
        ("2026-03-02 10:00", [("owner", "")]),
        ("2026-03-02 11:00", [("owner", "r2")]),
    ]
    v = judged(history, t("2026-03-02 12:00"))
    assert v["follow_up", 1].state is State.MET
    assert (v["follow_up", 2].started_at, v["follow_up", 2].state) == (
        t("2026-03-02 11:00"),
        State.RUNNING,
    )
    # While a cycle runs, clearing the owner does not stop it.
    running = judged(history[:1] + history[2:3], t("2026-03-02 12:00"))["follow_up", 1]
    assert (running.state, running.owner) == (State.RUNNING, None)


# -- Example 8: a reassignment with restart ------------------------------------------


def test_example_8_given_to_ana_before_the_target() -> None:
    history: History = [("2026-03-02 09:00", NEW_A_R1), ("2026-03-02 14:00", [("owner", "r3")])]
    v = judged(history, t("2026-03-03 08:00"), RESTART)
    assert row(v["follow_up", 1])[:6] == (
        "r1", State.REASSIGNED, t("2026-03-02 09:00"), t("2026-03-02 17:00"),
        t("2026-03-02 14:00"), 18_000,
    )  # fmt: skip
    assert row(v["follow_up", 2])[:6] == (
        "r3", State.RUNNING, uk("2026-03-02 19:00"), uk("2026-03-03 16:30"), None, 16_200,
    )  # fmt: skip
    assert v["follow_up", 2].calendar == "uk"


def test_example_8_given_to_priya_after_the_target() -> None:
    history: History = [("2026-03-02 09:00", NEW_A_R1), ("2026-03-03 11:00", [("owner", "r2")])]
    v = judged(history, t("2026-03-03 12:00"), RESTART)
    assert row(v["follow_up", 1])[:6] == (
        "r1", State.BREACHED, t("2026-03-02 09:00"), t("2026-03-02 17:00"),
        t("2026-03-03 11:00"), 36_000,
    )  # fmt: skip
    assert row(v["follow_up", 2])[:6] == (
        "r2", State.RUNNING, t("2026-03-03 11:00"), t("2026-03-04 11:00"), None, 3_600,
    )  # fmt: skip


def test_example_8_reassigned_at_the_instant_of_the_first_step() -> None:
    history: History = [("2026-03-02 09:00", NEW_A_R1), ("2026-03-03 09:00", [("owner", "r2")])]
    v = judged(history, t("2026-03-03 12:00"), RESTART)
    old, new = v["follow_up", 1], v["follow_up", 2]
    assert (old.state, old.business_seconds, old.escalations) == (State.REASSIGNED, 28_800, 0)
    assert (new.started_at, new.due_at) == (t("2026-03-03 09:00"), t("2026-03-03 17:00"))


def test_example_8_a_stop_in_the_same_instant_wins() -> None:
    history: History = [
        ("2026-03-02 09:00", NEW_A_R1),
        ("2026-03-02 14:00", [("owner", "r3"), ("activity", "call:no_answer")]),
    ]
    v = judged(history, t("2026-03-03 08:00"), RESTART)
    assert ("follow_up", 2) not in v
    assert row(v["follow_up", 1])[:6] == (
        "r3", State.MET, t("2026-03-02 09:00"), t("2026-03-02 17:00"), t("2026-03-02 14:00"),
        18_000,
    )  # fmt: skip


def test_example_8_an_owner_cleared_then_set_is_no_reassignment() -> None:
    history: History = [
        ("2026-03-02 09:00", NEW_A_R1),
        ("2026-03-02 11:00", [("owner", "")]),
        ("2026-03-02 13:00", [("owner", "r3")]),
    ]
    v = judged(history, t("2026-03-02 14:00"), RESTART)
    assert ("follow_up", 2) not in v
    one = v["follow_up", 1]
    assert (one.calendar, one.state, one.owner) == ("ny", State.RUNNING, "r3")


def test_example_8_a_paused_cycle_counts_as_running() -> None:
    history: History = [
        ("2026-03-02 09:00", NEW_A_R1),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        ("2026-03-02 11:00", [("owner", "r2")]),
        ("2026-03-02 13:00", [("status", "New")]),
    ]
    paused = judged(history[:3], t("2026-03-02 12:00"), RESTART)["follow_up", 2]
    assert (paused.state, paused.started_at, paused.business_seconds) == (
        State.PAUSED,
        t("2026-03-02 11:00"),
        0,
    )
    v = judged(history, t("2026-03-02 14:00"), RESTART)
    old, new = v["follow_up", 1], v["follow_up", 2]
    assert (old.state, old.business_seconds, old.due_at) == (State.REASSIGNED, 3_600, None)
    assert (new.state, new.business_seconds, new.due_at) == (
        State.RUNNING,
        3_600,
        t("2026-03-03 13:00"),
    )


def test_example_8_the_rows_of_the_reassignment_instant_belong_to_the_new_cycle() -> None:
    history: History = [
        ("2026-03-02 09:00", NEW_A_R1),
        ("2026-03-02 14:00", [("owner", "r3"), ("activity", "sms:sent"), ("grade", "B")]),
    ]
    v = judged(history, t("2026-03-03 08:00"), RESTART)
    old, new = v["follow_up", 1], v["follow_up", 2]
    assert (old.attempts, new.attempts) == (0, 1)
    # Both see the lead after the instant: the grade is B in each (SPEC §3).
    assert (old.grade, new.grade) == ("B", "B")


def test_example_8_with_carry_one_cycle_follows_the_lead() -> None:
    history: History = [("2026-03-02 09:00", NEW_A_R1), ("2026-03-02 14:00", [("owner", "r3")])]
    v = judged(history, t("2026-03-03 08:00"))
    assert ("follow_up", 2) not in v
    assert (v["follow_up", 1].calendar, v["follow_up", 1].owner) == ("ny", "r3")


# -- Example 9: a cadence that breaches on its third gap ------------------------------

CADENCE: History = [
    ("2026-03-02 10:00", NEW_A_R1),
    ("2026-03-02 16:00", [("activity", "call:no_answer")]),
    ("2026-03-03 15:00", [("activity", "call:voicemail")]),
    ("2026-03-05 10:00", [("activity", "call:connected")]),
]


def cadence(history: History, as_of: str) -> Verdict:
    instant = t(as_of)
    return judged([h for h in history if t(h[0]) <= instant], instant)["attempts", 1]


def test_example_9_the_cadence_breaches_on_its_third_gap() -> None:
    breach = t("2026-03-04 15:00") + 1
    expected = [
        ("2026-03-02 12:00", State.RUNNING, t("2026-03-03 10:00"), 7_200, 0, 0),
        ("2026-03-03 12:00", State.RUNNING, t("2026-03-03 16:00"), 36_000, 1, 0),
        ("2026-03-04 12:00", State.RUNNING, t("2026-03-04 15:00"), 64_800, 2, 1),
        ("2026-03-04 15:00:00", State.RUNNING, t("2026-03-04 15:00"), 75_600, 2, 1),
        ("2026-03-04 15:00:01", State.BREACHED, breach, 75_601, 2, 1),
        ("2026-03-06 12:00", State.BREACHED, breach, 122_400, 3, 1),
    ]
    for as_of, state, due, seconds, attempts, escalations in expected:
        v = cadence(CADENCE, as_of)
        assert (v.state, v.due_at, v.business_seconds, v.attempts, v.escalations) == (
            state,
            due,
            seconds,
            attempts,
            escalations,
        ), as_of
    v = cadence(CADENCE, "2026-03-06 12:00")
    assert (v.owner, v.stopped_at, v.breached_at) == ("r1", None, breach)


def test_example_9_the_step_fires_once_in_the_second_gap() -> None:
    assert cadence(CADENCE, "2026-03-03 13:59:59").escalations == 0
    assert cadence(CADENCE, "2026-03-03 14:00").escalations == 1
    # Gap 1 ended with the call at 16:00, the instant its step would have come.
    assert cadence(CADENCE, "2026-03-02 16:00").escalations == 0
    # Gap 3 reaches 6 hours at Wednesday 13:00: no second firing.
    assert cadence(CADENCE, "2026-03-04 13:00").escalations == 1


def test_example_9_the_follow_up_clock_stopped_at_the_first_call() -> None:
    v = judged(CADENCE, t("2026-03-06 12:00"))["follow_up", 1]
    assert (v.state, v.stopped_at, v.business_seconds, v.attempts) == (
        State.MET,
        t("2026-03-02 16:00"),
        21_600,
        1,
    )


IN_TIME: History = [
    *CADENCE[:3],
    ("2026-03-04 15:00", [("activity", "call:no_answer")]),
    ("2026-03-05 11:00", [("activity", "email:sent"), ("activity", "email:automated")]),
    ("2026-03-05 16:00", [("activity", "call:attempted")]),
    ("2026-03-06 14:00", [("activity", "call:connected")]),
    ("2026-03-09 10:00", [("activity", "meeting:held")]),
]


def test_example_9_in_time_the_sixth_attempt_meets_the_cadence() -> None:
    third = cadence(IN_TIME, "2026-03-04 15:00:01")
    assert (third.state, third.attempts) == (State.RUNNING, 3)
    before = cadence(IN_TIME, "2026-03-06 13:00")
    assert (before.state, before.attempts, before.due_at) == (
        State.RUNNING,
        5,
        t("2026-03-06 16:00"),
    )
    for as_of in ("2026-03-06 14:00", "2026-03-10 12:00"):
        v = cadence(IN_TIME, as_of)
        assert (v.state, v.stopped_at, v.business_seconds, v.attempts) == (
            State.MET,
            t("2026-03-06 14:00"),
            129_600,
            6,
        ), as_of


def test_example_9_a_stop_status_before_the_overrun_meets_the_cadence() -> None:
    history = [*CADENCE[:3], ("2026-03-04 09:30", [("status", "Qualified")])]
    v = judged(history, t("2026-03-05 12:00"))["attempts", 1]
    assert (v.state, v.stopped_at, v.attempts) == (State.MET, t("2026-03-04 09:30"), 2)


# -- Example 10: a Friday-evening escalation held to Monday ---------------------------


def next_opening(calendar: BusinessCalendar, instant: int) -> int:
    """The instant itself when the calendar is open then, else its next opening."""
    if calendar.is_open(instant):
        return instant
    return calendar.open_intervals(instant, instant + 8 * 24 * HOUR)[0][0]


FRIDAY: History = [("2026-03-04 18:00", [("status", "New"), ("grade", "A"), ("owner", "r3")])]


def test_example_10_the_steps_fall_outside_everyones_hours() -> None:
    lead = replay(RULES, "L1", [(t(at), changes) for at, changes in FRIDAY])
    timers = {(x.kind, x.step): x.at for x in lead.timers(RULES) if x.policy == "follow_up"}
    assert timers == {
        (TimerKind.WARNING, 0): uk("2026-03-05 14:30"),
        (TimerKind.ESCALATION, 1): t("2026-03-05 18:00"),
        (TimerKind.ESCALATION, 2): t("2026-03-06 18:00"),
        (TimerKind.ESCALATION, 3): t("2026-03-07 18:00"),
        (TimerKind.BREACH, 0): uk("2026-03-05 16:30") + 1,
    }
    assert t("2026-03-05 09:30") == uk("2026-03-05 14:30")
    assert [t(f"2026-03-0{d} 18:00") for d in (5, 6, 7)] == [
        uk(f"2026-03-0{d} 23:00") for d in (5, 6, 7)
    ]
    v = judged(FRIDAY, t("2026-03-06 12:00"))["follow_up", 1]
    assert (v.calendar, v.due_at, v.state) == ("uk", uk("2026-03-05 16:30"), State.BREACHED)
    # The evaluate row counts steps at their instants: 2 as of Saturday noon.
    assert judged(FRIDAY, t("2026-03-07 12:00"))["follow_up", 1].escalations == 2


def test_example_10_the_next_openings_of_the_recipients_calendars() -> None:
    london, new_york = RULES.calendars["uk"], RULES.calendars["ny"]
    # Ana and Tom (team emea, calendar uk).
    assert RULES.calendar_name_for(RULES.policies[1], "r3") == "uk"
    assert RULES.teams["emea"].calendar == "uk"
    assert next_opening(london, uk("2026-03-05 14:30")) == uk("2026-03-05 14:30")
    assert next_opening(london, uk("2026-03-05 23:00")) == uk("2026-03-06 08:30")
    monday = next_opening(london, uk("2026-03-06 23:00"))
    assert monday == uk("2026-03-09 08:30") == t("2026-03-09 04:30")
    assert datetime.fromtimestamp(monday / SECOND, NY).strftime("%H:%M%z") == "04:30-0400"
    assert monday - uk("2026-03-06 23:00") == 57 * HOUR + 30 * 60 * SECOND
    # Chris, an executive with no calendar: default_calendar (New York).
    assert CONFIG["executives"][0].get("calendar") is None and RULES.default_calendar == "ny"
    executive = next_opening(new_york, t("2026-03-07 18:00"))
    assert executive == t("2026-03-09 09:00") == uk("2026-03-09 13:00")
    assert executive - t("2026-03-07 18:00") == 38 * HOUR
    # Both holds are within the page's max_delay of 72 hours, not within 24.
    assert CONFIG["notifications"]["max_delay"] == "72 hours"
    assert 24 * HOUR < 38 * HOUR < 57.5 * HOUR < 72 * HOUR
