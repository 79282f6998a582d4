"""The command line of SPEC §5, run as a user runs it: the installed ``leadsla`` on real files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.columnar import replayed_facts
from leadsla.core.events import parse_instant, read_events
from leadsla.core.metrics import scorecard
from leadsla.demo.generate import HistoryShape, write_history
from leadsla.report.analytics import analytics
from leadsla.report.clocks_csv import write_clocks
from leadsla.report.fast_reader import read_grouped_events
from leadsla.report.settings import ReportSettings
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.store.tables import api_tokens

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
EVENTS = ROOT / "examples" / "events.csv"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def leadsla(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSLA, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


# -- calendar add / elapsed --------------------------------------------------------------


def test_calendar_add_writes_closing_instants(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "start,duration\n"
        "2026-03-02T09:00:00-05:00,7 business hours\n"  # us-east has a lunch break: 7 h a day
        "2026-03-07T12:00:00-05:00,1 business day\n"  # Saturday noon
        "2026-03-02T09:00:00-05:00,24 hours\n"
        "2026-03-06T16:30:00-05:00,1 business hour\n",  # across the DST change
        encoding="utf-8",
    )
    target = tmp_path / "out.csv"
    result = leadsla(
        "calendar", "add", "--config", CONFIG, "--calendar", "us-east",
        "--input", source, "--output", target,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_csv(target)
    assert [r["deadline"] for r in rows] == [
        "2026-03-02T17:00:00-05:00",
        "2026-03-09T17:00:00-04:00",
        "2026-03-03T09:00:00-05:00",
        "2026-03-09T09:30:00-04:00",
    ]
    assert rows[0]["duration"] == "7 business hours"


def test_calendar_add_reports_bad_rows_and_keeps_the_good(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "start,duration\n"
        "2026-03-02T09:00:00-05:00,8 biz hours\n"
        "2026-03-02 09:00,1 hour\n"
        "2026-03-02T09:00:00-05:00,1 business hour\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.csv"
    result = leadsla(
        "calendar", "add", "--config", CONFIG, "--calendar", "us-east",
        "--input", source, "--output", target,
    )  # fmt: skip
    no_traceback(result)
    assert result.returncode == 0
    assert f"{source}:2: duration:" in result.stderr
    assert f"{source}:3: start:" in result.stderr
    assert "skipped 2 bad row(s)" in result.stderr
    rows = read_csv(target)
    assert [r["deadline"] for r in rows] == ["", "", "2026-03-02T10:00:00-05:00"]
    assert rows[0]["error"].startswith(f"{source}:2: duration: '8 biz hours' has an unknown unit")
    assert rows[2]["error"] == ""


def test_calendar_elapsed_gives_signed_whole_seconds(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "start,end\n"
        "2026-03-02T17:00:00-05:00,2026-03-02T18:30:00-05:00\n"
        "2026-03-02T09:00:00-05:00,2026-03-03T09:00:00-05:00\n"
        "2026-03-03T09:00:00-05:00,2026-03-02T09:00:00-05:00\n"
        "2026-03-02T11:59:59.900000-05:00,2026-03-02T13:00:00-05:00\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.csv"
    result = leadsla(
        "calendar", "elapsed", "--config", CONFIG, "--calendar", "us-east",
        "--input", source, "--output", target,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [r["business_seconds"] for r in read_csv(target)] == ["0", "25200", "-25200", "0"]


def test_unknown_calendar_is_one_clear_line(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("start,end\n", encoding="utf-8")
    result = leadsla(
        "calendar", "elapsed", "--config", CONFIG, "--calendar", "mars",
        "--input", source, "--output", tmp_path / "out.csv",
    )  # fmt: skip
    no_traceback(result)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "leadsla: error: --calendar: no calendar named 'mars' in the config (it has: uk, us-east)"
    ]


# -- evaluate -------------------------------------------------------------------------------


def test_evaluate_example_history(tmp_path: Path) -> None:
    target = tmp_path / "clocks.csv"
    result = leadsla(
        "evaluate", "--config", CONFIG, "--events", EVENTS,
        "--as-of", "2026-03-06T18:00:00-05:00", "--output", target,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{EVENTS}:29: at:" in result.stderr
    assert f"{EVENTS}:30: value:" in result.stderr
    assert "skipped 2 bad row(s)" in result.stderr
    rows = read_csv(target)
    assert list(rows[0]) == [
        "lead_id", "policy", "cycle", "grade", "owner", "state", "started_at", "due_at",
        "stopped_at", "business_seconds", "escalations", "attempts",
    ]  # fmt: skip
    keys = [(r["lead_id"], r["policy"], int(r["cycle"])) for r in rows]
    assert keys == sorted(keys)
    by_key = {(r["lead_id"], r["policy"], r["cycle"]): r for r in rows}
    first = by_key[("L001", "follow_up", "1")]
    assert (first["state"], first["due_at"], first["business_seconds"], first["attempts"]) == (
        "met",
        "2026-03-03T10:00:00-05:00",
        "8400",
        "1",  # the call that stopped it
    )
    stale = by_key[("L003", "follow_up", "1")]
    assert (stale["state"], stale["owner"], stale["escalations"]) == ("breached", "r2", "3")
    london = by_key[("L004", "follow_up", "1")]
    assert london["started_at"] == "2026-03-02T14:00:00+00:00"  # r3's calendar is uk
    assert london["state"] == "running"  # C is optional: it would read lapsed, not breached
    recycled = by_key[("L005", "follow_up", "2")]
    assert recycled["state"] == "breached"


def test_evaluate_with_a_bad_config_names_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "leadsla.yaml"
    text = CONFIG.read_text(encoding="utf-8").replace(
        "target: {A: 8 business hours", "target: {A: 8 biz hours"
    )
    config.write_text(text, encoding="utf-8")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "8 biz hours" in s)
    result = leadsla(
        "evaluate", "--config", config, "--events", EVENTS, "--output", tmp_path / "c.csv"
    )
    no_traceback(result)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"leadsla: error: {config}:{line}: policies.follow_up.target.A:")


@pytest.mark.parametrize("command", ["evaluate", "report"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("lead_id,at,value\nL1,2026-03-02T09:00:00Z,New\n", "field"),
        (b"lead_id,at,field,value\n\xff\xfe\x00binary\n", "not UTF-8"),
    ],
)
def test_unreadable_events_file(
    tmp_path: Path, command: str, content: str | bytes | None, message: str
) -> None:
    # report reads plain files on Polars first: what that reader cannot open or decode
    # goes to the careful reader, whose error names the file.
    events = tmp_path / "events.csv"
    if isinstance(content, str):
        events.write_text(content, encoding="utf-8")
    elif content is not None:
        events.write_bytes(content)
    output = ["--output", tmp_path / "c.csv"] if command == "evaluate" else []
    result = leadsla(command, "--config", CONFIG, "--events", events, *output)
    no_traceback(result)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leadsla: error:") and message in lines[0]


def test_bad_as_of_is_refused() -> None:
    result = leadsla(
        "evaluate", "--config", CONFIG, "--events", EVENTS, "--as-of", "2026-03-06", "--output",
        "/nonexistent/never-written.csv",
    )  # fmt: skip
    no_traceback(result)
    assert result.returncode == 1
    assert "--as-of" in result.stderr


def test_parallel_replay_writes_the_same_file(tmp_path: Path) -> None:
    rules = build_rulebook(load_config(CONFIG))
    history = io.StringIO()
    start = parse_instant("2026-01-05T14:00:00Z")
    write_history(HistoryShape(leads=3000, start=start, span_days=30, seed=7), history)
    history.seek(0)
    table, report = read_events(
        history, statuses=list(rules.statuses), grades=[g.name for g in rules.grades]
    )
    assert report.skipped == 0
    table = table.sorted()
    as_of = parse_instant("2026-02-01T00:00:00Z")
    one, two = io.StringIO(), io.StringIO()
    rows_one = write_clocks(rules, table, as_of, one, jobs=1)
    rows_two = write_clocks(rules, table, as_of, two, jobs=2, parallel_rows=1)
    assert rows_one == rows_two > 3000
    assert one.getvalue() == two.getvalue()


def test_report_of_a_plain_file_equals_the_replay(tmp_path: Path) -> None:
    # A generated history is a plain file: read on Polars, evaluated column by column.
    events = tmp_path / "events.csv"
    with events.open("w", encoding="utf-8", newline="") as out:
        write_history(HistoryShape(leads=500, start=parse_instant("2026-03-02T14:00:00Z")), out)
    as_of = "2026-05-01T00:00:00Z"
    result = leadsla(
        "report", "--config", CONFIG, "--events", events, "--as-of", as_of, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    config = load_config(CONFIG)
    rules = build_rulebook(config)
    with events.open(encoding="utf-8", newline="") as handle:
        table, _ = read_events(
            handle, statuses=list(rules.statuses), grades=[g.name for g in rules.grades]
        )
    grades = [g.name for g in rules.grades]
    assert read_grouped_events(events, statuses=list(rules.statuses), grades=grades) is not None
    settings = ReportSettings.of(rules, config)
    metric = settings.metric
    instant = parse_instant(as_of)
    expected = scorecard(replayed_facts(table.sorted(), metric, instant), metric, instant)
    expected.update(analytics(table.sorted(), settings, instant))
    assert json.loads(result.stdout) == expected
    assert expected["by_month"]["2026-04"]["mqls"] > 0


# -- token list / revoke (#14) -------------------------------------------------------------


def test_token_list_shows_each_token_without_its_secret(database_url: str) -> None:
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    now = parse_instant("2026-03-02T14:00:00Z")
    with engine.begin() as connection:
        admin = create_token(
            connection, rules, role="admin", name="ops", rep=None, team=None, now=now
        )
        rep = create_token(connection, rules, role="rep", name="sam", rep="r1", team=None, now=now)
        revoked = api_tokens.c.name == "ops"
        connection.execute(update(api_tokens).where(revoked).values(revoked_at=now + 60 * 10**6))
    engine.dispose()
    listed = leadsla("token", "list", "--format", "json", "--database", database_url)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"name": "ops", "role": "admin", "rep": None, "team": None, "prefix": admin[:13],
         "created_at": "2026-03-02T14:00:00+00:00", "revoked_at": "2026-03-02T14:01:00+00:00"},
        {"name": "sam", "role": "rep", "rep": "r1", "team": "east", "prefix": rep[:13],
         "created_at": "2026-03-02T14:00:00+00:00", "revoked_at": None},
    ]  # fmt: skip
    table = leadsla("token", "list", "--database", database_url)
    assert table.returncode == 0, table.stderr
    for text in ("ops", "sam", "r1", admin[:13], rep[:13], "2026-03-02T14:01:00+00:00"):
        assert text in table.stdout
    for secret in (admin, rep):
        assert secret not in listed.stdout + table.stdout
        assert secret[13:20] not in listed.stdout + table.stdout


def test_token_revoke_by_name_or_prefix_refuses_the_api_at_once(database_url: str) -> None:
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    now = parse_instant("2026-03-02T14:00:00Z")
    with engine.begin() as connection:
        tokens = [
            create_token(connection, rules, role="rep", name="sam", rep="r1", team=None, now=now)
            for _ in range(2)
        ] + [
            create_token(connection, rules, role="admin", name="ops", rep=None, team=None, now=now)
        ]
    client = TestClient(create_app(rules, engine, lambda: now))

    def api_status(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return client.get("/api/v1/clocks", headers=headers).status_code

    assert [api_status(t) for t in tokens] == [200, 200, 200]
    nothing = leadsla("token", "revoke", "nobody", "--database", database_url)
    assert nothing.returncode == 1
    assert nothing.stderr.strip() == (
        "leadsla: error: no token has the name or prefix 'nobody' (see `leadsla token list`)"
    )
    several = leadsla("token", "revoke", "sam", "--database", database_url)
    assert several.returncode == 1
    assert several.stderr.startswith("leadsla: error: 2 tokens match 'sam': ")
    assert tokens[0][:13] in several.stderr and tokens[1][:13] in several.stderr
    assert [api_status(t) for t in tokens] == [200, 200, 200]  # nothing revoked
    by_prefix = leadsla("token", "revoke", tokens[1][:13], "--database", database_url)
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert by_prefix.stderr.strip() == (
        f"leadsla: revoked token 'sam' ({tokens[1][:13]}); 0 dashboard session(s) ended"
    )
    assert [api_status(t) for t in tokens] == [200, 401, 200]
    by_name = leadsla("token", "revoke", "ops", "--database", database_url)
    assert by_name.returncode == 0, by_name.stderr
    assert [api_status(t) for t in tokens] == [200, 401, 401]
    again = leadsla("token", "revoke", "ops", "--database", database_url)
    assert again.returncode == 0
    assert "was already revoked at" in again.stderr and "nothing changed" in again.stderr
    no_traceback(again)
    client.close()
    engine.dispose()


def test_evaluate_and_whatif_refuse_an_unlisted_reason_by_line(tmp_path: Path) -> None:
    # A plain file, read on Polars: its closed reason lists are checked as the careful
    # reader checks them (the bad row named by its line, the others kept).
    events = tmp_path / "events.csv"
    events.write_text(
        "lead_id,at,field,value\n"
        "L1,2026-03-02T09:00:00-05:00,status,New\n"
        "L1,2026-03-02T09:00:00-05:00,owner,r1\n"
        "L1,2026-03-02T09:00:00-05:00,grade,A\n"
        "L1,2026-03-02T10:00:00-05:00,sal,rejected\n"
        "L1,2026-03-02T10:00:00-05:00,sal_reason,Bored\n",
        encoding="utf-8",
    )
    as_of = "2026-03-05T00:00:00Z"
    evaluated = leadsla("evaluate", "-c", CONFIG, "-e", events, "--as-of", as_of,
                        "-o", tmp_path / "clocks.csv")  # fmt: skip
    compared = leadsla("whatif", "--config", CONFIG, "--proposed", CONFIG, "--events", events,
                       "--as-of", as_of, "--format", "json")  # fmt: skip
    for result in (evaluated, compared):
        no_traceback(result)
        assert result.returncode == 0, result.stderr
        assert f'{events}:6: value: "Bored" is not one of sal.reasons' in result.stderr
    assert "4 events of 1 leads → 1 clock cycles" in evaluated.stderr
    assert [row["policy"] for row in read_csv(tmp_path / "clocks.csv")] == ["follow_up"]
