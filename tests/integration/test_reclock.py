"""Policy versions and ``leadsla db reclock``: a config change leaves the cycles started
before it as they were stored; re-clocking is explicit and says what it will change.

The example config's us-east hours are 09:00-12:00 and 13:00-17:00. W1 and W2 (grade
A, owners r1 and r2, both east) start Monday 2 March 09:00 EST (14:00Z):

- 8 business hours (current): 7 on Monday, 1 on Tuesday: due Tuesday 10:00 EST, 15:00Z.
- 4 business hours (proposed): 09-12 and 13-14: due Monday 14:00 EST, 19:00Z.

W1 is not contacted: its cycle is open and stores its deadline. W2 is contacted at
10:00 EST: a stopped cycle stores no deadline (it is judged from its facts on read).
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from leadsla.store.tables import clock_cycles, policy_versions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))

EVENTS = """lead_id,at,field,value
W1,2026-03-02T09:00:00-05:00,status,New
W1,2026-03-02T09:00:00-05:00,grade,A
W1,2026-03-02T09:00:00-05:00,owner,r1
W2,2026-03-02T09:00:00-05:00,status,New
W2,2026-03-02T09:00:00-05:00,grade,A
W2,2026-03-02T09:00:00-05:00,owner,r2
W2,2026-03-02T10:00:00-05:00,status,Contacted
"""
# After the change: a new lead, and a late note on W1 (its cycles are rewritten).
LATER = """lead_id,at,field,value
W4,2026-03-10T09:00:00-04:00,status,New
W4,2026-03-10T09:00:00-04:00,grade,A
W4,2026-03-10T09:00:00-04:00,owner,r1
W1,2026-03-11T09:00:00-04:00,note,called back
"""


def micros(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp()) * 1_000_000


EIGHT_HOURS_DUE = micros("2026-03-03T15:00:00+00:00")
FOUR_HOURS_DUE = micros("2026-03-02T19:00:00+00:00")


def leadsla(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSLA, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        input=stdin,
    )


def follow_up(url: str) -> dict[str, tuple[int | None, int | None]]:
    """Each lead's follow-up cycle: (due_at, policy_version)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    clock_cycles.c.lead_id, clock_cycles.c.due_at, clock_cycles.c.policy_version
                ).where(clock_cycles.c.policy == "follow_up")
            )
            return {row.lead_id: (row.due_at, row.policy_version) for row in rows}
    finally:
        engine.dispose()


def versions(url: str) -> list[tuple[int, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = select(policy_versions.c.id, policy_versions.c.policy).order_by(
                policy_versions.c.id
            )
            return [(row.id, row.policy) for row in connection.execute(query)]
    finally:
        engine.dispose()


@pytest.fixture
def changed(tmp_path: Path, database_url: str) -> tuple[Path, str, int, int]:
    """History imported under 8 hours, then more events under 4 hours; the two versions."""
    example = EXAMPLE.read_text(encoding="utf-8")
    current = tmp_path / "current.yaml"
    current.write_text(example, encoding="utf-8")
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(
        example.replace("target: {A: 8 business hours", "target: {A: 4 business hours"),
        encoding="utf-8",
    )
    first = tmp_path / "first.csv"
    first.write_text(EVENTS, encoding="utf-8")
    later = tmp_path / "later.csv"
    later.write_text(LATER, encoding="utf-8")
    done = leadsla("import", "--config", current, "--database", database_url, first)
    assert done.returncode == 0, done.stderr
    old = dict(versions(database_url))
    done = leadsla("import", "--config", proposed, "--database", database_url, later)
    assert done.returncode == 0, done.stderr
    new = [v for v, policy in versions(database_url) if policy == "follow_up" and v not in old]
    assert len(new) == 1
    (v1,) = [v for v, policy in old.items() if policy == "follow_up"]
    return proposed, database_url, v1, new[0]


def test_a_config_change_leaves_older_cycles_as_stored(
    changed: tuple[Path, str, int, int],
) -> None:
    _, url, v1, v2 = changed
    cycles = follow_up(url)
    # W1 was rewritten by its late note, and kept its deadline and version.
    assert cycles["W1"] == (EIGHT_HOURS_DUE, v1)
    assert cycles["W2"] == (None, v1)
    # W4 started after the change: 4 business hours from Tuesday 10 March 09:00 EDT.
    assert cycles["W4"] == (micros("2026-03-10T18:00:00+00:00"), v2)
    # The qualification policy did not change: one version of it.
    assert [p for _, p in versions(url)].count("qualification") == 1


def test_reclock_previews_and_changes_nothing_without_confirmation(
    changed: tuple[Path, str, int, int],
) -> None:
    proposed, url, _, v2 = changed
    before = follow_up(url)
    missing = leadsla("db", "reclock", "--config", proposed, "--database", url, "--yes")
    assert missing.returncode == 2 and "--since" in missing.stderr
    declined = leadsla(
        "db", "reclock", "--config", proposed, "--database", url,
        "--since", "2026-03-01T00:00:00Z", stdin="n\n",
    )  # fmt: skip
    assert declined.returncode == 0, declined.stderr
    lines = [" ".join(line.replace("│", " ").split()) for line in declined.stdout.splitlines()]
    # follow_up: W1, W2, W4 since 1 March; W1 and W2 of the old version; W1's stored
    # deadline moves (it is breached now under either).
    assert "follow_up 3 2 1 0" in lines
    assert "qualification 1 0 0 0" in lines
    assert "nothing changed" in declined.stderr
    assert follow_up(url) == before

    done = leadsla(
        "db", "reclock", "--config", proposed, "--database", url,
        "--since", "2026-03-01T00:00:00Z", "--yes",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = follow_up(url)
    assert after["W1"] == (FOUR_HOURS_DUE, v2)
    assert after["W2"] == (None, v2)
    assert after["W4"] == before["W4"]


def test_reclock_since_later_leaves_earlier_cycles(changed: tuple[Path, str, int, int]) -> None:
    proposed, url, _, _ = changed
    before = follow_up(url)
    done = leadsla(
        "db", "reclock", "--config", proposed, "--database", url,
        "--since", "2026-03-05T00:00:00Z", "--yes",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "nothing to re-clock" in done.stderr
    assert follow_up(url) == before


def test_the_settings_page_lists_the_versions_with_their_dates(
    changed: tuple[Path, str, int, int],
) -> None:
    from fastapi.testclient import TestClient

    from api_setup import log_in
    from leadsla.app import create_app
    from leadsla.config import build_rulebook, load_config
    from leadsla.service.tokens import create_token
    from leadsla.store.database import open_database

    proposed, url, _, _ = changed
    config = load_config(proposed)
    rules = build_rulebook(config)
    engine = open_database(url)
    now = micros("2026-03-12T12:00:00+00:00")
    with engine.begin() as connection:
        token = create_token(
            connection, rules, role="admin", name="a", rep=None, team=None, now=now
        )
    app = create_app(rules, engine, lambda: now, config=config)
    try:
        with TestClient(app, follow_redirects=False) as client:
            assert log_in(client, token, "/settings").status_code == 303
            page = client.get("/settings")
    finally:
        engine.dispose()
    assert page.status_code == 200
    table = page.text.split('class="policy-versions"', 1)[1].split("</table>", 1)[0]
    rows = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in table.split("<tr>")[2:]]
    # Two versions of follow_up (the import's and the change's), one of qualification;
    # both imports ran at the real time, so the dates are checked for their shape.
    assert [row.split()[0] for row in rows] == ["follow_up", "follow_up", "qualification"]
    assert [row.split()[-1] for row in rows] == ["earlier", "current", "current"]
    assert all(re.search(r"\b20\d\d\b", row) for row in rows)
