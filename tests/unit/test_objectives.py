"""Compliance objectives: budget and two-window burn rate on a small hand-checked history,
and the ``objectives`` section's validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsla.config import ConfigError, build_objectives, build_rulebook, load_config_text
from leadsla.core.columns import MICROS_PER_HOUR
from leadsla.core.cycle import State, Verdict
from leadsla.core.objectives import (
    BurnAlert,
    Objective,
    Outcome,
    objective_statuses,
    outcomes_of,
)
from leadsla.service.objectives import group_label, recipients

OBJECTIVE_LINE = (
    "{name: A follow-up, policy: follow_up, grades: [A], target: 95%, window: 28 days, per: team}"
)
# The example config with one objective: 95% of A leads' follow-up clocks met over a
# rolling 28 days, per team.
EXAMPLE_TEXT = (Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml").read_text(
    encoding="utf-8"
) + f"\nobjectives:\n  - {OBJECTIVE_LINE}\n"
HOUR = MICROS_PER_HOUR
DAY = 24 * HOUR
NOW = 1_000 * DAY  # any instant: the core is handed it

# 80% over 12 days: budget 20%; default windows 12 d / 12 = 1 day and 1 day / 12 = 2 h.
OBJECTIVE = Objective(
    name="A follow-up",
    policy="follow_up",
    grades=frozenset({"A"}),
    target=0.8,
    window=12 * DAY,
    per="team",
    alert=BurnAlert(long_window=DAY, short_window=2 * HOUR, burn_rate=2.0),
)


def history() -> list[Outcome]:
    # east: 8 clocks on days 1..8 of the window (1 breached), then in the last day
    # 2 met (20 h and 10 h ago) and 2 breached (5 h and 1 h ago).
    east = [Outcome(NOW - (12 - day) * DAY, "east", day == 3) for day in range(1, 9)]
    east += [
        Outcome(NOW - 20 * HOUR, "east", False),
        Outcome(NOW - 10 * HOUR, "east", False),
        Outcome(NOW - 5 * HOUR, "east", True),
        Outcome(NOW - 1 * HOUR, "east", True),
    ]
    # emea: one met clock 11 days ago; one breached 13 days ago, outside the window.
    emea = [Outcome(NOW - 11 * DAY, "emea", False), Outcome(NOW - 13 * DAY, "emea", True)]
    return east + emea


def test_budget_and_burn_rates_on_a_small_history() -> None:
    statuses = objective_statuses(OBJECTIVE, history(), NOW, groups=["west"])

    east = statuses["east"]
    # 12 counted, 3 breached: compliance 9/12 = 0.75; breach share 0.25 over a budget
    # of 0.2 spends 125% of it: 25% overspent.
    assert (east.met, east.breached) == (9, 3)
    assert east.compliance == pytest.approx(0.75)
    assert east.budget_left == pytest.approx(-0.25)
    # Last day: 2 of 4 breached = 0.5 / 0.2 = 2.5; last 2 h: 1 of 1 = 1.0 / 0.2 = 5.
    assert east.long_burn == pytest.approx(2.5)
    assert east.short_burn == pytest.approx(5.0)
    assert east.firing

    emea = statuses["emea"]
    assert (emea.met, emea.breached, emea.compliance, emea.budget_left) == (1, 0, 1.0, 1.0)
    assert (emea.long_burn, emea.short_burn, emea.firing) == (None, None, False)

    # A group asked for with nothing counted: no figures, nothing firing.
    west = statuses["west"]
    assert (west.met, west.breached, west.compliance, west.budget_left) == (0, 0, None, None)
    assert not west.firing


def test_both_windows_must_burn() -> None:
    # Three hours later the short window (2 h) holds no clock: the alert clears even
    # though the last day still burns at 2.5.
    later = objective_statuses(OBJECTIVE, history(), NOW + 3 * HOUR)["east"]
    assert later.long_burn == pytest.approx(2.5)
    assert later.short_burn is None
    assert not later.firing

    # One more met clock half an hour ago: the last 2 h burn at 1 of 2 = 0.5 / 0.2 = 2.5,
    # but the last day at 2 of 5 = 0.4 / 0.2 = 2.0, not above 2: not firing.
    one = [*history(), Outcome(NOW - HOUR // 2, "east", False)]
    status = objective_statuses(OBJECTIVE, one, NOW)["east"]
    assert (status.long_burn, status.short_burn) == (pytest.approx(2.0), pytest.approx(2.5))
    assert not status.firing


def test_the_threshold_is_exceeded_not_reached() -> None:
    # Long window 1 of 5 breached = 0.2 / 0.2 = exactly 1 burn; threshold 1.0 not exceeded.
    alert = BurnAlert(long_window=DAY, short_window=2 * HOUR, burn_rate=1.0)
    objective = Objective("x", "follow_up", frozenset(), 0.8, 12 * DAY, "company", alert)
    outcomes = [Outcome(NOW - hours * HOUR, "company", hours == 1) for hours in (1, 5, 6, 7, 8)]
    status = objective_statuses(objective, outcomes, NOW)["company"]
    assert status.long_burn == pytest.approx(1.0)
    assert not status.firing


def verdict(policy: str, grade: str | None, owner: str | None, state: State, hours: int) -> Verdict:
    return Verdict(
        policy=policy, cycle=1, calendar="us-east", grade=grade, owner=owner, state=state,
        started_at=NOW - hours * HOUR, due_at=None, stopped_at=None, business_micros=0,
        breached_at=None, escalations=0, warned_at=None,
    )  # fmt: skip


def test_outcomes_keep_the_policy_grades_states_and_window_of_the_objective() -> None:
    rules = build_rulebook(load_config_text(EXAMPLE_TEXT))
    verdicts = [
        verdict("follow_up", "A", "r1", State.BREACHED, 1),  # east, counted
        verdict("follow_up", "A", "r3", State.MET, 2),  # emea, counted
        verdict("follow_up", "B", "r1", State.BREACHED, 1),  # grade B: not in the objective
        verdict("qualification", "A", "r1", State.BREACHED, 1),  # another policy
        verdict("follow_up", "A", "r1", State.RUNNING, 1),  # neither met nor breached
        verdict("follow_up", "A", "r1", State.LAPSED, 1),
        verdict("follow_up", "A", None, State.MET, 1),  # no owner: no team
        verdict("follow_up", "A", "r2", State.MET, 12 * 24),  # started exactly 12 days ago
    ]
    found = outcomes_of(OBJECTIVE, rules, verdicts, NOW)
    assert found == [Outcome(NOW - HOUR, "east", True), Outcome(NOW - 2 * HOUR, "emea", False)]

    per_owner = Objective(**{**_fields(OBJECTIVE), "per": "owner"})
    assert [o.group for o in outcomes_of(per_owner, rules, verdicts, NOW)] == ["r1", "r3"]
    company = Objective(**{**_fields(OBJECTIVE), "per": "company"})
    assert [o.group for o in outcomes_of(company, rules, verdicts, NOW)] == ["company"] * 3


def _fields(objective: Objective) -> dict[str, object]:
    return {name: getattr(objective, name) for name in Objective.__slots__}


# -- the config section ---------------------------------------------------------------------


def test_the_example_objective_builds_with_the_default_windows() -> None:
    (objective,) = build_objectives(load_config_text(EXAMPLE_TEXT))
    assert objective.name == "A follow-up"
    assert (objective.policy, objective.grades, objective.per) == ("follow_up", {"A"}, "team")
    assert objective.target == pytest.approx(0.95)
    assert objective.window == 28 * DAY
    # 28 days / 12 = 56 hours; 56 hours / 12 = 4 h 40 min.
    assert objective.alert == BurnAlert(56 * HOUR, 280 * 60 * 1_000_000, 2.0)


def test_alert_windows_and_threshold_can_be_set() -> None:
    text = EXAMPLE_TEXT.replace(
        "window: 28 days, per: team}",
        "window: 28 days, per: team,\n"
        "     alert: {burn_rate: 6, long_window: 2 days, short_window: 4 hours}}",
    )
    (objective,) = build_objectives(load_config_text(text))
    assert objective.alert == BurnAlert(2 * DAY, 4 * HOUR, 6.0)


@pytest.mark.parametrize(
    ("old", "new", "key_path", "message"),
    [
        (
            "policy: follow_up",
            "policy: folow_up",
            "objectives[0].policy",
            'unknown policy "folow_up" (did you mean "follow_up"?)',
        ),
        ("grades: [A]", "grades: [AA]", "objectives[0].grades[0]", 'unknown grade "AA"'),
        ("target: 95%", "target: 100%", "objectives[0].target", "must be between 0% and 100%"),
        ("target: 95%", "target: 1.5", "objectives[0].target", "must be between 0% and 100%"),
        ("target: 95%", "target: lots", "objectives[0].target", 'expected a percentage like "95%"'),
        ("window: 28 days", "window: 20 business days", "objectives[0].window", "wall-clock"),
        ("window: 28 days", "window: 0 days", "objectives[0].window", "longer than zero"),
        ("per: team", "per: region", "objectives[0].per", "expected 'company', 'team' or 'owner'"),
        (
            "per: team",
            "per: team, alert: {burn_rate: 20}",
            "objectives[0]",
            "can never be exceeded",
        ),
        (
            "per: team",
            "per: team, alert: {burn_rate: 1}",
            "objectives[0].alert.burn_rate",
            "greater than 1",
        ),
        ("per: team", "per: team, owner: r1", "objectives[0].owner", 'unknown key "owner"'),
        (
            "per: team",
            "per: team, alert: {long_window: 30 days}",
            "objectives[0]",
            "alert.long_window 30 days is longer than window",
        ),
        (
            "per: team",
            "per: team, alert: {short_window: 3 days}",
            "objectives[0]",
            "alert.short_window 3 days must be shorter than the long window",
        ),
        (
            "per: team",
            "per: team, alert: {short_window: 2 business hours}",
            "objectives[0].alert.short_window",
            "wall-clock",
        ),
    ],
)
def test_a_bad_objective_is_one_located_problem(
    old: str, new: str, key_path: str, message: str
) -> None:
    text = EXAMPLE_TEXT.replace(OBJECTIVE_LINE, OBJECTIVE_LINE.replace(old, new))
    assert text != EXAMPLE_TEXT
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "leadsla.yaml")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "name: A follow-up" in row)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == (key_path, line), str(caught.value)
    assert message in problem.message


def test_objective_names_are_unique() -> None:
    text = EXAMPLE_TEXT.replace(OBJECTIVE_LINE, f"{OBJECTIVE_LINE}\n  - {OBJECTIVE_LINE}")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    [problem] = caught.value.problems
    assert problem.path == "objectives[1].name"


def test_alerts_go_to_the_groups_managers() -> None:
    rules = build_rulebook(load_config_text(EXAMPLE_TEXT))
    team = OBJECTIVE
    company = Objective(**{**_fields(OBJECTIVE), "per": "company"})
    owner = Objective(**{**_fields(OBJECTIVE), "per": "owner"})
    assert recipients(company, "company", rules) == ["ceo@example.com"]
    assert recipients(team, "east", rules) == ["dana@example.com"]
    assert recipients(owner, "r3", rules) == ["ana@example.com", "tom@example.com"]
    assert recipients(team, "gone", rules) == []  # a team no longer in the config
    labels = [group_label(o, g) for o, g in ((company, "company"), (team, "east"), (owner, "r3"))]
    assert labels == ["company", "team:east", "owner:r3"]
