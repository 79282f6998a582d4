"""SPEC §8 figures on a small history checked by hand, with ``examples/leadsla.yaml``.

Calendars of the example: ``us-east`` (New York, Mon–Fri 09:00–12:00 and 13:00–17:00,
reps r1 and r2, team east) and ``uk`` (London, Mon–Thu 08:30–17:30, Fri 08:30–16:00,
8-hour business days, rep r3, team emea). ``follow_up``: A 8 business hours, B 16,
C 5 business days and optional; ``qualification``: 7 wall-clock days. Workable
grades: A and B. No public holiday falls on the days used (UK Easter is 3 and 6 April).

The evaluation instant is Wednesday 2026-04-15 12:00 New York (EDT, -04:00), so the
report's month is April 2026 and its quarter Q2 2026. What each lead does, and the
figures it yields (business time worked out by hand on the calendars above):

L1  r1 A Healthcare. MQL Tue 10 Mar 09:00; call (no answer) + Attempting to Contact
    at 11:00: follow_up met, 2 h = 7200 s, SAL. Call connected 11 Mar; Qualified
    12 Mar (qualification met). Attempts 2, connects 1, qualified.
L2  r1 B. MQL Tue 10 Mar 16:00; email + Contacted Thu 12 Mar 15:00: 1 h (Tue) + 7 h
    (Wed) + 3 h + 2 h (Thu) = 13 h = 46800 s, met, SAL. Qualification running since
    12 Mar 15:00: past 7 days → breached. Attempts 1, connects 0.
L3  r2 A Healthcare. MQL Mon 16 Mar 09:00; voicemail + Attempting Tue 17 Mar 13:00:
    7 h + 3 h = 10 h = 36000 s > 8 h → breached (stopped), SAL. Not a Lead 18 Mar:
    qualification met. Attempts 1, connects 0.
L4  r3 C (not workable). MQL Tue 17 Mar 09:00 London (GMT); Contacted + call
    connected Tue 24 Mar 10:00: 8.5 + 9 + 9 + 7.5 + 9 + 1.5 = 44.5 h = 160200 s > 40 h
    → lapsed (optional C), SAL. Qualification since 24 Mar: breached by as_of.
L5  r2 B, two MQLs. 1st: Wed 25 Mar 10:00; email 14:00; Invalid Information Thu
    26 Mar 10:00: 6 h + 1 h = 25200 s, met, not SAL (disqualified stage); attempts 1.
    2nd: New again Tue 7 Apr 09:00 (industry Healthcare set then); call connected +
    Contacted Wed 8 Apr 09:30: 7 h + 0.5 h = 27000 s, met, SAL; Qualified 10 Apr
    (qualification met). Attempts 1, connects 1, qualified.
L6  r1 A Healthcare. MQL Tue 14 Apr 09:00; email at 10:00; nothing else: 7 h + 3 h
    = 10 h by as_of > 8 h → breached, still running (no time to follow-up), not SAL.
L7  r1 B Tech. MQL Wed 15 Apr 09:00; 3 h by as_of → running. Its Contacted on 16 Apr
    is after as_of and ignored.
L8  r3 A Healthcare. MQL Mon 13 Apr 08:30 London (BST; 03:30 in New York, April);
    handed to r1 at 12:00; call connected + Contacted 15:30: 7 h on the uk calendar
    (rule 2) = 25200 s, met, SAL, attributed to r1 (rule 9). Meeting held + Qualified
    14 Apr 10:00 New York: qualification (owner r1) met. Attempts 2, connects 2.
L9  no owner, B Healthcare. MQL Thu 9 Apr 13:00 (default calendar us-east); sms
    replied + Attempting at 15:00: 2 h = 7200 s, met, SAL. Recycled 10 Apr:
    qualification met. Attempts 1, connects 1, not qualified.

MQL cohort figures go by the grade/owner/team at the MQL instant; clock figures
(compliance, time to follow-up) by the verdict's owner/team/grade — so L8 counts as
an MQL of r3 (emea) but its follow_up clock as r1's (east).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from leadsla.config import Config, build_rulebook, load_config
from leadsla.core.clock import State
from leadsla.core.evaluate import lead_results
from leadsla.core.events import EventTable, parse_instant, read_events
from leadsla.core.metrics import (
    grouped_quantiles,
    lead_facts,
    mqls_month_to_date,
    period_containing,
    team_commitment,
)
from leadsla.core.policy import Rulebook
from leadsla.report.formats import report_rows
from leadsla.report.scorecard import scorecard
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents, stored_event_table, stored_events
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.store.database import open_database

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
AS_OF = parse_instant("2026-04-15T12:00:00-04:00")

EVENTS = """\
lead_id,at,field,value
L1,2026-03-10T09:00:00-04:00,status,New
L1,2026-03-10T09:00:00-04:00,owner,r1
L1,2026-03-10T09:00:00-04:00,grade,A
L1,2026-03-10T09:00:00-04:00,industry,Healthcare
L1,2026-03-10T11:00:00-04:00,activity,call:no_answer
L1,2026-03-10T11:00:00-04:00,status,Attempting to Contact
L1,2026-03-11T10:00:00-04:00,activity,call:connected
L1,2026-03-12T10:00:00-04:00,status,Qualified
L2,2026-03-10T16:00:00-04:00,status,New
L2,2026-03-10T16:00:00-04:00,owner,r1
L2,2026-03-10T16:00:00-04:00,grade,B
L2,2026-03-12T15:00:00-04:00,activity,email:sent
L2,2026-03-12T15:00:00-04:00,status,Contacted
L3,2026-03-16T09:00:00-04:00,status,New
L3,2026-03-16T09:00:00-04:00,owner,r2
L3,2026-03-16T09:00:00-04:00,grade,A
L3,2026-03-16T09:00:00-04:00,industry,Healthcare
L3,2026-03-17T13:00:00-04:00,activity,call:voicemail
L3,2026-03-17T13:00:00-04:00,status,Attempting to Contact
L3,2026-03-18T10:00:00-04:00,status,Not a Lead
L4,2026-03-17T09:00:00Z,status,New
L4,2026-03-17T09:00:00Z,owner,r3
L4,2026-03-17T09:00:00Z,grade,C
L4,2026-03-24T10:00:00Z,status,Contacted
L4,2026-03-24T10:00:00Z,activity,call:connected
L5,2026-03-25T10:00:00-04:00,status,New
L5,2026-03-25T10:00:00-04:00,owner,r2
L5,2026-03-25T10:00:00-04:00,grade,B
L5,2026-03-25T14:00:00-04:00,activity,email:sent
L5,2026-03-26T10:00:00-04:00,status,Invalid Information
L5,2026-04-07T09:00:00-04:00,status,New
L5,2026-04-07T09:00:00-04:00,industry,Healthcare
L5,2026-04-08T09:30:00-04:00,activity,call:connected
L5,2026-04-08T09:30:00-04:00,status,Contacted
L5,2026-04-10T11:00:00-04:00,status,Qualified
L6,2026-04-14T09:00:00-04:00,status,New
L6,2026-04-14T09:00:00-04:00,owner,r1
L6,2026-04-14T09:00:00-04:00,grade,A
L6,2026-04-14T09:00:00-04:00,industry,Healthcare
L6,2026-04-14T10:00:00-04:00,activity,email:sent
L7,2026-04-15T09:00:00-04:00,status,New
L7,2026-04-15T09:00:00-04:00,owner,r1
L7,2026-04-15T09:00:00-04:00,grade,B
L7,2026-04-15T09:00:00-04:00,industry,Tech
L7,2026-04-16T09:00:00-04:00,status,Contacted
L8,2026-04-13T08:30:00+01:00,status,New
L8,2026-04-13T08:30:00+01:00,owner,r3
L8,2026-04-13T08:30:00+01:00,grade,A
L8,2026-04-13T08:30:00+01:00,industry,Healthcare
L8,2026-04-13T12:00:00+01:00,owner,r1
L8,2026-04-13T15:30:00+01:00,activity,call:connected
L8,2026-04-13T15:30:00+01:00,status,Contacted
L8,2026-04-14T10:00:00-04:00,activity,meeting:held
L8,2026-04-14T10:00:00-04:00,status,Qualified
L9,2026-04-09T13:00:00-04:00,status,New
L9,2026-04-09T13:00:00-04:00,grade,B
L9,2026-04-09T13:00:00-04:00,industry,Healthcare
L9,2026-04-09T15:00:00-04:00,activity,sms:replied
L9,2026-04-09T15:00:00-04:00,status,Attempting to Contact
L9,2026-04-10T09:00:00-04:00,status,Recycled
"""


def figure(
    *,
    mqls: int,
    sals: int,
    mql_to_sal: float | None,
    workable: int,
    follow_up: float | None,
    qualification: float | None,
    ttf: tuple[int, float | None, float | None, float | None],
    attempts: int,
    connects: int,
    opportunities: int,
    per_workable: float | None,
    connect_rate: float | None,
    per_attempt: float | None,
    conversion: float | None,
) -> dict[str, Any]:
    """An expected F, every value written out by hand (no arithmetic here)."""
    count, mean, median, p90 = ttf
    return {
        "mqls": mqls,
        "sals": sals,
        "mql_to_sal": mql_to_sal,
        # No lead of this history carries a sal row (SPEC §9.5): every SAL is inferred,
        # none is rejected, so the acceptance rate is 1 wherever there is a SAL.
        "sal_rejected": 0,
        "acceptance_rate": 1.0 if sals else None,
        "sal_reasons": {},
        "reasons": {"recycled": {}, "deferred": {}, "disqualified": {}},
        "workable_leads": workable,
        "compliance": {"follow_up": follow_up, "qualification": qualification},
        "time_to_follow_up": {"count": count, "mean": mean, "median": median, "p90": p90},
        "attempts": attempts,
        "connects": connects,
        "opportunities": opportunities,
        "attempts_per_workable_lead": per_workable,
        "connect_rate": connect_rate,
        "connects_per_attempt": per_attempt,
        "conversion_to_pipeline": conversion,
    }


def assert_close(actual: Any, expected: Any, where: str = "report") -> None:
    """Equal structures; floats to 1e-12 relative (ratios like 2/3 are not exact)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert sorted(actual) == sorted(expected), f"{where}: keys"
        for key, value in expected.items():
            assert_close(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, float):
        assert isinstance(actual, int | float) and not isinstance(actual, bool), where
        assert math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12), (
            f"{where}: {actual} != {expected}"
        )
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


# The April cohort (L5's 2nd MQL, L6, L7, L8, L9): MQLs 5; SALs L5, L8, L9 = 3; all
# workable; attempts 1+1+0+2+1 = 5; connects 1+0+0+2+1 = 4 in 3 leads; qualified L5,
# L8. follow_up clocks started in April: met L5, L8, L9, breached L6, running L7 → 3/4;
# qualification: L5, L8, L9 met → 1. Stopped follow_up: 7200, 25200, 27000 → mean
# 19800, median 25200, p90 at index 0.9 × 2 = 1.8: 25200 + 0.8 × 1800 = 26640.
APRIL = figure(
    mqls=5,
    sals=3,
    mql_to_sal=0.6,
    workable=5,
    follow_up=0.75,
    qualification=1.0,
    ttf=(3, 19800.0, 25200.0, 26640.0),
    attempts=5,
    connects=4,
    opportunities=2,
    per_workable=1.0,
    connect_rate=0.6,
    per_attempt=0.8,
    conversion=0.4,
)

# March: L1, L2, L3, L4, L5's 1st. SALs all but L5 = 4; workable all but L4 (C) = 4;
# attempts of workable 2+1+1+1 = 5, connects 1 (L1, 1 lead), qualified L1.
# follow_up: met L1, L2, L5, breached L3, lapsed L4 (counts in neither) → 3/4;
# qualification started in March: met L1, L3, breached L2, L4 → 2/4.
# Stopped follow_up: 7200, 25200, 36000, 46800, 160200 → mean 275400 / 5 = 55080,
# median 36000, p90 at index 3.6: 46800 + 0.6 × 113400 = 114840.
MARCH = figure(
    mqls=5,
    sals=4,
    mql_to_sal=0.8,
    workable=4,
    follow_up=0.75,
    qualification=0.5,
    ttf=(5, 55080.0, 36000.0, 114840.0),
    attempts=5,
    connects=1,
    opportunities=1,
    per_workable=1.25,
    connect_rate=0.25,
    per_attempt=0.2,
    conversion=0.25,
)

BY_GRADE = {
    # L6, L8: SAL L8; attempts 1 + 2, connects 0 + 2 (1 lead); qualified L8.
    # follow_up: L6 breached, L8 met; qualification: L8 met. Stopped: L8 25200.
    "A": figure(
        mqls=2,
        sals=1,
        mql_to_sal=0.5,
        workable=2,
        follow_up=0.5,
        qualification=1.0,
        ttf=(1, 25200.0, 25200.0, 25200.0),
        attempts=3,
        connects=2,
        opportunities=1,
        per_workable=1.5,
        connect_rate=0.5,
        per_attempt=2 / 3,
        conversion=0.5,
    ),
    # L5 (2nd), L7, L9: SAL L5, L9; attempts 1 + 0 + 1, connects 1 + 0 + 1; qualified L5.
    # follow_up: L5, L9 met, L7 running; qualification: L5, L9 met.
    # Stopped: 7200, 27000 → mean = median 17100, p90: 7200 + 0.9 × 19800 = 25020.
    "B": figure(
        mqls=3,
        sals=2,
        mql_to_sal=2 / 3,
        workable=3,
        follow_up=1.0,
        qualification=1.0,
        ttf=(2, 17100.0, 17100.0, 25020.0),
        attempts=2,
        connects=2,
        opportunities=1,
        per_workable=2 / 3,
        connect_rate=2 / 3,
        per_attempt=1.0,
        conversion=1 / 3,
    ),
}

BY_OWNER = {
    # MQLs L6, L7 (no SAL; attempts 1 + 0, no connect). Clocks attributed to r1:
    # follow_up L6 breached, L7 running, L8 met (handed over) → 1/2; qualification L8.
    "r1": figure(
        mqls=2,
        sals=0,
        mql_to_sal=0.0,
        workable=2,
        follow_up=0.5,
        qualification=1.0,
        ttf=(1, 25200.0, 25200.0, 25200.0),
        attempts=1,
        connects=0,
        opportunities=0,
        per_workable=0.5,
        connect_rate=0.0,
        per_attempt=0.0,
        conversion=0.0,
    ),
    # L5's 2nd MQL and both its clocks.
    "r2": figure(
        mqls=1,
        sals=1,
        mql_to_sal=1.0,
        workable=1,
        follow_up=1.0,
        qualification=1.0,
        ttf=(1, 27000.0, 27000.0, 27000.0),
        attempts=1,
        connects=1,
        opportunities=1,
        per_workable=1.0,
        connect_rate=1.0,
        per_attempt=1.0,
        conversion=1.0,
    ),
    # L8's MQL; none of its clocks (they are r1's).
    "r3": figure(
        mqls=1,
        sals=1,
        mql_to_sal=1.0,
        workable=1,
        follow_up=None,
        qualification=None,
        ttf=(0, None, None, None),
        attempts=2,
        connects=2,
        opportunities=1,
        per_workable=2.0,
        connect_rate=1.0,
        per_attempt=1.0,
        conversion=1.0,
    ),
}

BY_TEAM = {
    # MQLs of r1 and r2: L5 (2nd), L6, L7 → SAL L5; attempts 1 + 1 + 0, connects 1.
    # follow_up clocks of east: L5 met, L6 breached, L7 running, L8 met → 2/3;
    # qualification L5, L8 met. Stopped: 25200, 27000 → 26100, 26100,
    # p90 25200 + 0.9 × 1800 = 26820.
    "east": figure(
        mqls=3,
        sals=1,
        mql_to_sal=1 / 3,
        workable=3,
        follow_up=2 / 3,
        qualification=1.0,
        ttf=(2, 26100.0, 26100.0, 26820.0),
        attempts=2,
        connects=1,
        opportunities=1,
        per_workable=2 / 3,
        connect_rate=1 / 3,
        per_attempt=0.5,
        conversion=1 / 3,
    ),
    "emea": BY_OWNER["r3"],
}


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def rules(config: Config) -> Rulebook:
    return build_rulebook(config)


def read_table(rules: Rulebook, text: str = EVENTS) -> EventTable:
    table, report = read_events(
        io.StringIO(text),
        statuses=list(rules.statuses),
        grades=[grade.name for grade in rules.grades],
    )
    assert report.errors == []
    return table


def database_of(rules: Rulebook, tmp_path: Path, text: str = EVENTS) -> Engine:
    """A SQLite file in ``tmp_path`` holding the events of ``text``, ingested at AS_OF."""
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    incoming = [
        IncomingEvent(lead_id, at, name, value)
        for lead_id, at, name, value, _line in read_table(rules, text).rows()
    ]
    with engine.begin() as connection:
        ingest(connection, rules, incoming, source="test", recorded_at=AS_OF)
    return engine


@pytest.fixture(scope="module")
def report(rules: Rulebook, config: Config) -> dict[str, Any]:
    return scorecard(
        LeadEvents.of(read_table(rules)), ReportSettings.of(rules, config), AS_OF, "month"
    )


def test_as_of_and_period_in_the_default_calendars_zone(report: dict[str, Any]) -> None:
    assert report["as_of"] == "2026-04-15T12:00:00-04:00"
    assert report["period"] == {
        "kind": "month",
        "label": "2026-04",
        "start": "2026-04-01T00:00:00-04:00",
        "end": "2026-05-01T00:00:00-04:00",
    }


def test_overall_is_the_month_of_as_of(report: dict[str, Any]) -> None:
    assert_close(report["overall"], APRIL, "overall")


def test_by_grade_owner_and_team(report: dict[str, Any]) -> None:
    assert_close(report["by_grade"], BY_GRADE, "by_grade")
    # L9 has no owner, so no team: it counts overall and by month only.
    assert_close(report["by_owner"], BY_OWNER, "by_owner")
    assert_close(report["by_team"], BY_TEAM, "by_team")


def test_by_month_covers_the_whole_history(report: dict[str, Any]) -> None:
    assert list(report["by_month"]) == ["2026-03", "2026-04"]
    assert_close(report["by_month"], {"2026-03": MARCH, "2026-04": APRIL}, "by_month")


def test_commitments(report: dict[str, Any]) -> None:
    # 1 Apr 00:00 to 15 Apr 12:00 New York is 14.5 days; April has 30, Q2 91 (no DST
    # change in either).
    quarter = {
        "kind": "quarter",
        "label": "2026-Q2",
        "start": "2026-04-01T00:00:00-04:00",
        "end": "2026-07-01T00:00:00-04:00",
    }
    april = {
        "kind": "month",
        "label": "2026-04",
        "start": "2026-04-01T00:00:00-04:00",
        "end": "2026-05-01T00:00:00-04:00",
    }
    expected: list[dict[str, Any]] = [
        # All five April MQLs; 1200 × 14.5 / 91 pro rata; 5 / (14.5 / 91) forecast.
        {
            "name": "MQLs per quarter",
            "metric": "mqls",
            "period": quarter,
            "segment": None,
            "count": 5,
            "target": 1200,
            "elapsed_share": 14.5 / 91,
            "pro_rata_target": 17400 / 91,
            "forecast": 455 / 14.5,
            "on_track": False,
        },
        # Healthcare at the MQL instant: L5 (set with its 2nd New), L6, L8, L9; not L7.
        {
            "name": "Healthcare MQLs per month",
            "metric": "mqls",
            "period": april,
            "segment": {"industry": ["Healthcare"]},
            "count": 4,
            "target": 60,
            "elapsed_share": 29 / 60,
            "pro_rata_target": 29.0,
            "forecast": 240 / 29,
            "on_track": False,
        },
        # Workable April MQLs by owner at the MQL: r1 L6, L7; r2 L5; r3 L8 (L9 has no
        # owner) → 4 over the 3 reps.
        {
            "name": "Workable leads per rep",
            "metric": "workable_leads_per_rep",
            "period": april,
            "segment": None,
            "count": 4 / 3,
            "target": 40,
            "elapsed_share": 29 / 60,
            "pro_rata_target": 58 / 3,
            "forecast": 80 / 29,
            "on_track": False,
            "per_rep": {"r1": 2, "r2": 1, "r3": 1},
        },
    ]
    assert len(report["commitments"]) == len(expected)
    for actual, wanted in zip(report["commitments"], expected, strict=True):
        assert_close(actual, wanted, f"commitment {wanted['name']}")


def test_workable_leads_per_rep_month_to_date(report: dict[str, Any]) -> None:
    assert report["workable_leads_per_rep_month_to_date"] == {"r1": 2, "r2": 1, "r3": 1}


def test_quarter_period(rules: Rulebook, config: Config) -> None:
    report = scorecard(
        LeadEvents.of(read_table(rules)), ReportSettings.of(rules, config), AS_OF, "quarter"
    )
    assert report["period"]["label"] == "2026-Q2"
    # Q2 so far holds April only.
    assert_close(report["overall"], APRIL, "overall")
    assert_close(report["by_team"], BY_TEAM, "by_team")


def test_facts_of_a_lead_with_two_mqls(rules: Rulebook, config: Config) -> None:
    metric = ReportSettings.of(rules, config).metric
    results = {
        r.lead_id: r
        for r in lead_results(rules, read_table(rules).sorted(), AS_OF, with_instants=True)
    }
    facts = lead_facts(results["L5"], metric, AS_OF)
    first, second = facts.mqls
    assert (first.cycle, first.mql_at) == (1, parse_instant("2026-03-25T10:00:00-04:00"))
    assert (second.cycle, second.mql_at) == (2, parse_instant("2026-04-07T09:00:00-04:00"))
    assert (first.grade, first.owner, first.team) == ("B", "r2", "east")
    # The email of 25 Mar belongs to the 1st cycle, the call of 8 Apr to the 2nd.
    assert (first.attempts, first.connects, second.attempts, second.connects) == (1, 0, 1, 1)
    assert (first.is_sal, second.is_sal) == (False, True)
    assert (first.qualified, second.qualified) == (False, True)
    assert (first.follow_up_state, first.follow_up_seconds) == (State.MET, 25200)
    assert (second.follow_up_state, second.follow_up_seconds) == (State.MET, 27000)
    # industry (the commitment's segment), then source and campaign (SPEC §9.5 tables).
    assert (first.segment, second.segment) == ((None, None, None), ("Healthcare", None, None))
    assert [(c.policy, c.cycle, c.state) for c in facts.clocks] == [
        ("follow_up", 1, State.MET),
        ("follow_up", 2, State.MET),
        ("qualification", 1, State.MET),
    ]


def test_facts_keep_the_mql_owner_and_the_clock_owner_apart(
    rules: Rulebook, config: Config
) -> None:
    metric = ReportSettings.of(rules, config).metric
    results = {
        r.lead_id: r
        for r in lead_results(rules, read_table(rules).sorted(), AS_OF, with_instants=True)
    }
    facts = lead_facts(results["L8"], metric, AS_OF)
    (mql,) = facts.mqls
    assert (mql.owner, mql.team, mql.attempts, mql.connects) == ("r3", "emea", 2, 2)
    assert [(c.policy, c.owner, c.team, c.business_seconds) for c in facts.clocks] == [
        ("follow_up", "r1", "east", 25200),
        # Business time on r1's us-east calendar (the clock's calendar, even for a
        # wall-clock target): Mon 10:30-12:00 + 13:00-17:00, Tue 09:00-10:00 = 6.5 h.
        ("qualification", "r1", "east", 23400),
    ]


def test_no_events(rules: Rulebook, config: Config) -> None:
    report = scorecard(
        LeadEvents.of(EventTable.empty()), ReportSettings.of(rules, config), AS_OF, "month"
    )
    empty = figure(
        mqls=0,
        sals=0,
        mql_to_sal=None,
        workable=0,
        follow_up=None,
        qualification=None,
        ttf=(0, None, None, None),
        attempts=0,
        connects=0,
        opportunities=0,
        per_workable=None,
        connect_rate=None,
        per_attempt=None,
        conversion=None,
    )
    assert_close(report["overall"], empty, "overall")
    assert (report["by_grade"], report["by_owner"], report["by_month"]) == ({}, {}, {})
    assert [c["count"] for c in report["commitments"]] == [0, 0, 0]
    assert report["workable_leads_per_rep_month_to_date"] == {"r1": 0, "r2": 0, "r3": 0}


def test_periods_at_their_edges() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    # 1 Apr 00:00 New York is still March in UTC: the zone decides.
    start = parse_instant("2026-04-01T00:00:00-04:00")
    assert period_containing(start, "month", zone).label == "2026-04"
    assert period_containing(start - 1, "month", zone).label == "2026-03"
    assert period_containing(start - 1, "quarter", zone).label == "2026-Q1"
    year = period_containing(start, "year", zone)
    assert (year.label, year.start) == ("2026", parse_instant("2026-01-01T00:00:00-05:00"))


def test_grouped_quantiles_equal_numpys_percentile() -> None:
    generator = np.random.default_rng(7)
    groups = generator.integers(0, 6, size=500)
    values = generator.integers(0, 200_000, size=500)
    counts, means, (median, p90) = grouped_quantiles(groups, values, 7, (0.5, 0.9))
    for g in range(7):
        chosen = values[groups == g]
        assert counts[g] == len(chosen)
        if len(chosen) == 0:
            assert np.isnan(median[g]) and np.isnan(p90[g]) and np.isnan(means[g])
            continue
        assert median[g] == np.percentile(chosen, 50)
        assert p90[g] == np.percentile(chosen, 90)
        assert means[g] == pytest.approx(chosen.mean(), rel=1e-12)


def test_the_database_gives_the_same_report(
    rules: Rulebook, config: Config, tmp_path: Path, report: dict[str, Any]
) -> None:
    engine = database_of(rules, tmp_path)
    try:
        with engine.connect() as connection:
            stored = scorecard(
                stored_events(connection, AS_OF), ReportSettings.of(rules, config), AS_OF, "month"
            )
            assert stored == report
            quarter = scorecard(
                stored_events(connection, AS_OF), ReportSettings.of(rules, config), AS_OF, "quarter"
            )
            assert quarter == scorecard(
                LeadEvents.of(read_table(rules)), ReportSettings.of(rules, config), AS_OF, "quarter"
            )
            # Leads one by one, as figures beyond the scorecard read them: the same facts.
            by_lead = {
                r.lead_id: lead_facts(r, ReportSettings.of(rules, config).metric, AS_OF)
                for r in lead_results(
                    rules, stored_event_table(connection, AS_OF), AS_OF, with_instants=True
                )
            }
            assert by_lead == {
                r.lead_id: lead_facts(r, ReportSettings.of(rules, config).metric, AS_OF)
                for r in lead_results(rules, read_table(rules).sorted(), AS_OF, with_instants=True)
            }
            assert len(by_lead) == 9
            # A manager of team east sees the MQLs and clocks of r1 and r2: the east figures.
            east_owners = frozenset({"r1", "r2"})
            east = scorecard(
                stored_events(connection, AS_OF, owners=east_owners),
                ReportSettings.of(rules, config),
                AS_OF,
                "month",
                scope=east_owners,
            )
    finally:
        engine.dispose()
    assert_close(east["overall"], BY_TEAM["east"], "east overall")
    assert sorted(east["by_owner"]) == ["r1", "r2"]
    assert east["workable_leads_per_rep_month_to_date"] == {"r1": 2, "r2": 1}


# Scores for by_score_band, judged at AS_OF (Wed 15 Apr 12:00 New York) on us-east
# (r1, r2: 09:00-12:00 and 13:00-17:00). Grades from scores: A 80, B 50, C 0.
# S1 r1 score 85 (A): New Mon 13 Apr 09:00, Contacted 11:00: 2 h = 7200 s, SAL.
# S2 r1 grade B given, score 90: New Mon 13:00, Attempting Tue 14 Apr 10:00: 4 h + 1 h
#    = 18000 s, SAL. Its band is its score's (80+), not its grade's.
# S3 r2 score 60 (B): New Tue 14 Apr 09:00; the score drops to 30 at 12:30; Contacted
#    Wed 10:00: 3 h + 4 h + 1 h = 28800 s, SAL. Banded at the MQL instant: 50-80;
#    its qualification clock, started Wed 10:00 at score 30, is in band 0-50.
# S4 r2 grade A, no score: New Wed 09:00, running. In no band.
# S5 r1 score -10 (no grade, not workable): New Mon 09:00, Invalid Information
#    10:00: 3600 s, not SAL (disqualified).
SCORED = """\
lead_id,at,field,value
S1,2026-04-13T09:00:00-04:00,status,New
S1,2026-04-13T09:00:00-04:00,owner,r1
S1,2026-04-13T09:00:00-04:00,score,85
S1,2026-04-13T11:00:00-04:00,status,Contacted
S2,2026-04-13T13:00:00-04:00,status,New
S2,2026-04-13T13:00:00-04:00,owner,r1
S2,2026-04-13T13:00:00-04:00,grade,B
S2,2026-04-13T13:00:00-04:00,score,90
S2,2026-04-14T10:00:00-04:00,status,Attempting to Contact
S3,2026-04-14T09:00:00-04:00,status,New
S3,2026-04-14T09:00:00-04:00,owner,r2
S3,2026-04-14T09:00:00-04:00,score,60
S3,2026-04-14T12:30:00-04:00,score,30
S3,2026-04-15T10:00:00-04:00,status,Contacted
S4,2026-04-15T09:00:00-04:00,status,New
S4,2026-04-15T09:00:00-04:00,owner,r2
S4,2026-04-15T09:00:00-04:00,grade,A
S5,2026-04-13T09:00:00-04:00,status,New
S5,2026-04-13T09:00:00-04:00,owner,r1
S5,2026-04-13T09:00:00-04:00,score,-10
S5,2026-04-13T10:00:00-04:00,status,Invalid Information
"""


def band_figures(report: dict[str, Any]) -> dict[str, tuple[int, int, int, dict[str, Any]]]:
    return {
        band: (f["mqls"], f["sals"], f["workable_leads"], f["time_to_follow_up"])
        for band, f in report["by_score_band"].items()
    }


def ttf(count: int, mean: float, median: float, p90: float) -> dict[str, Any]:
    return {"count": count, "mean": mean, "median": median, "p90": p90}


def test_time_to_follow_up_by_score_band(rules: Rulebook, config: Config, tmp_path: Path) -> None:
    banded = config.model_copy(update={"score_bands": [0.0, 50.0, 80.0]})
    report = scorecard(
        LeadEvents.of(read_table(rules, SCORED)), ReportSettings.of(rules, banded), AS_OF, "month"
    )
    # 80+: 7200 and 18000 s → mean = median 12600, p90 7200 + 0.9 × 10800 = 16920.
    expected = {
        "below 0": (1, 0, 0, ttf(1, 3600.0, 3600.0, 3600.0)),
        "0-50": (0, 0, 0, {"count": 0, "mean": None, "median": None, "p90": None}),
        "50-80": (1, 1, 1, ttf(1, 28800.0, 28800.0, 28800.0)),
        "80+": (2, 2, 2, ttf(2, 12600.0, 12600.0, 16920.0)),
    }
    assert band_figures(report) == expected
    # Low to high, not by name.
    assert list(report["by_score_band"]) == ["below 0", "0-50", "50-80", "80+"]
    assert report["by_score_band"]["0-50"]["compliance"]["qualification"] is None  # running
    assert report["overall"]["mqls"] == 5  # S4 counts, in no band
    # The CSV and HTML report carry the bands too.
    assert ("by_score_band", "80+", "time_to_follow_up.p90", 16920.0) in report_rows(report)

    # The default edges 0, 25, 50, 75, 100.
    default = scorecard(
        LeadEvents.of(read_table(rules, SCORED)), ReportSettings.of(rules, config), AS_OF, "month"
    )
    assert list(default["by_score_band"]) == ["below 0", "25-50", "50-75", "75-100"]

    # The database path: the same report.
    engine = database_of(rules, tmp_path, SCORED)
    try:
        with engine.connect() as connection:
            stored = scorecard(
                stored_events(connection, AS_OF), ReportSettings.of(rules, banded), AS_OF, "month"
            )
    finally:
        engine.dispose()
    assert stored == report


@given(
    st.lists(st.integers(0, 7 * 10**15), min_size=1, max_size=40),
    st.sampled_from(["America/New_York", "Europe/London", "America/Havana", "Asia/Tehran", "UTC"]),
)
def test_month_numbers_are_the_local_months(instants: list[int], name: str) -> None:
    # Havana and Tehran have changed their clocks at midnight.
    from zoneinfo import ZoneInfo

    from leadsla.core.metrics import _local_months, month_numbers

    zone = ZoneInfo(name)
    values = np.array(instants, dtype=np.int64)
    assert month_numbers(values, zone).tolist() == _local_months(values, zone).tolist()


def test_mqls_month_to_date_against_the_same_days_of_last_month() -> None:
    zone = ZoneInfo("America/New_York")

    def at(*texts: str) -> np.ndarray:
        return np.array([parse_instant(t) for t in texts], dtype=np.int64)

    mqls = at(
        "2026-10-31T23:00:00-04:00",  # October: neither stretch
        "2026-11-01T09:00:00-04:00",  # last month, day 1 (EDT: the stretch keeps wall time)
        "2026-11-03T09:59:00-05:00",
        "2026-11-03T10:00:00-05:00",  # the same day and time as now: inside
        "2026-11-03T10:01:00-05:00",  # a minute later: outside
        "2026-11-20T12:00:00-05:00",
        "2026-12-01T00:00:00-05:00",
        "2026-12-03T10:00:00-05:00",
    )
    result = mqls_month_to_date(mqls, parse_instant("2026-12-03T10:00:00-05:00"), zone)
    assert result == {
        "this_month": {"label": "2026-12", "from": "2026-12-01T00:00:00-05:00",
                       "to": "2026-12-03T10:00:00-05:00", "mqls": 2},
        "last_month": {"label": "2026-11", "from": "2026-11-01T00:00:00-04:00",
                       "to": "2026-11-03T10:00:00-05:00", "mqls": 3},
    }  # fmt: skip
    # On the 31st, a shorter last month is counted whole (to its end).
    short = mqls_month_to_date(at("2026-02-28T23:00:00-05:00"), parse_instant(
        "2026-03-31T12:00:00-04:00"), zone)  # fmt: skip
    assert short["last_month"]["to"] == "2026-03-01T00:00:00-05:00"
    assert short["last_month"]["mqls"] == 1


def test_a_team_commitment_is_judged_against_the_teams_share() -> None:
    entry = {"name": "MQLs per quarter", "count": 300, "target": 1200, "elapsed_share": 0.5,
             "pro_rata_target": 600.0, "forecast": 600.0, "on_track": False}  # fmt: skip
    team = team_commitment(entry, "east", 500)
    # The team's 300 against half its 500: on track, where the company's 1200 said behind.
    assert team == {**entry, "target": 500, "pro_rata_target": 250.0, "on_track": True,
                    "scope": {"team": "east"}}  # fmt: skip


def test_weighted_grouped_quantiles_equal_the_rows_repeated() -> None:
    generator = np.random.default_rng(11)
    groups = generator.integers(0, 5, size=300)
    values = generator.integers(0, 50, size=300)
    weights = generator.integers(1, 6, size=300)
    weighted = grouped_quantiles(groups, values, 6, (0.5, 0.9), weights)
    repeated = grouped_quantiles(
        np.repeat(groups, weights), np.repeat(values, weights), 6, (0.5, 0.9)
    )
    np.testing.assert_array_equal(weighted[0], repeated[0])
    np.testing.assert_array_equal(weighted[1], repeated[1])
    for ours, theirs in zip(weighted[2], repeated[2], strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert weighted[0][5] == 0 and np.isnan(weighted[2][0][5])
