"""Issue #14: bad input is refused row by row, the same way on SQLite and PostgreSQL, and
never leaves the database (or a command) unable to read what it did take."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.store.tables import events

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
NOW = parse_instant("2026-03-06T18:00:00-05:00")
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
SECRET = "s3cret-for-tests"
OUTSIDE = "is outside the instants leadsla accepts (1970-01-01 to 2199-12-31)"

GOOD = {"lead_id": "P1", "at": "2026-03-02T09:00:00-05:00", "field": "status", "value": "New"}


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    setup = load_config(CONFIG)
    rules = build_rulebook(setup)
    engine = open_database(database_url)
    with engine.begin() as connection:
        token = create_token(
            connection, rules, role="admin", name="admin", rep=None, team=None, now=NOW
        )
    # With the config: /report and /segments answer only then.
    client = TestClient(create_app(rules, engine, lambda: NOW, config=setup))
    yield client, engine, {"Authorization": f"Bearer {token}"}
    client.close()
    engine.dispose()


def stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(events)) or 0)


def test_api_rejects_each_bad_event_by_index_and_stores_the_rest(
    api: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    client, engine, headers = api
    bad: list[tuple[dict[str, Any], str]] = [
        ({**GOOD, "lead_id": "P0", "at": "0001-01-01T00:00:00+14:00"}, "at: "),
        ({**GOOD, "at": "2300-01-01T00:00:00Z"}, "at: "),
        ({**GOOD, "lead_id": "P\x002"}, "lead_id: contains a NUL character"),
        ({**GOOD, "field": "industry", "value": "Sa\x00aS"}, "value: contains a NUL character"),
        ({**GOOD, "field": "in\x00dustry", "value": "x"}, "field: contains a NUL character"),
        ({**GOOD, "lead_id": "L" * 256}, "lead_id: is 256 characters long; at most 255"),
        ({**GOOD, "field": "owner", "value": "r" * 256}, "value: is 256 characters long"),
        ({**GOOD, "lead_id": "\ud800"}, "lead_id: is not valid Unicode"),
        ({**GOOD, "lead_id": True}, "lead_id: must be a string or an integer"),
        ({**GOOD, "id": "x\x00"}, "id: contains a NUL character"),
    ]
    body = [GOOD, *(item for item, _ in bad), {**GOOD, "lead_id": "P3"}]
    # json.dumps keeps a lone surrogate as the escape \ud800, as a client would send it.
    answer = client.post("/api/v1/events", content=json.dumps(body), headers=headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["accepted"] == 2
    reasons = {r["index"]: r["error"] for r in result["rejected"]}
    assert sorted(reasons) == list(range(1, len(bad) + 1))
    for index, (_item, start) in enumerate(bad, start=1):
        assert reasons[index].startswith(start), (index, reasons[index])
    assert reasons[1] == f'at: "0001-01-01T00:00:00+14:00" {OUTSIDE}'
    assert OUTSIDE in reasons[2]
    assert stored(engine) == 2
    for path in ("/api/v1/report", "/api/v1/clocks", "/api/v1/leads", "/api/v1/segments"):
        assert client.get(path, headers=headers).status_code == 200, path


def test_as_of_outside_the_range_is_422(api: tuple[TestClient, Engine, dict[str, str]]) -> None:
    client, _engine, headers = api
    for as_of in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2200-01-01T00:00:00Z"):
        for path in ("/api/v1/clocks", "/api/v1/report", "/api/v1/leads"):
            answer = client.get(path, params={"as_of": as_of}, headers=headers)
            assert answer.status_code == 422, (path, as_of, answer.text)
            assert OUTSIDE in answer.text


@pytest.fixture
def hooked(database_url: str) -> Iterator[tuple[TestClient, Engine]]:
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    app = create_app(
        rules, engine, lambda: NOW, hook_secrets={"generic": SECRET, "hubspot": SECRET}
    )
    with TestClient(app) as client:
        yield client, engine
    engine.dispose()


def generic_signed(body: bytes) -> dict[str, str]:
    """Signed as docs/service.md says: HMAC of ``timestamp + "." + body``, the app's time."""
    stamp = str(NOW // 1_000_000)
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Leadsla-Timestamp": stamp,
        "X-Leadsla-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def test_generic_hook_rejects_bad_items_and_keeps_the_good(
    hooked: tuple[TestClient, Engine],
) -> None:
    client, engine = hooked
    at = "2026-03-02T09:00:00-05:00"
    body = json.dumps(
        [
            {"id": "g1", "lead_id": "H1", "at": at, "changes": {"status": "New"}},
            {"id": "g2", "lead_id": "H2", "at": "0001-01-01T00:00:00+14:00",
             "changes": {"status": "New"}},
            {"id": "g3", "lead_id": "H3", "at": at, "changes": {"industry": "a\x00b"}},
            {"id": "g4", "lead_id": "H\x004", "at": at, "changes": {"status": "New"}},
        ]
    ).encode()  # fmt: skip
    answer = client.post("/api/v1/hooks/generic", content=body, headers=generic_signed(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    reasons = {r["index"]: r["error"] for r in answer.json()["rejected"]}
    assert sorted(reasons) == [1, 2, 3]
    assert OUTSIDE in reasons[1]
    assert "NUL" in reasons[2] and "NUL" in reasons[3]
    assert stored(engine) == 1


def hubspot_signed(body: bytes) -> dict[str, str]:
    """HubSpot's v3 headers: the signed text is method, URL, body and timestamp."""
    stamp = str(NOW // 1000)
    signed = b"".join((b"POST", b"http://testserver/api/v1/hooks/hubspot", body, stamp.encode()))
    digest = hmac.new(SECRET.encode(), signed, hashlib.sha256).digest()
    return {"X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
            "X-HubSpot-Request-Timestamp": stamp, "Content-Type": "application/json"}  # fmt: skip


def test_hubspot_hook_rejects_instants_outside_the_range(
    hooked: tuple[TestClient, Engine],
) -> None:
    client, engine = hooked

    def change(event_id: int, occurred: int, value: str = "NEW") -> dict[str, Any]:
        return {"eventId": event_id, "occurredAt": occurred, "objectId": 5500 + event_id,
                "subscriptionType": "contact.propertyChange",
                "propertyName": "hs_lead_status", "propertyValue": value}  # fmt: skip

    year_2400 = parse_instant("2400-01-01T00:00:00Z") // 1000
    body = json.dumps(
        [
            change(1, NOW // 1000 - 3_600_000),
            change(2, 10**20),
            change(3, -5),
            change(4, year_2400),
            change(5, NOW // 1000, "NEW\x00"),
        ]
    ).encode()
    answer = client.post("/api/v1/hooks/hubspot", content=body, headers=hubspot_signed(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    reasons = {r["index"]: r["error"] for r in answer.json()["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4]
    assert all(OUTSIDE in reasons[k] for k in (1, 2, 3))
    assert stored(engine) == 1


BAD_FILE = (
    "lead_id,at,field,value\n"
    "F1,2026-03-02T09:00:00-05:00,status,New\n"
    "F2,0001-01-01T00:00:00+14:00,status,New\n"
    "F\x003,2026-03-02T09:00:00-05:00,status,New\n"
    "F4,2026-03-02T09:00:00-05:00,industry,Sa\x00aS\n"
    f"{'L' * 256},2026-03-02T09:00:00-05:00,status,New\n"
    "F6,2300-01-01T00:00:00Z,status,New\n"
    "F7,2026-03-02T10:00:00-05:00,status,New\n"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEADSLA, *args], capture_output=True, text=True, check=False)


def test_import_stores_the_good_rows_and_lists_the_bad(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    source.write_text(BAD_FILE, encoding="utf-8")
    done = run("import", "--config", str(CONFIG), "--database", database_url, str(source))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "2 events stored" in done.stderr
    rejects = list(csv.reader(io.StringIO((tmp_path / "events.rejected.csv").read_text())))
    reasons = {row[0]: row[1] for row in rejects[1:]}
    assert sorted(reasons, key=int) == ["3", "4", "5", "6", "7"]
    assert reasons["3"] == f'at: "0001-01-01T00:00:00+14:00" {OUTSIDE}'
    assert reasons["4"].startswith("lead_id: contains a NUL")
    assert reasons["5"].startswith("value: contains a NUL")
    assert reasons["6"].startswith("lead_id: is 256 characters long")
    engine = open_database(database_url)
    try:
        assert stored(engine) == 2
    finally:
        engine.dispose()
    report = run(
        "report",
        "--config",
        str(CONFIG),
        "--database",
        database_url,
        "--as-of",
        "2026-03-06T18:00:00Z",
    )
    assert report.returncode == 0, report.stderr


# Issue #20: a lead id goes into email subjects, links and logs; one with a line break
# or another control character is refused at every door, naming where and why.
BROKEN_IDS = ["L\r\n1", "L\n2", "L\t3", "L\x0b4", "L\x855", "L\u20286", "L\x017"]
BROKEN_ID = "lead_id: holds U+"


def test_lead_ids_with_control_characters_are_refused_by_the_api(
    api: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    client, engine, headers = api
    body = [GOOD, *({**GOOD, "lead_id": lead} for lead in BROKEN_IDS), {**GOOD, "id": "2"}]
    answer = client.post("/api/v1/events", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    reasons = {r["index"]: r["error"] for r in answer.json()["rejected"]}
    assert sorted(reasons) == list(range(1, len(BROKEN_IDS) + 1))
    assert reasons[1] == (
        "lead_id: holds U+000D at position 2: a lead id may hold no control character "
        "or line break (CR, LF, tab, …)"
    )
    assert all(reason.startswith(BROKEN_ID) for reason in reasons.values())
    # Around an id, such characters are blanks, stripped as before: " L8\r\n" is L8.
    padded = {**GOOD, "lead_id": " L8\r\n"}
    assert client.post("/api/v1/events", json=[padded], headers=headers).json()["accepted"] == 1
    assert stored(engine) == 3


def test_lead_ids_with_control_characters_are_refused_by_the_hooks(
    hooked: tuple[TestClient, Engine],
) -> None:
    client, engine = hooked
    at = "2026-03-02T09:00:00-05:00"
    body = json.dumps(
        [{"id": f"g{k}", "lead_id": lead, "at": at, "changes": {"status": "New"}}
         for k, lead in enumerate(["H1", *BROKEN_IDS])]
    ).encode()  # fmt: skip
    answer = client.post("/api/v1/hooks/generic", content=body, headers=generic_signed(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    reasons = {r["index"]: r["error"] for r in answer.json()["rejected"]}
    assert sorted(reasons) == list(range(1, len(BROKEN_IDS) + 1))
    assert all(BROKEN_ID in reason for reason in reasons.values()), reasons
    assert stored(engine) == 1


def test_import_refuses_lead_ids_with_control_characters_by_line(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "events.csv"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # quotes what holds a line break
    writer.writerow(["lead_id", "at", "field", "value"])
    writer.writerow(["F1", "2026-03-02T09:00:00-05:00", "status", "New"])
    writer.writerow(["F2\r\nBcc: x@example.com", "2026-03-02T09:00:00-05:00", "status", "New"])
    writer.writerow(["F3\x0b", "2026-03-02T09:00:00-05:00", "notes", "a note\non two lines"])
    writer.writerow(["F4\x0bX", "2026-03-02T09:00:00-05:00", "status", "New"])
    writer.writerow(["F5", "2026-03-02T10:00:00-05:00", "status", "New"])
    source.write_text(out.getvalue(), encoding="utf-8")
    done = run("import", "--config", str(CONFIG), "--database", database_url, str(source))
    assert done.returncode == 0, done.stderr
    assert "3 events stored" in done.stderr  # F1, F3 (a blank at the end: stripped), F5
    skipped = f"leadsla: skipped: {source}:3: lead_id: holds U+000D at position 3: a lead id"
    assert skipped in done.stderr
    rejects = list(csv.reader(io.StringIO((tmp_path / "events.rejected.csv").read_text())))
    reasons = {row[0]: row[1] for row in rejects[1:]}
    assert sorted(reasons, key=int) == ["3", "7"]  # F2 spans lines 3-4, F3's note 5-6
    assert reasons["7"].startswith("lead_id: holds U+000B at position 3")
