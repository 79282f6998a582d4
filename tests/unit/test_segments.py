"""``leadsla segments`` cut by any field, on a history checked by hand.

Config: ``examples/leadsla.yaml`` plus costs Webinar 40, Ads 25 per lead (USD). Every lead
enters ``New`` on 2026-02-02 at 09:00 New York; the evaluation instant is 2026-03-06 12:00.

S1  Webinar, campaign spring, UK: Qualified, won 10000
S2  Webinar, spring, UK: Qualified, lost 3000
S3  Webinar, spring, DE
S4  Ads, autumn, UK: won 2000
S5  Ads, autumn, UK
S6  Ads, no campaign, US

By campaign and country: (spring, UK) 2 leads 1 won; (spring, DE) 1 lead 0 won;
(autumn, UK) 2 leads 1 won; (none, US) 1 lead 0 won.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from leadsla.config import build_rulebook, load_config_text
from leadsla.core.events import EventTable, parse_instant, read_events
from leadsla.core.workable import Workable
from leadsla.report.analytics import segments
from leadsla.report.propose import proposed_rule
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service.imports import import_table
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
COSTS = "\ncosts:\n  per_lead: {Webinar: 40, Ads: 25}\n  currency: USD\n"
CONFIG_TEXT = (ROOT / "examples" / "leadsla.yaml").read_text() + COSTS
AS_OF = parse_instant("2026-03-06T12:00:00-05:00")


def _rows(lead: str, day: str, **fields: str) -> list[str]:
    return [f"{lead},2026-{day}T09:00:00-05:00,{k},{v}" for k, v in fields.items()]


EVENTS = "\n".join(
    [
        "lead_id,at,field,value",
        *_rows("S1", "02-02", status="New", grade="A", owner="r1", source="Webinar",
               campaign="spring", country="UK"),
        *_rows("S1", "02-10", status="Qualified"),
        *_rows("S1", "02-20", outcome="won", amount="10000"),
        *_rows("S2", "02-02", status="New", grade="A", owner="r1", source="Webinar",
               campaign="spring", country="UK"),
        *_rows("S2", "02-10", status="Qualified"),
        *_rows("S2", "02-20", outcome="lost", amount="3000"),
        *_rows("S3", "02-02", status="New", grade="B", owner="r2", source="Webinar",
               campaign="spring", country="DE"),
        *_rows("S4", "02-02", status="New", grade="B", owner="r2", source="Ads",
               campaign="autumn", country="UK"),
        *_rows("S4", "02-20", outcome="won", amount="2000"),
        *_rows("S5", "02-02", status="New", grade="C", owner="r3", source="Ads",
               campaign="autumn", country="UK"),
        *_rows("S6", "02-02", status="New", grade="C", owner="r3", source="Ads", country="US"),
    ]
)  # fmt: skip


@pytest.fixture(scope="module")
def settings() -> ReportSettings:
    config = load_config_text(CONFIG_TEXT, "leadsla.yaml")
    return ReportSettings.of(build_rulebook(config), config)


def table_of(settings: ReportSettings, text: str = EVENTS) -> EventTable:
    rules = settings.rules
    table, read = read_events(
        io.StringIO(text), statuses=list(rules.statuses), grades=[g.name for g in rules.grades]
    )
    assert read.errors == []
    return table


def counts(result: dict[str, Any]) -> dict[tuple[Any, ...], tuple[int, int]]:
    return {
        tuple(row["segment"].values()): (row["leads"], row["won"]) for row in result["segments"]
    }


def by_campaign_and_country(settings: ReportSettings, sort: str = "leads") -> dict[str, Any]:
    """The segments of the file's history by campaign and country, from one lead each."""
    by = ["campaign", "country"]
    return segments(table_of(settings), settings, AS_OF, by, min_leads=1, sort=sort)


BY_CAMPAIGN_AND_COUNTRY = {
    ("spring", "UK"): (2, 1),
    ("spring", "DE"): (1, 0),
    ("autumn", "UK"): (2, 1),
    (None, "US"): (1, 0),
}


def test_segments_by_any_fields_at_once(settings: ReportSettings) -> None:
    result = by_campaign_and_country(settings)
    assert result["by"] == ["campaign", "country"]
    assert counts(result) == BY_CAMPAIGN_AND_COUNTRY
    by_country = segments(
        table_of(settings), settings, AS_OF, ["country"], min_leads=1, sort="leads"
    )
    assert counts(by_country) == {("UK",): (4, 2), ("DE",): (1, 0), ("US",): (1, 0)}
    # A computed field beside an event field: the grade at the MQL instant.
    by_grade = segments(
        table_of(settings), settings, AS_OF, ["grade", "campaign"], min_leads=1, sort="leads"
    )
    assert counts(by_grade)[("B", "autumn")] == (1, 1)


@pytest.mark.parametrize(
    ("by", "message"),
    [
        (["colour"], "no event carries the field 'colour'"),
        (["campaign", "campaign"], "names a field twice"),
        (["won"], "'won' is a figure of the segments table, not a field to cut by"),
        ([], "name at least one field"),
    ],
)
def test_segments_refuse_fields_they_cannot_cut_by(
    settings: ReportSettings, by: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        segments(table_of(settings), settings, AS_OF, by, min_leads=1, sort="leads")


def test_the_database_cuts_by_any_field_too(settings: ReportSettings, database_url: str) -> None:
    engine = open_database(database_url)
    try:
        import_table(
            engine, settings.rules, table_of(settings).sorted(), source="t", recorded_at=AS_OF
        )
        with engine.connect() as connection:
            table = stored_events(connection, AS_OF).table
            stored = segments(
                table, settings, AS_OF, ["campaign", "country"], min_leads=1, sort="leads"
            )
            with pytest.raises(ValueError, match="no event carries the field 'colour'"):
                segments(table, settings, AS_OF, ["colour"], min_leads=1, sort="leads")
    finally:
        engine.dispose()
    assert counts(stored) == BY_CAMPAIGN_AND_COUNTRY
    assert stored == by_campaign_and_country(settings)


# -- the interval of a segment without a win, and --propose ---------------------------------

# Wilson 95 % bounds, by hand: 1 of 2 → 9.4531 % to 90.5469 %; 0 of 1 → 0 to z²/(1 + z²)
# = 3.8415 / 4.8415 = 79.3451 %.
ONE_OF_TWO = (0.0945312, 0.9054688)
NONE_OF_ONE = 0.7934507


def by_segment(result: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row["segment"].values()): row for row in result["segments"]}


def test_a_segment_without_a_win_is_priced_at_the_mean_won_deal(
    settings: ReportSettings,
) -> None:
    result = by_campaign_and_country(settings)
    rows = by_segment(result)
    spring_uk = rows[("spring", "UK")]  # its own deal: 10000; Webinar costs 40
    assert (spring_uk["profit_per_lead_low"], spring_uk["profit_per_lead_high"]) == pytest.approx(
        (ONE_OF_TWO[0] * 10000 - 40, ONE_OF_TWO[1] * 10000 - 40), abs=0.01
    )
    autumn_uk = rows[("autumn", "UK")]  # its own deal: 2000; Ads cost 25
    assert autumn_uk["profit_per_lead_low"] == pytest.approx(ONE_OF_TWO[0] * 2000 - 25, abs=0.01)
    # No win: the mean won deal of all segments, (10000 + 2000) / 2 = 6000.
    spring_de = rows[("spring", "DE")]
    assert (spring_de["profit_per_lead_low"], spring_de["profit_per_lead_high"]) == pytest.approx(
        (-40.0, NONE_OF_ONE * 6000 - 40), abs=0.01
    )
    assert rows[(None, "US")]["profit_per_lead_high"] == pytest.approx(
        NONE_OF_ONE * 6000 - 25, abs=0.01
    )
    assert [key for key, row in rows.items() if row["workable"]] == [
        ("autumn", "UK"),
        ("spring", "UK"),
    ]


def load_workable(snippet: str) -> Workable:
    text = CONFIG_TEXT.replace("workable: {grade: [A, B]}\n", snippet)
    workable = load_config_text(text, "leadsla.yaml").workable
    assert workable is not None
    return workable.build()


LEAD_FIELDS = {
    "S1": {"campaign": "spring", "country": "UK"},
    "S2": {"campaign": "spring", "country": "UK"},
    "S3": {"campaign": "spring", "country": "DE"},
    "S4": {"campaign": "autumn", "country": "UK"},
    "S5": {"campaign": "autumn", "country": "UK"},
    "S6": {"country": "US"},
}


def test_the_proposed_rule_loads_and_selects_exactly_the_proposed_segments(
    settings: ReportSettings,
) -> None:
    result = by_campaign_and_country(settings, "profit")
    snippet = proposed_rule(result)
    assert "    # 2 leads, 1 won; win rate 50.0% (9.5% to 90.5%); profit per lead USD " in snippet
    assert '    - name: "campaign=spring, country=UK"' in snippet
    workable = load_workable(snippet)
    assert [s.name for s in workable.segments] == [
        "campaign=spring, country=UK",
        "campaign=autumn, country=UK",
    ]
    assert workable.grades == frozenset()
    chosen = {lead for lead, fields in LEAD_FIELDS.items() if workable.holds("A", fields)}
    assert chosen == {"S1", "S2", "S4", "S5"}
    # A segment of leads without the field: exists false.
    result["segments"] = [
        {**row, "workable": row["segment"]["campaign"] is None} for row in result["segments"]
    ]
    none = load_workable(proposed_rule(result))
    chosen = {lead for lead, fields in LEAD_FIELDS.items() if none.holds(None, fields)}
    assert chosen == {"S6"}


def test_no_segment_passes_no_rule(settings: ReportSettings) -> None:
    result = segments(table_of(settings), settings, AS_OF, ["country"], min_leads=5, sort="leads")
    snippet = proposed_rule(result)
    assert "No segment passes" in snippet and "workable:" not in snippet
