"""Qualification at ingest, the score and decisions routes, and ``leadsla score``.

On a real database (SQLite file and PostgreSQL), through the REST API as a client
sends events: a lead crossing the MQL threshold gets status New and a follow-up
clock; a recycled lead that qualifies again starts a new cycle.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api_setup import open_api
from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.reroute import reroute
from leadsla.service.revisit import resurface
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.store.tables import events

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "qualify" / "leadsla.yaml"
EVENTS = ROOT / "examples" / "qualify" / "events.csv"
NOW = parse_instant("2026-03-20T12:00:00-04:00")
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
_ids = count()


@dataclass
class Api:
    client: TestClient
    engine: Engine
    tokens: dict[str, str]

    def post(self, *rows: tuple[str, str, str, str], who: str = "marketing") -> Any:
        body = [
            {"id": f"e{next(_ids)}", "lead_id": lead, "at": at, "field": name, "value": value}
            for lead, at, name, value in rows
        ]
        response = self.client.post("/api/v1/events", json=body, headers=self.headers(who))
        assert response.status_code == 200, response.text
        return response.json()

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str = "admin", **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(who))

    def lead(self, lead_id: str) -> Any:
        response = self.get(f"/api/v1/leads/{lead_id}", as_of="2026-03-20T12:00:00-04:00")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    client, engine, _rules, tokens = open_api(CONFIG, database_url, NOW)
    yield Api(client, engine, tokens)
    client.close()
    engine.dispose()


MON = "2026-03-02T09:00:00-05:00"
TUE = "2026-03-03T10:00:00-05:00"
WED = "2026-03-04T10:00:00-05:00"
THU = "2026-03-05T10:00:00-05:00"


def profile(lead: str, at: str) -> list[tuple[str, str, str, str]]:
    """35 profile points: below the example's threshold of 50."""
    return [
        (lead, at, "industry", "Healthcare"),
        (lead, at, "employees", "450"),
        (lead, at, "owner", "r1"),
    ]


def test_crossing_the_threshold_creates_the_mql_and_starts_the_clock(api: Api) -> None:
    api.post(*profile("L1", MON))
    lead = api.lead("L1")
    assert lead["status"] is None  # 35 points: stays in nurture
    assert lead["clocks"] == []
    api.post(("L1", TUE, "web", "webinar"))  # +15 → 50: an MQL at that instant
    lead = api.lead("L1")
    assert lead["status"] == "New"
    assert lead["grade"] == "B"  # the score's grade (B from 50)
    [clock] = [c for c in lead["clocks"] if c["policy"] == "follow_up"]
    assert clock["started_at"] == TUE
    assert clock["cycle"] == 1
    made = [e for e in lead["events"] if e["source"] == "qualify"]
    assert {(e["at"], e["field"], e["value"]) for e in made} == {
        (MON, "qualification", "nurture"),
        (TUE, "qualification", "mql"),
        (TUE, "score", "50"),
        (TUE, "status", "New"),
    }
    response = api.get("/api/v1/leads/L1/decisions")
    assert response.status_code == 200, response.text
    decisions = response.json()
    assert [(d["at"], d["kind"]) for d in decisions] == [(MON, "nurture"), (TUE, "mql")]
    explained = decisions[1]["detail"]["explanation"]
    assert "webinar attended: 15 (1 × web webinar at 15, half-life 30 days)" in explained
    assert decisions[1]["detail"]["score"] == 50


def test_a_trigger_qualifies_at_once_with_its_grade(api: Api) -> None:
    api.post(("L2", MON, "pain", "no support"), ("L2", MON, "owner", "r1"))
    lead = api.lead("L2")
    assert (lead["status"], lead["grade"]) == ("New", "A")
    [clock] = [c for c in lead["clocks"] if c["policy"] == "follow_up"]
    assert clock["grade"] == "A"
    assert clock["due_at"] == "2026-03-03T10:00:00-05:00"  # 8 business hours, lunch excluded
    score = api.get("/api/v1/leads/L2/score", as_of=MON).json()
    assert score["trigger"] == "pain with current provider"
    assert score["mql"] is True
    assert score["grade"] == "A"


def test_a_lead_the_crm_made_an_mql_is_left_alone(api: Api) -> None:
    api.post(
        ("L3", MON, "status", "New"), ("L3", MON, "pain", "no support"), ("L3", MON, "owner", "r1")
    )
    lead = api.lead("L3")
    assert [e for e in lead["events"] if e["source"] == "qualify"] == []
    assert api.get("/api/v1/leads/L3/decisions").json() == []


def test_recycled_lead_that_qualifies_again_starts_a_new_cycle(api: Api) -> None:
    api.post(*profile("L4", MON), ("L4", MON, "web", "webinar"))
    api.post(("L4", TUE, "status", "Contacted"))
    api.post(("L4", WED, "status", "Recycled"))  # back to nurture: score kept, decaying
    lead = api.lead("L4")
    assert lead["status"] == "Recycled"
    # The webinar has decayed below 15 a day later: nothing qualifies it until new behaviour.
    api.post(("L4", THU, "web", "pricing_page"))
    lead = api.lead("L4")
    assert lead["status"] == "New"
    cycles = [c for c in lead["clocks"] if c["policy"] == "follow_up"]
    assert [(c["cycle"], c["started_at"]) for c in cycles] == [(1, MON), (2, THU)]
    kinds = [d["kind"] for d in api.get("/api/v1/leads/L4/decisions").json()]
    assert kinds == ["mql", "mql"]


def test_deferred_lead_waits_for_its_revisit_date(api: Api) -> None:
    api.post(*profile("L5", MON), ("L5", MON, "web", "webinar"))
    api.post(("L5", "2026-03-02T11:00:00-05:00", "status", "Contacted"))
    api.post(
        ("L5", TUE, "status", "Deferred"),
        ("L5", TUE, "revisit_at", "2026-03-10"),
    )
    api.post(("L5", WED, "web", "pricing_page"))  # qualifies, but the revisit date is ahead
    assert api.lead("L5")["status"] == "Deferred"
    api.post(("L5", "2026-03-11T09:00:00-04:00", "web", "download"))
    lead = api.lead("L5")
    assert lead["status"] == "New"
    cycles = [c for c in lead["clocks"] if c["policy"] == "follow_up"]
    assert [c["started_at"] for c in cycles] == [MON, "2026-03-11T09:00:00-04:00"]


def test_replayed_and_late_events_make_no_second_mql(api: Api) -> None:
    api.post(*profile("L6", MON))
    api.post(("L6", TUE, "web", "webinar"))
    api.post(("L6", "2026-03-02T12:00:00-05:00", "title", "Director"))  # late, +10 → 45
    with api.engine.connect() as connection:
        statuses = connection.execute(
            select(events.c.at, events.c.value).where(
                events.c.lead_id == "L6", events.c.field == "status"
            )
        ).all()
    assert len(statuses) == 1  # the MQL of Tuesday, once
    assert api.lead("L6")["status"] == "New"


def test_score_route_respects_roles_and_explains(api: Api) -> None:
    api.post(*profile("L7", MON), ("L7", TUE, "web", "pricing_page"))
    for who in ("admin", "marketing", "east-manager", "r1"):
        response = api.get("/api/v1/leads/L7/score", who=who, as_of=WED)
        assert response.status_code == 200, (who, response.text)
    body = response.json()
    # 35 profile + pricing page 10 halved after its 7-day half-life? No: one day old.
    pricing = next(r for r in body["rules"] if r["rule"] == "pricing page")
    assert pricing["count"] == 1
    assert pricing["awarded"] == pytest.approx(10 * 0.5 ** (1 / 7), abs=0.01)
    assert body["score"] == pytest.approx(35 + 10 * 0.5 ** (1 / 7), abs=0.01)
    assert body["mql"] is False
    # Out of scope reads as missing (#14): a 403 told a rep which lead ids exist.
    assert api.get("/api/v1/leads/L7/score", who="r3").status_code == 404
    assert api.get("/api/v1/leads/nope/score").status_code == 404
    assert api.get("/api/v1/leads/L7/score", as_of="yesterday").status_code == 422
    assert api.get("/api/v1/leads/L7/decisions", who="r3").status_code == 404


@contextmanager
def without_scoring(database_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API on the base example (no scoring, no assignment), with an admin's headers."""
    rules = build_rulebook(load_config(ROOT / "examples" / "leadsla.yaml"))
    engine = open_database(database_url)
    with engine.begin() as connection:
        token = create_token(
            connection, rules, role="admin", name="a", rep=None, team=None, now=NOW
        )
    with TestClient(create_app(rules, engine, lambda: NOW)) as client:
        yield client, {"Authorization": f"Bearer {token}"}
    engine.dispose()


def test_score_route_without_scoring_section(database_url: str) -> None:
    with without_scoring(database_url) as (client, headers):
        response = client.get("/api/v1/leads/x/score", headers=headers)
    assert response.status_code == 409


# -- leadsla score -----------------------------------------------------------------------


def leadsla(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSLA, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_score_text_and_json() -> None:
    base = ("score", "--config", CONFIG, "--events", EVENTS, "--as-of", THU)
    text = leadsla(*base, "--lead", "Q001")
    assert text.returncode == 0, text.stderr
    first = text.stdout.splitlines()[0]
    assert first.startswith("lead Q001 at 2026-03-05T10:00:00-05:00: score 64.")
    assert first.endswith("grade B, MQL")
    webinar = round(15 * 0.5 ** (2 / 30), 2)  # two days old, 30-day half-life
    assert f"  webinar attended: {webinar:g} (1 × web webinar at 15, half-life 30 days)" in (
        text.stdout
    )
    data = json.loads(leadsla(*base, "--lead", "Q003", "--format", "json").stdout)
    assert (data["mql"], data["grade"], data["trigger"]) == (
        True,
        "A",
        "pain with current provider",
    )
    assert data["score"] == 0
    nurture = json.loads(leadsla(*base, "--lead", "Q002", "--format", "json").stdout)
    assert nurture["mql"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lead", "Q999"), "--lead: no events of lead 'Q999'"),
        (("--lead", "Q001", "--format", "xml"), "--format: 'xml' is not text or json"),
        (("--lead", "Q001", "--as-of", "soon"), "--as-of:"),
    ],
)
def test_cli_score_bad_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    result = leadsla("score", "--config", CONFIG, "--events", EVENTS, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_score_needs_a_scoring_section() -> None:
    config = ROOT / "examples" / "leadsla.yaml"
    result = leadsla("score", "--config", config, "--events", EVENTS, "--lead", "Q001")
    assert result.returncode == 1
    assert "has no scoring section" in result.stderr


# -- routing at ingest -------------------------------------------------------------------


def trigger(lead: str, at: str, **fields: str) -> list[tuple[str, str, str, str]]:
    """A lead that a trigger qualifies at ``at``, with no owner."""
    return [(lead, at, "pain", "no support"), *((lead, at, k, v) for k, v in fields.items())]


def test_new_mqls_are_routed_by_rule_and_weight_and_say_why(api: Api) -> None:
    api.post(*trigger("G1", MON, country="GB"))
    lead = api.lead("G1")
    assert (lead["status"], lead["owner"]) == ("New", "r3")  # the EMEA rule's team
    [clock] = [c for c in lead["clocks"] if c["policy"] == "follow_up"]
    assert clock["calendar"] == "uk"  # the clock runs on the routed owner's calendar
    owners = []
    for n in range(6):
        at = f"2026-03-02T1{n}:00:00-05:00"
        api.post(*trigger(f"U{n}", at, country="US"))
        owners.append(api.lead(f"U{n}")["owner"])
    assert owners.count("r1") == 4 and owners.count("r2") == 2  # weights 2:1
    decisions = api.get("/api/v1/leads/U1/decisions").json()
    assignment = next(d for d in decisions if d["kind"] == "assignment")
    assert assignment["detail"]["rule"] == "North America"
    assert assignment["detail"]["method"] == "weighted_round_robin"
    assert assignment["detail"]["rep"] == owners[1]
    assert "weighted round robin turn" in assignment["detail"]["reason"]


def test_out_of_office_rep_gets_no_new_lead(api: Api) -> None:
    # r2 is out from 2026-03-16 to 2026-03-20 (the example's out_of_office).
    for n in range(4):
        api.post(*trigger(f"O{n}", f"2026-03-17T1{n}:00:00-04:00", country="US"))
    owners = [api.lead(f"O{n}")["owner"] for n in range(4)]
    assert owners == ["r1"] * 4
    detail = next(
        d["detail"]
        for d in api.get("/api/v1/leads/O0/decisions").json()
        if d["kind"] == "assignment"
    )
    assert {"rep": "r2", "reason": "is out of office"} in detail["skipped"]


def test_a_company_with_an_owner_keeps_its_owner(api: Api) -> None:
    api.post(*trigger("A1", MON, country="US", company="Acme"))
    first = api.lead("A1")["owner"]
    for n in range(3):
        api.post(
            *trigger(f"A{n + 2}", f"2026-03-0{n + 3}T10:00:00-05:00", company="ACME", country="US")
        )
        assert api.lead(f"A{n + 2}")["owner"] == first
    detail = next(
        d["detail"]
        for d in api.get("/api/v1/leads/A2/decisions").json()
        if d["kind"] == "assignment"
    )
    assert detail["method"] == "account_match"


def test_the_lead_carries_its_score_explained_and_its_latest_assignment(api: Api) -> None:
    api.post(*trigger("W1", "2026-03-17T10:00:00-04:00", country="US"))
    lead = api.lead("W1")
    score = api.get("/api/v1/leads/W1/score", as_of="2026-03-20T12:00:00-04:00").json()
    assert lead["score_explanation"] == score
    assert lead["score_explanation"]["trigger"] == "pain with current provider"
    decisions = api.get("/api/v1/leads/W1/decisions").json()
    [routed] = [d for d in decisions if d["kind"] == "assignment"]
    expected = {"at": routed["at"], "kind": "assignment", "reroute": None, **routed["detail"]}
    assert lead["assignment"] == expected
    assert lead["assignment"]["rep"] == lead["owner"] == "r1"
    assert {"rep": "r2", "reason": "is out of office"} in lead["assignment"]["skipped"]
    # The keys the lead had before are all still there.
    assert {"lead_id", "fields", "status", "owner", "grade", "last_event_at", "events"} <= set(lead)
    # A lead with an owner from the start has a score but no assignment; a rep outside
    # the lead's scope is refused as before.
    api.post(*profile("W2", MON))
    other = api.lead("W2")
    assert other["assignment"] is None
    assert other["score_explanation"]["score"] == 35
    assert api.get("/api/v1/leads/W2", who="r3").status_code == 404  # as a missing one


def test_a_lead_without_a_scoring_section_has_no_score_explanation(database_url: str) -> None:
    with without_scoring(database_url) as (client, headers):
        body = [{"lead_id": "x", "at": MON, "field": "status", "value": "New"}]
        assert client.post("/api/v1/events", json=body, headers=headers).status_code == 200
        lead = client.get("/api/v1/leads/x", headers=headers).json()
    assert (lead["score_explanation"], lead["assignment"]) == (None, None)


def test_an_mql_the_crm_made_without_an_owner_is_routed_once(api: Api) -> None:
    api.post(("C1", MON, "status", "New"), ("C1", MON, "country", "GB"))
    lead = api.lead("C1")
    assert lead["owner"] == "r3"
    [routed] = [e for e in lead["events"] if e["source"] == "route"]
    assert (routed["at"], routed["field"], routed["value"]) == (MON, "owner", "r3")
    api.post(("C1", TUE, "status", "Contacted"))
    kinds = [d["kind"] for d in api.get("/api/v1/leads/C1/decisions").json()]
    assert kinds == ["assignment"]


def test_a_lead_with_an_owner_is_not_routed(api: Api) -> None:
    api.post(*trigger("K1", MON, country="GB", owner="r1"))
    assert api.lead("K1")["owner"] == "r1"
    kinds = [d["kind"] for d in api.get("/api/v1/leads/K1/decisions").json()]
    assert kinds == ["mql"]


# -- re-routing --------------------------------------------------------------------------


def run_reroute(api: Api, at: str) -> dict[str, tuple[str, str | None, str]]:
    rules = build_rulebook(load_config(CONFIG))
    with api.engine.begin() as connection:
        return reroute(connection, rules, parse_instant(at), recorded_at=NOW).rerouted


def test_leads_of_a_rep_out_of_office_are_rerouted(api: Api) -> None:
    api.post(*trigger("R1", "2026-03-13T10:00:00-04:00", owner="r2", country="US"))
    api.post(*trigger("R2", "2026-03-13T10:00:00-04:00", owner="r2", country="US"))
    api.post(("R2", "2026-03-13T11:00:00-04:00", "status", "Contacted"))  # worked: stays
    assert run_reroute(api, "2026-03-13T12:00:00-04:00") == {}  # r2 not out yet
    moved = run_reroute(api, "2026-03-16T10:00:00-04:00")
    assert moved == {"R1": ("r2", "r1", "owner r2 is out of office")}
    lead = api.lead("R1")
    assert lead["owner"] == "r1"
    cycles = [c for c in lead["clocks"] if c["policy"] == "follow_up"]
    assert len(cycles) == 1  # the clock keeps running; only its owner changed
    decision = next(
        d for d in api.get("/api/v1/leads/R1/decisions").json() if d["kind"] == "reroute"
    )
    assert decision["detail"]["reroute"] == "owner r2 is out of office"
    assert {"rep": "r2", "reason": "is the owner being re-routed from"} in decision["detail"][
        "skipped"
    ]
    assert api.lead("R2")["owner"] == "r2"


def test_a_lead_is_rerouted_once_after_the_configured_escalation_step(api: Api) -> None:
    api.post(*trigger("S1", MON, owner="r1", country="US"))
    # Step 2 of follow_up fires 48 hours after the start: not yet on Tuesday.
    assert run_reroute(api, TUE) == {}
    moved = run_reroute(api, THU)
    assert moved == {"S1": ("r1", "r2", "follow_up escalation step 2 fired (cycle 1)")}
    assert api.lead("S1")["owner"] == "r2"
    assert run_reroute(api, "2026-03-05T16:00:00-05:00") == {}  # once per cycle


def run_revisit(api: Api, at: str) -> dict[str, int]:
    rules = build_rulebook(load_config(CONFIG))
    with api.engine.begin() as connection:
        return resurface(connection, rules, parse_instant(at), recorded_at=NOW)


def test_deferred_lead_resurfaces_on_its_revisit_date_whatever_its_score(api: Api) -> None:
    api.post(("D1", MON, "status", "New"), ("D1", MON, "owner", "r1"))
    api.post(("D1", TUE, "status", "Contacted"))
    api.post(("D1", WED, "status", "Deferred"), ("D1", WED, "revisit_at", "2026-03-10"))
    assert run_revisit(api, "2026-03-09T23:00:00-04:00") == {}
    revisit = parse_instant("2026-03-10T00:00:00-04:00")
    assert run_revisit(api, "2026-03-10T09:00:00-04:00") == {"D1": revisit}
    lead = api.lead("D1")
    assert (lead["status"], lead["owner"]) == ("New", "r1")
    cycles = [c for c in lead["clocks"] if c["policy"] == "follow_up"]
    assert [c["started_at"] for c in cycles] == [MON, "2026-03-10T00:00:00-04:00"]
    assert run_revisit(api, "2026-03-11T09:00:00-04:00") == {}  # done: it is an MQL
    api.post(("D1", "2026-03-12T10:00:00-04:00", "status", "Recycled"))
    assert run_revisit(api, "2026-03-13T09:00:00-04:00") == {}  # the old date is spent


def import_stale_lead(tmp_path: Path, database: str) -> None:
    """S1: an MQL (by a trigger) of r1 on Monday, never touched."""
    events = tmp_path / "events.csv"
    events.write_text(
        "lead_id,at,field,value\n"
        f"S1,{MON},pain,no support\n"
        f"S1,{MON},owner,r1\n"
        f"S1,{MON},country,US\n",
        encoding="utf-8",
    )
    imported = leadsla("import", "--config", CONFIG, "--database", database, events)
    assert imported.returncode == 0, imported.stderr


def test_cli_reroute(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'leadsla.db'}"
    assert leadsla("db", "upgrade", "--database", database).returncode == 0
    import_stale_lead(tmp_path, database)
    result = leadsla("reroute", "--config", CONFIG, "--database", database, "--as-of", THU)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "S1: r1 → r2 (follow_up escalation step 2 fired (cycle 1))\n"
    assert "1 lead(s) re-routed of 1 due" in result.stderr
    revisit = leadsla("revisit", "--config", CONFIG, "--database", database, "--as-of", THU)
    assert revisit.returncode == 0, revisit.stderr
    assert "0 deferred lead(s) re-surfaced" in revisit.stderr
    bad = leadsla("reroute", "--config", ROOT / "examples" / "leadsla.yaml", "--database", database)
    assert bad.returncode == 1
    assert "has no assignment section" in bad.stderr


# -- leadsla capacity ----------------------------------------------------------------------


def test_cli_capacity() -> None:
    text = leadsla("capacity", "--config", CONFIG)
    assert text.returncode == 0, text.stderr
    assert "reps_needed                 6\n" in text.stdout
    data = json.loads(leadsla("capacity", "--config", CONFIG, "--format", "json").stdout)
    # The example: 1200 MQLs a quarter, 70% workable, 6 attempts of 12 minutes, 60 h a rep.
    assert data["mqls_per_month"] == 400
    assert data["rep_hours_needed_per_month"] == pytest.approx(400 * 0.7 * 6 * 12 / 60)
    assert (data["reps_needed"], data["reps_configured"]) == (6, 3)
    assert data["verdict"].startswith("hire 3 rep(s)")
    missing = leadsla("capacity", "--config", ROOT / "examples" / "leadsla.yaml")
    assert missing.returncode == 1
    assert "has no capacity section" in missing.stderr


# -- intake ------------------------------------------------------------------------------


def test_intake_clock_from_capture_to_the_nurture_decision_at_ingest(api: Api) -> None:
    api.post(
        ("I1", "2026-03-03T10:00:00-05:00", "captured_at", "2026-03-02"),
        ("I1", "2026-03-03T10:00:00-05:00", "industry", "Retail"),
    )
    response = api.get("/api/v1/clocks", policy="intake", as_of=THU)
    assert response.status_code == 200, response.text
    [clock] = response.json()
    assert (clock["lead_id"], clock["state"]) == ("I1", "met")
    assert clock["started_at"] == "2026-03-02T00:00:00-05:00"
    assert clock["stopped_at"] == "2026-03-03T10:00:00-05:00"  # the nurture decision
    api.post(("I2", THU, "captured_at", "2026-03-02"), ("I2", THU, "pain", "no support"))
    clocks = {c["lead_id"]: c for c in api.get("/api/v1/clocks", policy="intake", as_of=THU).json()}
    assert clocks["I2"]["state"] == "breached"  # decided (an MQL) three days after capture


def test_the_worker_reroutes_what_is_due(tmp_path: Path) -> None:
    """``leadsla worker`` does what ``leadsla reroute`` does, in its rounds."""
    database = f"sqlite:///{tmp_path / 'leadsla.db'}"
    import_stale_lead(tmp_path, database)
    before = leadsla("reroute", "--config", CONFIG, "--database", database, "--as-of", MON)
    assert "0 lead(s) re-routed of 0 due" in before.stderr
    worker = leadsla("worker", "--config", CONFIG, "--database", database, "--once", "--now", THU)
    assert worker.returncode == 0, worker.stderr
    assert '"rerouted": 1' in worker.stderr
    after = leadsla("reroute", "--config", CONFIG, "--database", database, "--as-of", THU)
    assert "0 lead(s) re-routed of 0 due" in after.stderr
