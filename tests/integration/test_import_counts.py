"""`leadsla import` tells rows repeated within the file apart from rows the database held."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))

# Four rows, the second written twice (as an export that repeats a row does): three events.
EVENTS = """lead_id,at,field,value
L1,2026-03-02T09:00:00-05:00,status,New
L1,2026-03-02T09:00:00-05:00,grade,A
L1,2026-03-02T09:00:00-05:00,grade,A
L1,2026-03-02T09:00:00-05:00,owner,r1
"""


def run_import(database_url: str, source: Path) -> subprocess.CompletedProcess[str]:
    command = [LEADSLA, "import", "--config", str(CONFIG), "--database", database_url, str(source)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_rows_repeated_in_the_file_are_not_already_there(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    source.write_text(EVENTS, encoding="utf-8")
    first = run_import(database_url, source)
    assert first.returncode == 0, first.stderr
    assert (
        "3 events stored, 1 identical rows in the file, 0 already there, 1 leads updated"
        in first.stderr
    )
    # Loaded again, every row (both copies of the repeated one) was held by the database.
    again = run_import(database_url, source)
    assert again.returncode == 0, again.stderr
    assert "0 events stored, 4 already there" in again.stderr
    assert "identical rows" not in again.stderr
