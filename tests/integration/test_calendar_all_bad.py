"""`leadsla calendar` exits 1 when no row of its input could be computed."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def calendar(command: str, source: Path, target: Path) -> subprocess.CompletedProcess[str]:
    args = ["calendar", command, "--config", str(CONFIG), "--calendar", "us-east"]
    return subprocess.run(
        [LEADSLA, *args, "--input", str(source), "--output", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "rows", "column"),
    [
        ("add", "start,duration\n2026-03-02 09:00,8 business hours\nsoon,1 day\n", "deadline"),
        ("elapsed", "start,end\nMonday,2026-03-02T10:00:00Z\n", "business_seconds"),
    ],
)
def test_every_row_bad_exits_1(tmp_path: Path, command: str, rows: str, column: str) -> None:
    source = tmp_path / "in.csv"
    source.write_text(rows, encoding="utf-8")
    target = tmp_path / "out.csv"
    result = calendar(command, source, target)
    assert result.returncode == 1, result.stderr
    bad = rows.count("\n") - 1
    last = result.stderr.strip().splitlines()[-1]
    assert (
        last == f"leadsla: error: {source}: every row is bad ({bad} of {bad}); no {column} computed"
    )
    assert "Traceback" not in result.stderr
    # The output still lines up with the input, each row with its reason.
    with target.open(encoding="utf-8", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == bad
    assert all(row[column] == "" and row["error"] for row in written)


def test_one_good_row_is_enough_for_exit_0(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "start,duration\n2026-03-02T09:00:00-05:00,1 business hour\nsoon,1 day\n",
        encoding="utf-8",
    )
    result = calendar("add", source, tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    assert "leadsla: skipped 1 bad row(s)" in result.stderr
