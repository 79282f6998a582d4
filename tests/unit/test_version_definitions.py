"""Policy versions in the core: a policy rebuilt from its stored definition is the same
policy, and a cycle judged by a recorded version's terms keeps that version's verdict
beside the config's on one rulebook."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsla.config import build_rulebook, load_config
from leadsla.core.clock import State, judge, judge_lead, replay
from leadsla.core.durations import Duration, parse_duration
from leadsla.core.events import parse_instant
from leadsla.core.policy import EscalationStep, Policy
from leadsla.core.versions import (
    judging_policy,
    policy_definition,
    policy_digest,
    policy_from_definition,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "examples" / "leadsla.yaml", ROOT / "tests" / "sales_work.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_configured_policy_comes_back_from_its_definition(path: Path) -> None:
    rules = build_rulebook(load_config(path))
    assert rules.policies
    for policy in rules.policies:
        rebuilt = policy_from_definition(policy_definition(policy))
        assert rebuilt == policy
        assert policy_digest(rebuilt) == policy_digest(policy)


names = st.text("abcdefgh_ ", min_size=1, max_size=8)
name_sets = st.frozensets(names, max_size=3)
durations = st.builds(
    Duration,
    amount=st.decimals(min_value=Decimal("0.25"), max_value=Decimal(500), places=2),
    unit=st.sampled_from(["minutes", "hours", "days"]),
    business=st.booleans(),
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    steps = draw(st.lists(st.tuples(durations, st.lists(names, max_size=2)), max_size=3))
    return Policy(
        name=draw(names),
        start=draw(name_sets),
        stop=draw(name_sets),
        pause=draw(name_sets),
        applies_to=draw(st.dictionaries(names, name_sets, max_size=2)),
        targets=draw(st.dictionaries(names, durations, max_size=3)),
        optional=draw(name_sets),
        calendar=draw(st.sampled_from(["owner", "team", "us-east"])),
        warn_at=draw(st.none() | st.floats(0.05, 0.95)),
        escalate=tuple(
            EscalationStep(
                number=number,
                after=after,
                notify=tuple(notify),
                message=draw(st.none() | names),
                urgent=draw(st.booleans()),
            )
            for number, (after, notify) in enumerate(steps, start=1)
        ),
        start_activity=draw(name_sets),
        start_assigned=draw(st.booleans()),
        stop_activity=draw(name_sets),
        stop_assigned=draw(st.booleans()),
        on_reassign=draw(st.sampled_from(["carry", "restart"])),
        kind=draw(st.sampled_from(["sla", "cadence"])),
        attempts=draw(st.integers(0, 9)),
        within=draw(st.none() | durations),
        gap=draw(st.none() | durations),
    )


@given(policies())
def test_any_policy_comes_back_from_its_definition(policy: Policy) -> None:
    assert policy_from_definition(policy_definition(policy)) == policy


def test_a_version_s_terms_on_the_current_conditions() -> None:
    rules = build_rulebook(load_config(CONFIGS[0]))
    current = next(p for p in rules.policies if p.name == "follow_up")
    recorded = replace(
        current,
        stop=frozenset({"Contacted"}),
        targets={"A": parse_duration("16 business hours")},
        warn_at=None,
        escalate=(),
    )
    judged = judging_policy(current, recorded)
    assert judged.stop == current.stop  # the cycles follow the config's conditions
    assert (judged.targets, judged.warn_at, judged.escalate) == (
        {"A": recorded.targets["A"]},
        None,
        (),
    )
    # An SLA turned cadence makes other cycles: the config's policy judges them.
    assert judging_policy(current, replace(recorded, kind="cadence")) is current


def test_one_rulebook_judges_a_cycle_by_each_version_it_is_given() -> None:
    # us-east hours 09-12 and 13-17; contacted after 5 business hours: met under A's
    # 8 business hours, breached under 4 (due Monday 14:00 EST).
    rules = build_rulebook(load_config(CONFIGS[0]))
    current = next(p for p in rules.policies if p.name == "follow_up")
    shorter = replace(current, targets={**current.targets, "A": parse_duration("4 business hours")})
    start = parse_instant("2026-03-02T09:00:00-05:00")
    lead = replay(
        rules,
        "M1",
        [
            (start, [("status", "New"), ("grade", "A"), ("owner", "r1")]),
            (parse_instant("2026-03-02T15:00:00-05:00"), [("status", "Contacted")]),
        ],
    )
    (cycle,) = lead.cycles["follow_up"]
    as_of = parse_instant("2026-03-04T12:00:00Z")
    # Alternately, on one rulebook: a plan remembered for one must not serve the other.
    for _ in range(2):
        assert judge(rules, current, cycle, as_of).state is State.MET
        assert judge(rules, shorter, cycle, as_of).state is State.BREACHED
    by_version = judge_lead(rules, lead, as_of, {("follow_up", 1): shorter})
    assert [(v.policy, v.state) for v in by_version] == [
        ("follow_up", State.BREACHED),
        ("qualification", State.RUNNING),
    ]
    assert judge_lead(rules, lead, as_of)[0].state is State.MET
