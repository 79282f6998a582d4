"""SPEC §9.1–9.3 on the engine, one worked example per rule (the ones docs/sla-rules.md
walks through), plus the edges the spec names.

The calendar is New York, Monday–Friday 09:00–17:00 (reps r1, r2 of team east) and
London 08:30–17:30 (r3 of team emea); 2026-03-02 is a Monday.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from test_clock_rules import rules, t

from leadsla.core.clock import Change, State, TimerKind, Verdict, judge_lead, replay
from leadsla.core.durations import parse_duration
from leadsla.core.policy import EscalationStep, Rulebook

Instants = Sequence[tuple[int, Sequence[Change]]]


def verdicts(book: Rulebook, instants: Instants, as_of: int) -> list[Verdict]:
    return judge_lead(book, replay(book, "L1", instants), as_of)


def follow_up(**overrides: object) -> Rulebook:
    options: dict[str, object] = {
        "stop": frozenset({"Contacted", "Invalid Information"}),
        "stop_activity": frozenset({"call", "email:replied", "meeting"}),
        "warn_at": None,
        "escalate": (),
    }
    options.update(overrides)
    return rules(**options)


# -- §9.1 activities stop a clock ----------------------------------------------------


def test_a_logged_call_stops_the_clock_without_a_status_change() -> None:
    book = follow_up()
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 10:07"), [("activity", "call:no_answer")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-05 12:00"))
    assert (v.state, v.stopped_at, v.business_seconds) == (State.MET, t("2026-03-02 10:07"), 420)
    assert v.attempts == 1


def test_call_kind_matches_every_outcome_and_an_exact_outcome_only_itself() -> None:
    book = follow_up(stop_activity=frozenset({"call", "email:replied"}))
    start = (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")])
    for activity, stops in [
        ("call:attempted", True),
        ("call:voicemail", True),
        ("email:sent", False),
        ("email:replied", True),
        ("sms:sent", False),
    ]:
        (v,) = verdicts(
            book, [start, (t("2026-03-02 11:00"), [("activity", activity)])], t("2026-03-02 12:00")
        )
        assert (v.stopped_at is not None) is stops, activity


def test_an_automated_email_is_no_attempt_and_stops_only_when_named_exactly() -> None:
    start = (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")])
    sent = (t("2026-03-02 11:00"), [("activity", "email:automated")])
    (v,) = verdicts(
        follow_up(stop_activity=frozenset({"email"})), [start, sent], t("2026-03-02 12:00")
    )
    assert (v.state, v.attempts) == (State.RUNNING, 0)
    named = follow_up(stop_activity=frozenset({"email:automated"}))
    (v,) = verdicts(named, [start, sent], t("2026-03-02 12:00"))
    assert (v.state, v.stopped_at, v.attempts) == (State.MET, t("2026-03-02 11:00"), 0)


def test_a_stop_that_holds_at_the_start_stops_the_clock_at_once() -> None:
    history = [
        (
            t("2026-03-02 10:00"),
            [("status", "New"), ("grade", "A"), ("owner", "r1"), ("activity", "call:connected")],
        ),
    ]
    (v,) = verdicts(follow_up(), history, t("2026-03-03 12:00"))
    assert (v.state, v.started_at, v.stopped_at, v.business_seconds) == (
        State.MET,
        t("2026-03-02 10:00"),
        t("2026-03-02 10:00"),
        0,
    )


# -- §9.1 assignment: queue time and a follow-up from assignment ----------------------


def queue_book() -> Rulebook:
    book = follow_up(start_assigned=True)
    routing = follow_up(
        name="routing",
        stop=frozenset(),
        stop_activity=frozenset(),
        stop_assigned=True,
        targets={"default": parse_duration("2 business hours")},
        optional=frozenset(),
        calendar="ny",
    ).policies[0]
    return replace(book, policies=(*book.policies, routing))


def test_a_lead_waits_in_a_queue_then_its_follow_up_starts_at_assignment() -> None:
    book = queue_book()
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A")]),
        (t("2026-03-02 13:30"), [("owner", "r3")]),  # a London rep
        (t("2026-03-03 04:00"), [("activity", "call:connected")]),
    ]
    follow, routing = verdicts(book, history, t("2026-03-04 12:00"))
    assert routing.policy == "routing"
    assert (routing.state, routing.stopped_at, routing.business_seconds) == (
        State.BREACHED,
        t("2026-03-02 13:30"),
        int(3.5 * 3600),
    )
    assert routing.owner is None  # the queue breached before anyone owned the lead
    # Started at assignment on the rep's London calendar: 13:30 NY is 18:30 London,
    # after hours, so the call at 09:00 London the next day came after 30 business minutes.
    assert (follow.calendar, follow.started_at, follow.owner) == ("uk", t("2026-03-02 13:30"), "r3")
    assert (follow.state, follow.business_seconds) == (State.MET, 30 * 60)


def test_assigned_start_is_an_edge_a_stopped_clock_does_not_start_again() -> None:
    book = follow_up(start_assigned=True)
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 10:30"), [("activity", "call:no_answer")]),
        (t("2026-03-02 11:00"), [("grade", "B")]),
        (t("2026-03-02 11:30"), [("owner", "r2")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-03 12:00"))
    assert (v.cycle, v.state) == (1, State.MET)


def test_an_owner_cleared_and_set_again_while_new_starts_a_new_cycle() -> None:
    book = follow_up(start_assigned=True)
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 10:30"), [("activity", "call:no_answer")]),
        (t("2026-03-02 11:00"), [("owner", "")]),
        (t("2026-03-02 11:30"), [("owner", "r2")]),
    ]
    first, second = verdicts(book, history, t("2026-03-02 12:00"))
    assert (first.state, second.started_at, second.owner) == (
        State.MET,
        t("2026-03-02 11:30"),
        "r2",
    )


# -- §9.2 reassignment ----------------------------------------------------------------


def test_reassignment_with_restart_before_the_target_ends_the_cycle_reassigned() -> None:
    book = follow_up(on_reassign="restart")
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 15:00"), [("owner", "r3"), ("activity", "sms:sent")]),
    ]
    old, new = verdicts(book, history, t("2026-03-03 10:00"))
    assert (old.state, old.owner, old.stopped_at, old.attempts) == (
        State.REASSIGNED,
        "r1",
        t("2026-03-02 15:00"),
        0,
    )
    # The text at the reassignment instant is the new cycle's attempt. 15:00 NY is 20:00
    # London: the new clock runs on London hours from 08:30 the next day.
    assert (new.cycle, new.calendar, new.owner, new.state, new.attempts) == (
        2,
        "uk",
        "r3",
        State.RUNNING,
        1,
    )
    assert new.business_seconds == int(6.5 * 3600)  # 08:30-15:00 London


def test_a_stop_at_the_reassignment_instant_wins() -> None:
    book = follow_up(on_reassign="restart")
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 15:00"), [("owner", "r3"), ("activity", "call:no_answer")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-03 12:00"))
    assert (v.state, v.owner, v.stopped_at) == (State.MET, "r3", t("2026-03-02 15:00"))


def test_reassignment_after_the_target_is_a_breach_of_the_previous_owner() -> None:
    book = follow_up(on_reassign="restart")
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-03 11:00"), [("owner", "r2")]),
    ]
    old, new = verdicts(book, history, t("2026-03-03 12:00"))
    assert (old.state, old.owner, old.stopped_at) == (State.BREACHED, "r1", t("2026-03-03 11:00"))
    assert (new.state, new.started_at, new.owner, new.business_seconds) == (
        State.RUNNING,
        t("2026-03-03 11:00"),
        "r2",
        3600,
    )


def test_an_owner_set_where_there_was_none_is_not_a_reassignment() -> None:
    book = follow_up(on_reassign="restart")
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A")]),
        (t("2026-03-02 11:00"), [("owner", "r1")]),
        (t("2026-03-02 12:00"), [("owner", "")]),
        (t("2026-03-02 13:00"), [("owner", "r2")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-02 14:00"))
    assert (v.cycle, v.state, v.owner) == (1, State.RUNNING, "r2")


def test_carry_keeps_one_cycle_across_owners() -> None:
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 11:00"), [("owner", "r2")]),
    ]
    (v,) = verdicts(follow_up(), history, t("2026-03-02 14:00"))
    assert (v.cycle, v.owner, v.started_at) == (1, "r2", t("2026-03-02 10:00"))


# -- §9.3 cadence ----------------------------------------------------------------------


def cadence_book(**overrides: object) -> Rulebook:
    options: dict[str, object] = {
        "name": "attempts",
        "kind": "cadence",
        "stop": frozenset({"Qualified", "Not a Lead", "Invalid Information", "Recycled"}),
        "targets": {},
        "optional": frozenset(),
        "warn_at": None,
        "attempts": 6,
        "within": parse_duration("10 business days"),
        "gap": parse_duration("1 business day"),
        "escalate": (EscalationStep(1, parse_duration("4 business hours"), ("owner",)),),
    }
    options.update(overrides)
    return rules(**options)


def test_a_cadence_breaches_on_its_third_gap() -> None:
    book = cadence_book()
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 16:00"), [("activity", "call:no_answer")]),  # gap 1: 6 h
        (t("2026-03-03 15:00"), [("activity", "call:voicemail")]),  # gap 2: 7 h
        # gap 3 runs out Wednesday 15:00; the next call comes Thursday.
        (t("2026-03-05 10:00"), [("activity", "call:connected")]),
    ]
    running = verdicts(book, history[:3], t("2026-03-04 12:00"))[0]
    assert (running.state, running.due_at, running.attempts) == (
        State.RUNNING,
        t("2026-03-04 15:00"),
        2,
    )
    (v,) = verdicts(book, history, t("2026-03-06 12:00"))
    assert (v.state, v.owner, v.attempts, v.stopped_at) == (State.BREACHED, "r1", 3, None)
    assert v.due_at == t("2026-03-04 15:00") + 1  # the first instant past the gap
    # Each step fires at most once: 4 business hours into the first gap (Monday 14:00).
    assert v.escalations == 1


def test_a_cadence_is_met_at_its_last_attempt_and_stops() -> None:
    book = cadence_book(attempts=3)
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 11:00"), [("activity", "call:no_answer")]),
        (t("2026-03-02 18:00"), [("activity", "email:sent"), ("activity", "email:automated")]),
        (t("2026-03-03 17:00"), [("activity", "call:attempted")]),  # exactly when gap 3 ran out
        (t("2026-03-04 10:00"), [("activity", "call:connected")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-05 12:00"))
    assert (v.state, v.stopped_at, v.attempts) == (State.MET, t("2026-03-03 17:00"), 3)


def test_a_cadence_window_ends_short_of_the_attempts() -> None:
    book = cadence_book(attempts=3, within=parse_duration("2 business days"))
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 16:00"), [("activity", "call:no_answer")]),
        (t("2026-03-03 16:00"), [("activity", "call:no_answer")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-05 12:00"))
    assert (v.state, v.due_at) == (State.BREACHED, t("2026-03-04 10:00") + 1)


def test_a_stop_status_before_any_overrun_meets_the_cadence() -> None:
    book = cadence_book()
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 16:00"), [("activity", "call:connected")]),
        (t("2026-03-03 09:30"), [("status", "Qualified")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-09 12:00"))
    assert (v.state, v.stopped_at, v.attempts) == (State.MET, t("2026-03-03 09:30"), 1)


def test_cadence_steps_count_from_the_start_of_the_current_gap() -> None:
    book = cadence_book()
    start = t("2026-03-02 10:00")
    history = [
        (start, [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 13:00"), [("activity", "call:no_answer")]),
    ]
    lead = replay(book, "L1", history)
    (timer,) = [x for x in lead.timers(book) if x.kind is TimerKind.ESCALATION]
    assert timer.at == t("2026-03-02 17:00")  # 4 business hours from 13:00
    (v,) = verdicts(book, history, t("2026-03-02 16:59"))
    assert v.escalations == 0


@pytest.mark.parametrize("kind", ["sla", "cadence"])
def test_attempts_count_once_per_row_in_every_kind_of_cycle(kind: str) -> None:
    book = cadence_book() if kind == "cadence" else follow_up(stop_activity=frozenset())
    history = [
        (
            t("2026-03-02 10:00"),
            [("status", "New"), ("grade", "A"), ("owner", "r1"), ("activity", "sms:sent")],
        ),
        (t("2026-03-02 11:00"), [("activity", "call:no_answer"), ("activity", "call:no_answer")]),
        (t("2026-03-02 12:00"), [("activity", "email:automated")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-02 13:00"))
    assert v.attempts == 3


def test_a_met_cadence_keeps_the_deadline_its_last_attempt_met() -> None:
    book = cadence_book(attempts=2)
    history = [
        (t("2026-03-06 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),  # Friday
        (t("2026-03-06 11:00"), [("activity", "call:no_answer")]),
        (t("2026-03-06 14:00"), [("activity", "call:connected")]),
    ]
    (v,) = verdicts(book, history, t("2026-03-09 12:00"))
    # Met on Friday 14:00 against the gap that ran from 11:00 to Monday 11:00.
    assert (v.state, v.stopped_at, v.due_at) == (
        State.MET,
        t("2026-03-06 14:00"),
        t("2026-03-09 11:00"),
    )
