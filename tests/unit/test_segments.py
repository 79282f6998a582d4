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
from leadsla.report.analytics import segments
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


BY_CAMPAIGN_AND_COUNTRY = {
    ("spring", "UK"): (2, 1),
    ("spring", "DE"): (1, 0),
    ("autumn", "UK"): (2, 1),
    (None, "US"): (1, 0),
}


def test_segments_by_any_fields_at_once(settings: ReportSettings) -> None:
    result = segments(
        table_of(settings), settings, AS_OF, ["campaign", "country"], min_leads=1, sort="leads"
    )
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
    assert stored == segments(
        table_of(settings), settings, AS_OF, ["campaign", "country"], min_leads=1, sort="leads"
    )
