"""The overview shows each compliance objective's budget for the groups the viewer's
role may see (docs/analytics.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api_setup import log_in
from leadsla.app import create_app
from leadsla.service.tokens import create_token
from objective_history import DAY, MINUTE, T0, setup

# Day 10, 02:30: east's X1 and X2 have breached, west's clocks are all met.
NOW = T0 + 10 * DAY + 150 * MINUTE
ROW = re.compile(r'<tr data-objective="A follow-up" data-group="(\w+)">(.*?)</tr>', re.S)
FIGURE = re.compile(r'data-figure="([\w-]+)">(.*?)</td>', re.S)


def rows(html: str) -> dict[str, dict[str, str]]:
    """Each objective row's figures by group, tags dropped."""
    return {
        group: {name: re.sub(r"<[^>]+>", "", value).strip() for name, value in FIGURE.findall(body)}
        for group, body in ROW.findall(html)
    }


EXPECTED = {
    # 12 clocks in the 12 days, 2 breached: compliance 10/12 = 83%; a breach share of
    # 1/6 over a budget of 10% spends 167% of it: -67% left. Burn rates: last day 2 of
    # 2 = 10, last 2 hours 1 of 1 = 10: burning.
    "east": {"compliance": "83%", "budget-left": "-67%", "burn": "10 / 10", "alert": "Burning"},
    # 10 met A clocks (the breached lead is grade B): the budget untouched, and no clock
    # in the last day to burn it.
    "west": {"compliance": "100%", "budget-left": "100%", "burn": "n/a / n/a", "alert": "OK"},
}


@pytest.mark.parametrize(
    ("role", "rep", "team", "groups"),
    [
        ("admin", None, None, {"east", "west"}),
        ("manager", None, "east", {"east"}),
        # A team's figure is seen by whoever sees all its reps' leads: r1 is east's
        # only rep, so east's figure is his own; r2 is one of west's two: none.
        ("rep", "r1", None, {"east"}),
        ("rep", "r2", None, set()),
    ],
)
def test_the_overview_shows_the_budget_of_the_groups_in_sight(
    database_url: str, role: str, rep: str | None, team: str | None, groups: set[str]
) -> None:
    engine, rules, config = setup(database_url)
    with engine.begin() as connection:
        token = create_token(connection, rules, role=role, name="t", rep=rep, team=team, now=T0)
    app = create_app(rules, engine, lambda: NOW, config=config, session_secret=b"k")
    with TestClient(app, follow_redirects=False) as client:
        assert log_in(client, token).status_code == 303
        html = client.get("/overview").text
    engine.dispose()

    found = rows(html)
    assert set(found) == groups
    assert found == {group: EXPECTED[group] for group in groups}
    assert ("Compliance objectives" in html) == bool(groups)
