"""Reading events: instants, validation with line numbers, sorting, and bulk paths equal to csv."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsla.core import events
from leadsla.core.columns import Int64Array, UInt64Array
from leadsla.core.events import (
    EventFileError,
    EventTable,
    InstantError,
    RowError,
    parse_instant,
    parse_instants,
    read_events,
)
from leadsla.core.instants import format_instant, format_instants
from leadsla.core.limits import lead_id_problem
from leadsla.core.policy import DEFAULT_STATUSES

STATUSES = list(DEFAULT_STATUSES)
GRADES = ["A", "B", "C"]
HEADER = "lead_id,at,field,value\n"
T0 = "2026-03-02T09:15:00Z"
T0_MICROS = int(datetime(2026, 3, 2, 9, 15, tzinfo=UTC).timestamp()) * 1_000_000
Row = tuple[str, int, str, str | None, int]


def micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def read(text: str, chunk_rows: int = 100_000) -> tuple[EventTable, events.ReadReport]:
    return read_events(io.StringIO(text), statuses=STATUSES, grades=GRADES, chunk_rows=chunk_rows)


def sorted_rows(table: EventTable) -> list[Row]:
    return list(table.sorted().rows())


# -- instants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T09:15:00Z", datetime(2026, 3, 2, 9, 15, tzinfo=UTC)),
        ("2026-03-02T09:15:00-05:00", datetime(2026, 3, 2, 14, 15, tzinfo=UTC)),
        ("2026-03-02T09:15:00+05:30", datetime(2026, 3, 2, 3, 45, tzinfo=UTC)),
        ("2026-03-02T09:15:00+0530", datetime(2026, 3, 2, 3, 45, tzinfo=UTC)),
        ("2026-03-02T09:15:00+05", datetime(2026, 3, 2, 4, 15, tzinfo=UTC)),
        ("2026-03-02T09:15:00.5Z", datetime(2026, 3, 2, 9, 15, 0, 500_000, tzinfo=UTC)),
        ("2026-03-02T09:15:00.123456-05:00", datetime(2026, 3, 2, 14, 15, 0, 123_456, tzinfo=UTC)),
        ("2026-03-02T09:15:00.000+0000", datetime(2026, 3, 2, 9, 15, tzinfo=UTC)),
        ("2026-03-02 09:15:00Z", datetime(2026, 3, 2, 9, 15, tzinfo=UTC)),
        ("2026-03-02t09:15z", datetime(2026, 3, 2, 9, 15, tzinfo=UTC)),
        ("  2026-03-02T09:15:00Z ", datetime(2026, 3, 2, 9, 15, tzinfo=UTC)),
        ("2024-02-29T23:59:59-00:00", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("1969-12-31T23:59:59.5Z", datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)),
    ],
)
def test_parse_instant_reads_utc_offsets_and_fractions(text: str, expected: datetime) -> None:
    assert parse_instant(text) == micros(expected)
    values, valid = parse_instants([text])
    assert valid.tolist() == [True]
    assert values.tolist() == [micros(expected)]


def test_a_naive_instant_is_refused_with_a_hint() -> None:
    with pytest.raises(InstantError, match="has no UTC offset") as caught:
        parse_instant("2026-03-02T09:15:00")
    assert "2026-03-02T09:15:00Z" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-02T09:15:00Z",
        "2026-02-29T09:15:00Z",
        "2026-04-31T09:15:00Z",
        "2026-03-02T24:00:00Z",
        "2026-03-02T09:60:00Z",
        "2026-03-02T09:15:60Z",
        "2026-03-02T09:15:00+24:00",
        "2026-03-02T09:15:00+05:60",
        "0000-01-01T00:00:00Z",
        "2026-13-02",
        "2026-03-02",
        "20260302T091500Z",
        "2026-W10-1T09:15:00Z",
        "2026-03-02X09:15:00Z",
        "2026-03-02T09:15:00ZZ",
        "２０２６-03-02T09:15:00Z",
        "yesterday",
        "",
    ],
)
def test_bad_instants_are_refused(text: str) -> None:
    with pytest.raises(InstantError, match=r"ISO 8601 instant with a UTC offset|no UTC offset"):
        parse_instant(text)
    values, valid = parse_instants([text, T0])
    assert valid.tolist() == [False, True]
    assert values[1] == T0_MICROS


def test_the_message_quotes_the_text() -> None:
    with pytest.raises(InstantError) as caught:
        parse_instant("2026-13-02")
    assert str(caught.value) == '"2026-13-02" is not an ISO 8601 instant with a UTC offset'


aware_datetimes = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)


@settings(max_examples=500)
@given(
    moments=st.lists(aware_datetimes, min_size=1, max_size=20),
    timespec=st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    zulu=st.booleans(),
)
def test_fast_paths_agree_with_fromisoformat(
    moments: list[datetime], timespec: str, zulu: bool
) -> None:
    texts = [moment.isoformat(timespec=timespec) for moment in moments]
    if zulu:
        texts = [text.replace("+00:00", "Z") for text in texts]
    expected = [micros(datetime.fromisoformat(text)) for text in texts]
    assert [parse_instant(text) for text in texts] == expected
    values, valid = parse_instants(texts)
    assert valid.all()
    assert values.tolist() == expected


@settings(max_examples=300)
@given(
    moment=aware_datetimes,
    position=st.integers(0, 24),
    char=st.sampled_from("0123456789+-:TZ. x"),
)
def test_bulk_and_scalar_parsing_agree_on_damaged_texts(
    moment: datetime, position: int, char: str
) -> None:
    text = moment.isoformat(timespec="seconds")
    damaged = text[:position] + char + text[position + 1 :]
    try:
        expected: int | None = parse_instant(damaged)
    except InstantError:
        expected = None
    values, valid = parse_instants([damaged])
    assert (int(values[0]) if valid[0] else None) == expected
    if expected is not None:
        assert expected == micros(datetime.fromisoformat(damaged.replace("Z", "+00:00")))


def test_format_instant_writes_the_zone_offset_at_second_precision() -> None:
    new_york = ZoneInfo("America/New_York")
    assert format_instant(parse_instant("2026-03-02T22:00:00Z"), new_york) == (
        "2026-03-02T17:00:00-05:00"
    )
    assert format_instant(parse_instant("2026-07-01T21:00:00.999Z"), new_york) == (
        "2026-07-01T17:00:00-04:00"
    )
    assert format_instant(-1, UTC) == "1969-12-31T23:59:59+00:00"


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
def test_one_instant_is_written_as_the_vectorised_formatter_writes_it(zone: str) -> None:
    rng = random.Random(zone)
    # Around every transition of 1900-2100 and at random instants, sub-seconds included.
    instants = [rng.randrange(-2_208_988_800_000_000, 4_102_444_800_000_000) for _ in range(2000)]
    instants += [
        hour * 3_600_000_000 + delta
        for hour in range(491_000, 491_000 + 24 * 400, 7)
        for delta in (-1, 0, 1, 1_800_000_000)
    ]
    expected = format_instants(np.array(instants, dtype=np.int64), ZoneInfo(zone))
    assert [format_instant(i, ZoneInfo(zone)) for i in instants] == expected


# -- reading -------------------------------------------------------------------------


def test_good_rows_come_through_normalised() -> None:
    table, report = read(
        HEADER
        + f"L1,{T0},status,New\n"
        + f" L1 ,{T0}, Owner ,  rep7  \n"
        + "L2,2026-03-02T10:15:00+01:00,industry,Retail\n"
        + f"L2,{T0},grade,\n"
        + f'L3,{T0},status,"Attempting to Contact"\n'
        + f"L3,{T0},activity,call:connected\n"
        + f"L3,{T0},score,87.5\n"
    )
    assert (report.rows_read, report.rows_accepted, report.skipped, report.errors) == (7, 7, 0, [])
    assert sorted_rows(table) == [
        ("L1", T0_MICROS, "status", "New", 2),
        ("L1", T0_MICROS, "owner", "rep7", 3),
        ("L2", T0_MICROS, "industry", "Retail", 4),
        ("L2", T0_MICROS, "grade", None, 5),
        ("L3", T0_MICROS, "status", "Attempting to Contact", 6),
        ("L3", T0_MICROS, "activity", "call:connected", 7),
        ("L3", T0_MICROS, "score", "87.5", 8),
    ]
    assert table.lead.dtype == np.int32
    assert table.at.dtype == np.int64
    assert table.field.dtype == np.int16
    assert table.value.dtype == np.int32
    assert table.line.dtype == np.int64


BAD_ROWS = [
    (f",{T0},status,New", "lead_id", "empty"),
    ("L9,2026-13-02,status,New", "at", '"2026-13-02" is not an ISO 8601 instant'),
    ("L9,2026-03-02T09:15:00,status,New", "at", "has no UTC offset"),
    ("L9,,status,New", "at", "empty"),
    (f"L9,{T0},,New", "field", "empty"),
    (f"L9,{T0},status,Open", "value", '"Open" is not a status of the config'),
    (f"L9,{T0},grade,Z", "value", '"Z" is not a grade of the config (A, B, C)'),
    (f"L9,{T0},score,high", "value", '"high" is not a number'),
    (f"L9,{T0},score,nan", "value", '"nan" is not a finite number'),
    (f"L9,{T0},activity,call", "value", "is not <kind>:<outcome>"),
    (f"L9,{T0},activity,fax:sent", "value", '"fax" is not an activity kind'),
    (f"L9,{T0},activity,call:maybe", "value", '"maybe" is not an activity outcome'),
    (f"L9,{T0},status", None, "expected 4 columns as in the header, found 3"),
    (f"L9,{T0},status,New,extra", None, "expected 4 columns as in the header, found 5"),
    (f'L9,{T0},status,"New", "x"', None, "expected 4 columns"),
]


@pytest.mark.parametrize(("bad", "column", "message"), BAD_ROWS)
def test_a_bad_row_is_reported_with_line_and_column_and_skipped(
    bad: str, column: str | None, message: str
) -> None:
    text = HEADER + f"L1,{T0},status,New\n" + bad + "\n" + f"L2,{T0},owner,rep1\n"
    table, report = read(text)
    assert (report.rows_read, report.rows_accepted, report.skipped) == (3, 2, 1)
    [error] = report.errors
    assert (error.line, error.column) == (3, column)
    assert message in error.message
    assert str(error).startswith("events.csv:3: ")
    assert sorted_rows(table) == [
        ("L1", T0_MICROS, "status", "New", 2),
        ("L2", T0_MICROS, "owner", "rep1", 4),
    ]


def test_a_row_error_reads_like_a_compiler_message() -> None:
    error = RowError(17, "at", '"2026-13-02" is not an ISO 8601 instant with a UTC offset')
    assert str(error) == (
        'events.csv:17: at: "2026-13-02" is not an ISO 8601 instant with a UTC offset'
    )
    assert str(RowError(3, None, "expected 4 columns", "in.csv")) == "in.csv:3: expected 4 columns"


def test_the_first_bad_column_is_the_one_reported() -> None:
    _, report = read(HEADER + ",yesterday,,\n" + "L1,yesterday,,\n" + f"L1,{T0},,\n")
    assert [(e.line, e.column) for e in report.errors] == [(2, "lead_id"), (3, "at"), (4, "field")]


def test_free_fields_and_empty_values_are_accepted() -> None:
    table, report = read(
        HEADER
        + f"L1,{T0},owner,anyone at all\n"
        + f"L1,{T0},status,\n"
        + f"L1,{T0},score,\n"
        + f"L1,{T0},activity,\n"
        + f"L1,{T0},product_line,Widgets: Large\n"
    )
    assert report.skipped == 0
    assert [(field, value) for _, _, field, value, _ in sorted_rows(table)] == [
        ("owner", "anyone at all"),
        ("status", None),
        ("score", None),
        ("activity", None),
        ("product_line", "Widgets: Large"),
    ]


def test_blank_lines_and_empty_rows_are_skipped_silently() -> None:
    table, report = read(HEADER + "\n" + f"L1,{T0},status,New\n" + "  \n" + ",,,\n" + " , , ,\n")
    assert (report.rows_read, report.skipped) == (1, 0)
    assert [row[4] for row in sorted_rows(table)] == [3]


def test_an_out_of_order_file_is_sorted_by_lead_instant_and_line() -> None:
    table, report = read(
        HEADER
        + "L2,2026-03-02T12:00:00Z,status,New\n"
        + "L10,2026-03-01T12:00:00Z,status,New\n"
        + "L1,2026-03-03T12:00:00Z,status,Contacted\n"
        + "L2,2026-03-02T07:00:00-05:00,owner,rep1\n"
        + "L1,2026-03-02T12:00:00Z,status,New\n"
    )
    assert report.skipped == 0
    ordered = table.sorted()
    assert ordered.lead_ids == ["L1", "L10", "L2"]
    assert [(lead, line) for lead, _, _, _, line in ordered.rows()] == [
        ("L1", 6),
        ("L1", 4),
        ("L10", 3),
        ("L2", 2),
        ("L2", 5),
    ]
    assert list(ordered.lead_slices()) == [("L1", 0, 2), ("L10", 2, 3), ("L2", 3, 5)]


def test_rows_of_one_instant_keep_file_order() -> None:
    lines = [f"L1,{T0},status,{status}\n" for status in ["New", "Contacted", "Qualified"]]
    lines.insert(1, "L1,2026-03-02T10:15:00+01:00,owner,rep1\n")  # the same instant
    lines.append("L1,2026-03-01T00:00:00Z,status,New\n")
    table, _ = read(HEADER + "".join(lines))
    assert [(value, line) for _, _, _, value, line in sorted_rows(table)] == [
        ("New", 6),
        ("New", 2),
        ("rep1", 3),
        ("Contacted", 4),
        ("Qualified", 5),
    ]


def test_sorting_a_table_not_in_line_order_still_breaks_ties_by_line() -> None:
    first, _ = read(HEADER + "\n\n\n" + f"L1,{T0},status,New\n")
    second, _ = read(HEADER + f"L1,{T0},status,Contacted\n")
    combined = EventTable.concat([first, second])
    assert combined.line.tolist() == [5, 2]
    assert [(value, line) for _, _, _, value, line in sorted_rows(combined)] == [
        ("Contacted", 2),
        ("New", 5),
    ]


@settings(max_examples=300)
@given(
    names=st.lists(st.text(max_size=3), min_size=1, max_size=6, unique=True),
    rows=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.one_of(
                st.integers(0, 50).map(lambda k: T0_MICROS + k * 1_000_000),
                st.integers(-(2**61), 2**61),
                st.integers(0, 3).map(lambda k: T0_MICROS + k * 1000),
            ),
        ),
        max_size=40,
    ),
    in_line_order=st.booleans(),
    shuffle=st.randoms(use_true_random=False),
)
def test_sorted_orders_by_lead_id_instant_and_line(
    names: list[str],
    rows: list[tuple[int, int]],
    in_line_order: bool,
    shuffle: random.Random,
) -> None:
    lines = list(range(2, 2 + len(rows)))
    if not in_line_order:
        shuffle.shuffle(lines)
    leads = [lead % len(names) for lead, _ in rows]
    table = EventTable(
        lead=np.array(leads, dtype=np.int32),
        at=np.array([at for _, at in rows], dtype=np.int64),
        field=np.zeros(len(rows), dtype=np.int16),
        value=np.full(len(rows), -1, dtype=np.int32),
        line=np.array(lines, dtype=np.int64),
        lead_ids=names,
        fields=["status"],
        values=[],
    )
    expected = sorted(
        (names[lead], at, "status", None, line)
        for lead, (_, at), line in zip(leads, rows, lines, strict=True)
    )
    ordered = table.sorted()
    assert list(ordered.rows()) == expected
    assert ordered.lead_ids == sorted({names[lead] for lead in leads})
    assert [lead for lead, _, _ in ordered.lead_slices()] == ordered.lead_ids


def test_lead_slices_need_a_sorted_table() -> None:
    table, _ = read(HEADER + f"L2,{T0},status,New\n" + f"L1,{T0},status,New\n")
    with pytest.raises(ValueError, match="sorted"):
        list(table.lead_slices())
    assert list(EventTable.empty().lead_slices()) == []


MESSY = (
    "Value,AT,extra, Lead_ID ,Field\n"
    f'"Attempting to Contact",{T0},x,L1,status\n'
    "\n"
    f'"two\nlines, with a comma",{T0},"y",L2,note\n'
    f"New,2026-13-02,x,L3,status\n"
    f'"say ""hi""",{T0},,L1,note\n'
    f"New,{T0},x,L4\n"
    f'"a\n\nb",{T0},,L5,note\n'
    f"Bogus,{T0},,L6,status\n"
    f"New,2026-03-02T09:15:00.25-05:00,,L7,status\n"
    f"New,{T0},, L8,status\n"
    f"New,{T0},,L8,Status\n"
    f"rep1,{T0},,L9,owner"
)


def test_quoted_fields_over_several_lines_keep_line_numbers() -> None:
    table, report = read(MESSY)
    assert [(e.line, e.column) for e in report.errors] == [(6, "at"), (8, None), (12, "value")]
    assert (report.rows_read, report.rows_accepted) == (11, 8)
    rows = sorted_rows(table)
    assert [(lead, field, value, line) for lead, _, field, value, line in rows] == [
        ("L1", "status", "Attempting to Contact", 2),
        ("L1", "note", 'say "hi"', 7),
        ("L2", "note", "two\nlines, with a comma", 4),
        ("L5", "note", "a\n\nb", 9),
        ("L7", "status", "New", 13),
        ("L8", "status", "New", 14),
        ("L8", "status", "New", 15),
        ("L9", "owner", "rep1", 16),
    ]


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5, 7, 100_000])
def test_chunk_boundaries_change_nothing(chunk_rows: int) -> None:
    whole, whole_report = read(MESSY)
    table, report = read(MESSY, chunk_rows=chunk_rows)
    assert report == whole_report
    assert sorted_rows(table) == sorted_rows(whole)


def test_line_endings_and_a_missing_final_line_break() -> None:
    expected, _ = read(MESSY)
    crlf = MESSY.replace("\n", "\r\n")
    for lines in (
        io.StringIO(crlf, newline=""),
        io.StringIO(MESSY + "\n"),
        [line + "\n" for line in MESSY.split("\n")],
    ):
        table, report = read_events(lines, statuses=STATUSES, grades=GRADES, chunk_rows=3)
        assert [(e.line, e.column) for e in report.errors] == [(6, "at"), (8, None), (12, "value")]
        rows = sorted_rows(table)
        assert [row[4] for row in rows] == [row[4] for row in sorted_rows(expected)]
        # Line breaks inside quoted values are kept as the file spells them.
        assert [(row[3] or "").replace("\r\n", "\n") for row in rows] == [
            row[3] for row in sorted_rows(expected)
        ]


def test_lines_without_line_breaks_are_records_of_their_own() -> None:
    lines = ["lead_id,at,field,value", f"L1,{T0},status,New", "", f"L2,{T0},owner,rep1"]
    table, report = read_events(lines, statuses=STATUSES, grades=GRADES)
    assert report.skipped == 0
    assert [(lead, line) for lead, _, _, _, line in sorted_rows(table)] == [("L1", 2), ("L2", 4)]


def test_a_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("\ufeff" + MESSY, encoding="utf-8")
    with path.open(newline="", encoding="utf-8") as handle:
        table, report = read_events(handle, statuses=STATUSES, grades=GRADES, source=str(path))
    assert len(table) == 8
    assert str(report.errors[0]).startswith(f"{path}:6: at: ")


def test_a_missing_header_column_is_fatal_and_named() -> None:
    with pytest.raises(EventFileError, match=r"in\.csv: the header has no column at, value"):
        read_events(
            io.StringIO("lead_id,when,field\nL1,x,status\n"),
            statuses=STATUSES,
            grades=GRADES,
            source="in.csv",
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty"), ("\n\n", "is empty"), ("lead_id,at,at,field,value\n", "more than once")],
)
def test_an_unreadable_header_is_fatal(text: str, message: str) -> None:
    with pytest.raises(EventFileError, match=message):
        read(text)


def test_a_header_alone_is_an_empty_table() -> None:
    table, report = read(HEADER)
    assert (len(table), report.rows_read, report.errors) == (0, 0, [])
    assert list(table.sorted().lead_slices()) == []


def test_all_errors_are_counted_and_the_first_ones_kept() -> None:
    bad = "".join(f"L{i},never,status,New\n" for i in range(50))
    progress: list[int] = []
    table, report = read_events(
        io.StringIO(HEADER + bad + f"L1,{T0},status,New\n"),
        statuses=STATUSES,
        grades=GRADES,
        chunk_rows=20,
        max_errors_kept=7,
        progress=progress.append,
    )
    assert (report.rows_read, report.rows_accepted, report.skipped) == (51, 1, 50)
    assert [error.line for error in report.errors] == list(range(2, 9))
    assert report.errors_not_kept == 43
    assert progress == [20, 40, 51]
    assert len(table) == 1


def test_concat_merges_the_code_tables() -> None:
    first, _ = read(HEADER + f"L1,{T0},status,New\n" + f"L2,{T0},grade,\n")
    second, _ = read(HEADER + f"L2,{T0},owner,rep1\n" + f"L3,{T0},status,New\n")
    combined = EventTable.concat([first, second])
    assert sorted(combined.rows()) == sorted([*first.rows(), *second.rows()])
    assert sorted(combined.lead_ids) == ["L1", "L2", "L3"]


# -- the bulk paths against csv --------------------------------------------------------

lead_ids = st.one_of(
    st.sampled_from(["L1", "L2", "L10", "00Q5e00000AbCdEFGH", "é-lead", "lead ünï"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00\r"), max_size=50),
)
values = st.one_of(
    st.sampled_from(["New", "Contacted", "rep1", "A", "call:connected", "", "  spaced  "]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60),
)
instants = st.integers(0, 4_000_000_000).map(
    lambda seconds: datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
)
records = st.lists(
    st.tuples(lead_ids, instants, st.sampled_from(["owner", "note", "Industry"]), values),
    max_size=30,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    rows=records,
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    chunk_rows=st.integers(1, 12),
    terminator=st.sampled_from(["\n", "\r\n"]),
)
def test_any_table_written_by_csv_reads_back(
    rows: list[tuple[str, str, str, str]],
    quoting: Literal[0, 1, 2, 3],
    chunk_rows: int,
    terminator: str,
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, quoting=quoting, lineterminator=terminator)
    writer.writerow(["lead_id", "at", "field", "value"])
    writer.writerows(rows)
    table, report = read_events(
        io.StringIO(out.getvalue(), newline=""),
        statuses=STATUSES,
        grades=GRADES,
        chunk_rows=chunk_rows,
    )
    # What csv itself reads, with the line each record starts on.
    reader = csv.reader(io.StringIO(out.getvalue(), newline=""))
    next(reader)
    expected: list[Row] = []
    previous = reader.line_num
    for record in reader:
        line, previous = previous + 1, reader.line_num
        if len(record) != 4:
            continue  # a lone carriage return, which QUOTE_MINIMAL leaves unquoted
        lead, at, field, value = record
        # An id with a control character or line break inside is refused (issue #20).
        if lead.strip() and lead_id_problem(lead.strip()) is None:
            expected.append(
                (lead.strip(), parse_instant(at), field.lower(), value.strip() or None, line)
            )
    expected.sort(key=lambda row: (row[0], row[1], row[4]))
    assert sorted_rows(table) == expected
    assert report.rows_accepted == len(expected)


@pytest.mark.parametrize("chunk_rows", [1, 4])
def test_hash_collisions_fall_back_to_exact_comparison(
    monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    # With one row a block, strings collide across blocks; with four, within one too.
    long_id = "L" + "x" * 60
    text = (
        MESSY
        + "\n"
        + "".join(f"{v},{T0},,{lead},owner\n" for lead in [long_id, "L1", " L1"] for v in "ab")
    )
    honest, honest_report = read(text, chunk_rows=chunk_rows)
    real = events._range_hashes

    def colliding(
        text: events._Text, starts: Int64Array, lengths: Int64Array
    ) -> tuple[UInt64Array, list[UInt64Array]]:
        hashes, words = real(text, starts, lengths)
        return np.zeros_like(hashes), words

    monkeypatch.setattr(events, "_range_hashes", colliding)
    table, report = read(text, chunk_rows=chunk_rows)
    assert report == honest_report
    assert sorted_rows(table) == sorted_rows(honest)
    assert long_id in table.lead_ids
    assert table.sorted().lead_ids.count("L1") == 1


def test_a_large_file_has_few_distinct_python_strings() -> None:
    days = [date(2026, 1, 1) + timedelta(days=k) for k in range(300)]
    text = HEADER + "".join(
        f"L{k % 997:05d},{days[k % 300].isoformat()}T0{k % 10}:00:00-05:00,"
        f"{'status' if k % 3 else 'owner'},{'New' if k % 3 else f'rep{k % 7}'}\n"
        for k in range(20_000)
    )
    table, report = read(text, chunk_rows=3_000)
    assert (report.rows_accepted, len(table.lead_ids), len(table.values)) == (20_000, 997, 8)
    ordered = table.sorted()
    slices = list(ordered.lead_slices())
    assert len(slices) == 997
    assert all(np.all(np.diff(ordered.at[start:stop]) >= 0) for _, start, stop in slices)
