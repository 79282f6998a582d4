"""One engine: events fed to ``LeadClocks.extend`` as they arrive, in any order, give the
clocks of the offline replay."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsla.config import build_rulebook, load_config
from leadsla.core.clock import (
    LeadClocks,
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
from leadsla.core.scoring import Row

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
RULES: Rulebook = build_rulebook(load_config(EXAMPLE))
# Friday 2026-12-18 09:00 New York: the window spans a weekend, Christmas Eve (an
# extra closed date) and Christmas Day.
BASE = int(datetime(2026, 12, 18, 14, 0, tzinfo=UTC).timestamp()) * 1_000_000
MINUTE = 60_000_000

STATUSES = [*RULES.statuses, ""]
VALUES = {
    "status": st.sampled_from(STATUSES),
    "grade": st.sampled_from(["A", "B", "C", ""]),
    "score": st.sampled_from(["95", "60", "10", ""]),
    "owner": st.sampled_from(["r1", "r2", "r3", "ghost", ""]),
    "activity": st.sampled_from(["call:connected", "email:sent", "call:no_answer"]),
}


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, int, str, str]]:
    rows: dict[tuple[str, int, str], str] = {}
    for lead in draw(st.lists(st.sampled_from(["L1", "L2", "L3"]), min_size=1, max_size=3)):
        instants = draw(st.lists(st.integers(0, 14 * 24 * 60), min_size=1, max_size=8))
        for minute in instants:
            fields = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=3))
            for name in fields:
                # One value per (lead, instant, field): arrival order inside an instant
                # then cannot matter, as it cannot in a file either.
                rows[(lead, BASE + minute * MINUTE, name)] = draw(VALUES[name])
    return [(lead, at, name, value) for (lead, at, name), value in rows.items()]


class StoredLead:
    """A lead as the service keeps it: its clocks, and its rows in arrival order (the store)."""

    def __init__(self, lead_id: str) -> None:
        self.clocks = LeadClocks(lead_id)
        self.stored: list[Row] = []
        self.rebuilds = 0

    def arrive(self, rows: list[Row]) -> None:
        """Store a batch of rows and bring the clocks up to date through ``extend``."""
        self.stored.extend(rows)
        arrivals = sorted(rows, key=lambda row: row[0])  # stable: arrival order kept

        def history() -> list[Row]:
            return sorted(self.stored, key=lambda row: row[0])

        self.rebuilds += self.clocks.extend(RULES, arrivals, history)

    def add(self, at: int, name: str, value: str | None) -> None:
        self.arrive([(at, name, value)])


def to_csv(rows: list[tuple[str, int, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["lead_id", "at", "field", "value"])
    for lead, at, name, value in rows:
        iso = datetime.fromtimestamp(at / 1_000_000, UTC).isoformat().replace("+00:00", "Z")
        writer.writerow([lead, iso, name, value])
    return out.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=histories(),
    order=st.randoms(use_true_random=False),
    extra=st.integers(0, 20 * 24),
    batch=st.integers(1, 4),
)
def test_events_in_any_order_give_the_replayed_clocks(
    rows: list[tuple[str, int, str, str]], order: object, extra: int, batch: int
) -> None:
    as_of = max(at for _, at, _, _ in rows) + extra * 60 * MINUTE
    table, report = read_events(
        io.StringIO(to_csv(rows)),
        statuses=list(RULES.statuses),
        grades=[g.name for g in RULES.grades],
    )
    assert report.skipped == 0
    replayed = {r.lead_id: r.verdicts for r in lead_results(RULES, table.sorted(), as_of)}

    shuffled = list(rows)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    live: dict[str, StoredLead] = {}
    # Requests of up to ``batch`` events, each split by lead as the service does.
    for first in range(0, len(shuffled), batch):
        by_lead: dict[str, list[Row]] = {}
        for lead, at, name, value in shuffled[first : first + batch]:
            by_lead.setdefault(lead, []).append((at, name, value or None))
        for lead, arrived in by_lead.items():
            live.setdefault(lead, StoredLead(lead)).arrive(arrived)
    streamed = {lead: judge_lead(RULES, state.clocks, as_of) for lead, state in live.items()}

    assert streamed == replayed


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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories())
def test_the_shortcut_for_stopped_cycles_loses_no_timer(
    rows: list[tuple[str, int, str, str]],
) -> None:
    """``timers_before_stop`` skips calendar work for cycles stopped early; it must give
    exactly the warnings and steps ``cycle_timers`` gives before the stop."""
    policies = {p.name: p for p in RULES.policies}
    by_lead: dict[str, StoredLead] = {}
    for lead, at, name, value in sorted(rows, key=lambda r: (r[0], r[1])):
        by_lead.setdefault(lead, StoredLead(lead)).add(at, name, value or None)
    for state in by_lead.values():
        for name, cycles in state.clocks.cycles.items():
            for cycle in cycles:
                if cycle.stopped_at is None:
                    continue
                full = [
                    t
                    for t in cycle_timers(RULES, policies[name], cycle)
                    if t.kind is not TimerKind.BREACH and t.at < cycle.stopped_at
                ]
                assert timers_before_stop(RULES, policies[name], cycle) == full


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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories())
def test_due_instant_is_the_verdicts_due_at(rows: list[tuple[str, int, str, str]]) -> None:
    """The stored ``due_at`` of a cycle comes from ``due_instant``; it must be what
    ``judge`` says, at the last instant and later alike."""
    policies = {p.name: p for p in RULES.policies}
    by_lead: dict[str, StoredLead] = {}
    for lead, at, name, value in sorted(rows, key=lambda r: (r[0], r[1])):
        by_lead.setdefault(lead, StoredLead(lead)).add(at, name, value or None)
    for state in by_lead.values():
        last = state.clocks.last_at or 0
        for name, cycles in state.clocks.cycles.items():
            for cycle in cycles:
                due = due_instant(RULES, policies[name], cycle)
                for as_of in (last, last + 30 * 24 * 60 * MINUTE):
                    assert due == judge(RULES, policies[name], cycle, as_of).due_at
