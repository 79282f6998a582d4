"""Analytics figures (waterfall, speed to lead, burn-up, segments) on a history checked by hand.

Config: ``examples/leadsla.yaml`` (reps r1, r2 of team east with capacity 40 each, r3
of team emea with 30; grades A ≥ 80, B ≥ 50, C ≥ 0; commitments "MQLs per quarter"
and "Healthcare MQLs per month") plus costs: Webinar 40, Ads 25 per lead (USD).
All instants are New York winter time (-05:00); the evaluation instant is Friday
2026-03-06 12:00.

A1  Feb 2 09:00 New, score 90 (A), r1, Webinar, Healthcare. 09:03 call connected +
    Contacted (first touch 3 min). Qualified Feb 3. Won Feb 20, amount 10000.
A2  Feb 2 10:00 New, grade A, r1, Webinar. 10:20 email sent; 11:00 Attempting to
    Contact (touch 1 h). Qualified Feb 5. Lost Feb 25, amount 5000.
A3  Feb 3 09:00 New, grade B, r2, Ads. 09:45 call no answer; the status stays New: an
    MQL, not a SAL, never touched.

The first touch is what stops the follow_up clock: with the example's status-only
stop, A2's email and A3's call are not touches (as they do not stop the clock); with
``stop: {activity: [call, email, meeting]}`` they are (20 and 45 min).
A4  Feb 3 09:00 New, grade B, r2, Ads. 11:00 Attempting to Contact, no activity (touch
    2 h). Qualified Feb 10. Won Mar 2, amount 4000.
A5  Feb 4 09:00 New, grade C, r3, Ads. Never touched.
A6  Mar 2 09:00 New, grade A, r2, Webinar, Tech. Mar 3 10:00 call connected + Contacted
    (touch 25 h).
A7  Mar 3 09:00 score 55 (B), Organic: no status, never an MQL (an inquiry only).
A8  Mar 2 08:00 New, grade A, r1, Webinar, Healthcare. 13:00 call connected +
    Contacted (touch 5 h). Recycled Mar 4; New again Mar 5 09:00 (a second MQL entry).
"""

from __future__ import annotations

import io
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_history import AS_OF_TEXT, COSTS, EVENTS
from leadsla.config import Config, ConfigError, build_rulebook, load_config_text
from leadsla.config.schema import SpeedToLeadConfig
from leadsla.core.analytics import (
    SPEED_BUCKETS,
    WorkableRule,
    speed_bucket_index,
    wilson_bounds,
    wilson_interval,
)
from leadsla.core.events import EventTable, ReadReport, parse_instant, read_events
from leadsla.core.policy import Rulebook
from leadsla.report import leads as leads_module
from leadsla.report.analytics import analytics, segments
from leadsla.report.columns import EventColumns
from leadsla.report.figures import business_waits
from leadsla.report.leads import settle
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service.imports import import_table
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "leadsla.yaml"
AS_OF = parse_instant(AS_OF_TEXT)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config_text(EXAMPLE.read_text() + COSTS, "leadsla.yaml")


@pytest.fixture(scope="module")
def rules(config: Config) -> Rulebook:
    return build_rulebook(config)


def read_text(rules: Rulebook, text: str) -> tuple[EventTable, ReadReport]:
    return read_events(
        io.StringIO(text), statuses=list(rules.statuses), grades=[g.name for g in rules.grades]
    )


def read_table(rules: Rulebook, text: str = EVENTS) -> EventTable:
    table, report = read_text(rules, text)
    assert report.errors == []
    return table


@pytest.fixture(scope="module")
def figures(rules: Rulebook, config: Config) -> dict[str, Any]:
    return analytics(read_table(rules), ReportSettings.of(rules, config), AS_OF)


# -- pure definitions ----------------------------------------------------------------------


def test_wilson_interval_of_textbook_cases() -> None:
    # 8 of 10 (Wilson 1927; Newcombe 1998 table I): 0.4902 to 0.9433.
    low, high = wilson_interval(8, 10) or (0.0, 0.0)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # 0 of 10: from 0 to 0.2775 (Newcombe 1998); 10 of 10 mirrors it.
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    lows, highs = wilson_bounds([8, 0, 0], [10, 10, 0])
    assert lows[:2] == pytest.approx([0.4902, 0.0], abs=1e-4)
    assert highs[:2] == pytest.approx([0.9433, 0.2775], abs=1e-4)
    assert lows[2] != lows[2]  # NaN without trials


def test_speed_buckets_hold_their_lower_edge() -> None:
    seconds = [0, 299, 300, 1799, 1800, 3599, 3600, 14_399, 14_400, 86_399, 86_400, 10**7, 5]
    touched = [True] * 12 + [False]
    index = speed_bucket_index(np.array(seconds, dtype=np.int64), np.array(touched))
    names = [SPEED_BUCKETS[i].name for i in index.tolist()]
    assert names == [
        "under_5m", "under_5m", "5m_30m", "5m_30m", "30m_1h", "30m_1h", "1h_4h", "1h_4h",
        "4h_24h", "4h_24h", "over_24h", "over_24h", "never",
    ]  # fmt: skip


def test_workable_rule() -> None:
    rule = WorkableRule(min_leads=3)
    assert rule.workable(3, 0.01)
    assert not rule.workable(2, 100.0)  # too few leads to judge
    assert not rule.workable(30, 0.0)  # the low end must be above zero
    assert not rule.workable(30, None)


# -- demand waterfall ------------------------------------------------------------------------


def test_waterfall_overall(figures: dict[str, Any]) -> None:
    overall = figures["waterfall"]["overall"]
    # 8 leads; 7 MQLs (not A7); SALs A1 A2 A4 A6 A8 (A3 was called but stayed New);
    # opportunities A1 A2 A4; won A1 A4; lost A2; never touched: A3 (a call that does
    # not stop the clock) and A5.
    assert overall == {
        "inquiries": 8, "mqls": 7, "sals": 5, "opportunities": 3, "won": 2, "lost": 1,
        "inquiry_to_mql": 7 / 8, "mql_to_sal": 5 / 7, "sal_to_opportunity": 3 / 5,
        "opportunity_to_won": 2 / 3, "lead_to_opportunity": 3 / 8, "win_rate": 2 / 3,
        "never_touched": 2, "never_touched_share": 2 / 7,
    }  # fmt: skip


def test_waterfall_by_grade_owner_team_month(figures: dict[str, Any]) -> None:
    w = figures["waterfall"]

    def counts(figure: dict[str, Any]) -> tuple[int, ...]:
        keys = ("inquiries", "mqls", "sals", "opportunities", "won", "lost", "never_touched")
        return tuple(figure[k] for k in keys)

    # Grades at the MQL instant; A7 (never an MQL) by its last score, 55 → B.
    assert {g: counts(f) for g, f in w["by_grade"].items()} == {
        "A": (4, 4, 4, 2, 1, 1, 0),  # A1 A2 A6 A8
        "B": (3, 2, 1, 1, 1, 0, 1),  # A3 A4 A7
        "C": (1, 1, 0, 0, 0, 0, 1),  # A5
    }
    # A7 has no owner: in no owner's or team's row.
    assert {o: counts(f) for o, f in w["by_owner"].items()} == {
        "r1": (3, 3, 3, 2, 1, 1, 0),  # A1 A2 A8
        "r2": (3, 3, 2, 1, 1, 0, 1),  # A3 A4 A6
        "r3": (1, 1, 0, 0, 0, 0, 1),  # A5
    }
    assert {t: counts(f) for t, f in w["by_team"].items()} == {
        "east": (6, 6, 5, 3, 2, 1, 1),
        "emea": (1, 1, 0, 0, 0, 0, 1),
    }
    # By the month of the first event: A1–A5 in February, A6–A8 in March.
    assert {m: counts(f) for m, f in w["by_month"].items()} == {
        "2026-02": (5, 5, 3, 3, 2, 1, 2),
        "2026-03": (3, 2, 2, 0, 0, 0, 0),
    }
    assert w["by_month"]["2026-03"]["win_rate"] is None  # nothing closed yet


# -- speed to lead ---------------------------------------------------------------------------


def test_speed_to_lead(figures: dict[str, Any]) -> None:
    speed = figures["speed_to_lead"]
    assert (speed["clock"], speed["conversion"], speed["leads"]) == ("wall", "opportunity", 7)
    # A1 3 min, A2 1 h, A4 2 h, A8 5 h, A6 25 h; A3 and A5 never. Opportunities: A1 A2
    # A4; won: A1 A4.
    rows = {b["bucket"]: (b["leads"], b["opportunities"], b["won"]) for b in speed["buckets"]}
    assert rows == {
        "under_5m": (1, 1, 1), "5m_30m": (0, 0, 0), "30m_1h": (0, 0, 0), "1h_4h": (2, 2, 1),
        "4h_24h": (1, 0, 0), "over_24h": (1, 0, 0), "never": (2, 0, 0),
    }  # fmt: skip
    first = speed["buckets"][0]
    # Wilson for 1 of 1: centre (1 + z²/2)/(1 + z²) = 0.6033, half z/(1 + z²)·√(z²/4)
    # = 0.3967: from 0.2065 to 1. For 0 of 1: from 0 to 0.7935.
    assert first["conversion"] == 1.0
    assert (first["conversion_low"], first["conversion_high"]) == pytest.approx(
        (0.2065, 1.0), abs=1e-4
    )
    fifth = speed["buckets"][4]
    assert (fifth["conversion"], fifth["conversion_low"]) == (0.0, 0.0)
    assert fifth["conversion_high"] == pytest.approx(0.7935, abs=1e-4)


def test_activity_stops_are_first_touches(rules: Rulebook, config: Config) -> None:
    # follow_up stopped by a call, an email or a meeting too: A2's email (20 min) and A3's
    # call (45 min) now stop the clock, and so touch the lead; an automated email never
    # does, unless named exactly.
    policies = tuple(
        replace(p, stop_activity=frozenset({"call", "email", "meeting"}))
        if p.name == "follow_up"
        else p
        for p in rules.policies
    )
    stops = replace(rules, policies=policies)
    automated = EVENTS + "\nA5,2026-02-04T09:30:00-05:00,activity,email:automated"
    result = analytics(read_table(stops, automated), ReportSettings.of(stops, config), AS_OF)
    rows = {b["bucket"]: b["leads"] for b in result["speed_to_lead"]["buckets"]}
    assert rows == {
        "under_5m": 1, "5m_30m": 1, "30m_1h": 1, "1h_4h": 1, "4h_24h": 1, "over_24h": 1,
        "never": 1,
    }  # fmt: skip
    assert result["waterfall"]["overall"]["never_touched"] == 1  # A5
    named = tuple(
        replace(p, stop_activity=frozenset({"email:automated"})) if p.name == "follow_up" else p
        for p in rules.policies
    )
    exact = replace(rules, policies=named)
    result = analytics(read_table(exact, automated), ReportSettings.of(exact, config), AS_OF)
    assert result["waterfall"]["overall"]["never_touched"] == 1  # A3; A5 at 09:30


def test_speed_to_lead_in_business_time(rules: Rulebook, config: Config) -> None:
    business = config.model_copy(update={"speed_to_lead": SpeedToLeadConfig(clock="business")})
    speed = analytics(read_table(rules), ReportSettings.of(rules, business), AS_OF)["speed_to_lead"]
    assert (speed["clock"], speed["leads"]) == ("business", 7)
    # On us-east (r1, r2: 09:00-12:00, 13:00-17:00): A1 3 min, A2 1 h and A4 2 h as on
    # the wall clock; A8 Mon 08:00 -> 13:00 is 3 h (opening 09:00, lunch 12-13), not 5;
    # A6 Mon 09:00 -> Tue 10:00 is 7 h + 1 h = 8 h, not 25.
    rows = {b["bucket"]: (b["leads"], b["opportunities"], b["won"]) for b in speed["buckets"]}
    assert rows == {
        "under_5m": (1, 1, 1), "5m_30m": (0, 0, 0), "30m_1h": (0, 0, 0), "1h_4h": (3, 2, 1),
        "4h_24h": (1, 0, 0), "over_24h": (0, 0, 0), "never": (2, 0, 0),
    }  # fmt: skip


def test_business_waits_use_the_clocks_calendar_for_a_lead_without_owner(
    rules: Rulebook,
) -> None:
    # follow_up pinned to the uk calendar (Mon-Thu 08:30-17:30 London): a lead without
    # owner is timed on it, as its clock is, not on the default us-east calendar.
    pinned = tuple(
        replace(p, calendar="uk") if p.name == "follow_up" else p for p in rules.policies
    )
    uk_rules = replace(rules, policies=pinned)
    mql = parse_instant("2026-03-02T08:00:00-05:00")  # Mon 13:00 London (GMT)
    touch = parse_instant("2026-03-02T10:00:00-05:00")  # 15:00 London: 2 h open
    mqls = pl.DataFrame(
        {"owner": [None, "r1"], "mql_at": [mql, mql], "touch_at": [touch, None]},
        schema={"owner": pl.Utf8, "mql_at": pl.Int64, "touch_at": pl.Int64},
    )
    assert business_waits(mqls, uk_rules).tolist() == [7200, 0]


# -- commitment burn-up ----------------------------------------------------------------------


def test_burn_up(figures: dict[str, Any]) -> None:
    quarter, healthcare = figures["burn_up"]  # the per-rep commitment has no burn-up
    assert quarter["name"] == "MQLs per quarter"
    assert quarter["target"] == 1200
    # MQL entries: Feb 2 (A1, A2), Feb 3 (A3, A4), Feb 4 (A5), Mar 2 (A6, A8), Mar 5 (A8).
    days = {d["date"]: d["count"] for d in quarter["days"]}
    assert len(days) == 31 + 28 + 6  # 1 Jan to 6 Mar
    assert (days["2026-01-01"], days["2026-02-01"], days["2026-02-02"]) == (0, 0, 2)
    assert (days["2026-02-03"], days["2026-02-04"], days["2026-03-01"]) == (4, 5, 5)
    assert (days["2026-03-02"], days["2026-03-05"], days["2026-03-06"]) == (7, 8, 8)
    assert quarter["count"] == 8
    # Healthcare in March: A8's two entries (A1 is Healthcare but February).
    assert healthcare["period"]["label"] == "2026-03"
    assert [d["count"] for d in healthcare["days"]] == [0, 1, 1, 1, 2, 2]


# -- segments --------------------------------------------------------------------------------


def test_segments_by_source(rules: Rulebook, config: Config) -> None:
    result = segments(
        read_table(rules), ReportSettings.of(rules, config), AS_OF, ["source"], min_leads=3,
        sort="profit",
    )  # fmt: skip
    rows = {r["segment"]["source"]: r for r in result["segments"]}
    assert [r["segment"]["source"] for r in result["segments"]] == ["Webinar", "Ads", "Organic"]
    webinar = rows["Webinar"]  # A1 A2 A6 A8: A1 won 10000; 4 × 40 spent
    assert (webinar["leads"], webinar["opportunities"], webinar["won"]) == (4, 2, 1)
    assert (webinar["revenue"], webinar["cost"]) == (10000.0, 160.0)
    assert webinar["profit_per_lead"] == 10000 / 4 - 40
    # Wilson for 1 of 4: 0.0456 to 0.6994; profit low = 0.0456 × 10000 − 40.
    assert webinar["win_rate_low"] == pytest.approx(0.04559, abs=1e-4)
    assert webinar["profit_per_lead_low"] == pytest.approx(0.04559 * 10000 - 40, abs=1)
    assert webinar["workable"]
    ads = rows["Ads"]  # A3 A4 A5: A4 won 4000; 3 × 25
    assert (ads["leads"], ads["won"], ads["revenue"], ads["cost"]) == (3, 1, 4000.0, 75.0)
    assert ads["profit_per_lead"] == pytest.approx(4000 / 3 - 25)
    # Wilson for 1 of 3: low 0.0615; profit low = 0.0615 × 4000 − 25 ≈ 221.
    assert ads["profit_per_lead_low"] == pytest.approx(0.06149 * 4000 - 25, abs=1)
    assert ads["workable"]
    organic = rows["Organic"]  # A7: no listed cost, nothing won
    assert (organic["leads"], organic["leads_without_cost"], organic["profit_per_lead"]) == (
        1,
        1,
        0.0,
    )
    assert not organic["workable"]
    # February and March: 2 months. Workable leads per month: 4/2 + 3/2 = 3.5; capacity
    # 40 + 40 + 30 = 110 over 3 reps.
    assert result["months"] == 2
    assert result["capacity"] == {
        "reps": 3, "reps_with_capacity": 3, "capacity_per_month": 110,
        "workable_leads_per_month": 3.5, "workable_leads_per_rep_per_month": 3.5 / 3,
        "capacity_per_rep_per_month": 110 / 3, "utilisation": 3.5 / 110,
    }  # fmt: skip
    assert result["currency"] == "USD"


def test_segments_by_two_fields_and_the_minimum_count(rules: Rulebook, config: Config) -> None:
    result = segments(
        read_table(rules), ReportSettings.of(rules, config), AS_OF, ["source", "grade"],
        min_leads=4, sort="leads",
    )  # fmt: skip
    keys = [(r["segment"]["source"], r["segment"]["grade"], r["leads"]) for r in result["segments"]]
    # Most leads first, then by the fields.
    assert keys == [("Webinar", "A", 4), ("Ads", "B", 2), ("Ads", "C", 1), ("Organic", "B", 1)]
    assert [r["workable"] for r in result["segments"]] == [True, False, False, False]


def test_segments_of_a_team_keep_its_leads_and_its_reps_capacity(
    rules: Rulebook, config: Config
) -> None:
    east = frozenset({"r1", "r2"})
    result = segments(
        read_table(rules), ReportSettings.of(rules, config), AS_OF, ["source"], min_leads=3,
        sort="leads", scope=east,
    )  # fmt: skip
    # r1 and r2 own A1 A2 A6 A8 (Webinar) and A3 A4 (Ads); A5 is r3's, A7 has no owner.
    rows = [(r["segment"]["source"], r["leads"], r["won"]) for r in result["segments"]]
    assert rows == [("Webinar", 4, 1), ("Ads", 2, 1)]
    assert [r["workable"] for r in result["segments"]] == [True, False]  # Ads: 2 < 3 leads
    capacity = result["capacity"]
    assert (capacity["reps"], capacity["capacity_per_month"]) == (2, 80)  # r3's 30 left out
    assert capacity["workable_leads_per_month"] == 4 / 2  # Webinar's 4 leads over 2 months


# -- file and database give the same figures -----------------------------------------------------


def test_the_database_gives_the_same_figures(
    rules: Rulebook, config: Config, tmp_path: Path, figures: dict[str, Any]
) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    try:
        import_table(engine, rules, read_table(rules).sorted(), source="test", recorded_at=AS_OF)
        with engine.connect() as connection:
            settings = ReportSettings.of(rules, config)
            stored = analytics(stored_events(connection, AS_OF).table, settings, AS_OF)
            by = ["source", "industry"]
            stored_segments = segments(
                stored_events(connection, AS_OF).table, settings, AS_OF, by, min_leads=1,
                sort="profit",
            )  # fmt: skip
            east_owners = frozenset({"r1", "r2"})
            east_table = stored_events(connection, AS_OF, owners=east_owners).table
            east = analytics(east_table, settings, AS_OF, east_owners)
            business = config.model_copy(
                update={"speed_to_lead": SpeedToLeadConfig(clock="business")}
            )
            stored_business = analytics(
                stored_events(connection, AS_OF).table, ReportSettings.of(rules, business), AS_OF
            )
    finally:
        engine.dispose()
    assert stored == figures
    assert stored_business == analytics(
        read_table(rules), ReportSettings.of(rules, business), AS_OF
    )
    assert stored_segments == segments(
        read_table(rules), ReportSettings.of(rules, config), AS_OF, by, min_leads=1, sort="profit"
    )
    # Reading only the leads east's reps ever owned leaves the figures of its view as they are.
    assert east == analytics(
        read_table(rules), ReportSettings.of(rules, config), AS_OF, east_owners
    )
    assert east["waterfall"]["overall"]["inquiries"] == 6  # team east's leads only
    assert set(east["waterfall"]["by_owner"]) == {"r1", "r2"}


def test_no_events(rules: Rulebook, config: Config) -> None:
    empty = analytics(EventTable.empty(), ReportSettings.of(rules, config), AS_OF)
    assert empty["waterfall"]["overall"]["inquiries"] == 0
    assert empty["waterfall"]["overall"]["mql_to_sal"] is None
    assert all(b["leads"] == 0 for b in empty["speed_to_lead"]["buckets"])
    assert empty["burn_up"][0]["count"] == 0


def test_a_status_overwritten_within_an_instant_is_never_seen(
    rules: Rulebook, config: Config
) -> None:
    # Z1's Qualified is overwritten by New in the same instant (SPEC §3): not an
    # opportunity. Z2's two owners in one instant: the later row wins.
    text = (
        "lead_id,at,field,value\n"
        "Z1,2026-03-02T09:00:00-05:00,status,Qualified\n"
        "Z1,2026-03-02T09:00:00-05:00,status,New\n"
        "Z1,2026-03-02T09:00:00-05:00,grade,A\n"
        "Z2,2026-03-02T09:00:00-05:00,owner,r1\n"
        "Z2,2026-03-02T09:00:00-05:00,status,New\n"
        "Z2,2026-03-02T09:00:00-05:00,owner,r3\n"
    )
    overall = analytics(
        read_table(rules, text),
        ReportSettings.of(rules, config),
        AS_OF,
    )["waterfall"]
    assert (overall["overall"]["mqls"], overall["overall"]["opportunities"]) == (2, 0)
    assert list(overall["by_owner"]) == ["r3"]
    assert list(overall["by_team"]) == ["emea"]


def test_costs_config_errors_name_the_line_and_key() -> None:
    text = EXAMPLE.read_text()
    first = text.count("\n") + 1  # the line of "costs:"
    bad = text + "costs:\n  per_lead: {Webinar: 40, Ads: -1}\n  currency: usd\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(bad, "leadsla.yaml")
    lines = str(caught.value).splitlines()
    negative = "input should be greater than or equal to 0, got -1"
    assert f"leadsla.yaml:{first + 1}: costs.per_lead.Ads: {negative}" in lines
    currency = "'usd' is not a 3-letter ISO 4217 currency code such as USD"
    assert f"leadsla.yaml:{first + 2}: costs.currency: {currency}" in lines
    good = load_config_text(text + "costs:\n  per_lead: {Webinar: 40.5}\n", "leadsla.yaml")
    assert good.costs is not None
    assert (good.costs.per_lead, good.costs.default, good.costs.currency) == (
        {"Webinar": 40.5},
        None,
        "USD",
    )


def test_bad_outcome_and_amount_rows_are_reported_and_skipped(rules: Rulebook) -> None:
    text = (
        "lead_id,at,field,value\n"
        "Z1,2026-03-02T09:00:00-05:00,outcome,maybe\n"
        "Z1,2026-03-02T09:00:00-05:00,amount,12k\n"
        "Z1,2026-03-02T09:00:00-05:00,amount,-5\n"
        "Z1,2026-03-02T09:00:00-05:00,outcome,WON\n"
        "Z1,2026-03-02T09:00:00-05:00,amount,1200.50\n"
        "Z1,2026-03-02T09:00:00-05:00,amount,\n"
    )
    table, report = read_text(rules, text)
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (2, "value", '"maybe" is not an outcome (won, lost)'),
        (3, "value", '"12k" is not a number (field amount)'),
        (4, "value", '"-5" is below 0'),
    ]
    assert len(table) == 3


@pytest.mark.parametrize(
    ("instants", "events"),
    # 6 instants a lead: instants of many rows (the sort); 400: of a few (the
    # comparisons with the next rows). Field 2 as the events (activity) is kept.
    [(6, None), (6, 2), (400, None), (400, 2)],
)
def test_settle_keeps_the_last_row_of_each_field_in_an_instant(
    instants: int, events: int | None
) -> None:
    # Random lead-grouped rows, against the definition row by row.
    rng = np.random.default_rng(7)
    size = 2000
    lead = np.sort(rng.integers(0, 50, size)).astype(np.int64)
    at = np.zeros(size, dtype=np.int64)
    for code in np.unique(lead).tolist():
        rows = np.flatnonzero(lead == code)
        at[rows] = np.sort(rng.integers(0, instants, rows.size))
    _, run_lengths = np.unique(lead * 1000 + at, return_counts=True)
    assert (int(run_lengths.max()) > leads_module._SHORT_INSTANTS) == (instants == 6)
    field = rng.integers(0, 4, size).astype(np.int16)
    columns = EventColumns(lead, at, field, np.arange(size, dtype=np.int32), [])
    settled = settle(columns, events)
    expected = [
        row
        for row in range(size)
        if field[row] == events
        or not any(
            (lead[later], at[later], field[later]) == (lead[row], at[row], field[row])
            for later in range(row + 1, size)
        )
    ]
    assert settled.value.tolist() == expected


@settings(max_examples=400, deadline=None)
@given(
    trials=st.integers(min_value=1, max_value=10_000_000),
    share=st.floats(min_value=0.0, max_value=1.0),
    extreme=st.sampled_from([None, 0, 1]),
)
def test_wilson_bounds_enclose_the_rate_within_zero_and_one(
    trials: int, share: float, extreme: int | None
) -> None:
    # Rates of exactly 0 and 1 are where rounding used to put a bound on the wrong side.
    successes = round(share * trials) if extreme is None else extreme * trials
    rate = successes / trials
    low, high = wilson_interval(successes, trials) or (math.nan, math.nan)
    assert 0.0 <= low <= rate <= high <= 1.0
    lows, highs = wilson_bounds([successes], [trials])
    assert 0.0 <= lows[0] <= rate <= highs[0] <= 1.0


def test_wilson_bounds_of_no_success_in_many_trials_start_at_zero() -> None:
    # 0 of 17,436 gave a lower bound of 1.36e-20: a negative error bar in the chart.
    assert wilson_interval(0, 17_436) == (0.0, pytest.approx(2.203e-4, rel=1e-3))
    lows, _ = wilson_bounds([0], [17_436])
    assert lows[0] == 0.0


# -- sales acceptance in the waterfall (SPEC §9.5) ---------------------------------------------

# Five A leads, New on Monday 2 March 09:00 (-05:00). Worked by hand:
# R1 (r1) Contacted 10:00, sal rejected 11:00: rejected, not a SAL (a SAL before §9.5).
# R2 (r2) sal accepted 10:00, never worked: accepted, a SAL.
# R3 (r1) Contacted, rejected, Recycled; New again 4 March and Contacted 5 March with no
#     decision: its second MQL was worked, a SAL.
# R4 (r1) Contacted, rejected, then Qualified: an opportunity, so a SAL.
# R5 (r1) Contacted, accepted, then rejected at 12:00: the last row wins, not a SAL.
# MQLs 5, SALs 3 (R2, R3, R4): r1 4 and 2, r2 1 and 1; opportunities 1 (R4).
ACCEPTANCE_EVENTS = "lead_id,at,field,value\n" + "".join(
    f"{lead},2026-03-{day}T{hour}:00:00-05:00,{field},{value}\n"
    for lead, day, hour, field, value in [
        *(
            row
            for lead, owner in [
                ("R1", "r1"),
                ("R2", "r2"),
                ("R3", "r1"),
                ("R4", "r1"),
                ("R5", "r1"),
            ]
            for row in [
                (lead, "02", "09", "status", "New"),
                (lead, "02", "09", "grade", "A"),
                (lead, "02", "09", "owner", owner),
            ]
        ),
        ("R1", "02", "10", "status", "Contacted"),
        ("R1", "02", "11", "sal", "rejected"),
        ("R2", "02", "10", "sal", "accepted"),
        ("R3", "02", "10", "status", "Contacted"),
        ("R3", "02", "11", "sal", "rejected"),
        ("R3", "02", "12", "status", "Recycled"),
        ("R3", "04", "09", "status", "New"),
        ("R3", "05", "09", "status", "Contacted"),
        ("R4", "02", "10", "status", "Contacted"),
        ("R4", "02", "11", "sal", "rejected"),
        ("R4", "03", "09", "status", "Qualified"),
        ("R5", "02", "10", "status", "Contacted"),
        ("R5", "02", "11", "sal", "accepted"),
        ("R5", "02", "12", "sal", "rejected"),
    ]
)


def test_the_waterfall_s_sals_are_the_leads_sales_accepted(
    rules: Rulebook, config: Config, tmp_path: Path
) -> None:
    settings = ReportSettings.of(rules, config)
    table = read_table(rules, ACCEPTANCE_EVENTS)
    waterfall = analytics(table, settings, AS_OF)["waterfall"]
    overall = waterfall["overall"]
    assert (overall["mqls"], overall["sals"], overall["opportunities"]) == (5, 3, 1)
    assert overall["mql_to_sal"] == pytest.approx(3 / 5)
    assert overall["sal_to_opportunity"] == pytest.approx(1 / 3)
    by_owner = {owner: (row["mqls"], row["sals"]) for owner, row in waterfall["by_owner"].items()}
    assert by_owner == {"r1": (4, 2), "r2": (1, 1)}
    # The database's events give the same waterfall.
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    try:
        import_table(engine, rules, table.sorted(), source="test", recorded_at=AS_OF)
        with engine.connect() as connection:
            stored = analytics(stored_events(connection, AS_OF).table, settings, AS_OF)
    finally:
        engine.dispose()
    assert stored["waterfall"] == waterfall
