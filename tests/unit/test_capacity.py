"""Capacity planning (core/capacity.py) and its config section."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsla.config import ConfigError, load_config_text
from leadsla.core.capacity import plan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "qualify" / "leadsla.yaml"


def test_hours_and_reps_from_the_largest_monthly_commitment() -> None:
    result = plan(
        [("per quarter", "quarter", 1200), ("per month", "month", 300), ("year", "year", 2400)],
        workable_share=0.5,
        attempts_per_lead=6,
        minutes_per_attempt=10,
        hours_per_rep=50,
        rep_capacities=[40, 40],
    )
    # 1200 a quarter = 400 a month (the largest), 200 workable, 1200 attempts, 200 hours.
    assert result.commitment == "per quarter"
    assert result.workable_per_month == 200
    assert result.hours_needed == pytest.approx(200)
    assert result.reps_needed == 4
    assert result.capacity_configured == 80
    assert result.verdict.startswith("hire 2 rep(s): 4 needed, 2 configured")
    assert "capacity (80 workable leads a month) is below the 200 expected" in result.verdict
    assert result.record()["attempts_per_month"] == 1200


def test_enough_reps_and_exact_fit() -> None:
    result = plan(
        [("m", "month", 100)],
        workable_share=1.0,
        attempts_per_lead=3,
        minutes_per_attempt=20,
        hours_per_rep=50,
        rep_capacities=[None, 60],
    )
    assert result.hours_needed == pytest.approx(100)
    assert result.reps_needed == 2  # exactly two reps' hours: no third
    assert result.verdict == "enough reps: 2 needed, 2 configured"
    assert result.capacity_configured is None  # not every rep has a capacity


def test_no_commitment_is_an_error() -> None:
    with pytest.raises(ValueError, match="no MQL commitment"):
        plan(
            [],
            workable_share=1,
            attempts_per_lead=1,
            minutes_per_attempt=1,
            hours_per_rep=1,
            rep_capacities=[],
        )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("workable_share: 70%", "workable_share: most%", 'capacity.workable_share: "most%" is not'),
        ("workable_share: 70%", "workable_share: 170%", "capacity.workable_share: input should be"),
        ("attempts_per_lead: 6 ", "attempts_per_lead: 0 ", "capacity.attempts_per_lead:"),
        ("hours_per_rep: 60", "hours_per_rep_month: 60", 'unknown key "hours_per_rep_month"'),
    ],
)
def test_bad_capacity_section(old: str, new: str, message: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1
    changed = text.replace(old, new)
    line = next(n for n, row in enumerate(changed.splitlines(), 1) if new.strip() in row)
    with pytest.raises(ConfigError) as caught:
        load_config_text(changed, "q.yaml")
    assert any(
        p.startswith(f"q.yaml:{line}:") and message in p for p in str(caught.value).splitlines()
    ), str(caught.value)
