"""Which timers of a cycle are pending, due and next (core/schedule.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadsla.config import build_rulebook, load_config
from leadsla.core.clock import Cycle, TimerKind, cycle_timers, judge, replay
from leadsla.core.policy import Policy, Rulebook
from leadsla.core.schedule import (
    cycle_schedule,
    next_timer_after,
    pending_timers,
    timers_due,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
RULES: Rulebook = build_rulebook(load_config(EXAMPLE))
FOLLOW_UP: Policy = next(p for p in RULES.policies if p.name == "follow_up")
# Monday 2026-03-02 09:00 New York.
BASE = int(datetime(2026, 3, 2, 14, 0, tzinfo=UTC).timestamp()) * 1_000_000
HOUR = 3_600_000_000


def follow_up(grade: str, stop_after_hours: int | None = None) -> Cycle:
    instants: list[tuple[int, list[tuple[str, str | None]]]] = [
        (BASE, [("grade", grade), ("status", "New")])
    ]
    if stop_after_hours is not None:
        instants.append((BASE + stop_after_hours * HOUR, [("status", "Contacted")]))
    (cycle,) = replay(RULES, "L", instants).cycles["follow_up"]
    return cycle


def test_an_open_cycle_has_a_warning_three_steps_and_a_breach() -> None:
    timers = cycle_timers(RULES, FOLLOW_UP, follow_up("A"))
    assert [t.kind for t in timers] == [
        TimerKind.WARNING,
        *[TimerKind.ESCALATION] * 3,
        TimerKind.BREACH,
    ]


def test_pending_timers_leave_out_breaches_and_what_was_handled() -> None:
    timers = cycle_timers(RULES, FOLLOW_UP, follow_up("A"))
    warning, step1, step2, step3, _breach = timers
    assert pending_timers(timers, None) == [warning, step1, step2, step3]
    assert pending_timers(timers, warning.at) == [step1, step2, step3]
    assert pending_timers(timers, step3.at) == []
    assert next_timer_after(timers, None) == warning.at
    assert next_timer_after(timers, warning.at) == min(step1.at, step2.at, step3.at)
    assert next_timer_after(timers, step3.at) is None


def test_an_open_cycles_schedule_is_its_verdicts_deadline_and_first_breach() -> None:
    cycle = follow_up("A")
    timers = cycle_timers(RULES, FOLLOW_UP, cycle)
    schedule = cycle_schedule(RULES, FOLLOW_UP, cycle, None)
    assert schedule.due_at == judge(RULES, FOLLOW_UP, cycle, BASE).due_at
    assert schedule.breach_at == timers[-1].at
    assert schedule.next_timer_at == timers[0].at


def test_a_stopped_cycle_keeps_only_the_timers_before_its_stop() -> None:
    warning, step1, step2 = cycle_timers(RULES, FOLLOW_UP, follow_up("B"))[:3]
    # The first step falls at 24 wall-clock hours, the warning at 12 business hours
    # (30 wall-clock hours later, overnight), the second step at 48.
    cycle = follow_up("B", stop_after_hours=36)
    assert step1.at < warning.at < (cycle.stopped_at or 0) < step2.at
    schedule = cycle_schedule(RULES, FOLLOW_UP, cycle, None)
    assert (schedule.due_at, schedule.breach_at) == (None, None)
    assert schedule.next_timer_at == step1.at
    assert cycle_schedule(RULES, FOLLOW_UP, cycle, step1.at).next_timer_at == warning.at
    assert cycle_schedule(RULES, FOLLOW_UP, cycle, warning.at).next_timer_at is None

    firing = timers_due(RULES, FOLLOW_UP, cycle, BASE + 100 * HOUR, None)
    assert [(t.kind, t.step) for t in firing.due] == [
        (TimerKind.WARNING, 0),
        (TimerKind.ESCALATION, 1),
    ]
    assert firing.next_timer_at is None


@pytest.mark.parametrize(("stop_hours", "steps"), [(24, []), (25, [1])])
def test_a_stop_at_the_steps_instant_wins(stop_hours: int, steps: list[int]) -> None:
    cycle = follow_up("B", stop_after_hours=stop_hours)
    firing = timers_due(RULES, FOLLOW_UP, cycle, BASE + 100 * HOUR, None)
    assert [t.step for t in firing.due] == steps


@pytest.mark.parametrize("hours", [0, 5, 7, 24, 30, 49, 80])
@pytest.mark.parametrize("done_hours", [None, 6, 24])
def test_timers_due_by_now_and_not_handled(hours: int, done_hours: int | None) -> None:
    cycle = follow_up("B")
    timers = cycle_timers(RULES, FOLLOW_UP, cycle)
    now = BASE + hours * HOUR
    done = None if done_hours is None else BASE + done_hours * HOUR
    firing = timers_due(RULES, FOLLOW_UP, cycle, now, done)
    assert firing.due == [
        t
        for t in timers
        if t.kind is not TimerKind.BREACH and t.at <= now and (done is None or t.at > done)
    ]
    assert firing.next_timer_at == min(
        (t.at for t in timers if t.kind is not TimerKind.BREACH and t.at > now), default=None
    )
