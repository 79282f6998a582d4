"""Issue #14 in the readers: the instants and texts an event may have (core.limits), the
same in the careful reader, the fast reader, the connectors and the API's parser."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from leadsla.config import build_rulebook, load_config
from leadsla.connectors import ImportMapping, RejectedRow, convert
from leadsla.core.events import InstantError, parse_event_instant, read_events
from leadsla.core.limits import FIRST_INSTANT, LAST_INSTANT, lead_id_problem, text_problem
from leadsla.report.fast_reader import read_grouped_events
from leadsla.service.ingest import Rejection, event_from_json

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
RULES = build_rulebook(load_config(CONFIG))
STATUSES = list(RULES.statuses)
GRADES = [g.name for g in RULES.grades]
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
OUTSIDE = "is outside the instants leadsla accepts (1970-01-01 to 2199-12-31)"


def read(text: str) -> tuple[list[str], list[str]]:
    """The lead ids of the rows kept, and the errors."""
    table, report = read_events(io.StringIO(text), statuses=STATUSES, grades=GRADES)
    kept = [table.lead_ids[code] for code in table.lead.tolist()]
    return kept, [str(error) for error in report.errors]


def test_the_bounds_are_1970_and_the_end_of_2199() -> None:
    assert parse_event_instant("1970-01-01T00:00:00Z") == FIRST_INSTANT
    assert parse_event_instant("2199-12-31T23:59:59.999999Z") == LAST_INSTANT
    for text in ("1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"):
        with pytest.raises(InstantError, match="outside the instants leadsla accepts"):
            parse_event_instant(text)


def test_text_rules() -> None:
    assert text_problem("ok", 2) is None
    assert "NUL" in (text_problem("a\x00", 10) or "")
    assert "Unicode" in (text_problem("\udc80", 10) or "")
    assert "3 characters long" in (text_problem("abc", 2) or "")
    # Characters, not bytes: a column of 255 holds 255 of any character.
    assert text_problem("é" * 255, 255) is None


def test_lead_id_rules() -> None:
    # Issue #20: every control character (C0, DEL, C1) and the Unicode line breaks.
    refused = [chr(c) for c in [*range(0x01, 0x20), *range(0x7F, 0xA0)]] + ["\u2028", "\u2029"]
    for character in refused:
        problem = lead_id_problem(f"L{character}1") or ""
        assert problem.startswith(f"holds U+{ord(character):04X} at position 2: "), character
    assert "NUL" in (lead_id_problem("L\x001") or "")  # NUL keeps its own reason
    for fine in ("L1", "00Q5e00000AbCdEFGH", "lead ünï", "é-lead", "a b", "<b>&'\"", "\u00a0x"):
        assert lead_id_problem(fine) is None, fine


def test_careful_reader_skips_unstorable_rows_by_line() -> None:
    kept, errors = read(
        "lead_id,at,field,value\n"
        "A,2026-03-02T09:00:00Z,status,New\n"
        "B,0001-01-01T00:00:00+14:00,status,New\n"
        "C,2300-01-01T00:00:00.000Z,status,New\n"
        "D\x00,2026-03-02T09:00:00Z,status,New\n"
        f"{'E' * 256},2026-03-02T09:00:00Z,status,New\n"
        "F,2026-03-02T09:00:00Z,owner," + "r" * 256 + "\n"
        "G,2026-03-02T09:00:00Z,notes," + "n" * 256 + "\n"
    )
    assert kept == ["A", "G"]
    assert errors == [
        f'events.csv:3: at: "0001-01-01T00:00:00+14:00" {OUTSIDE}',
        f'events.csv:4: at: "2300-01-01T00:00:00.000Z" {OUTSIDE}',
        "events.csv:5: lead_id: contains a NUL character, which cannot be stored",
        "events.csv:6: lead_id: is 256 characters long; at most 255 are accepted",
        "events.csv:7: value: is 256 characters long; at most 255 are accepted",
    ]


def test_careful_reader_refuses_control_characters_inside_lead_ids() -> None:
    kept, errors = read(
        "lead_id,at,field,value\n"
        '"A\r\nB",2026-03-02T09:00:00Z,status,New\n'
        "C\x0bD,2026-03-02T09:00:00Z,status,New\n"
        "E\u2029F,2026-03-02T09:00:00Z,status,New\n"
        "G\x9fH,2026-03-02T09:00:00Z,status,New\n"
        " I\t,2026-03-02T09:00:00Z,status,New\n"  # blanks around an id: stripped
        'J,2026-03-02T09:00:00Z,notes,"a note\non two lines"\n'  # values may break
        "K€ é,2026-03-02T09:00:00Z,status,New\n"  # 0xE2 and 0xC3 bytes, no control
        "C\x0bD,2026-03-02T10:00:00Z,status,Contacted\n"  # a spelling judged before
    )
    assert kept == ["I", "J", "K€ é"]
    rule = ": a lead id may hold no control character or line break (CR, LF, tab, …)"
    assert errors == [
        f"events.csv:2: lead_id: holds U+000D at position 2{rule}",
        f"events.csv:4: lead_id: holds U+000B at position 2{rule}",
        f"events.csv:5: lead_id: holds U+2029 at position 2{rule}",
        f"events.csv:6: lead_id: holds U+009F at position 2{rule}",
        f"events.csv:11: lead_id: holds U+000B at position 2{rule}",
    ]


def test_careful_reader_refuses_every_control_character_and_nothing_else() -> None:
    # The reader looks at the bytes of each new spelling first (events._LeadSpellings):
    # none of the refused characters may slip past that look, and the non-ASCII
    # neighbours of their UTF-8 forms (U+00A0, U+2027, U+202A, €) are ids like any.
    refused = [chr(c) for c in [*range(0x01, 0x20), *range(0x7F, 0xA0)]] + ["\u2028", "\u2029"]
    taken = ["\u00a0", "\u00c2", "\u2027", "\u202a", "€", "\u2000"]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["lead_id", "at", "field", "value"])
    for character in refused + taken:
        writer.writerow([f"L{character}1", "2026-03-02T09:00:00Z", "status", "New"])
    table, report = read_events(io.StringIO(out.getvalue(), newline=""), statuses=STATUSES,
                                grades=GRADES)  # fmt: skip
    kept = [table.lead_ids[code] for code in table.lead.tolist()]
    assert kept == [f"L{character}1" for character in taken]
    assert len(report.errors) == len(refused)
    for error, character in zip(report.errors, refused, strict=True):
        assert f"lead_id: holds U+{ord(character):04X} at position 2" in str(error)


def test_an_unclosed_quote_is_reported_where_it_starts_and_the_lost_rows_counted() -> None:
    text = (
        "lead_id,at,field,value\n"
        "A,2026-03-02T09:00:00Z,status,New\n"
        'B,2026-03-02T09:00:00Z,industry,"Soft\n'
        "C,2026-03-02T09:00:00Z,status,New\n"
        "\n"
        "D,2026-03-02T09:00:00Z,status,New\n"
    )
    table, report = read_events(io.StringIO(text), statuses=STATUSES, grades=GRADES)
    assert len(table) == 1
    assert [str(e) for e in report.errors] == [
        "events.csv:3: a quoted field starts here and is never closed; the rest of the file "
        "could not be read (2 more non-blank line(s) skipped)"
    ]
    assert (report.rows_read, report.skipped) == (4, 3)


def test_a_closed_quote_spanning_lines_still_reads() -> None:
    kept, errors = read(
        'lead_id,at,field,value\nA,2026-03-02T09:00:00Z,notes,"two\nlines"\n'
        "B,2026-03-02T09:00:00Z,status,New\n"
    )
    assert (kept, errors) == (["A", "B"], [])


@pytest.mark.parametrize(
    "bad_row",
    [
        "B,0001-01-01T00:00:00+14:00,status,New",
        "B,2300-01-01T00:00:00Z,status,New",
        "B\x00,2026-03-02T09:00:00Z,status,New",
        "B,2026-03-02T09:00:00Z,industry,a\x00b",
        f"{'B' * 256},2026-03-02T09:00:00Z,status,New",
        '"B\r\nC",2026-03-02T09:00:00Z,status,New',
        # Characters a lead id may not hold (core/limits.py): inside the id, where
        # str.strip() leaves them, the careful reader refuses the row.
        "B\x0bC,2026-03-02T09:00:00Z,status,New",
        "B\tC,2026-03-02T09:00:00Z,status,New",
        "B\x7fC,2026-03-02T09:00:00Z,status,New",
        "B\x85C,2026-03-02T09:00:00Z,status,New",
        "B\x9fC,2026-03-02T09:00:00Z,status,New",
        "B\u2028C,2026-03-02T09:00:00Z,status,New",
        "B\u2029C,2026-03-02T09:00:00Z,status,New",
    ],
)
def test_the_fast_reader_leaves_unstorable_rows_to_the_careful_one(
    tmp_path: Path, bad_row: str
) -> None:
    path = tmp_path / "events.csv"
    good = "lead_id,at,field,value\nA,2026-03-02T09:00:00Z,status,New\n"
    path.write_text(good, encoding="utf-8")
    assert read_grouped_events(path, statuses=STATUSES, grades=GRADES) is not None
    path.write_text(good + bad_row + "\n", encoding="utf-8")
    assert read_grouped_events(path, statuses=STATUSES, grades=GRADES) is None


def test_evaluate_and_report_skip_the_rows_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "lead_id,at,field,value\n"
        "A,2026-03-02T09:00:00Z,status,New\n"
        "P0,0001-01-01T00:00:00+14:00,status,New\n"
        'B,2026-03-02T09:00:00Z,industry,"Soft\n'
        "C,2026-03-02T09:00:00Z,status,New\n",
        encoding="utf-8",
    )
    as_of = ("--as-of", "2026-03-06T18:00:00Z")
    for command in (
        [
            "evaluate",
            "--config",
            str(CONFIG),
            "--events",
            str(path),
            *as_of,
            "--output",
            str(tmp_path / "clocks.csv"),
        ],
        ["report", "--config", str(CONFIG), "--events", str(path), *as_of],
    ):
        done = subprocess.run([LEADSLA, *command], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert "events.csv:3: at: " in done.stderr
        assert "events.csv:4: a quoted field starts here and is never closed" in done.stderr
        assert "skipped 3 bad row(s)" in done.stderr


def test_api_parser_refuses_wrong_types_and_unstorable_texts() -> None:
    good = {"lead_id": "L1", "at": "2026-03-02T09:00:00Z", "field": "status", "value": "New"}
    assert not isinstance(event_from_json(good, 0, RULES, STATUSES, GRADES), Rejection)
    for change, reason in [
        ({"lead_id": True}, "lead_id: must be a string or an integer"),
        ({"value": False}, "value: must be a string, a number or null"),
        ({"at": "9999-12-31T23:59:59-14:00"}, "at: "),
        ({"lead_id": "a\ud800"}, "lead_id: is not valid Unicode"),
        ({"field": "f" * 256, "value": "x"}, "field: is 256 characters long"),
        ({"lead_id": "L\r\n1"}, "lead_id: holds U+000D at position 2"),
        ({"lead_id": "L\x85 1"}, "lead_id: holds U+0085 at position 2"),
    ]:
        refused = event_from_json({**good, **change}, 3, RULES, STATUSES, GRADES)
        assert isinstance(refused, Rejection), change
        assert refused.index == 3 and refused.error.startswith(reason), refused


def test_connectors_reject_rows_they_could_not_store() -> None:
    export = (
        "Id,CreatedDate,Status,OwnerId,Rating\n"
        "00Q1,2026-03-02T14:00:00.000+0000,Open - Not Contacted,0051,Hot\n"
        "00Q2,0001-01-01T00:00:00.000+1400,Open - Not Contacted,0051,Hot\n"
        "00Q\x003,2026-03-02T14:00:00.000+0000,Open - Not Contacted,0051,Hot\n"
    )
    items = list(convert(io.StringIO(export), ImportMapping(), source="leads.csv"))
    rejected = {item.line: item.reason for item in items if isinstance(item, RejectedRow)}
    assert sorted(rejected) == [3, 4]
    assert OUTSIDE in rejected[3]
    assert "NUL" in rejected[4]
    assert {item.lead_id for item in items if not isinstance(item, RejectedRow)} == {"00Q1"}


def test_connectors_reject_lead_ids_with_control_characters() -> None:
    export = (
        "Id,CreatedDate,Status,OwnerId,Rating\n"
        "00Q1,2026-03-02T14:00:00.000+0000,Open - Not Contacted,0051,Hot\n"
        '"00Q\r\n2",2026-03-02T14:00:00.000+0000,Open - Not Contacted,0051,Hot\n'
        "00Q\x0b3,2026-03-02T14:00:00.000+0000,Open - Not Contacted,0051,Hot\n"
    )
    items = list(convert(io.StringIO(export, newline=""), ImportMapping(), source="leads.csv"))
    rejected = {item.line: item.reason for item in items if isinstance(item, RejectedRow)}
    assert sorted(rejected) == [3, 5]
    assert all("lead_id: holds U+" in reason for reason in rejected.values()), rejected
    assert {item.lead_id for item in items if not isinstance(item, RejectedRow)} == {"00Q1"}


@pytest.mark.parametrize("lead_id", ["B\x0bC", "B\x7fC", "B\x85C", "B\u2028C"])
def test_the_careful_reader_refuses_the_ids_the_fast_one_gives_up(lead_id: str) -> None:
    # The careful reader is what evaluate falls back to: it must refuse the row, naming it.
    kept, errors = read(
        "lead_id,at,field,value\nA,2026-03-02T09:00:00Z,status,New\n"
        f"{lead_id},2026-03-02T09:00:00Z,status,New\n"
    )
    assert kept == ["A"]
    assert errors == [
        f"events.csv:3: lead_id: holds U+{ord(lead_id[1]):04X} at position 2: a lead id may "
        "hold no control character or line break (CR, LF, tab, …)"
    ]


@pytest.mark.parametrize("lead_id", ["B\u2027C", "B\xa0C", "B\xa1C", "Bé C"])
def test_the_fast_reader_keeps_ids_next_to_the_refused_characters(
    tmp_path: Path, lead_id: str
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        f"lead_id,at,field,value\nA,2026-03-02T09:00:00Z,status,New\n"
        f"{lead_id},2026-03-02T09:00:00Z,status,New\n",
        encoding="utf-8",
    )
    grouped = read_grouped_events(path, statuses=STATUSES, grades=GRADES)
    assert grouped is not None
    assert sorted(grouped.lead_column.to_list()) == ["A", lead_id]
    kept, errors = read(path.read_text(encoding="utf-8"))
    assert (sorted(kept), errors) == (["A", lead_id], [])
