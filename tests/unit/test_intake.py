"""Marketing's intake clock (core/intake.py): from captured_at to the MQL or nurture decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsla.config import ConfigError, build_rulebook, load_config, load_config_text
from leadsla.core.clock import State, Verdict, judge_lead, replay
from leadsla.core.events import parse_instant
from leadsla.core.policy import Rulebook

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "qualify" / "leadsla.yaml"
HOUR = 3_600_000_000


@pytest.fixture(scope="module")
def rules() -> Rulebook:
    return build_rulebook(load_config(EXAMPLE))


def intake_of(rules: Rulebook, rows: list[tuple[str, str, str]], as_of: str) -> Verdict | None:
    instants: dict[int, list[tuple[str, str | None]]] = {}
    for at, name, value in rows:
        instants.setdefault(parse_instant(at), []).append((name, value))
    lead = replay(rules, "L", sorted(instants.items()))
    verdicts = [v for v in judge_lead(rules, lead, parse_instant(as_of)) if v.policy == "intake"]
    assert len(verdicts) <= 1
    return verdicts[0] if verdicts else None


def test_captured_date_to_mql_on_the_intake_calendar(rules: Rulebook) -> None:
    verdict = intake_of(
        rules,
        [
            ("2026-03-03T10:00:00-05:00", "captured_at", "2026-03-02"),
            ("2026-03-03T10:00:00-05:00", "status", "New"),
        ],
        "2026-03-09T12:00:00-04:00",
    )
    assert verdict is not None
    assert verdict.started_at == parse_instant("2026-03-02T00:00:00-05:00")
    assert verdict.stopped_at == parse_instant("2026-03-03T10:00:00-05:00")
    # Monday 7 business hours (lunch excluded) + Tuesday 1 hour, of 2 business days (14 h).
    assert verdict.business_micros == 8 * HOUR
    assert verdict.state is State.MET
    assert verdict.due_at == parse_instant("2026-03-03T17:00:00-05:00")


def test_late_entry_breaches_and_a_nurture_decision_stops_it(rules: Rulebook) -> None:
    verdict = intake_of(
        rules,
        [
            ("2026-03-06T15:00:00-05:00", "captured_at", "2026-03-02T09:00:00-05:00"),
            ("2026-03-06T15:00:00-05:00", "industry", "Retail"),
            ("2026-03-06T15:00:00-05:00", "qualification", "nurture"),
        ],
        "2026-03-09T12:00:00-04:00",
    )
    assert verdict is not None
    assert verdict.state is State.BREACHED
    assert verdict.stopped_at == parse_instant("2026-03-06T15:00:00-05:00")


def test_undecided_lead_keeps_running_and_breaches_on_time(rules: Rulebook) -> None:
    rows = [("2026-03-02T09:00:00-05:00", "captured_at", "2026-03-02T09:00:00-05:00")]
    running = intake_of(rules, rows, "2026-03-03T09:00:00-05:00")
    assert running is not None and running.state is State.RUNNING
    late = intake_of(rules, rows, "2026-03-04T09:30:00-05:00")
    assert late is not None and late.state is State.BREACHED


def test_no_captured_at_no_intake_and_one_cycle_only(rules: Rulebook) -> None:
    assert (
        intake_of(rules, [("2026-03-02T09:00:00-05:00", "status", "New")], "2026-03-09T00:00:00Z")
        is None
    )
    assert (
        intake_of(
            rules,
            [("2026-03-02T09:00:00-05:00", "captured_at", "sometime")],
            "2026-03-09T00:00:00Z",
        )
        is None
    )
    verdict = intake_of(
        rules,
        [
            ("2026-03-02T09:00:00-05:00", "captured_at", "2026-03-02T08:00:00-05:00"),
            ("2026-03-02T10:00:00-05:00", "status", "New"),
            ("2026-03-04T10:00:00-05:00", "status", "Recycled"),
            ("2026-03-05T10:00:00-05:00", "status", "New"),
        ],
        "2026-03-09T00:00:00Z",
    )
    assert verdict is not None and verdict.cycle == 1
    assert verdict.stopped_at == parse_instant("2026-03-02T10:00:00-05:00")


def test_a_capture_in_the_future_starts_at_entry(rules: Rulebook) -> None:
    verdict = intake_of(
        rules,
        [("2026-03-02T10:00:00-05:00", "captured_at", "2026-04-01")],
        "2026-03-02T11:00:00-05:00",
    )
    assert verdict is not None
    assert verdict.started_at == parse_instant("2026-03-02T10:00:00-05:00")


def edit_intake(old: str, new: str) -> tuple[str, int]:
    """The example with ``old`` replaced in its intake section, and the line of the change."""
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index("\nintake:\n") + 1
    assert old in text[start:]
    line = text[:start].count("\n") + 1 + text[start:].split(old)[0].count("\n")
    return text[:start] + text[start:].replace(old, new, 1), line


def test_applies_to_filters_leads() -> None:
    text, _ = edit_intake(
        "  calendar: us-east\n", "  calendar: us-east\n  applies_to: {source: [trade show]}\n"
    )
    rules = build_rulebook(load_config_text(text))
    at = "2026-03-02T10:00:00-05:00"
    assert intake_of(rules, [(at, "captured_at", "2026-03-02")], "2026-03-09T00:00:00Z") is None
    found = intake_of(
        rules,
        [(at, "captured_at", "2026-03-02"), (at, "source", "Trade Show".lower())],
        "2026-03-09T00:00:00Z",
    )
    assert found is not None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  target: 2 business days\n", "  target: 2 fortnights\n", "intake.target:"),
        (
            "  calendar: us-east\n",
            "  calendar: us-eats\n",
            'unknown calendar "us-eats" (did you mean "us-east"?)',
        ),
    ],
)
def test_bad_intake_section(old: str, new: str, message: str) -> None:
    changed, line = edit_intake(old, new)
    with pytest.raises(ConfigError) as caught:
        load_config_text(changed, "q.yaml")
    assert any(
        p.startswith(f"q.yaml:{line}:") and message in p for p in str(caught.value).splitlines()
    ), str(caught.value)


def test_a_policy_named_intake_is_refused_beside_the_section() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "  qualification:\n    start:", "  intake:\n    start:"
    )
    with pytest.raises(ConfigError, match="names the clock of the intake section"):
        load_config_text(text)
