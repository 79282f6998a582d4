"""The what-if's escalations and breaches tallied from plain cycles in columns equal the
tally of every lead's replayed verdicts (the plain leads are most of a history)."""

from __future__ import annotations

import io

import pytest

from leadsla.config import build_rulebook, load_config_text
from leadsla.core.evaluate import lead_blocks, lead_results
from leadsla.core.events import parse_instant, read_events
from leadsla.core.metrics import period_containing
from leadsla.core.whatif import Tallies, outcomes
from leadsla.demo.company import company_config, config_yaml, demo_company, write_company_history

NOW = parse_instant("2026-03-04T15:30:00Z")


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("period", ["month", "quarter"])
def test_column_tallies_equal_the_replayed_verdicts(seed: int, period: str) -> None:
    config = load_config_text(config_yaml(company_config(demo_company(), end=NOW)), "demo")
    rules = build_rulebook(config)
    out = io.StringIO()
    write_company_history(out, seed=seed, leads=400, months=3, end=NOW)
    table, read = read_events(
        io.StringIO(out.getvalue()), statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
    )  # fmt: skip
    assert read.errors == []
    table = table.sorted()
    team_of = {rep.id: rep.team for rep in rules.reps.values()}
    window = period_containing(NOW, period, rules.default_zone)
    verdicts = (v for r in lead_results(rules, table, NOW) for v in r.verdicts)
    expected = outcomes(verdicts, rules, team_of, NOW, window.start, window.end)
    tallies = Tallies(rules, team_of, NOW, window.start, window.end)
    plain = 0
    for block in lead_blocks(rules, table, NOW, block_rows=2_000):
        tallies.add_plain(block.plain)
        plain += block.plain.size
        tallies.add(v for _, verdicts in block.replayed for v in verdicts)
    assert plain > 0  # the columns counted something
    assert tallies.result() == expected
    assert expected["overall"]["escalations"] > 0 and expected["overall"]["breaches"] > 0
