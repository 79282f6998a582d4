"""Routing (core/routing.py): rules, methods, limits, out of office, calendars, fairness."""

from __future__ import annotations

from collections import Counter

import pytest

from leadsla.core.calendar import BusinessCalendar
from leadsla.core.events import parse_instant
from leadsla.core.routing import (
    Absence,
    Assignment,
    RoutingRule,
    RoutingState,
    route,
)
from leadsla.core.scoring import Condition

T0 = parse_instant("2026-03-02T15:00:00Z")
MINUTE = 60_000_000


def rr(*reps: str, method: str = "round_robin", **weights: float) -> RoutingRule:
    return RoutingRule("all", (), reps, method, weights)  # type: ignore[arg-type]


def picks(assignment: Assignment, leads: int, state: RoutingState | None = None) -> list[str]:
    """The reps of ``leads`` leads routed a minute apart, in order."""
    state = state or RoutingState()
    order: list[str] = []
    for i in range(leads):
        decision = route(assignment, {}, T0 + i * MINUTE, state)
        assert decision.rep is not None, decision
        state.record(decision)
        order.append(decision.rep)
    return order


def run(assignment: Assignment, leads: int, state: RoutingState | None = None) -> Counter[str]:
    return Counter(picks(assignment, leads, state))


def test_round_robin_takes_turns_in_config_order() -> None:
    assignment = Assignment(rules=(rr("r1", "r2", "r3"),), use_calendars=False)
    assert picks(assignment, 7) == ["r1", "r2", "r3", "r1", "r2", "r3", "r1"]
    decision = route(assignment, {}, T0, RoutingState())
    assert decision.method == "round_robin"
    assert decision.rule == "all"


def test_weighted_round_robin_spreads_by_weight_not_in_bursts() -> None:
    rule = rr("r1", "r2", method="weighted_round_robin", r1=3, r2=1)
    order = picks(Assignment(rules=(rule,), use_calendars=False), 8)
    assert Counter(order) == {"r1": 6, "r2": 2}
    # Smooth: r2's turns are spread, never two of r1's 3 in a row around r2 missed.
    assert order[:4].count("r2") == 1 and order[4:].count("r2") == 1


def test_rules_in_order_with_conditions() -> None:
    emea = RoutingRule("emea", (Condition("country", "in", ("GB", "DE")),), ("r3",))
    rest = RoutingRule("rest", (), ("r1",))
    assignment = Assignment(rules=(emea, rest), use_calendars=False)
    state = RoutingState()
    assert route(assignment, {"country": "gb"}, T0, state).rep == "r3"
    assert route(assignment, {"country": "US"}, T0, state).rep == "r1"
    nothing = Assignment(rules=(emea,), use_calendars=False)
    missed = route(nothing, {"country": "US"}, T0, state)
    assert (missed.rep, missed.reason) == (None, "no assignment rule matches the lead")


def test_least_loaded_picks_fewest_open_leads() -> None:
    assignment = Assignment(
        rules=(rr("r1", "r2", "r3", method="least_loaded"),), use_calendars=False
    )
    state = RoutingState(
        open_leads={"r1": 5, "r2": 2, "r3": 2}, assigned_this_month={"r2": 4, "r3": 1}
    )
    decision = route(assignment, {}, T0, state)
    assert decision.rep == "r3"  # tie on open leads: fewer this month
    assert "fewest open leads (2)" in decision.reason


def test_capacity_and_open_lead_cap_skip_with_reasons() -> None:
    assignment = Assignment(
        rules=(rr("r1", "r2", "r3"),),
        capacity={"r1": 10},
        open_lead_cap=3,
        use_calendars=False,
    )
    state = RoutingState(assigned_this_month={"r1": 10}, open_leads={"r2": 3})
    decision = route(assignment, {}, T0, state)
    assert decision.rep == "r3"
    assert {(s.rep, s.reason) for s in decision.skipped} == {
        ("r1", "is at capacity (10 of 10 leads this month)"),
        ("r2", "holds 3 open leads (cap 3)"),
    }


def test_a_cap_never_leaves_leads_unassigned() -> None:
    # The failure to avoid: a daily cap leaving leads unassigned once everyone is full.
    assignment = Assignment(
        rules=(rr("r1", "r2"),), capacity={"r1": 5, "r2": 5}, use_calendars=False
    )
    got = run(assignment, 100)
    assert sum(got.values()) == 100
    assert got == {"r1": 50, "r2": 50}  # still shared fairly past the limit
    state = RoutingState(assigned_this_month={"r1": 5, "r2": 5})
    over = route(assignment, {}, T0, state)
    assert "every rep at a limit: over the limit" in over.reason


def test_out_of_office_gets_nothing_and_all_out_means_unassigned() -> None:
    week = 7 * 24 * 60 * MINUTE
    assignment = Assignment(
        rules=(rr("r1", "r2"),),
        absences=(Absence("r1", T0, T0 + week),),
        use_calendars=False,
    )
    got = run(assignment, 20)
    assert got == {"r2": 20}
    decision = route(assignment, {}, T0, RoutingState())
    assert [(s.rep, s.reason) for s in decision.skipped] == [("r1", "is out of office")]
    after = route(assignment, {}, T0 + week, RoutingState())
    assert after.rep == "r1"  # back: the absence ends (exclusive)
    both_out = Assignment(
        rules=(rr("r1"),), absences=(Absence("r1", T0, T0 + week),), use_calendars=False
    )
    assert route(both_out, {}, T0, RoutingState()).reason == "no rep available"


def test_reroute_excludes_the_current_owner() -> None:
    assignment = Assignment(rules=(rr("r1", "r2"),), use_calendars=False)
    decision = route(assignment, {}, T0, RoutingState(), exclude=frozenset({"r1"}))
    assert decision.rep == "r2"
    assert decision.skipped[0].reason == "is the owner being re-routed from"


def test_account_match_goes_to_the_owner_unless_out() -> None:
    assignment = Assignment(
        rules=(rr("r1", "r2"),),
        account_field="company",
        absences=(Absence("r2", T0 + MINUTE, T0 + 60 * MINUTE),),
        use_calendars=False,
    )
    state = RoutingState(accounts={"acme inc": "r2"})
    matched = route(assignment, {"company": "ACME Inc"}, T0, state)
    assert (matched.rep, matched.method) == ("r2", "account_match")
    assert matched.reason == "account ACME Inc is owned by r2"
    out = route(assignment, {"company": "Acme Inc"}, T0 + MINUTE, state)
    assert out.rep == "r1"
    assert out.skipped[0].reason == "owns account Acme Inc but is out of office"
    # A first lead of an account makes its rep the account's owner.
    fresh = RoutingState()
    first = route(assignment, {"company": "Globex"}, T0, fresh)
    fresh.record(first, "Globex")
    assert route(assignment, {"company": "globex"}, T0, fresh).rep == first.rep


def _calendar(name: str, zone: str, start: int, end: int) -> BusinessCalendar:
    return BusinessCalendar(
        name=name, timezone=zone, hours={d: [(start, end)] for d in range(5)}, holidays=None
    )


def test_calendar_open_reps_first_else_the_first_to_open() -> None:
    ny = _calendar("ny", "America/New_York", 9 * 60, 17 * 60)
    uk = _calendar("uk", "Europe/London", 8 * 60 + 30, 17 * 60 + 30)
    assignment = Assignment(rules=(rr("r1", "r3"),), calendars={"r1": ny, "r3": uk})
    state = RoutingState()
    # 15:00 UTC Monday: both open; round robin.
    assert route(assignment, {}, T0, state).rep == "r1"
    # 18:00 UTC: London closed, New York open.
    evening = route(assignment, {}, parse_instant("2026-03-02T18:00:00Z"), state)
    assert evening.rep == "r1"
    assert [(s.rep, s.reason) for s in evening.skipped] == [("r3", "is off their calendar")]
    # 03:00 UTC Tuesday: nobody open; London opens first (08:30 UTC).
    night = route(assignment, {}, parse_instant("2026-03-03T03:00:00Z"), state)
    assert night.rep == "r3"
    assert [(s.rep, s.reason) for s in night.skipped] == [("r1", "their calendar opens later")]


# -- fairness over 10,000 leads ------------------------------------------------------------


def test_fairness_over_10000_leads_with_joins_leaves_and_absences() -> None:
    """Each rep's count stays within a few leads of its weight's share of the leads routed
    while it was eligible — through reps joining, leaving and going out of office."""
    weights = {"r1": 1.0, "r2": 2.0, "r3": 1.0, "r4": 1.0, "r5": 3.0}
    joins = {"r4": 3_000}  # joins the team at lead 3,000
    leaves = {"r5": 7_000}  # leaves the team at lead 7,000
    out = {"r2": (4_000, 5_000), "r3": (6_500, 9_000)}  # out of office (leads routed then)
    absences = tuple(Absence(rep, T0 + a * MINUTE, T0 + b * MINUTE) for rep, (a, b) in out.items())
    state = RoutingState()
    got: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    for i in range(10_000):
        team = tuple(rep for rep in weights if joins.get(rep, 0) <= i < leaves.get(rep, 10_000))
        rule = RoutingRule("team", (), team, "weighted_round_robin", weights)
        assignment = Assignment(rules=(rule,), absences=absences, use_calendars=False)
        at = T0 + i * MINUTE
        decision = route(assignment, {}, at, state)
        assert decision.rep is not None
        state.record(decision)
        got[decision.rep] += 1
        eligible = [rep for rep in team if not assignment.absent(rep, at)]
        total = sum(weights[rep] for rep in eligible)
        for rep in eligible:
            expected[rep] += weights[rep] / total
    assert sum(got.values()) == 10_000
    for rep in weights:
        assert got[rep] == pytest.approx(expected[rep], abs=2), (rep, got, expected)
    # The newcomer is not starved nor flooded, and absence does not make up later.
    assert got["r4"] > 0
    assert got["r2"] < 2 * got["r1"] + 2


def test_round_robin_does_not_favour_older_members() -> None:
    """After a rep joins, every member gets the same share of the leads that follow."""
    state = RoutingState()
    old = Assignment(rules=(rr("r1", "r2", "r3"),), use_calendars=False)
    run(old, 1_000, state)  # a long history
    new = Assignment(rules=(rr("r1", "r2", "r3", "r4"),), use_calendars=False)
    after = run(new, 400, state)
    assert max(after.values()) - min(after.values()) <= 1
    assert after["r4"] == pytest.approx(100, abs=1)
