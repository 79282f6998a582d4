"""``leadsla whatif`` run as a user runs it: the same history under two configs.

The history (the example config's calendars: us-east is 09:00-12:00 and 13:00-17:00,
Monday to Friday, New York time):

- W1, grade A, owner r1 (east): New Monday 2 March 09:00, Contacted 15:00. Five
  business hours (09-12, 13-15): met under the current 8-hour A target, breached under
  the proposed 4-hour one; 6 wall hours, so the proposed first escalation step
  (after 4 hours) fires for it, to its owner.
- W2, grade A, owner r2 (east): New Monday 09:00, Contacted 10:00: met under both.
- W3, grade B, owner r3 (emea): New Tuesday 3 March 10:00 UTC, Contacted 11:00 UTC:
  met under both (B: 16 business hours).
Each is Qualified the next day: every qualification clock is met under both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
AS_OF = "2026-03-20T00:00:00Z"

EVENTS = """lead_id,at,field,value
W1,2026-03-02T09:00:00-05:00,status,New
W1,2026-03-02T09:00:00-05:00,grade,A
W1,2026-03-02T09:00:00-05:00,owner,r1
W1,2026-03-02T15:00:00-05:00,status,Contacted
W1,2026-03-03T10:00:00-05:00,status,Qualified
W2,2026-03-02T09:00:00-05:00,status,New
W2,2026-03-02T09:00:00-05:00,grade,A
W2,2026-03-02T09:00:00-05:00,owner,r2
W2,2026-03-02T10:00:00-05:00,status,Contacted
W2,2026-03-03T10:00:00-05:00,status,Qualified
W3,2026-03-03T10:00:00Z,status,New
W3,2026-03-03T10:00:00Z,grade,B
W3,2026-03-03T10:00:00Z,owner,r3
W3,2026-03-03T11:00:00Z,status,Contacted
W3,2026-03-04T11:00:00Z,status,Qualified
"""
# 1200 MQLs a quarter = 400 a month, half workable: 200 leads x 3 attempts x 10 minutes
# = 100 rep hours, 2.5 reps of 40 hours: 3 reps. Proposed: 6 attempts, 200 hours, 5 reps.
CAPACITY = (
    "capacity: {{attempts_per_lead: {attempts}, minutes_per_attempt: 10, "
    "hours_per_rep: 40, workable_share: 0.5}}\n"
)


def leadsla(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSLA, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    example = EXAMPLE.read_text(encoding="utf-8")
    current = tmp_path / "current.yaml"
    current.write_text(example + CAPACITY.format(attempts=3), encoding="utf-8")
    proposed_text = example.replace(
        "target: {A: 8 business hours", "target: {A: 4 business hours"
    ).replace("{after: 24 hours, notify: [owner]", "{after: 4 hours, notify: [owner]")
    assert proposed_text != example
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(proposed_text + CAPACITY.format(attempts=6), encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text(EVENTS, encoding="utf-8")
    return current, proposed, events


def _report(config: Path, *source: str | Path) -> object:
    result = leadsla("report", "--config", config, *source, "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_is_two_reports_and_their_difference(files: tuple[Path, Path, Path]) -> None:
    current, proposed, events = files
    result = leadsla(
        "whatif", "--config", current, "--proposed", proposed, "--events", events,
        "--as-of", AS_OF, "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["current", "proposed", "difference"]
    assert data["current"] == _report(current, "--events", events)
    assert data["proposed"] == _report(proposed, "--events", events)
    # W1's follow-up turns from met to breached: 3 of 3 met, then 2 of 3.
    assert data["current"]["overall"]["compliance"]["follow_up"] == 1.0
    assert data["proposed"]["overall"]["compliance"]["follow_up"] == pytest.approx(2 / 3)
    difference = data["difference"]
    assert difference["compliance"]["follow_up"] == pytest.approx(-1 / 3)
    assert difference["compliance"]["qualification"] == 0
    assert difference["mqls"] == 0
    assert difference["time_to_follow_up"] == {"count": 0, "mean": 0, "median": 0, "p90": 0}
    # A ratio with no denominator on either side has no difference.
    assert data["current"]["overall"]["connects_per_attempt"] is None
    assert difference["connects_per_attempt"] is None
    assert difference["breaches"] == 1
    assert difference["escalations"] == 1
    assert difference["escalations_by_step"] == {"follow_up step 1 (4 hours)": 1}
    assert difference["escalations_by_recipient"] == {"owner": 1}
    assert difference["reps_needed"] == 2


def test_text_shows_both_sides_and_the_difference(files: tuple[Path, Path, Path]) -> None:
    current, proposed, events = files
    result = leadsla("whatif", "-c", current, "-p", proposed, "-e", events, "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    lines = [
        " ".join(line.replace("│", " ").replace("┃", " ").split())
        for line in result.stdout.splitlines()
    ]
    assert "figure current proposed difference" in lines
    assert "compliance.follow_up 1 0.6667 -0.3333" in lines
    assert "breaches 0 1 +1" in lines
    assert "follow_up step 1 (4 hours)" in result.stdout
    assert "escalations_by_recipient.owner 0 1 +1" in lines
    assert "reps_needed 3 5 +2" in lines
    # By grade, team and owner: W1 is grade A, team east, owner r1.
    assert "A compliance.follow_up 1 0.5 -0.5" in lines
    assert "east breaches 0 1 +1" in lines
    assert "r1 compliance.follow_up 1 0 -1" in lines
    assert "r2 compliance.follow_up 1 1 0" in lines


def test_database_gives_what_the_file_gives(
    files: tuple[Path, Path, Path], database_url: str
) -> None:
    current, proposed, events = files
    imported = leadsla("import", "--config", current, "--database", database_url, events)
    assert imported.returncode == 0, imported.stderr
    common = ("--config", current, "--proposed", proposed, "--as-of", AS_OF, "--format", "json")
    stored = leadsla("whatif", *common, "--database", database_url)
    assert stored.returncode == 0, stored.stderr
    from_file = leadsla("whatif", *common, "--events", events)
    assert json.loads(stored.stdout) == json.loads(from_file.stdout)
    data = json.loads(stored.stdout)
    assert data["current"] == _report(current, "--database", database_url)
    assert data["difference"]["breaches"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--format", "xml"), "--format: 'xml' is not text or json"),
        (("--period", "week"), "--period: 'week' is not month or quarter"),
        (("--as-of", "soon"), "--as-of:"),
    ],
)
def test_bad_options_are_one_line(
    files: tuple[Path, Path, Path], change: tuple[str, str], message: str
) -> None:
    current, proposed, events = files
    result = leadsla("whatif", "-c", current, "-p", proposed, "-e", events, *change)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_bad_proposed_config_names_its_file(
    files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    current, _, events = files
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies: [\n", encoding="utf-8")
    result = leadsla("whatif", "-c", current, "-p", bad, "-e", events, "--as-of", AS_OF)
    assert result.returncode == 1
    assert "bad.yaml" in result.stderr and "Traceback" not in result.stderr
    missing = leadsla(
        "whatif", "-c", current, "-p", current, "-e", tmp_path / "none.csv", "--as-of", AS_OF
    )
    assert missing.returncode == 1
    assert "none.csv" in missing.stderr and "Traceback" not in missing.stderr
