"""One engine: events fed to ``LeadClocks.extend`` as they arrive, in any order, give the
clocks of the offline replay — on the example config, and on ``tests/sales_work.yaml``,
which uses every key of SPEC §9.1–9.3."""

from __future__ import annotations

import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsla.config import build_rulebook, load_config
from leadsla.core.clock import (
    LeadClocks,
    State,
    TimerKind,
    cycle_timers,
    due_instant,
    judge,
    judge_lead,
    timers_before_stop,
)
from leadsla.core.evaluate import lead_results
from leadsla.core.events import read_events
from leadsla.core.policy import Rulebook
from leadsla.core.schedule import cycle_schedule
from leadsla.core.scoring import Row
from sales_work import ACTIVITIES, BASE, MINUTE, OWNERS, History, history_csv, sales_history
from sales_work import CONFIG as SALES_WORK

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
RULES: Rulebook = build_rulebook(load_config(EXAMPLE))
V2_RULES: Rulebook = build_rulebook(load_config(SALES_WORK))
# BASE is Friday 2026-12-18 09:00 New York: the window spans a weekend, Christmas Eve
# (an extra closed date) and Christmas Day.

STATUSES = [*RULES.statuses, ""]
VALUES = {
    "status": st.sampled_from(STATUSES),
    "grade": st.sampled_from(["A", "B", "C", ""]),
    "score": st.sampled_from(["95", "60", "10", ""]),
    "owner": st.sampled_from(["r1", "r2", "r3", "ghost", ""]),
    "activity": st.sampled_from(["call:connected", "email:sent", "call:no_answer"]),
}
# For the §9 keys: every outcome a policy of sales_work.yaml names or must ignore (an
# automated email, a text), and owners that come, go and move between reps and teams.
V2_VALUES = {
    **VALUES,
    "owner": st.sampled_from(OWNERS),
    "activity": st.sampled_from(ACTIVITIES),
}


@st.composite
def histories(
    draw: st.DrawFn,
    values: dict[str, st.SearchStrategy[str]] = VALUES,
    days: int = 14,
    per_lead: int = 8,
) -> History:
    rows: dict[tuple[str, int, str], str] = {}
    for lead in draw(st.lists(st.sampled_from(["L1", "L2", "L3"]), min_size=1, max_size=3)):
        instants = draw(st.lists(st.integers(0, days * 24 * 60), min_size=1, max_size=per_lead))
        for minute in instants:
            fields = draw(st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=3))
            for name in fields:
                # One value per (lead, instant, field): arrival order inside an instant
                # then cannot matter, as it cannot in a file either.
                rows[(lead, BASE + minute * MINUTE, name)] = draw(values[name])
    return [(lead, at, name, value) for (lead, at, name), value in rows.items()]


def v2_histories() -> st.SearchStrategy[History]:
    """Histories for sales_work.yaml: more instants per lead, so that cadences reach their
    attempts, gaps overrun and owners change while clocks run."""
    return histories(V2_VALUES, days=10, per_lead=14)


class StoredLead:
    """A lead as the service keeps it: its clocks, and its rows in arrival order (the store)."""

    def __init__(self, lead_id: str, rules: Rulebook = RULES) -> None:
        self.rules = rules
        self.clocks = LeadClocks(lead_id)
        self.stored: list[Row] = []
        self.rebuilds = 0

    def arrive(self, rows: list[Row]) -> None:
        """Store a batch of rows and bring the clocks up to date through ``extend``."""
        self.stored.extend(rows)
        arrivals = sorted(rows, key=lambda row: row[0])  # stable: arrival order kept

        def history() -> list[Row]:
            return sorted(self.stored, key=lambda row: row[0])

        self.rebuilds += self.clocks.extend(self.rules, arrivals, history)

    def add(self, at: int, name: str, value: str | None) -> None:
        self.arrive([(at, name, value)])


def live_and_replayed(
    rules: Rulebook, rows: History, order: Any, batch: int, as_of: int
) -> tuple[dict[str, LeadClocks], dict[str, LeadClocks]]:
    """The leads' clocks after ``rows`` arrived shuffled by ``order`` in requests of up to
    ``batch`` events (each split by lead, as the service does), and after the replay of
    the sorted file up to ``as_of``."""
    table, report = read_events(
        io.StringIO(history_csv(rows)),
        statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
    )
    assert report.skipped == 0
    replayed = {r.lead_id: r.clocks for r in lead_results(rules, table.sorted(), as_of)}
    shuffled = list(rows)
    order.shuffle(shuffled)
    live: dict[str, StoredLead] = {}
    for first in range(0, len(shuffled), batch):
        by_lead: dict[str, list[Row]] = {}
        for lead, at, name, value in shuffled[first : first + batch]:
            by_lead.setdefault(lead, []).append((at, name, value or None))
        for lead, arrived in by_lead.items():
            live.setdefault(lead, StoredLead(lead, rules)).arrive(arrived)
    return {lead: state.clocks for lead, state in live.items()}, replayed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=histories(),
    order=st.randoms(use_true_random=False),
    extra=st.integers(0, 20 * 24),
    batch=st.integers(1, 4),
)
def test_events_in_any_order_give_the_replayed_clocks(
    rows: History, order: Any, extra: int, batch: int
) -> None:
    as_of = max(at for _, at, _, _ in rows) + extra * 60 * MINUTE
    live, replayed = live_and_replayed(RULES, rows, order, batch, as_of)
    streamed = {lead: judge_lead(RULES, clocks, as_of) for lead, clocks in live.items()}
    assert streamed == {lead: judge_lead(RULES, c, as_of) for lead, c in replayed.items()}


def same_clocks(rules: Rulebook, live: LeadClocks, replayed: LeadClocks, as_of: int) -> None:
    """Live and replayed clocks agree on every fact, every verdict field (attempts
    included), every timer and every stored schedule."""
    policies = {p.name: p for p in rules.policies}
    assert live.cycles == replayed.cycles
    assert (live.fields, live.grade, live.last_at) == (
        replayed.fields,
        replayed.grade,
        replayed.last_at,
    )
    verdicts = judge_lead(rules, live, as_of)
    assert verdicts == judge_lead(rules, replayed, as_of)
    assert [v.attempts for v in verdicts] == [
        len(cycle.attempts) for name in sorted(live.cycles) for cycle in live.cycles[name]
    ]
    assert live.timers(rules) == replayed.timers(rules)
    for name, cycles in live.cycles.items():
        for cycle, twin in zip(cycles, replayed.cycles[name], strict=True):
            policy = policies[name]
            assert cycle_schedule(rules, policy, cycle, None) == cycle_schedule(
                rules, policy, twin, None
            )
            if cycle.stopped_at is not None:
                assert timers_before_stop(rules, policy, cycle) == timers_before_stop(
                    rules, policy, twin
                )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.randoms(use_true_random=False),
    order=st.randoms(use_true_random=False),
    extra=st.integers(0, 10 * 24),
    batch=st.integers(1, 6),
)
def test_every_new_key_live_equals_replay(seed: Any, order: Any, extra: int, batch: int) -> None:
    """sales_work.yaml: activity stops (call:attempted and email:automated named), an
    assigned start, a routing policy that stops at assignment, restart on reassignment,
    a cadence with a pause and an urgent step, an activity start."""
    rows = sales_history(seed)
    as_of = max(at for _, at, _, _ in rows) + extra * 60 * MINUTE
    live, replayed = live_and_replayed(V2_RULES, rows, order, batch, as_of)
    assert live.keys() == replayed.keys()
    for lead, clocks in live.items():
        same_clocks(V2_RULES, clocks, replayed[lead], as_of)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=histories(V2_VALUES, days=10, per_lead=14),
    order=st.randoms(use_true_random=False),
    batch=st.integers(1, 4),
)
def test_every_new_key_on_uniform_histories(rows: History, order: Any, batch: int) -> None:
    """The same on histories whose instants and fields are drawn uniformly (they shrink
    to small examples when something differs)."""
    as_of = max(at for _, at, _, _ in rows) + 24 * 60 * MINUTE
    live, replayed = live_and_replayed(V2_RULES, rows, order, batch, as_of)
    for lead, clocks in live.items():
        same_clocks(V2_RULES, clocks, replayed[lead], as_of)


def test_the_random_histories_reach_every_new_rule() -> None:
    """What the property tests above see, over 200 seeded histories: each rule of
    sales_work.yaml happens, so that equality is not won on empty clocks."""
    seen: Counter[str] = Counter()
    for seed in range(200):
        rows = sales_history(random.Random(seed))
        as_of = max(at for _, at, _, _ in rows) + 24 * 60 * MINUTE
        live, replayed = live_and_replayed(V2_RULES, rows, random.Random(-seed), 3, as_of)
        for lead, clocks in live.items():
            same_clocks(V2_RULES, clocks, replayed[lead], as_of)
            for verdict in judge_lead(V2_RULES, clocks, as_of):
                seen[f"{verdict.policy} {verdict.state.value}"] += 1
                if verdict.attempts:
                    seen[f"{verdict.policy} with attempts"] += 1
                if verdict.escalations:
                    seen[f"{verdict.policy} escalated"] += 1
            for name, cycles in clocks.cycles.items():
                for cycle in cycles:
                    if len(cycle.segments) > 1:
                        seen[f"{name} paused and resumed"] += 1
                    if cycle.stopped_at == cycle.started_at:
                        seen[f"{name} stopped at its start"] += 1
    wanted = [
        "follow_up met",
        "follow_up breached",
        "follow_up reassigned",
        "follow_up stopped at its start",
        "routing met",
        "routing breached",
        "routing escalated",
        "attempts met",
        "attempts breached",
        "attempts running",
        "attempts reassigned",
        "attempts paused and resumed",
        "attempts escalated",
        "callback met",
        "callback breached",
        "nurture met",
        "nurture breached",
    ]
    assert [name for name in wanted if not seen[name]] == [], seen


def test_late_event_replays_the_lead() -> None:
    lead = StoredLead("L1")
    hour = 60 * MINUTE
    lead.add(BASE, "status", "New")
    lead.add(BASE, "grade", "A")  # same instant: replays
    lead.add(BASE + 3 * hour, "status", "Contacted")
    assert lead.rebuilds == 1
    lead.add(BASE + hour, "owner", "r3")  # late: replays
    assert lead.rebuilds == 2
    assert lead.clocks.last_at == BASE + 3 * hour
    (follow_up, qualification) = judge_lead(RULES, lead.clocks, BASE + 4 * hour)
    assert follow_up.state.value == "met"
    assert follow_up.owner == "r3"
    assert qualification.policy == "qualification"


def applied_in_order(rules: Rulebook, rows: History) -> list[StoredLead]:
    """The leads of ``rows``, each row applied on its own in instant order."""
    by_lead: dict[str, StoredLead] = {}
    for lead, at, name, value in sorted(rows, key=lambda r: (r[0], r[1])):
        by_lead.setdefault(lead, StoredLead(lead, rules)).add(at, name, value or None)
    return list(by_lead.values())


def shortcut_loses_no_timer(rules: Rulebook, rows: History) -> None:
    """``timers_before_stop`` skips calendar work for cycles stopped early; it must give
    exactly the warnings and steps ``cycle_timers`` gives before the stop."""
    policies = {p.name: p for p in rules.policies}
    for state in applied_in_order(rules, rows):
        for name, cycles in state.clocks.cycles.items():
            for cycle in cycles:
                if cycle.stopped_at is None:
                    continue
                full = [
                    t
                    for t in cycle_timers(rules, policies[name], cycle)
                    if t.kind is not TimerKind.BREACH and t.at < cycle.stopped_at
                ]
                assert timers_before_stop(rules, policies[name], cycle) == full


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories())
def test_the_shortcut_for_stopped_cycles_loses_no_timer(rows: History) -> None:
    shortcut_loses_no_timer(RULES, rows)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.randoms(use_true_random=False))
def test_the_shortcut_loses_no_timer_under_every_new_key(seed: Any) -> None:
    shortcut_loses_no_timer(V2_RULES, sales_history(seed))


def test_the_shortcut_holds_on_a_grid_of_starts_and_stops() -> None:
    """Starts every 3 hours over a week (weekend and holidays included), stops 1 to 80
    hours later, grades A and B: cycles on both sides of the earliest warning."""
    policies = {p.name: p for p in RULES.policies}
    hour = 60 * MINUTE
    checked = with_timers = 0
    for start in range(0, 7 * 24, 3):
        for grade in ("A", "B"):
            for stop in range(1, 81):
                lead = StoredLead("G")
                lead.add(BASE + start * hour, "grade", grade)
                lead.add(BASE + start * hour, "status", "New")
                lead.add(BASE + (start + stop) * hour, "status", "Contacted")
                (cycle,) = lead.clocks.cycles["follow_up"]
                full = [
                    t
                    for t in cycle_timers(RULES, policies["follow_up"], cycle)
                    if t.kind is not TimerKind.BREACH and t.at < (cycle.stopped_at or 0)
                ]
                assert timers_before_stop(RULES, policies["follow_up"], cycle) == full
                checked += 1
                with_timers += bool(full)
    assert checked == 56 * 2 * 80 and 0 < with_timers < checked


def due_instant_is_the_verdicts_due_at(rules: Rulebook, rows: History) -> None:
    """The stored ``due_at`` of a cycle comes from ``due_instant``; it must be what
    ``judge`` says, at the last instant and later alike.

    A cadence's ``due_at`` moves without a new fact (SPEC §9.3): when the current gap
    or the window runs out while it runs, the instant it breached once breached. The
    stored row keeps both: ``due_at`` for the first, ``breach_at`` (the breach timer)
    for the second.
    """
    policies = {p.name: p for p in rules.policies}
    for state in applied_in_order(rules, rows):
        last = state.clocks.last_at or 0
        for name, cycles in state.clocks.cycles.items():
            policy = policies[name]
            for cycle in cycles:
                due = due_instant(rules, policy, cycle)
                stored = cycle_schedule(rules, policy, cycle, None)
                for as_of in (last, last + 30 * 24 * 60 * MINUTE):
                    verdict = judge(rules, policy, cycle, as_of)
                    if policy.is_cadence and verdict.state is State.BREACHED:
                        if cycle.stopped_at is None:
                            assert verdict.due_at == verdict.breached_at == stored.breach_at
                    else:
                        assert due == verdict.due_at


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories())
def test_due_instant_is_the_verdicts_due_at(rows: History) -> None:
    due_instant_is_the_verdicts_due_at(RULES, rows)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.randoms(use_true_random=False))
def test_due_instant_is_the_verdicts_due_at_under_every_new_key(seed: Any) -> None:
    due_instant_is_the_verdicts_due_at(V2_RULES, sales_history(seed))
