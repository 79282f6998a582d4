"""``leadsla evaluate``'s clocks CSV written in bulk equals the row-by-row one.

The bulk writer (``report/clocks_csv.py``) judges plain leads in columns, formats
instants per calendar zone in NumPy and Polars, and lets Polars write the CSV text.
The reference here is what evaluate wrote before it: every lead replayed by the
engine, each verdict a row through ``clock_rows`` and the :mod:`csv` module. The
histories are those of ``test_columnar`` (every rule of SPEC §4 and §9.1-9.3, two
zones across a daylight-saving change), with lead ids and owner names that need
quoting, hold a carriage return or a newline, or are empty.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_columnar import BASE, MINUTE, STATUSES, Row, histories
from test_plain_verdicts import BOOKS

from leadsla.core.evaluate import lead_results
from leadsla.core.events import EventTable, read_events
from leadsla.core.plain import supported
from leadsla.core.policy import Rulebook
from leadsla.report.clocks_csv import COLUMNS, clock_rows, write_clocks
from leadsla.report.fast_reader import read_grouped_events

GRADES = ["A", "B", "C"]
# Lead ids the careful reader takes, some of which the csv module quotes.
ODD_IDS = st.text(
    alphabet=st.sampled_from(list("Lab1 ,\"'é中😀;#\u2027\xa0")), min_size=1, max_size=5
).filter(lambda text: text == text.strip())
# Owner names (values may hold line breaks): unknown to the agreement, so they keep
# the lead on its default calendar, and written as they are.
ODD_OWNERS = st.text(alphabet=st.sampled_from(list("Ox ,\"\r\n\t'é")), max_size=4)


def csv_text(rows: list[Row], quoting: int = csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=quoting)
    writer.writerow(["lead_id", "at", "field", "value"])
    for lead, at, name, value in rows:
        iso = datetime.fromtimestamp(at / 1_000_000, UTC).isoformat().replace("+00:00", "Z")
        writer.writerow([lead, iso, name, value])
    return out.getvalue()


def careful_table(text: str) -> EventTable:
    table, report = read_events(io.StringIO(text), statuses=STATUSES, grades=GRADES)
    assert report.errors == []
    return table.sorted()


def row_by_row(rules: Rulebook, table: EventTable, as_of: int) -> str:
    """The clocks CSV as evaluate wrote it before the column path: every lead replayed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    batch = [
        (result.lead_id, verdict)
        for result in lead_results(rules, table, as_of, with_instants=True)
        for verdict in result.verdicts
    ]
    writer.writerows(clock_rows(rules, batch))
    return out.getvalue()


def bulk(rules: Rulebook, table: EventTable, as_of: int, jobs: int) -> str:
    out = io.StringIO()
    write_clocks(rules, table, as_of, out, jobs=jobs, parallel_rows=1)
    return out.getvalue()


@st.composite
def odd_histories(draw: st.DrawFn) -> list[Row]:
    """``test_columnar``'s histories, their leads renamed and the unknown owner renamed."""
    rows = draw(histories())
    leads = sorted({lead for lead, _, _, _ in rows})
    names = draw(st.lists(ODD_IDS, min_size=len(leads), max_size=len(leads), unique=True))
    renamed = dict(zip(leads, names, strict=True))
    owner = draw(ODD_OWNERS)
    return [
        (renamed[lead], at, field, owner if field == "owner" and value == "ghost" else value)
        for lead, at, field, value in rows
    ]


@pytest.mark.parametrize("name", sorted(BOOKS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=odd_histories(), after=st.integers(-3 * 24 * 60, 10 * 24 * 60))
def test_the_bulk_render_is_the_csv_modules_byte_for_byte(
    name: str, rows: list[Row], after: int
) -> None:
    rules = BOOKS[name]
    # Every field quoted: the module leaves a carriage return unquoted otherwise.
    table = careful_table(csv_text(rows, csv.QUOTE_ALL))
    as_of = BASE + after * MINUTE
    expected = row_by_row(rules, table, as_of)
    assert bulk(rules, table, as_of, jobs=1) == expected
    # Threads cut the table into ranges between leads: the same text.
    assert bulk(rules, table, as_of, jobs=2) == expected


def test_a_carriage_return_in_a_name_is_written_as_the_csv_module_writes_it() -> None:
    rules = BOOKS["v1"]
    at = BASE + 60 * MINUTE
    rows: list[Row] = [
        ("A,1", at, "status", "New"),
        ("A,1", at, "owner", "x\ry"),
        ('B"2', at, "status", "New"),
        ('B"2', at, "owner", "p,q"),
    ]
    table = careful_table(csv_text(rows, csv.QUOTE_ALL))
    text = bulk(rules, table, BASE + 600 * MINUTE, jobs=1)
    assert text == row_by_row(rules, table, BASE + 600 * MINUTE)
    # Hand-checked: the module quotes a comma and a quote, not a carriage return.
    lines = text.split("\n")
    assert lines[1].startswith('"A,1",follow_up,1,,x\ry,running,')
    assert lines[2].startswith('"B""2",follow_up,1,,"p,q",running,')


def test_evaluate_writes_the_instants_in_each_calendars_zone() -> None:
    rules = BOOKS["v1"]
    # 2026-03-04 14:00 UTC: 09:00 in New York (EST, -05:00); after 8 March, EDT (-04:00).
    rows: list[Row] = [
        ("A", BASE, "status", "New"),
        ("B", BASE + 6 * 24 * 60 * MINUTE, "status", "New"),
    ]
    table = careful_table(csv_text(rows))
    text = bulk(rules, table, BASE + 9 * 24 * 60 * MINUTE, jobs=1)
    assert text == row_by_row(rules, table, BASE + 9 * 24 * 60 * MINUTE)
    started = {line.split(",")[0]: line.split(",")[6] for line in text.splitlines()[1:]}
    assert started == {"A": "2026-03-04T09:00:00-05:00", "B": "2026-03-10T10:00:00-04:00"}


SORTABLE_IDS = st.text(
    alphabet=st.sampled_from(list("Lab1Z é中😀-\u2027\xa0~")), min_size=1, max_size=5
).filter(lambda text: text == text.strip())


@settings(max_examples=100, deadline=None)
@given(
    leads=st.lists(SORTABLE_IDS, min_size=1, max_size=12, unique=True),
    data=st.data(),
)
def test_the_fast_readers_sorted_table_is_the_careful_ones(
    leads: list[str], data: st.DataObject
) -> None:
    rows: list[Row] = []
    for lead in leads:
        for _ in range(data.draw(st.integers(1, 4))):
            at = BASE + data.draw(st.integers(0, 3)) * MINUTE  # ties keep the file's order
            rows.append((lead, at, "status", data.draw(st.sampled_from(["New", "Contacted"]))))
    rows = data.draw(st.permutations(rows))
    text = csv_text(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.csv"
        path.write_text(text, encoding="utf-8")
        grouped = read_grouped_events(path, statuses=STATUSES, grades=GRADES)
    assert grouped is not None
    fast = grouped.sorted()
    careful = careful_table(text)
    assert fast.lead_ids == careful.lead_ids == sorted(leads)
    assert list(fast.rows()) == list(careful.rows())
    assert np.array_equal(fast.lead, careful.lead)
    assert np.array_equal(fast.line, careful.line)


def test_an_instant_before_the_local_1970_is_written_as_the_engine_writes_it() -> None:
    rules = BOOKS["v1"]
    # The first instant an event may have: still 1969 in New York.
    rows: list[Row] = [("A", 0, "status", "New"), ("A", 0, "grade", "A")]
    table = careful_table(csv_text(rows))
    as_of = 3 * 24 * 3600 * 1_000_000
    text = bulk(rules, table, as_of, jobs=1)
    assert text == row_by_row(rules, table, as_of)
    assert text.splitlines()[1].split(",")[6] == "1969-12-31T19:00:00-05:00"


def test_an_agreement_the_columns_cannot_follow_is_written_from_the_replay() -> None:
    # ``applies_to`` on the status: every lead goes to the engine, none to the columns.
    rules = BOOKS["v1"]
    first = rules.policies[0]
    rules = replace(
        rules,
        policies=(
            replace(first, applies_to={"status": frozenset({"New"})}),
            *rules.policies[1:],
        ),
    )
    assert not supported(rules)
    at = BASE + 60 * MINUTE
    rows: list[Row] = [
        ("A", at, "status", "New"),
        ("A", at, "grade", "A"),
        ("B", at, "status", "New"),
        ("B", at + 30 * MINUTE, "status", "Contacted"),
    ]
    table = careful_table(csv_text(rows))
    as_of = BASE + 600 * MINUTE
    text = bulk(rules, table, as_of, jobs=1)
    assert text == row_by_row(rules, table, as_of)
    assert [line.split(",")[:6] for line in text.splitlines()[1:3]] == [
        ["A", "follow_up", "1", "A", "", "breached"],
        ["B", "follow_up", "1", "", "", "met"],
    ]
