"""Sales acceptance (SPEC §9.5) on a real database (SQLite file and PostgreSQL): the
report of the stored events equals the report of the same events read from a file,
and the owner, their manager or an admin accept or reject a lead through the API."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api_setup import CALLERS, FORM, Api, form_token, log_in
from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
NOW = parse_instant("2026-03-06T18:00:00-05:00")
AS_OF = "2026-03-06T18:00:00-05:00"
ACCEPTANCE = """
sal:
  reasons: [No budget, Duplicate, Wrong contact]
reasons:
  deferred: [Next quarter]
  disqualified: [Student, Competitor]
"""
# Three leads, each with its reason checked by hand in the test below.
HISTORY = [
    # A1 (r1): called, then rejected for no budget; disqualified as a student.
    ("A1", "2026-03-02T09:00:00-05:00", "status", "New"),
    ("A1", "2026-03-02T09:00:00-05:00", "grade", "A"),
    ("A1", "2026-03-02T09:00:00-05:00", "owner", "r1"),
    ("A1", "2026-03-02T09:00:00-05:00", "source", "webinar"),
    ("A1", "2026-03-02T10:00:00-05:00", "activity", "call:connected"),
    ("A1", "2026-03-02T10:00:00-05:00", "status", "Contacted"),
    ("A1", "2026-03-03T09:30:00-05:00", "sal", "rejected"),
    ("A1", "2026-03-03T09:30:00-05:00", "sal_reason", "No budget"),
    ("A1", "2026-03-04T11:00:00-05:00", "status", "Not a Lead"),
    ("A1", "2026-03-04T11:00:00-05:00", "reason", "Student"),
    # A2 (r2): accepted before any call, contacted, deferred to next quarter.
    ("A2", "2026-03-02T09:00:00-05:00", "status", "New"),
    ("A2", "2026-03-02T09:00:00-05:00", "grade", "B"),
    ("A2", "2026-03-02T09:00:00-05:00", "owner", "r2"),
    ("A2", "2026-03-02T09:00:00-05:00", "source", "webinar"),
    ("A2", "2026-03-02T09:00:00-05:00", "campaign", "spring"),
    ("A2", "2026-03-02T09:30:00-05:00", "sal", "accepted"),
    ("A2", "2026-03-02T11:00:00-05:00", "status", "Contacted"),
    ("A2", "2026-03-05T10:00:00-05:00", "status", "Deferred"),
    ("A2", "2026-03-05T10:00:00-05:00", "reason", "Next quarter"),
    # A3 (r1): contacted, no sal row: an inferred SAL.
    ("A3", "2026-03-03T09:00:00-05:00", "status", "New"),
    ("A3", "2026-03-03T09:00:00-05:00", "grade", "A"),
    ("A3", "2026-03-03T09:00:00-05:00", "owner", "r1"),
    ("A3", "2026-03-03T09:00:00-05:00", "campaign", "spring"),
    ("A3", "2026-03-03T10:00:00-05:00", "status", "Contacted"),
]


def example_without_reason_lists() -> str:
    """The example config without its own sal and reasons lists: this test sets its own."""
    return (
        (ROOT / "examples" / "leadsla.yaml")
        .read_text(encoding="utf-8")
        .split("\n# Sales acceptance")[0]
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "leadsla.yaml"
    path.write_text(
        example_without_reason_lists() + ACCEPTANCE,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def api(config: Path, database_url: str) -> Iterator[Api]:
    # The report needs the whole config (commitments, costs), as `leadsla serve` gives it.
    setup = load_config(config)
    rules = build_rulebook(setup)
    engine = open_database(database_url)
    with engine.begin() as connection:
        tokens = {
            who: create_token(connection, rules, role=role, name=who, rep=rep, team=team, now=NOW)
            for who, role, rep, team in CALLERS
        }
    client = TestClient(create_app(rules, engine, lambda: NOW, config=setup))
    yield Api(client, engine, rules, tokens)
    client.close()
    engine.dispose()


def body(rows: list[tuple[str, str, str, str]]) -> list[dict[str, str]]:
    return [{"lead_id": r[0], "at": r[1], "field": r[2], "value": r[3]} for r in rows]


def file_report(config: Path, tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> object:
    source = tmp_path / "events.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lead_id", "at", "field", "value"])
        writer.writerows(rows)
    printed = subprocess.run(
        [LEADSLA, "report", "--config", str(config), "--events", str(source), "--as-of", AS_OF],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(printed)


def test_the_database_report_equals_the_file_report(api: Api, config: Path, tmp_path: Path) -> None:
    answer = api.post("admin", body(HISTORY)).json()
    assert (answer["accepted"], answer["rejected"]) == (len(HISTORY), [])
    served = api.get("admin", "/api/v1/report", as_of=AS_OF).json()
    assert served == file_report(config, tmp_path, HISTORY)
    overall = served["overall"]
    # A1 rejected; A2 accepted by its row; A3 contacted with no sal row.
    assert (overall["mqls"], overall["sals"], overall["sal_rejected"]) == (3, 2, 1)
    assert overall["acceptance_rate"] == pytest.approx(2 / 3)
    assert overall["sal_reasons"] == {"No budget": 1}
    assert overall["reasons"]["disqualified"] == {"Student": 1}
    assert overall["reasons"]["deferred"] == {"Next quarter": 1}
    assert served["by_owner"]["r1"]["sal_rejected"] == 1
    assert served["acceptance"]["by_source"]["webinar"]["acceptance_rate"] == 0.5
    assert served["acceptance"]["by_campaign"]["spring"]["acceptance_rate"] == 1.0
    # qualification (7 days): A1 contacted on 2 Mar, Not a Lead on 4 Mar; A2 deferred
    # within the 7 days; A3 still open.
    split = served["qualification_outcomes"]["qualification"]
    nothing = {"converted": 0, "deferred": 0, "recycled": 0, "disqualified": 0}
    assert split == {
        "clocks": 3,
        "within_target": nothing | {"deferred": 1, "disqualified": 1},
        "late": nothing,
        "share_within_target": {
            "converted": 0.0,
            "deferred": pytest.approx(1 / 3),
            "recycled": 0.0,
            "disqualified": pytest.approx(1 / 3),
        },
        "no_outcome": 1,
    }
    # The tables of docs/analytics.md's worked example.
    assert served["acceptance"]["by_owner"] == {
        "r1": {"mqls": 2, "sals": 1, "sal_rejected": 1, "acceptance_rate": 0.5},
        "r2": {"mqls": 1, "sals": 1, "sal_rejected": 0, "acceptance_rate": 1.0},
    }
    assert served["acceptance"]["by_campaign"] == {
        "spring": {"mqls": 2, "sals": 2, "sal_rejected": 0, "acceptance_rate": 1.0}
    }


def test_a_reason_outside_the_closed_list_is_refused_on_ingest(api: Api) -> None:
    rows = [
        {"lead_id": "B1", "at": "2026-03-02T09:00:00Z", "field": "sal_reason", "value": "Meh"},
        {"lead_id": "B1", "at": "2026-03-02T09:00:00Z", "field": "sal", "value": "maybe"},
        {"lead_id": "B1", "at": "2026-03-02T09:00:00Z", "field": "sal", "value": "accepted"},
    ]
    answer = api.post("admin", rows).json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [0, 1]
    assert "sal.reasons" in answer["rejected"][0]["error"]


def decide(api: Api, who: str, lead_id: str, **decision: str) -> Response:
    return api.client.post(
        f"/api/v1/leads/{lead_id}/acceptance", json=decision, headers=api.headers(who)
    )


def test_the_owner_manager_or_admin_accept_or_reject(api: Api) -> None:
    assert api.post("admin", body(HISTORY)).status_code == 200
    # A3 is r1's: r1 rejects it, with a listed reason.
    refused = decide(api, "r1", "A3", decision="rejected")
    assert (refused.status_code, refused.json()) == (
        422,
        {"detail": "reason: a rejection needs a reason"},
    )
    unlisted = decide(api, "r1", "A3", decision="rejected", reason="Bored")
    assert unlisted.status_code == 422
    assert decide(api, "r1", "A3", decision="maybe").status_code == 422
    done = decide(api, "r1", "A3", decision="rejected", reason="Wrong contact")
    assert done.json() == {
        "lead_id": "A3",
        "sal": "rejected",
        "sal_reason": "Wrong contact",
        "at": AS_OF,
    }
    # Marketing does not decide; another team's rep does not even see the lead.
    assert decide(api, "marketing", "A3", decision="accepted").status_code == 403
    assert decide(api, "r3", "A3", decision="accepted").status_code == 404
    assert decide(api, "r1", "NOPE", decision="accepted").status_code == 404
    events = api.get("admin", "/api/v1/leads/A3").json()["events"]
    assert [(e["field"], e["value"]) for e in events if e["at"] == AS_OF] == [
        ("sal", "rejected"),
        ("sal_reason", "Wrong contact"),
    ]
    report = api.get("admin", "/api/v1/report", as_of=AS_OF).json()
    assert (report["overall"]["sals"], report["overall"]["sal_rejected"]) == (1, 2)
    # The east manager overturns it: the last row of the cycle wins, the reason clears.
    assert decide(api, "east-manager", "A3", decision="accepted").status_code == 200
    report = api.get("admin", "/api/v1/report", as_of=AS_OF).json()
    assert (report["overall"]["sals"], report["overall"]["sal_rejected"]) == (2, 1)
    assert report["overall"]["sal_reasons"] == {"No budget": 1}


def test_leadsla_import_refuses_unlisted_reasons_and_reports_like_the_file(
    config: Path, database_url: str, tmp_path: Path
) -> None:
    bad = [("A9", "2026-03-02T09:30:00-05:00", "sal_reason", "Too small")]
    source = tmp_path / "import.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lead_id", "at", "field", "value"])
        writer.writerows(HISTORY + bad)
    done = subprocess.run(
        [LEADSLA, "import", "--config", str(config), "--database", database_url, str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rejects = list(csv.reader((tmp_path / "import.rejected.csv").open(encoding="utf-8")))
    # The header is line 1, so the bad row (after the history) is on line len(HISTORY) + 2.
    assert [row[0] for row in rejects[1:]] == [str(len(HISTORY) + 2)]
    assert "sal.reasons" in rejects[1][1]
    printed = subprocess.run(
        [LEADSLA, "report", "--config", str(config), "--database", database_url,
         "--as-of", AS_OF],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(printed) == file_report(config, tmp_path, HISTORY)


def test_the_lead_page_form_needs_its_csrf_token_and_shows_the_current_cycle(api: Api) -> None:
    assert api.post("admin", body(HISTORY)).status_code == 200
    client = api.client
    assert log_in(client, api.tokens["r1"]).status_code in (200, 303)
    page = client.get("/leads/A3").text
    assert 'id="accept"' in page and 'data-figure="sal">none yet<' in page
    # A form without the page's token is refused, and nothing is stored.
    forged = client.post("/leads/A3/acceptance", content="decision=accepted", headers=FORM)
    assert forged.status_code == 403
    token = form_token(client)
    sent = client.post(
        "/leads/A3/acceptance",
        content=urlencode({"decision": "rejected", "reason": "Duplicate", "csrf": token}),
        headers=FORM,
        follow_redirects=False,
    )
    assert (sent.status_code, sent.headers["location"]) == (303, "/leads/A3")
    page = client.get("/leads/A3").text
    assert 'data-figure="sal">rejected<' in page and "Duplicate" in page
    # A1 was rejected on 3 Mar; back to New on 5 Mar, it is in a new cycle: no decision.
    assert 'data-figure="sal">rejected<' in client.get("/leads/A1").text
    back = [("A1", "2026-03-05T12:00:00-05:00", "status", "New")]
    assert api.post("admin", body(back)).json()["accepted"] == 1
    assert 'data-figure="sal">none yet<' in client.get("/leads/A1").text
    # A rep of another team sees no A3 at all, let alone its buttons.
    other = TestClient(client.app)
    log_in(other, api.tokens["r3"])
    assert other.get("/leads/A3").status_code == 404
