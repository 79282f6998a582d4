"""`leadsla import` of CRM exports (Salesforce, HubSpot) into SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.queries import clock_records
from leadsla.store.database import open_database
from leadsla.store.tables import events

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def run_import(database_url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [LEADSLA, "import", "--config", str(CONFIG), "--database", database_url]
    return subprocess.run(
        [*command, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def stored(database_url: str) -> int:
    engine = open_database(database_url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(events)) or 0
    engine.dispose()
    return count


def test_salesforce_exports_import_once_and_start_clocks(database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "salesforce"
    shutil.copytree(ROOT / "examples" / "salesforce", folder)
    files = [folder / "Lead.csv", folder / "LeadHistory.csv", folder / "Task.csv"]
    first = run_import(database_url, "--map", folder / "mapping.yaml", *files)
    assert first.returncode == 0, first.stderr
    assert "84 events stored, 0 already there, 10 leads updated" in first.stderr
    again = run_import(database_url, "--map", folder / "mapping.yaml", *files)
    assert "0 events stored, 84 already there" in again.stderr
    assert stored(database_url) == 84
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    with engine.connect() as connection:
        clocks = clock_records(
            connection, rules, parse_instant("2026-03-20T00:00:00Z"), policy="follow_up"
        )
    engine.dispose()
    # The Lead export says "Closed - Converted" today; the history says it started New.
    converted = next(c for c in clocks if c["lead_id"] == "00Q5g00000Ab1CdEAJ")
    assert (converted["state"], converted["stopped_at"]) == ("met", "2026-03-02T11:20:41-05:00")


def test_hubspot_exports_and_a_rejects_file(database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "hubspot"
    shutil.copytree(ROOT / "examples" / "hubspot", folder)
    history = folder / "property_history.csv"
    lines = history.read_text(encoding="utf-8").splitlines()
    header = next(csv.reader([lines[0]]))
    bad = dict.fromkeys(header, "")
    bad.update({h: v for h, v in zip(header, next(csv.reader([lines[1]])), strict=True)})
    time_column = next(h for h in header if "time" in h.lower())
    bad[time_column] = "yesterday"
    with history.open("a", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerow([bad[h] for h in header])
    bad_line = len(lines) + 1
    result = run_import(
        database_url, "--map", folder / "mapping.yaml", folder / "contacts.csv", history
    )
    assert result.returncode == 0, result.stderr
    assert f"{history}:{bad_line}:" in result.stderr
    rejects = list(csv.reader((folder / "property_history.rejected.csv").open(encoding="utf-8")))
    assert rejects[0] == ["line", "error", "row"]
    assert [row[0] for row in rejects[1:]] == [str(bad_line)]
    assert "yesterday" in rejects[1][1] + rejects[1][2]
    assert stored(database_url) == 64


def test_an_unknown_export_is_one_clear_line(database_url: str, tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("foo,bar\n1,2\n", encoding="utf-8")
    result = run_import(database_url, odd)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"leadsla: error: {odd}:")
    assert "Traceback" not in result.stderr
