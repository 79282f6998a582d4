"""The REST API on a real database (SQLite file and PostgreSQL): auth, roles, ingest, clocks."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api_setup import Api, as_csv_rows, evaluate_csv, serving
from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.store.tables import events

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
EVENTS = ROOT / "examples" / "events.csv"
NOW = parse_instant("2026-03-06T18:00:00-05:00")
LEADSLA = str(Path(sys.executable).with_name("leadsla"))


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with serving(CONFIG, database_url, NOW) as opened:
        yield opened


def example_events() -> list[dict[str, str]]:
    with EVENTS.open(encoding="utf-8", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


# -- authentication and roles ------------------------------------------------------------------


def test_no_token_or_a_bad_one_is_401(api: Api) -> None:
    assert api.client.get("/api/v1/clocks").status_code == 401
    bad = api.client.get("/api/v1/clocks", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["detail"] == "unknown or revoked token"


def test_a_lead_out_of_scope_answers_as_one_that_does_not_exist(api: Api) -> None:
    """A 403 would tell a rep that another rep's lead id exists: both answer the same 404."""
    assert api.post("admin", example_events()).status_code == 200
    for who, hidden in (("r1", "L003"), ("east-manager", "L004")):
        for suffix in ("", "/decisions"):
            there = api.get(who, f"/api/v1/leads/{hidden}{suffix}")
            missing = api.get(who, f"/api/v1/leads/NOPE{suffix}")
            assert there.status_code == missing.status_code == 404, (who, suffix)
            assert there.json() == {"detail": f"no lead {hidden!r}"}
            assert missing.json() == {"detail": "no lead 'NOPE'"}


def test_reps_and_managers_cannot_ingest(api: Api) -> None:
    body = [{"lead_id": "X", "at": "2026-03-02T09:00:00Z", "field": "status", "value": "New"}]
    for who in ("r1", "east-manager"):
        assert api.post(who, body).status_code == 403
    assert api.post("marketing", body).status_code == 200


def test_rep_sees_only_their_leads_and_manager_their_team(api: Api) -> None:
    assert api.post("admin", example_events()).status_code == 200
    own = {c["lead_id"] for c in api.get("r1", "/api/v1/clocks").json()}
    assert own == {"L001"}  # L003 moved to r2
    assert api.get("r1", "/api/v1/leads/L001").status_code == 200
    team = {c["lead_id"] for c in api.get("east-manager", "/api/v1/clocks").json()}
    assert team == {"L001", "L002", "L003"}
    listed = {row["lead_id"] for row in api.get("r3", "/api/v1/leads").json()}
    assert listed == {"L004", "L005"}


# -- ingest ------------------------------------------------------------------------------------


def test_bad_events_are_rejected_with_index_and_the_rest_stored(api: Api) -> None:
    body: list[Any] = [
        {"lead_id": "A1", "at": "2026-03-02T09:00:00-05:00", "field": "status", "value": "New"},
        {"lead_id": "A1", "at": "2026-03-02 09:00", "field": "grade", "value": "A"},
        {"lead_id": "A1", "at": "2026-03-02T09:00:00-05:00", "field": "grade", "value": "Z"},
        {"lead_id": "", "at": "2026-03-02T09:00:00-05:00", "field": "status", "value": "New"},
        "not an object",
        {"lead_id": "A1", "at": "2026-03-02T09:00:00-05:00", "field": "owner", "value": "r1"},
    ]
    answer = api.post("admin", body)
    assert answer.status_code == 200
    payload = answer.json()
    assert payload["accepted"] == 2
    assert [r["index"] for r in payload["rejected"]] == [1, 2, 3, 4]
    assert payload["rejected"][0]["error"].startswith("at:")
    assert "grade" in payload["rejected"][1]["error"]
    lead = api.get("admin", "/api/v1/leads/A1").json()
    assert lead["fields"] == {"status": "New", "owner": "r1"}
    # The grade row was rejected: no grade, no target, a clock that runs without a deadline.
    assert [(c["state"], c["due_at"]) for c in lead["clocks"]] == [("running", None)]


def test_a_retried_batch_stores_nothing_twice(api: Api) -> None:
    body = [
        {"id": f"e{i}", "lead_id": "R1", "at": f"2026-03-02T0{i}:00:00Z", "field": "score",
         "value": str(10 * i)}
        for i in range(1, 6)
    ]  # fmt: skip
    first = api.post("admin", body).json()
    again = api.post("admin", [*body, body[0]]).json()
    assert (first["accepted"], first["duplicates"]) == (5, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 6)
    with api.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(events)) == 5


def test_body_size_and_shape_limits(api: Api) -> None:
    headers = {**api.headers("admin"), "Content-Type": "application/json"}
    huge = b"[" + b" " * (6 * 1024 * 1024) + b"]"
    assert api.client.post("/api/v1/events", content=huge, headers=headers).status_code == 413
    assert api.client.post("/api/v1/events", content=b"{", headers=headers).status_code == 400
    assert api.post("admin", {"lead_id": "x"}).status_code == 422


def test_late_event_replays_the_lead(api: Api) -> None:
    def clock() -> dict[str, Any]:
        rows = api.get("admin", "/api/v1/clocks", lead_id="LATE", policy="follow_up").json()
        assert len(rows) == 1
        return rows[0]  # type: ignore[no-any-return]

    api.post("admin", [
        {"lead_id": "LATE", "at": "2026-03-02T09:00:00-05:00", "field": "status", "value": "New"},
        {"lead_id": "LATE", "at": "2026-03-02T09:00:00-05:00", "field": "grade", "value": "A"},
    ])  # fmt: skip
    assert clock()["state"] == "breached"
    api.post("admin", [
        {"lead_id": "LATE", "at": "2026-03-02T10:00:00-05:00", "field": "status",
         "value": "Contacted"},
    ])  # fmt: skip
    assert clock()["state"] == "met"
    # An earlier call, sent late: the clock stopped at 09:30, not 10:00.
    api.post("admin", [
        {"lead_id": "LATE", "at": "2026-03-02T09:30:00-05:00", "field": "status",
         "value": "Attempting to Contact"},
    ])  # fmt: skip
    late = clock()
    assert late["stopped_at"] == "2026-03-02T09:30:00-05:00"
    assert late["business_seconds"] == 1800


# -- live clocks equal the offline evaluation ---------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_clocks_equal_evaluate_in_any_order_and_batching(
    api: Api, tmp_path: Path, seed: int
) -> None:
    rows = [r for r in example_events() if r["at"] != "not-a-date" and r["value"] != "Z"]
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    start = 0
    rng = random.Random(seed + 100)
    while start < len(shuffled):
        size = rng.randint(1, 7)
        answer = api.post("marketing", shuffled[start : start + size])
        assert answer.status_code == 200 and not answer.json()["rejected"]
        start += size
    for as_of in ("2026-03-03T12:00:00-05:00", "2026-03-06T18:00:00-05:00"):
        served = api.get("admin", "/api/v1/clocks", as_of=as_of).json()
        assert as_csv_rows(served) == evaluate_csv(CONFIG, tmp_path, rows, as_of)


def test_openapi_is_published(api: Api) -> None:
    schema = api.client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/events", "/api/v1/clocks", "/api/v1/leads", "/api/v1/leads/{lead_id}"} <= set(
        schema["paths"]
    )


def test_import_twice_changes_nothing(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    source.write_text(EVENTS.read_text(encoding="utf-8"), encoding="utf-8")
    command = [LEADSLA, "import", "--config", str(CONFIG), "--database", database_url, str(source)]
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "27 events stored, 0 already there" in first.stderr
    rejects = (tmp_path / "events.rejected.csv").read_text(encoding="utf-8")
    assert list(csv.reader(io.StringIO(rejects)))[1][:2] == [
        "29",
        'at: "not-a-date" is not an ISO 8601 instant with a UTC offset',
    ]
    second = subprocess.run(command, capture_output=True, text=True, check=False)
    assert "0 events stored, 27 already there" in second.stderr
    # Left quick to read: PostgreSQL's planner statistics refreshed, SQLite's log emptied.
    engine = open_database(database_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                analyzed = connection.exec_driver_sql(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
                ).scalars()
                assert {"leads", "events", "clock_cycles"} <= set(analyzed)
    finally:
        engine.dispose()
    if engine.dialect.name == "sqlite":
        wal = Path(str(engine.url.database) + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0


# -- webhooks in -------------------------------------------------------------------------------

SECRET = "s3cret-for-tests"


@pytest.fixture
def hooked(database_url: str) -> Iterator[TestClient]:
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    app = create_app(
        rules, engine, lambda: NOW, hook_secrets={"generic": SECRET, "hubspot": SECRET}
    )
    with TestClient(app) as client:
        yield client
    engine.dispose()


def signed(body: bytes, stamp: int = NOW // 1_000_000) -> dict[str, str]:
    """The generic hook's headers: HMAC of ``timestamp + "." + body`` (docs/service.md)."""
    message = f"{stamp}.".encode() + body
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-Leadsla-Timestamp": str(stamp),
        "X-Leadsla-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def test_generic_hook_needs_the_signature_and_is_idempotent(hooked: TestClient) -> None:
    body = json.dumps(
        [
            {"id": "n1", "lead_id": "H1", "at": "2026-03-02T09:00:00-05:00",
             "changes": {"status": "New", "grade": "A", "owner": "r1"}},
            {"id": "n2", "lead_id": "H1", "at": "2026-03-02T10:00:00-05:00",
             "changes": {"status": "Sold"}},
        ]
    ).encode()  # fmt: skip
    unsigned = hooked.post("/api/v1/hooks/generic", content=body)
    assert unsigned.status_code == 401
    forged = hooked.post("/api/v1/hooks/generic", content=body, headers=signed(body + b" "))
    assert forged.status_code == 401
    first = hooked.post("/api/v1/hooks/generic", content=body, headers=signed(body))
    assert first.status_code == 200
    assert first.json()["accepted"] == 3
    assert first.json()["rejected"][0]["index"] == 1
    assert "Sold" in first.json()["rejected"][0]["error"]
    again = hooked.post("/api/v1/hooks/generic", content=body, headers=signed(body))
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 3)
    assert (
        hooked.post("/api/v1/hooks/zapier", content=body, headers=signed(body)).status_code == 404
    )


def test_hubspot_hook_with_v3_signature(hooked: TestClient) -> None:
    # The shape HubSpot's webhooks API posts: a batch of property-change events.
    body = json.dumps(
        [
            {"eventId": 1001, "subscriptionId": 7, "portalId": 62515, "appId": 1,
             "occurredAt": NOW // 1000 - 3_600_000, "subscriptionType": "contact.propertyChange",
             "attemptNumber": 0, "objectId": 5501, "changeSource": "CRM",
             "propertyName": "hs_lead_status", "propertyValue": "NEW"},
            {"eventId": 1002, "subscriptionId": 7, "portalId": 62515, "appId": 1,
             "occurredAt": NOW // 1000 - 3_600_000, "subscriptionType": "contact.creation",
             "attemptNumber": 0, "objectId": 5501, "changeSource": "CRM"},
        ]
    ).encode()  # fmt: skip
    url = "http://testserver/api/v1/hooks/hubspot"
    stamp = str(NOW // 1000)
    mac = hmac.new(SECRET.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256)
    headers = {
        "X-HubSpot-Signature-v3": base64.b64encode(mac.digest()).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    answer = hooked.post("/api/v1/hooks/hubspot", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["accepted"], answer.json()["ignored"]) == (1, 1)
    old = {**headers, "X-HubSpot-Request-Timestamp": str(NOW // 1000 - 600_000)}
    assert hooked.post("/api/v1/hooks/hubspot", content=body, headers=old).status_code == 401


# -- report ------------------------------------------------------------------------------------


@pytest.fixture
def reporting(database_url: str) -> Iterator[Api]:
    setup = load_config(CONFIG)
    rules = build_rulebook(setup)
    engine = open_database(database_url)
    tokens: dict[str, str] = {}
    with engine.begin() as connection:
        for who, role, rep, team in [("admin", "admin", None, None), ("r1", "rep", "r1", None),
                                     ("east-manager", "manager", None, "east")]:  # fmt: skip
            tokens[who] = create_token(
                connection, rules, role=role, name=who, rep=rep, team=team, now=NOW
            )
    client = TestClient(create_app(rules, engine, lambda: NOW, config=setup))
    yield Api(client, engine, rules, tokens)
    client.close()
    engine.dispose()


def test_report_equals_the_cli_report_on_the_same_events(reporting: Api, tmp_path: Path) -> None:
    assert reporting.post("admin", example_events()).status_code == 200
    as_of = "2026-03-06T18:00:00-05:00"
    served = reporting.get("admin", "/api/v1/report", as_of=as_of).json()
    printed = subprocess.run(
        [LEADSLA, "report", "--config", str(CONFIG), "--events", str(EVENTS), "--as-of", as_of],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert served == json.loads(printed)
    assert served["overall"]["mqls"] == 7
    # The speed legs and the decay fit travel with the report (docs/analytics.md).
    assert [leg["leg"] for leg in served["speed_legs"]["legs"]] == [
        "marketing", "routing", "rep", "reachability",
    ]  # fmt: skip
    assert served["touch_decay"]["resamples"] == 200
    assert served["overall"]["compliance"]["follow_up"] == 0.6
    assert reporting.get("r1", "/api/v1/report").status_code == 403
    east = reporting.get("east-manager", "/api/v1/report", as_of=as_of).json()
    assert set(east["by_owner"]) <= {"r1", "r2"}
    assert east["overall"]["mqls"] == served["by_team"]["east"]["mqls"]


def test_segments_equal_the_cli_and_keep_to_the_callers_team(reporting: Api) -> None:
    assert reporting.post("admin", example_events()).status_code == 200
    as_of = "2026-03-06T18:00:00-05:00"
    served = reporting.get(
        "admin", "/api/v1/segments", as_of=as_of, by="source,grade", min_leads="2"
    ).json()
    printed = subprocess.run(
        [LEADSLA, "segments", "--config", str(CONFIG), "--events", str(EVENTS), "--as-of", as_of,
         "--by", "source,grade", "--min-leads", "2", "--format", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert served == json.loads(printed)
    assert served["by"] == ["source", "grade"] and served["segments"]
    assert reporting.get("r1", "/api/v1/segments").status_code == 403
    east = reporting.get("east-manager", "/api/v1/segments", as_of=as_of, by="owner").json()
    report = reporting.get("east-manager", "/api/v1/report", as_of=as_of).json()
    assert (
        {row["segment"]["owner"] for row in east["segments"]}
        == set(report["waterfall"]["by_owner"])
        <= {"r1", "r2"}
    )
    assert sum(row["leads"] for row in east["segments"]) == sum(
        f["inquiries"] for f in report["waterfall"]["by_owner"].values()
    )
    assert east["capacity"]["reps"] == len(reporting.rules.teams["east"].reps)
    for by in ("colour", "source,source", ""):
        answer = reporting.get("admin", "/api/v1/segments", by=by)
        assert answer.status_code == 422, by
    assert reporting.get("admin", "/api/v1/segments", sort="fun").status_code == 422


def test_lead_list_filters(api: Api) -> None:
    assert api.post("admin", example_events()).status_code == 200
    as_of = "2026-03-04T14:00:00-05:00"  # a Wednesday

    def ids(**params: Any) -> list[str]:
        rows = api.get("admin", "/api/v1/leads", as_of=as_of, **params).json()
        return [row["lead_id"] for row in rows]

    assert ids() == ["L001", "L002", "L003", "L004", "L005", "L006"]
    # owner, status and grade filter on the lead's current fields.
    assert ids(owner="r3") == ["L004", "L005"]
    assert ids(status="Qualified") == ["L001"]
    assert ids(grade="C") == ["L004"]
    # L003 (B: 16 business hours from Monday 10:00 on us-east, lunch 12-13) was due
    # Wednesday 12:00 and turned breached just after 13:00.
    assert ids(breached="true") == ["L003"]
    # L004 (C, r3 on London's calendar) is due Monday 10:30 London: 18.5 business hours
    # after Wednesday 19:00 London (Thu 9 h, Fri 7.5 h, Mon 2 h). L001's qualification
    # clock (7 days from Monday 11:20, stopped only at 15:00) is due Monday 12:20: 20
    # business hours away on us-east (Wed 3, Thu 7, Fri 7, Mon 3). L002's is 31 hours
    # away; L003 is breached, not at risk.
    assert ids(at_risk_hours=20) == ["L001", "L004"]
    assert ids(at_risk_hours=18) == []
    assert ids(limit=2, offset=1) == ["L002", "L003"]
