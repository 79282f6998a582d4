"""Sales acceptance (SPEC §9.5), checked by hand on small histories.

Calendar: New York 09:00-17:00 on weekdays; 2026-03-02 is a Monday. follow_up starts at
New and stops at Attempting to Contact or Contacted (stage working) or Not a Lead;
qualification starts at Contacted and must end in 7 days on Qualified, Deferred,
Recycled or Not a Lead.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from leadsla.config import build_rulebook, load_config_text
from leadsla.core.acceptance import Acceptance, status_outcomes
from leadsla.core.columnar import replayed_facts, report_facts
from leadsla.core.events import EventTable, read_events
from leadsla.core.events import parse_instant as at
from leadsla.core.metrics import MetricRules, scorecard
from leadsla.report.settings import ReportSettings

CONFIG = """
calendars:
  ny:
    timezone: America/New_York
    hours: {mon: "09:00-17:00", tue: "09:00-17:00", wed: "09:00-17:00",
            thu: "09:00-17:00", fri: "09:00-17:00"}
teams:
  east:
    calendar: ny
    reps: [{id: r1, name: Sam, email: sam@example.com}]
grades: [{name: A, min_score: 80}, {name: B, min_score: 0}]
policies:
  follow_up:
    start: {status: [New]}
    stop: {status: [Attempting to Contact, Contacted, Not a Lead]}
    target: {default: 8 business hours}
  qualification:
    start: {status: [Contacted]}
    stop: {status: [Qualified, Deferred, Recycled, Not a Lead]}
    target: {default: 7 days}
sal:
  reasons: [No budget, Duplicate, Wrong contact]
reasons:
  recycled: [Not ready]
  deferred: [Next quarter]
  disqualified: [Student, Competitor]
"""
_CONFIG = load_config_text(CONFIG, "acceptance.yaml")
RULES = build_rulebook(_CONFIG)
METRIC: MetricRules = ReportSettings.of(RULES, _CONFIG).metric
AS_OF = at("2026-03-20T12:00:00-04:00")


def table_of(text: str) -> EventTable:
    table, report = read_events(
        io.StringIO("lead_id,at,field,value\n" + text),
        statuses=list(RULES.statuses),
        grades=["A", "B"],
        acceptance=RULES.acceptance,
    )
    assert report.errors == []
    return table.sorted()


def mqls_of(text: str) -> list[tuple[str, bool, bool, str | None]]:
    """(lead, SAL, rejected, sal_reason) of each MQL, by lead and MQL instant; the
    column path and the engine must give the same facts."""
    table = table_of(text)
    facts = report_facts(table, METRIC, AS_OF)
    exact = replayed_facts(table, METRIC, AS_OF)
    for period in ("month", "quarter"):
        assert scorecard(facts, METRIC, AS_OF, period) == scorecard(exact, METRIC, AS_OF, period)
    order = sorted(range(len(exact)), key=lambda i: int(exact.mql_at[i]))
    return [
        (
            str(int(exact.mql_at[i])),
            bool(exact.is_sal[i]),
            bool(exact.sal_rejected[i]),
            exact.sal_reasons[c] if (c := int(exact.sal_reason[i])) >= 0 else None,
        )
        for i in order
    ]


START = "L1,2026-03-02T10:00:00-05:00,status,New\nL1,2026-03-02T10:00:00-05:00,owner,r1\n"
CALLED = (
    "L1,2026-03-02T11:00:00-05:00,activity,call:connected\n"
    "L1,2026-03-02T11:00:00-05:00,status,Contacted\n"
)


def test_a_working_status_without_a_sal_row_is_a_sal() -> None:
    assert [m[1:] for m in mqls_of(START + CALLED)] == [(True, False, None)]


def test_a_rejection_after_the_first_call_still_counts() -> None:
    history = (
        START
        + CALLED
        + "L1,2026-03-03T09:30:00-05:00,sal,rejected\n"
        + "L1,2026-03-03T09:30:00-05:00,sal_reason,No budget\n"
    )
    assert [m[1:] for m in mqls_of(history)] == [(False, True, "No budget")]


def test_an_accepted_row_makes_a_sal_before_any_working_status() -> None:
    # The follow-up still runs (no call yet): acceptance does not wait for it.
    history = START + "L1,2026-03-02T10:30:00-05:00,sal,accepted\n"
    assert [m[1:] for m in mqls_of(history)] == [(True, False, None)]


def test_the_last_sal_row_of_the_cycle_wins() -> None:
    rejected_then_accepted = (
        START
        + "L1,2026-03-02T10:30:00-05:00,sal,rejected\n"
        + "L1,2026-03-02T10:30:00-05:00,sal_reason,Duplicate\n"
        + CALLED
        + "L1,2026-03-02T12:00:00-05:00,sal,accepted\n"
    )
    # The reason given with the rejection stays the cycle's last sal_reason.
    assert [m[1:] for m in mqls_of(rejected_then_accepted)] == [(True, False, "Duplicate")]
    # Two rows at one instant: the later line wins.
    one_instant = (
        START
        + "L1,2026-03-02T10:30:00-05:00,sal,accepted\n"
        + "L1,2026-03-02T10:30:00-05:00,sal,rejected\n"
    )
    assert [m[1:] for m in mqls_of(one_instant)] == [(False, True, None)]


def test_an_empty_sal_row_withdraws_the_decision() -> None:
    history = START + CALLED + "L1,2026-03-02T12:00:00-05:00,sal,rejected\n"
    history += "L1,2026-03-02T13:00:00-05:00,sal,\n"
    # Back to the inferred verdict: stopped on Contacted (working), a SAL.
    assert [m[1:] for m in mqls_of(history)] == [(True, False, None)]


def test_a_row_after_the_next_cycle_starts_belongs_to_the_next_cycle() -> None:
    history = (
        START
        + CALLED
        + "L1,2026-03-04T10:00:00-05:00,status,Recycled\n"
        + "L1,2026-03-09T10:00:00-04:00,status,New\n"
        + "L1,2026-03-09T11:00:00-04:00,sal,rejected\n"
    )
    first, second = mqls_of(history)
    assert first[1:] == (True, False, None)  # the first cycle stopped on Contacted
    assert second[1:] == (False, True, None)
    # A row before any cycle starts belongs to none.
    early = "L1,2026-03-02T09:00:00-05:00,sal,rejected\n" + START + CALLED
    assert [m[1:] for m in mqls_of(early)] == [(True, False, None)]


def test_the_report_counts_rejections_and_reasons() -> None:
    history = (
        # L1: rejected for no budget after the call, then Not a Lead (Student).
        START
        + CALLED
        + "L1,2026-03-03T10:00:00-05:00,sal,rejected\n"
        + "L1,2026-03-03T10:00:00-05:00,sal_reason,No budget\n"
        + "L1,2026-03-05T10:00:00-05:00,status,Not a Lead\n"
        + "L1,2026-03-05T10:00:00-05:00,reason,Student\n"
        # L2: accepted, contacted, deferred to next quarter within the 7 days.
        + "L2,2026-03-02T10:00:00-05:00,status,New\n"
        + "L2,2026-03-02T10:00:00-05:00,owner,r1\n"
        + "L2,2026-03-02T10:00:00-05:00,source,webinar\n"
        + "L2,2026-03-02T10:10:00-05:00,sal,accepted\n"
        + "L2,2026-03-02T10:20:00-05:00,status,Contacted\n"
        + "L2,2026-03-04T10:00:00-05:00,status,Deferred\n"
        + "L2,2026-03-04T10:00:00-05:00,reason,Next quarter\n"
        # L3: contacted (an inferred SAL), qualified 8 days later: late.
        + "L3,2026-03-02T10:00:00-05:00,status,New\n"
        + "L3,2026-03-02T10:00:00-05:00,source,webinar\n"
        + "L3,2026-03-02T10:00:00-05:00,campaign,spring\n"
        + "L3,2026-03-02T11:00:00-05:00,status,Contacted\n"
        + "L3,2026-03-10T11:00:00-04:00,status,Qualified\n"
    )
    table = table_of(history)
    report = scorecard(report_facts(table, METRIC, AS_OF), METRIC, AS_OF)
    overall = report["overall"]
    assert (overall["mqls"], overall["sals"], overall["sal_rejected"]) == (3, 2, 1)
    assert overall["acceptance_rate"] == pytest.approx(2 / 3)
    assert overall["sal_reasons"] == {"No budget": 1}
    assert overall["reasons"] == {
        "recycled": {},
        "deferred": {"Next quarter": 1},
        "disqualified": {"Student": 1},
    }
    acceptance: dict[str, Any] = report["acceptance"]
    assert acceptance["by_source"] == {
        "webinar": {"mqls": 2, "sals": 2, "sal_rejected": 0, "acceptance_rate": 1.0}
    }
    assert acceptance["by_campaign"] == {
        "spring": {"mqls": 1, "sals": 1, "sal_rejected": 0, "acceptance_rate": 1.0}
    }
    # L1 and L2 were r1's; L3 has no owner.
    assert acceptance["by_owner"] == {
        "r1": {"mqls": 2, "sals": 1, "sal_rejected": 1, "acceptance_rate": 0.5}
    }
    # Qualification: L1 (contacted 2 Mar 11:00, Not a Lead 5 Mar) and L2 (deferred after
    # 2 days) in time; L3 qualified after 8 days: late.
    split = report["qualification_outcomes"]["qualification"]
    assert split["clocks"] == 3
    assert split["within_target"] == {
        "converted": 0,
        "deferred": 1,
        "recycled": 0,
        "disqualified": 1,
    }
    assert split["late"] == {"converted": 1, "deferred": 0, "recycled": 0, "disqualified": 0}
    assert split["share_within_target"]["deferred"] == pytest.approx(1 / 3)


def test_a_reason_outside_the_closed_list_is_a_bad_row_with_its_line() -> None:
    text = (
        "lead_id,at,field,value\n"
        "L1,2026-03-02T10:00:00-05:00,status,New\n"
        "L1,2026-03-02T10:30:00-05:00,sal,rejected\n"
        "L1,2026-03-02T10:30:00-05:00,sal_reason,Too small\n"
        "L1,2026-03-02T10:40:00-05:00,sal,maybe\n"
        "L1,2026-03-04T10:00:00-05:00,reason,Bored\n"
        "L1,2026-03-04T10:00:00-05:00,reason,Student\n"
    )
    table, report = read_events(
        io.StringIO(text),
        statuses=list(RULES.statuses),
        grades=["A", "B"],
        acceptance=RULES.acceptance,
        source="events.csv",
    )
    assert [(e.line, e.column) for e in report.errors] == [(4, "value"), (5, "value"), (6, "value")]
    assert "sal.reasons (Duplicate, No budget, Wrong contact)" in report.errors[0].message
    assert "not a sales decision (accepted, rejected)" in report.errors[1].message
    assert "Bored" in report.errors[2].message
    assert len(table) == 3  # the other rows are kept
    # Without lists, reasons are free text; the decision is always closed.
    free, free_report = read_events(
        io.StringIO(text), statuses=list(RULES.statuses), grades=["A", "B"]
    )
    assert [e.line for e in free_report.errors] == [5]
    assert len(free) == 5


def test_statuses_map_to_outcomes_by_stage_with_deferred_by_name() -> None:
    outcomes = status_outcomes(RULES.statuses, Acceptance())
    assert outcomes == {
        "Invalid Information": "disqualified",
        "Not a Lead": "disqualified",
        "Qualified": "converted",
        "Deferred": "deferred",
        "Recycled": "recycled",
    }
    moved = status_outcomes({"Parked": "nurture"}, Acceptance(outcomes={"Parked": "deferred"}))
    assert moved == {"Parked": "deferred"}


def test_example_11_of_the_rules_page() -> None:
    """docs/sla-rules.md, Example 11: a rejection after the first call, then a new cycle."""
    history = (
        "L1,2026-03-02T09:00:00-05:00,status,New\n"
        + "L1,2026-03-02T09:00:00-05:00,owner,r1\n"
        + "L1,2026-03-02T10:00:00-05:00,activity,call:connected\n"
        + "L1,2026-03-02T10:00:00-05:00,status,Contacted\n"
        + "L1,2026-03-03T09:30:00-05:00,sal,rejected\n"
        + "L1,2026-03-03T09:30:00-05:00,sal_reason,No budget\n"
        + "L1,2026-03-04T11:00:00-05:00,status,Recycled\n"
        + "L1,2026-03-04T11:00:00-05:00,reason,Not ready\n"
        + "L1,2026-03-09T10:00:00-04:00,status,New\n"
        + "L1,2026-03-09T11:00:00-04:00,sal,accepted\n"
    )
    first, second = mqls_of(history)
    assert (first[1:], second[1:]) == ((False, True, "No budget"), (True, False, None))
    overall = scorecard(report_facts(table_of(history), METRIC, AS_OF), METRIC, AS_OF)["overall"]
    assert (overall["sals"], overall["sal_rejected"], overall["acceptance_rate"]) == (1, 1, 0.5)
    assert overall["sal_reasons"] == {"No budget": 1}
    assert overall["reasons"]["recycled"] == {"Not ready": 1}
    # The acceptance written on Fri 6 Mar instead falls in cycle 1: its last row.
    moved = history.replace("2026-03-09T11:00:00-04:00,sal", "2026-03-06T11:00:00-05:00,sal")
    first, second = mqls_of(moved)
    assert (first[1:3], second[1:3]) == ((True, False), (False, False))


RESTART_CONFIG = CONFIG.replace(
    "    target: {default: 8 business hours}\n",
    "    target: {default: 8 business hours}\n    on_reassign: restart\n",
).replace(
    "reps: [{id: r1, name: Sam, email: sam@example.com}]",
    "reps: [{id: r1, name: Sam, email: sam@example.com},\n"
    "           {id: r2, name: Ana, email: ana@example.com}]",
)


def test_a_reassignment_chain_is_decided_in_its_last_cycle() -> None:
    """SPEC §9.2 with restart: the chain is one MQL judged by its last cycle, so a
    rejection by the rep who lost the lead is not the new owner's."""
    config = load_config_text(RESTART_CONFIG, "restart.yaml")
    metric = ReportSettings.of(build_rulebook(config), config).metric
    base = START + "L1,2026-03-02T10:30:00-05:00,sal,rejected\n"
    handed = "L1,2026-03-02T11:00:00-05:00,owner,r2\n"
    called = "L1,2026-03-02T12:00:00-05:00,status,Contacted\n"

    def decided(history: str) -> tuple[int, bool, bool]:
        table = table_of(history)
        facts = report_facts(table, metric, AS_OF)
        exact = replayed_facts(table, metric, AS_OF)
        assert scorecard(facts, metric, AS_OF) == scorecard(exact, metric, AS_OF)
        return len(exact), bool(exact.is_sal[0]), bool(exact.sal_rejected[0])

    # r1 rejects at 10:30, r2 gets it at 11:00 and calls at 12:00: an inferred SAL.
    assert decided(base + handed + called) == (1, True, False)
    # r2 rejects after the hand-over: rejected.
    after = "L1,2026-03-02T11:30:00-05:00,sal,rejected\n"
    assert decided(base + handed + after + called) == (1, False, True)
    # Without a reassignment, r1's rejection stands.
    assert decided(base + called) == (1, False, True)
