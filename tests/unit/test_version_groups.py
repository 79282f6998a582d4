"""The report's version groups (report/scorecard.py): leads whose cycles of each policy
share one earlier version are grouped by the versions they hold, those that mix two
versions of a policy set apart, the others left to the config; the same whether the
signatures are counted in one integer or numbered in Python."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from leadsla.config import build_rulebook, load_config
from leadsla.core.durations import parse_duration
from leadsla.core.metrics import metric_rules
from leadsla.report.scorecard import MIXED, version_groups
from leadsla.report.sources import RecordedVersions

ROOT = Path(__file__).resolve().parents[2]
RULES = build_rulebook(load_config(ROOT / "tests" / "sales_work.yaml"))
METRIC = metric_rules(RULES)
POLICY = {policy.name: policy for policy in RULES.policies}
# Two earlier versions of follow_up (ids 7 and 9) and one of routing (id 8).
SLOWER = replace(POLICY["follow_up"], targets={"default": parse_duration("16 business hours")})
SLOWEST = replace(POLICY["follow_up"], targets={"default": parse_duration("5 business days")})
ROUTING = replace(POLICY["routing"], targets={"default": parse_duration("3 hours")})
JUDGED_BY = {7: SLOWER, 8: ROUTING, 9: SLOWEST}
LEADS = ["A", "B", "C", "D", "E", "F", "G"]
RECORDED = RecordedVersions(
    # A and B: follow_up of 7; C: follow_up of 7 and routing of 8; D: follow_up of 9;
    # E: routing of 8; F mixes versions (and has a uniform row too); G: none; Z is not
    # in the table (another owner's view).
    lead_ids=["A", "B", "C", "C", "D", "E", "F", "Z"],
    policies=[
        "follow_up",
        "follow_up",
        "follow_up",
        "routing",
        "follow_up",
        "routing",
        "routing",
        "follow_up",
    ],
    versions=[7, 7, 7, 8, 9, 8, 8, 7],
    judged_by=JUDGED_BY,
    mixed={"F": {("follow_up", 1): SLOWER}},
)


def grouped(widest: int) -> dict[str, dict[str, object] | str | None]:
    group_of, groups = version_groups(LEADS, RECORDED, METRIC, widest=widest)
    found: dict[str, dict[str, object] | str | None] = {}
    for lead, group in zip(LEADS, group_of.tolist(), strict=True):
        found[lead] = "mixed" if group == MIXED else groups.get(group) if group else None
    return found


def test_leads_are_grouped_by_the_versions_they_hold() -> None:
    expected = {
        "A": {"follow_up": SLOWER},
        "B": {"follow_up": SLOWER},
        "C": {"follow_up": SLOWER, "routing": ROUTING},
        "D": {"follow_up": SLOWEST},
        "E": {"routing": ROUTING},
        "F": "mixed",
        "G": None,
    }
    assert grouped(2**62) == expected
    # Numbered in Python (as when policies and versions are too many for one integer).
    assert grouped(2) == expected
    group_of, groups = version_groups(LEADS, RECORDED, METRIC)
    assert group_of[0] == group_of[1] != group_of[2]
    assert len(groups) == 4
