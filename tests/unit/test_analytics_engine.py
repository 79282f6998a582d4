"""The Polars reader reads a plain events file into the table ``read_events`` makes of
it, gives up on anything else, and the report it feeds equals the exact engine's."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from leadsla.config import build_rulebook, load_config
from leadsla.core.events import EventTable, parse_instant, read_events
from leadsla.report import fast_reader, sidecar
from leadsla.report.analytics import analytics
from leadsla.report.fast_reader import BLANKS, read_grouped_events
from leadsla.report.full import report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents, file_events

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"
CONFIG = load_config(EXAMPLE / "leadsla.yaml")
RULES = build_rulebook(CONFIG)
STATUSES = list(RULES.statuses)
GRADES = [grade.name for grade in RULES.grades]
SETTINGS = ReportSettings.of(RULES, CONFIG)

PLAIN = """\
lead_id,at,field,value
L2,2026-03-02T14:00:00Z,status,New
L1,2026-03-02T09:00:00-05:00,score,91
L1,2026-03-02T09:00:00-05:00,status,New
L1,2026-03-02T14:00:00Z,owner,r1
L2,2026-03-02T14:00:00Z,grade,B
L3,2026-03-02T10:30:00.250Z,status,New
L1,2026-03-02T11:20:00-05:00,activity,call:connected
L1,2026-03-02T11:20:00-05:00,status,Contacted
L2,2026-03-03T10:00:00+01:00,status,  Attempting to Contact
L1,2026-03-02T11:20:00-05:00,Status,Contacted
L2,2026-03-03T10:00:00+01:00,owner,
L3,2026-03-01T23:59:59+23:59,owner,r3
L4,2026-03-05T12:00:00Z,amount, 100
"""


def rows_of(table: EventTable) -> list[tuple[str, int, str, str | None, int]]:
    return list(table.sorted().rows())


def careful(text: str) -> EventTable:
    table, report = read_events(io.StringIO(text), statuses=STATUSES, grades=GRADES)
    assert report.errors == []
    return table


@pytest.mark.parametrize("hash_bits", [None, 1, 2])
def test_a_plain_file_reads_as_read_events_reads_it(tmp_path: Path, hash_bits: int | None) -> None:
    # hash_bits 1 or 2: leads share sort buckets and must still come out grouped.
    path = tmp_path / "events.csv"
    path.write_text(PLAIN, encoding="utf-8")
    grouped = read_grouped_events(path, statuses=STATUSES, grades=GRADES, hash_bits=hash_bits)
    assert grouped is not None
    table = grouped.table
    # Lead-grouped: each lead's rows together, by instant and then line.
    starts = np.flatnonzero(np.diff(table.lead)) + 1
    assert len(starts) + 1 == len(np.unique(table.lead)) == 4
    same = table.lead[1:] == table.lead[:-1]
    assert np.all(np.diff(table.at)[same] >= 0)
    named = grouped.named(np.arange(len(table)))
    assert rows_of(named) == rows_of(careful(PLAIN))
    assert grouped.report.rows_read == grouped.report.rows_accepted == 13


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_columns_in_any_order_and_extra_ones_read_as_read_events_reads_them(
    tmp_path: Path, order: tuple[int, ...]
) -> None:
    # An extra column in the middle, the event columns in every order, a header spelled
    # differently: read by name, never by position.
    lines = [line.split(",") for line in PLAIN.splitlines()]
    lines[0] = ["Lead_ID", "At", "Field", "VALUE"]
    moved = [[row[k] for k in order] for row in lines]
    for number, row in enumerate(moved):
        row.insert(2, "note" if number == 0 else f"n{number}")
    text = "".join(",".join(row) + "\n" for row in moved)
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8")
    grouped = read_grouped_events(path, statuses=STATUSES, grades=GRADES)
    assert grouped is not None
    named = grouped.named(np.arange(len(grouped.table)))
    assert rows_of(named) == rows_of(careful(text)) == rows_of(careful(PLAIN))


def test_instants_read_a_slice_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_reader, "_JOIN_ROWS", 3)
    texts = [f"2026-03-{day:02d}T12:00:{day:02d}Z" for day in range(1, 11)]
    read = fast_reader._instants(pl.Series(texts))
    assert read is not None
    micros, whole_seconds = read
    assert micros.tolist() == [parse_instant(text) for text in texts]
    assert whole_seconds
    # A fraction of a second in one layout: the reader no longer knows they are whole.
    mixed = fast_reader._instants(pl.Series([*texts, "2026-03-01T12:00:00.250Z"]))
    assert mixed is not None
    assert mixed[0].tolist() == [parse_instant(t) for t in [*texts, "2026-03-01T12:00:00.250Z"]]
    assert not mixed[1]
    # A bad one in the last slice refuses the column (the careful reader takes it).
    assert fast_reader._instants(pl.Series([*texts[:-1], "2026-02-30T12:00:00Z"])) is None


def test_blanks_are_what_str_isspace_says() -> None:
    # A lead id starting or ending with one of them goes to read_events (which strips it).
    assert set(BLANKS) == {chr(code) for code in range(0x110000) if chr(code).isspace()}


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace("L4,", '"L4",'),  # a quote
        lambda t: t.replace("\n", "\r\n"),  # carriage returns
        lambda t: t + "\n",  # a blank line
        lambda t: t.replace(
            "L4,2026-03-05T12:00:00Z,amount, 100", "L4,2026-03-05T12:00:00Z,amount"
        ),
        lambda t: t.replace("L2,2026-03-02T14:00:00Z,grade,B", "L2,2026-03-02T14:00:00Z,grade,Z"),
        lambda t: t.replace("2026-03-05T12:00:00Z", "2026-02-30T12:00:00Z"),
        lambda t: t.replace("2026-03-05T12:00:00Z", "2026-03-05T12:00:60Z"),
        lambda t: t.replace("+23:59", "+24:00"),
        lambda t: t.replace("2026-03-05T12:00:00Z", "2026-03-05 12:00:00Z"),
        lambda t: t.replace("L4,", " L4,"),
        lambda t: t.replace("L4,", "\x1fL4,"),
        lambda t: t.replace("L4,", "L4\u2003,"),  # a trailing (Unicode) blank
        lambda t: t.replace("L4,", "L4\x85,"),
        lambda t: t.replace("L4,", "\u3000L4,"),
        lambda t: t.replace("L4,", ","),  # an empty lead id
        lambda t: t.replace("2026-03-05T12:00:00Z", "2026-03-05T24:00:00Z"),
        lambda t: t.replace("2026-03-05T12:00:00Z", "2026-03-05t12:00:00Z"),
        lambda t: t.replace("lead_id,", "lead,"),
        lambda t: t.replace("L4,2026-03-05T12:00:00Z,", "L4,,"),  # an empty instant
    ],
)
def test_anything_else_is_left_to_read_events(tmp_path: Path, change: object) -> None:
    path = tmp_path / "events.csv"
    path.write_text(change(PLAIN), encoding="utf-8")  # type: ignore[operator]
    assert read_grouped_events(path, statuses=STATUSES, grades=GRADES) is None


def plain_example(tmp_path: Path) -> tuple[Path, EventTable]:
    """The example history without its bad rows (the Polars reader gives those up): a
    plain file with leads of every kind (upgrades, owner changes, recycling)."""
    lines = (EXAMPLE / "events.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    good = [line for line in lines if "not-a-date" not in line and ",grade,Z" not in line]
    path = tmp_path / "events.csv"
    path.write_text("".join(good), encoding="utf-8")
    return path, careful("".join(good)).sorted()


AS_OF = parse_instant("2026-03-06T18:00:00-05:00")


def fast_report(path: Path, helper_from_bytes: int) -> dict[str, Any]:
    """The report of a file the Polars reader must read (the careful one fails the test)."""

    def careful() -> EventTable:
        raise AssertionError("the Polars reader gave the file up")

    with file_events(
        path, SETTINGS, AS_OF, careful=careful, helper_from_bytes=helper_from_bytes
    ) as events:
        return report(events, SETTINGS, AS_OF)


@pytest.mark.parametrize("helper_from_bytes", [0, 1 << 40])
def test_the_report_of_the_polars_path_equals_the_exact_one(
    tmp_path: Path, helper_from_bytes: int
) -> None:
    # 0: the analytics keys come from the helper process; 1 TiB: from this one.
    path, table = plain_example(tmp_path)
    fast = fast_report(path, helper_from_bytes)
    expected = report(LeadEvents.of(table), SETTINGS, AS_OF)
    assert fast == expected
    assert list(fast) == list(expected)  # the JSON keeps the keys' order
    assert fast["overall"]["mqls"] > 0


def test_the_helper_computes_the_analytics_of_the_lead_grouped_table(tmp_path: Path) -> None:
    path, table = plain_example(tmp_path)
    grouped = read_grouped_events(path, statuses=STATUSES, grades=GRADES)
    assert grouped is not None
    helper = sidecar.AnalyticsHelper.start(SETTINGS, AS_OF)
    assert helper is not None
    shared = helper.share(grouped.table)
    # The table this process goes on with is the same, on the pages it shares.
    for name in sidecar.SHARED_COLUMNS:
        assert np.array_equal(getattr(shared, name), getattr(grouped.table, name))
        assert getattr(shared, name).base is not getattr(grouped.table, name).base
    assert shared.line is grouped.table.line
    assert helper.analytics() == analytics(table, SETTINGS, AS_OF)


def test_without_a_working_helper_the_report_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = plain_example(tmp_path)
    expected = fast_report(path, 1 << 40)
    # A helper that cannot run (its module is not there) leaves the work to this process.
    monkeypatch.setattr(sidecar, "HELPER_MODULE", "leadsla.no_such_module")
    helper = sidecar.AnalyticsHelper.start(SETTINGS, AS_OF)
    # It may be gone before the config reaches it (start gives None), or after.
    if helper is not None:
        grouped = read_grouped_events(path, statuses=STATUSES, grades=GRADES)
        assert grouped is not None
        helper.share(grouped.table)
        assert helper.analytics() is None
    assert fast_report(path, 0) == expected


def test_the_helper_does_not_run_code_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A leadsla/ package where the user stands must not answer for the helper.
    shadow = tmp_path / "leadsla" / "analytics"
    shadow.mkdir(parents=True)
    (tmp_path / "leadsla" / "__init__.py").write_text("", encoding="utf-8")
    (shadow / "__init__.py").write_text("", encoding="utf-8")
    (shadow / "sidecar.py").write_text(
        "import pickle, struct, sys\n"
        "for _ in range(2):  # the config and the layout, as the helper reads them\n"
        "    (size,) = struct.unpack('<Q', sys.stdin.buffer.read(8))\n"
        "    sys.stdin.buffer.read(size)\n"
        "data = pickle.dumps(('ok', {'waterfall': 'from the current directory'}))\n"
        "sys.stdout.buffer.write(struct.pack('<Q', len(data)) + data)\n"
        "sys.stdout.buffer.flush()\n",
        encoding="utf-8",
    )
    path, table = plain_example(tmp_path)
    monkeypatch.chdir(tmp_path)
    fast = fast_report(path, 0)
    assert fast["waterfall"] == analytics(table, SETTINGS, AS_OF)["waterfall"]
