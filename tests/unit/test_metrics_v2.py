"""The SPEC §8 facts under the keys of §9.1–9.3 (the choices are in the docstring of
``leadsla.core.metrics``): attempts without automated emails, a reassignment chain as
one MQL, an assignment start's MQL at the hand-off, a queue's clocks charged to nobody.

Calendars and reps are those of ``test_clock_rules``: New York 09:00–17:00 (r1, r2 of
team east), London 08:30–17:30 (r3 of team emea); 2026-03-02 is a Monday.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from test_clock_rules import rules, t

from leadsla.core.clock import Change, State, judge_lead, replay
from leadsla.core.durations import parse_duration
from leadsla.core.evaluate import LeadResult
from leadsla.core.metrics import (
    LeadFacts,
    collect_facts,
    lead_facts,
    metric_rules,
    scorecard,
    state_code,
)
from leadsla.core.policy import Rulebook

Instants = Sequence[tuple[int, list[Change]]]


def book(**overrides: object) -> Rulebook:
    options: dict[str, object] = {"warn_at": None, "escalate": (), "pause": frozenset()}
    options.update(overrides)
    return rules(**options)


def result_of(rulebook: Rulebook, instants: Instants, as_of: int) -> LeadResult:
    lead = replay(rulebook, "L1", instants)
    return LeadResult("L1", lead, judge_lead(rulebook, lead, as_of), list(instants))


def facts(rulebook: Rulebook, instants: Instants, as_of: int) -> LeadFacts:
    return lead_facts(result_of(rulebook, instants, as_of), metric_rules(rulebook), as_of)


def test_automated_emails_are_no_attempts() -> None:
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 10:05"), [("activity", "email:automated")]),
        (t("2026-03-02 11:00"), [("activity", "call:attempted"), ("activity", "email:automated")]),
        (t("2026-03-02 12:00"), [("activity", "email:replied")]),
    ]
    (mql,) = facts(book(), history, t("2026-03-02 13:00")).mqls
    assert (mql.attempts, mql.connects) == (2, 1)


# -- §9.2 a reassignment chain is one MQL ---------------------------------------------------


def test_a_restart_chain_is_one_mql_judged_by_its_last_cycle() -> None:
    rulebook = book(on_reassign="restart")
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 11:00"), [("owner", "r2")]),  # reassigned, 1 h in
        (t("2026-03-02 12:00"), [("activity", "call:no_answer")]),
        (t("2026-03-02 13:00"), [("owner", "r3"), ("activity", "sms:sent")]),
        (t("2026-03-03 10:00"), [("status", "Attempting to Contact")]),
    ]
    as_of = t("2026-03-04 10:00")
    lead = facts(rulebook, history, as_of)
    (mql,) = lead.mqls
    # The chain's last cycle: r3's, from 13:00 NY (18:00 London) to 10:00 NY (15:00
    # London): 6.5 business hours, met, stopped on a working status.
    assert (mql.mql_at, mql.owner, mql.is_sal, mql.follow_up_state) == (
        t("2026-03-02 10:00"),
        "r1",
        True,
        State.MET,
    )
    assert (mql.follow_up_seconds, mql.attempts) == (int(6.5 * 3600), 2)
    assert [(c.state, c.owner, c.stopped) for c in lead.clocks] == [
        (State.REASSIGNED, "r1", False),
        (State.REASSIGNED, "r2", False),
        (State.MET, "r3", True),
    ]


def test_reassigned_cycles_count_in_no_compliance_and_no_time_to_follow_up() -> None:
    rulebook = book(on_reassign="restart")
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 11:00"), [("owner", "r2")]),  # reassigned: in no figure
        (t("2026-03-03 12:00"), [("owner", "r1")]),  # 9 h > 8 h: r2's breach, no follow-up
        (t("2026-03-03 13:00"), [("status", "Contacted")]),  # r1 met in 1 h
    ]
    as_of = t("2026-03-04 10:00")
    metric = metric_rules(rulebook)
    gathered = collect_facts([result_of(rulebook, history, as_of)], metric, as_of)
    assert gathered.clock_state.tolist() == [
        state_code(State.REASSIGNED),
        state_code(State.BREACHED),
        state_code(State.MET),
    ]
    report = scorecard(gathered, metric, as_of)
    overall = report["overall"]
    assert (overall["mqls"], overall["sals"]) == (1, 1)
    assert overall["compliance"] == {"follow_up": 0.5}
    assert overall["time_to_follow_up"]["count"] == 1
    assert overall["time_to_follow_up"]["mean"] == 3600.0
    assert report["by_owner"]["r2"]["compliance"] == {"follow_up": 0.0}
    assert report["by_owner"]["r1"]["compliance"] == {"follow_up": 1.0}


# -- §9.1 an assignment start: the MQL is the hand-off -------------------------------------


def queue_book() -> Rulebook:
    rulebook = book(start_assigned=True, stop_activity=frozenset({"call"}))
    routing = replace(
        rulebook.policies[0],
        name="routing",
        stop=frozenset(),
        stop_activity=frozenset(),
        start_assigned=False,
        stop_assigned=True,
        targets={"default": parse_duration("2 business hours")},
        optional=frozenset(),
        calendar="ny",
    )
    return replace(rulebook, policies=(*rulebook.policies, routing))


def test_an_mql_is_counted_at_the_hand_off_and_owned_by_its_assignee() -> None:
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A")]),
        (t("2026-03-02 13:00"), [("owner", "r3")]),
        (t("2026-03-02 13:30"), [("activity", "call:no_answer"), ("status", "Contacted")]),
    ]
    lead = facts(queue_book(), history, t("2026-03-03 10:00"))
    (mql,) = lead.mqls
    assert (mql.mql_at, mql.grade, mql.owner, mql.team) == (
        t("2026-03-02 10:00"),
        "A",
        "r3",
        "emea",
    )
    assert (mql.is_sal, mql.follow_up_state, mql.attempts) == (True, State.MET, 1)
    # The queue's clock (3 h > 2 h) is charged to nobody; the follow-up to its rep.
    routing = [c for c in lead.clocks if c.policy == "routing"]
    assert [(c.state, c.owner, c.team) for c in routing] == [(State.BREACHED, None, None)]
    follow = [c for c in lead.clocks if c.policy == "follow_up"]
    assert [(c.started_at, c.owner, c.stopped) for c in follow] == [
        (t("2026-03-02 13:00"), "r3", True)
    ]


def test_an_mql_never_assigned_has_no_follow_up_verdict() -> None:
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "B")]),
        (t("2026-03-02 11:00"), [("status", "Contacted")]),
        (t("2026-03-02 12:00"), [("status", "New")]),
        (t("2026-03-02 14:00"), [("owner", "r1")]),
    ]
    lead = facts(queue_book(), history, t("2026-03-02 15:00"))
    first, second = lead.mqls
    assert (first.mql_at, first.owner, first.is_sal, first.follow_up_state) == (
        t("2026-03-02 10:00"),
        None,
        False,
        None,
    )
    # The second hand-off is linked to the cycle that starts at its assignment.
    assert (second.mql_at, second.owner, second.follow_up_state) == (
        t("2026-03-02 12:00"),
        "r1",
        State.RUNNING,
    )


def test_a_cycle_before_the_hand_off_is_not_linked_to_it() -> None:
    # Assigned and New at once; an owner cleared and set again starts a second cycle:
    # the MQL keeps the first.
    history = [
        (t("2026-03-02 10:00"), [("status", "New"), ("grade", "A"), ("owner", "r1")]),
        (t("2026-03-02 10:30"), [("activity", "call:no_answer")]),
        (t("2026-03-02 11:00"), [("owner", "")]),
        (t("2026-03-02 11:30"), [("owner", "r2")]),
    ]
    lead = facts(queue_book(), history, t("2026-03-02 12:00"))
    (mql,) = lead.mqls
    assert (mql.owner, mql.follow_up_state, mql.follow_up_seconds) == ("r1", State.MET, 1800)
