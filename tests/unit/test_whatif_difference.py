"""The what-if difference: proposed minus current, figure by figure."""

from __future__ import annotations

from leadsla.core.whatif import aligned, difference


def test_difference_subtracts_nested_figures_and_nulls_what_is_missing() -> None:
    current = {
        "mqls": 10,
        "compliance": {"follow_up": 0.75, "qualification": None},
        "time_to_follow_up": {"count": 4, "mean": 3600.0, "median": None},
        "label": "2026-03",
    }
    proposed = {
        "mqls": 10,
        "compliance": {"follow_up": 0.5, "qualification": 1.0, "intake": 0.9},
        "time_to_follow_up": {"count": 4, "mean": 3000.0, "median": None},
        "label": "2026-03",
    }
    assert difference(current, proposed) == {
        "mqls": 0,
        "compliance": {"follow_up": -0.25, "qualification": None, "intake": None},
        "time_to_follow_up": {"count": 0, "mean": -600.0, "median": None},
    }


def test_aligned_counts_give_zero_not_null() -> None:
    left = {"escalations_by_step": {"a step 1 (24 hours)": 2}, "escalations_by_recipient": {}}
    right = {"escalations_by_step": {"a step 1 (4 hours)": 3}, "escalations_by_recipient": {}}
    aligned(left, right)
    assert difference(left, right) == {
        "escalations_by_step": {"a step 1 (24 hours)": -2, "a step 1 (4 hours)": 3}
    }
