"""Issue 16 on a real database (SQLite file and PostgreSQL): the Lead History report
imported in two locales and zones stores one history; owner ids from exports and the
HubSpot webhook map through reps' CRM ids, and ``leadsla doctor`` lists the rest with
their lead counts; routing follows an account's email domain (not free mail) and the
owner a CRM set on the account's earlier leads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api_setup import open_api
from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.crm_identity import id18
from leadsla.core.events import parse_instant
from leadsla.service.doctor import unmapped_owners
from leadsla.store.database import open_database
from leadsla.store.tables import leads

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
QUALIFY = ROOT / "examples" / "qualify" / "leadsla.yaml"
REPORTS = ROOT / "tests" / "fixtures" / "salesforce_reports"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
NOW = parse_instant("2026-03-20T12:00:00-04:00")
SECRET = "s3cret-for-crm-tests"
UNKNOWN_SF = "0058c00000ZzZzZ"


def leadsla(database_url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [LEADSLA, args[0], "--config", str(CONFIG), "--database", database_url]
    return subprocess.run(
        [*command, *map(str, args[1:])], capture_output=True, text=True, timeout=120, check=False
    )


def owners(database_url: str) -> dict[str, str | None]:
    engine = open_database(database_url)
    with engine.connect() as connection:
        found = {row.lead_id: row.owner for row in connection.execute(select(leads))}
    engine.dispose()
    return found


# -- the Lead History report --------------------------------------------------------------


def test_the_report_in_two_locales_is_one_history(database_url: str) -> None:
    us = REPORTS / "lead_history_en_US.csv"
    gb = REPORTS / "lead_history_en_GB.csv"
    first = leadsla(database_url, "import", us, "--zone", "America/New_York", "--locale", "en_US")
    assert first.returncode == 0, first.stderr
    assert "7 events stored, 0 already there, 3 leads updated" in first.stderr
    assert "4 × the report's footer" in first.stderr
    # The same changes exported by a London user: every event is already there.
    second = leadsla(database_url, "import", gb, "--zone", "Europe/London", "--locale", "en-GB")
    assert second.returncode == 0, second.stderr
    assert "0 events stored, 7 already there" in second.stderr
    stored = owners(database_url)
    assert stored[id18("00Q5g00000Ab1Cf")] == "r2"  # "Priya Nair" is r2 in the config
    missing = leadsla(database_url, "import", gb)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("leadsla: error: ")
    assert "--zone" in missing.stderr and "Traceback" not in missing.stderr
    bad = leadsla(database_url, "import", gb, "--zone", "Europe/Lndon", "--locale", "en_GB")
    assert bad.returncode == 1 and "--zone" in bad.stderr and "Traceback" not in bad.stderr
    unknown = leadsla(database_url, "import", gb, "--zone", "Europe/London", "--locale", "xx")
    assert unknown.returncode == 1 and "en_US" in unknown.stderr


# -- owners and doctor ---------------------------------------------------------------------


def test_export_owners_map_and_doctor_lists_the_unmapped(database_url: str, tmp_path: Path) -> None:
    export = tmp_path / "Lead.csv"
    export.write_text(
        "Id,CreatedDate,Status,OwnerId\n"
        "00Q5g00000Ab1CdEAJ,2026-03-02T14:00:00Z,Open - Not Contacted,0058c00000AbCdEAAV\n"
        "00Q5g00000Ab1CeEAJ,2026-03-02T14:00:00Z,Open - Not Contacted,0058c00000FgHiJ\n"
        f"00Q5g00000Ab1CfEAJ,2026-03-02T14:00:00Z,Open - Not Contacted,{UNKNOWN_SF}\n"
        f"00Q5g00000Ab1CgEAJ,2026-03-02T14:00:00Z,Open - Not Contacted,{id18(UNKNOWN_SF)}\n"
        "00Q5g00000Ab1ChEAJ,2026-03-02T14:00:00Z,Open - Not Contacted,Nobody Known\n",
        encoding="utf-8",
    )
    result = leadsla(database_url, "import", export)
    assert result.returncode == 0, result.stderr
    assert "2 owner value(s) are no rep of the config" in result.stderr
    stored = owners(database_url)
    assert stored["00Q5g00000Ab1CdEAJ"] == "r1"  # 18-character form of r1's id
    assert stored["00Q5g00000Ab1CeEAJ"] == "r2"  # 15-character form of r2's id
    # Unknown ids are kept, never dropped: both forms are one user.
    assert stored["00Q5g00000Ab1CfEAJ"] == stored["00Q5g00000Ab1CgEAJ"] == id18(UNKNOWN_SF)
    doctor = leadsla(database_url, "doctor", "--format", "json")
    assert doctor.returncode == 0, doctor.stderr
    found = json.loads(doctor.stdout)["unmapped_owners"]
    assert [(row["owner"], row["leads"]) for row in found] == [
        (id18(UNKNOWN_SF), 2),
        ("Nobody Known", 1),
    ]
    assert "Salesforce user id" in found[0]["looks_like"]
    text = leadsla(database_url, "doctor")
    assert "2 lead owner(s) are no rep of the config (3 leads)" in text.stdout
    assert "Nobody Known" in text.stdout


@pytest.fixture
def hooked(database_url: str) -> Iterator[TestClient]:
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    app = create_app(rules, engine, lambda: NOW, hook_secrets={"hubspot": SECRET})
    with TestClient(app) as client:
        yield client
    engine.dispose()


def post_hubspot(client: TestClient, events: list[dict[str, Any]]) -> Any:
    body = json.dumps(events).encode()
    url = "http://testserver/api/v1/hooks/hubspot"
    stamp = str(NOW // 1000)
    mac = hmac.new(SECRET.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256)
    headers = {
        "X-HubSpot-Signature-v3": base64.b64encode(mac.digest()).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    answer = client.post("/api/v1/hooks/hubspot", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_hubspot_webhook_maps_owner_ids_to_reps(hooked: TestClient, database_url: str) -> None:
    occurred = NOW // 1000 - 3_600_000
    change = {"subscriptionType": "contact.propertyChange", "occurredAt": occurred}
    answer = post_hubspot(
        hooked,
        [
            {**change, "eventId": 1, "objectId": 5501, "propertyName": "hs_lead_status",
             "propertyValue": "NEW"},
            {**change, "eventId": 2, "objectId": 5501, "propertyName": "hubspot_owner_id",
             "propertyValue": "70012002"},
            {**change, "eventId": 3, "objectId": 5502, "propertyName": "hubspot_owner_id",
             "propertyValue": "70019999"},
        ],
    )  # fmt: skip
    assert answer["accepted"] == 3
    stored = owners(database_url)
    assert stored["5501"] == "r2"
    assert stored["5502"] == "70019999"  # unknown: kept as sent
    engine = open_database(database_url)
    with engine.connect() as connection:
        found = unmapped_owners(connection, build_rulebook(load_config(CONFIG)))
    engine.dispose()
    assert [(u.owner, u.leads) for u in found] == [("70019999", 1)]
    assert "HubSpot owner id" in found[0].looks_like


# -- account match -----------------------------------------------------------------------

_ids = count()
MON = "2026-03-02T09:00:00-05:00"


class Client:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, *rows: tuple[str, str, str, str]) -> None:
        body = [
            {"id": f"c{next(_ids)}", "lead_id": lead, "at": at, "field": name, "value": value}
            for lead, at, name, value in rows
        ]
        answer = self.client.post("/api/v1/events", json=body, headers=self.headers)
        assert answer.status_code == 200, answer.text

    def routing(self, lead: str) -> dict[str, Any]:
        decisions = self.client.get(f"/api/v1/leads/{lead}/decisions", headers=self.headers)
        return next(d["detail"] for d in decisions.json() if d["kind"] == "assignment")


@pytest.fixture
def routed(database_url: str) -> Iterator[Client]:
    client, engine, _rules, tokens = open_api(QUALIFY, database_url, NOW)
    yield Client(client, tokens["admin"])
    client.close()
    engine.dispose()


def mql(lead: str, at: str, **fields: str) -> list[tuple[str, str, str, str]]:
    """A lead that the example's trigger qualifies at ``at``, with no owner (US: r1, r2)."""
    return [(lead, at, "pain", "no support"), (lead, at, "country", "US"),
            *((lead, at, k, v) for k, v in fields.items())]  # fmt: skip


def test_a_lead_follows_its_email_domain_but_not_free_mail(routed: Client) -> None:
    routed.post(*mql("D1", MON, company="Globex", email="ann@globex.com"))
    first = routed.routing("D1")["rep"]
    # Another company name, the same domain: the account's owner.
    routed.post(*mql("D2", "2026-03-02T10:00:00-05:00", company="Globex EU", email="b@GLOBEX.com"))
    detail = routed.routing("D2")
    assert (detail["rep"], detail["method"]) == (first, "account_match")
    assert detail["reason"] == f"email domain globex.com is owned by {first}"
    # Free mail names no company: two gmail leads take round-robin turns.
    routed.post(*mql("F1", "2026-03-02T11:00:00-05:00", email="x@gmail.com"))
    routed.post(*mql("F2", "2026-03-02T12:00:00-05:00", email="y@gmail.com"))
    assert {routed.routing(lead)["method"] for lead in ("F1", "F2")} == {"weighted_round_robin"}


def test_a_lead_follows_the_owner_the_crm_set_on_its_account(routed: Client) -> None:
    # The CRM assigned Initech's lead to r2 itself: routing never saw the account.
    routed.post(
        ("P1", MON, "status", "Contacted"),
        ("P1", MON, "owner", "r2"),
        ("P1", MON, "company", "Initech"),
    )
    routed.post(*mql("P2", "2026-03-03T10:00:00-05:00", company="INITECH "))
    detail = routed.routing("P2")
    assert (detail["rep"], detail["method"]) == ("r2", "account_match")
    # And by domain: the CRM's owner of a lead at @umbrella.example.
    routed.post(
        ("Q1", MON, "status", "Contacted"),
        ("Q1", MON, "owner", "r2"),
        ("Q1", MON, "email", "boss@umbrella.example"),
    )
    routed.post(*mql("Q2", "2026-03-03T11:00:00-05:00", email="new@umbrella.example"))
    assert routed.routing("Q2")["rep"] == "r2"
