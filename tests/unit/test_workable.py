"""``workable`` by grade or by segment (docs/sla-rules.md), on a history checked by hand.

Config: ``examples/leadsla.yaml`` with ``workable: {grade: [A], segments: [emea-enterprise:
country in UK, DE and employees >= 500]}`` and a commitment of 10 workable leads a month.
Every lead enters ``New`` on Monday 2026-02-02 at 09:00 New York; the evaluation instant is
Friday 2026-02-27 12:00.

W1  grade A, US                       workable (grade)
W2  grade C, UK, 800 employees        workable (segment)
W3  grade C, DE, 200 employees        not: too small
W4  grade B, FR, 5000 employees       not: B is not listed, France not in the segment
W5  grade C, "uk", 500 employees      workable: text compares without regard to case, 500 >= 500
W6  grade C, 900 employees, country UK set the next day: not workable, the fields at the
    MQL instant decide

So February has 6 MQLs and 3 workable leads: A 1 of 1, B 0 of 1, C 2 of 4.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsla.config import ConfigError, build_rulebook, load_config_text
from leadsla.core.events import EventTable, parse_instant, read_events
from leadsla.core.scoring import Condition
from leadsla.core.workable import Workable, WorkableSegment
from leadsla.report.figures import workable_mask
from leadsla.report.full import report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents, stored_events
from leadsla.service.imports import import_table
from leadsla.store.database import open_database
from workable_rules import CONDITION_VALUES, workables

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "examples" / "leadsla.yaml").read_text()
WORKABLE = """workable:
  grade: [A]
  segments:
    - name: emea-enterprise
      when:
        - {field: country, op: in, value: [UK, DE]}
        - {field: employees, op: gte, value: 500}
"""
COMMITMENT = (
    "commitments:\n"
    "  - {name: Workable a month, metric: workable_leads, period: month, target: 10}\n"
)
AS_OF = parse_instant("2026-02-27T12:00:00-05:00")


def config_text(workable: str = WORKABLE) -> str:
    text = EXAMPLE.replace("workable: {grade: [A, B]}\n", workable)
    return text.replace("commitments:\n", COMMITMENT, 1)


def _rows(lead: str, day: str, **fields: str) -> list[str]:
    return [f"{lead},2026-02-{day}T09:00:00-05:00,{k},{v}" for k, v in fields.items()]


EVENTS = "\n".join(
    [
        "lead_id,at,field,value",
        *_rows("W1", "02", status="New", grade="A", owner="r1", country="US"),
        *_rows("W2", "02", status="New", grade="C", owner="r1", country="UK", employees="800"),
        *_rows("W3", "02", status="New", grade="C", owner="r2", country="DE", employees="200"),
        *_rows("W4", "02", status="New", grade="B", owner="r2", country="FR", employees="5000"),
        *_rows("W5", "02", status="New", grade="C", owner="r3", country="uk", employees="500"),
        *_rows("W6", "02", status="New", grade="C", owner="r3", employees="900"),
        *_rows("W6", "03", country="UK"),
    ]
)


def settings_of(text: str) -> ReportSettings:
    config = load_config_text(text, "leadsla.yaml")
    return ReportSettings.of(build_rulebook(config), config)


def table_of(settings: ReportSettings) -> EventTable:
    rules = settings.rules
    table, read = read_events(
        io.StringIO(EVENTS), statuses=list(rules.statuses), grades=[g.name for g in rules.grades]
    )
    assert read.errors == []
    return table


def check(figures: dict[str, Any]) -> None:
    february = figures["by_month"]["2026-02"]
    assert (february["mqls"], february["workable_leads"]) == (6, 3)
    assert {g: f["workable_leads"] for g, f in figures["by_grade"].items()} == {
        "A": 1,
        "B": 0,
        "C": 2,
    }
    burn_up = {b["name"]: b["count"] for b in figures["burn_up"]}
    assert burn_up["Workable a month"] == 3


def test_a_lead_is_workable_by_grade_or_by_segment_at_the_mql_instant() -> None:
    settings = settings_of(config_text())
    check(report(LeadEvents.of(table_of(settings)), settings, AS_OF))


def test_the_database_gives_the_same_workable_leads(database_url: str) -> None:
    settings = settings_of(config_text())
    engine = open_database(database_url)
    try:
        import_table(
            engine, settings.rules, table_of(settings).sorted(), source="t", recorded_at=AS_OF
        )
        with engine.connect() as connection:
            check(report(stored_events(connection, AS_OF), settings, AS_OF))
    finally:
        engine.dispose()


def test_grades_alone_as_before() -> None:
    settings = settings_of(config_text("workable: {grade: [A, B]}\n"))
    figures = report(LeadEvents.of(table_of(settings)), settings, AS_OF)
    assert figures["by_month"]["2026-02"]["workable_leads"] == 2  # W1 (A) and W4 (B)


def test_segments_alone_and_one_condition_written_alone() -> None:
    text = config_text(
        "workable:\n  segments:\n    - {name: uk, when: {field: country, op: eq, value: UK}}\n"
    )
    settings = settings_of(text)
    figures = report(LeadEvents.of(table_of(settings)), settings, AS_OF)
    assert figures["by_month"]["2026-02"]["workable_leads"] == 2  # W2, W5 (W6 too late)


def test_the_rule_for_one_lead_and_for_columns_agree() -> None:
    rule = Workable.of(
        ["A"],
        [
            WorkableSegment(
                "big-uk",
                (Condition("country", "in", ("UK", "DE")), Condition("employees", "gte", 500.0)),
            ),
            WorkableSegment("no-country", (Condition("country", "exists", False),)),
        ],
    )
    assert rule.fields == ("country", "employees")
    assert rule.holds("A", {})
    assert rule.holds("C", {"country": "de", "employees": "500"})
    assert not rule.holds("C", {"country": "DE", "employees": "499"})
    assert rule.holds(None, {"employees": "10"})  # no country: the second segment
    assert rule.segment_of({"country": "UK", "employees": "900"}) == "big-uk"
    grade = (np.array([0, 1, -1, 1]), ["A", "C"])
    country = (np.array([-1, 0, 1, 1]), ["UK", "FR"])
    employees = (np.array([0, 0, 0, -1]), ["900"])
    column = rule.column(grade, {"country": country, "employees": employees})
    assert column.tolist() == [True, True, False, False]


@pytest.mark.parametrize(
    ("workable", "message"),
    [
        ("workable: {}\n", "workable: lists no grade and no segment"),
        (
            "workable:\n  segments: [{name: s, when: {field: status, op: eq, value: New}}]\n",
            "field 'status' is an event, not a field of the lead",
        ),
        (
            "workable:\n  segments: [{name: s, when: {field: employees, op: gte, value: many}}]\n",
            "op gte compares numbers",
        ),
        (
            "workable:\n  segments: [{name: s, when: []}]\n",
            "workable.segments[0].when",
        ),
        (
            "workable:\n  segments:\n    - name: s\n      when:\n"
            "        - {field: grade, op: in, value: [A, E]}\n",
            "workable.segments[0].when[0].value[1]: unknown grade",
        ),
        (
            "workable:\n  segments:\n    - {name: s, when: {field: a, value: b}}\n"
            "    - {name: s, when: {field: a, value: c}}\n",
            "names segment s twice",
        ),
    ],
)
def test_a_bad_workable_rule_is_refused_with_its_line(workable: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config_text(config_text(workable), "leadsla.yaml")
    assert message in str(refused.value)
    assert "leadsla.yaml:" in str(refused.value)


ROW_VALUES = {
    "grade": st.sampled_from(["A", "B", "C", None]),
    **{
        name: st.sampled_from([*values, "other", None])
        for name, values in CONDITION_VALUES.items()
        if name != "grade"
    },
}


@hypothesis.settings(max_examples=200, deadline=None)
@given(rule=workables(), rows=st.lists(st.fixed_dictionaries(ROW_VALUES), max_size=8))
def test_the_report_frames_judge_each_row_as_the_engine_judges_a_lead(
    rule: Workable, rows: list[dict[str, str | None]]
) -> None:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(ROW_VALUES, pl.Utf8))
    expected = [
        # As lead_facts: a condition on grade reads the effective grade at the MQL instant.
        rule.holds(row["grade"], {k: v for k, v in row.items() if v is not None})
        for row in rows
    ]
    assert workable_mask(frame, rule).tolist() == expected
