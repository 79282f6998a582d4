"""`leadsla sync` from HubSpot against a local HTTP server answering the CRM v3 API's
documented shapes (tests/hubspot_server.py, tests/fixtures/crm/)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_setup import import_files, stored_events, sync_config
from hubspot_server import TOKEN, HubState, Portal, iso, running_hubspot
from leadsla.bootstrap import Wiring
from leadsla.config import build_rulebook, load_config
from leadsla.connectors import hubspot_api
from leadsla.core.events import parse_instant
from leadsla.service.queries import clock_records
from leadsla.service.sync import CrmJob, run_job
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
START = parse_instant("2026-03-02T08:00:00Z")
HOUR = 3_600_000_000


class HubSpot:
    def __init__(self, state: HubState, config: Path) -> None:
        self.state, self.config = state, config
        self.waits: list[float] = []

    def job(self) -> CrmJob:
        setup = load_config(self.config)
        jobs, notes = Wiring({"LEADSLA_HUBSPOT_TOKEN": TOKEN}).crm_jobs(
            setup, build_rulebook(setup), self.config.parent, sleep=self.waits.append
        )
        assert notes == [] and len(jobs) == 1, notes
        return jobs[0]

    def sync(self, database_url: str, at: int):  # type: ignore[no-untyped-def]
        self.state.now = at
        engine = open_database(database_url)
        try:
            return run_job(engine, build_rulebook(load_config(self.config)), self.job(), now=at)
        finally:
            engine.dispose()


@pytest.fixture
def hubspot(tmp_path: Path) -> Iterator[HubSpot]:
    portal = Portal(60, start=START)
    state = HubState(portal, START)
    with running_hubspot(state) as url:
        config = sync_config(tmp_path, "hubspot", {"base_url": url})
        yield HubSpot(state, config)


def export(portal: Portal, at: int, folder: Path) -> list[Path]:
    """The portal at ``at`` as a contacts export (internal names) and a property history."""
    folder.mkdir()
    contacts, history = folder / "contacts.csv", folder / "property_history.csv"
    names = ("hs_lead_status", "hubspot_owner_id", "lifecyclestage")
    with contacts.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["hs_object_id", "createdate", *names])
        for c in portal.contacts:
            if c.created <= at:
                current = [[v for t, v in c.history[n] if t <= at][-1] for n in names]
                writer.writerow([c.id, iso(c.created), *current])
    with history.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["hs_object_id", "property", "value", "timestamp"])
        for c in portal.contacts:
            for name in names:
                for t, v in c.history[name]:
                    if t <= at:
                        writer.writerow([c.id, name, v, iso(t)])
    return [contacts, history]


def test_backfill_and_incremental_syncs_equal_the_exports_and_bring_engagements(
    hubspot: HubSpot, database_url: str, tmp_path: Path
) -> None:
    portal = hubspot.state.portal
    final = max(c.created for c in portal.contacts) + 40 * HOUR
    for at in (START + 12 * HOUR, START + 30 * HOUR, final):
        synced, _ = hubspot.sync(database_url, at)
        assert synced.rejected == []
    files_url = f"sqlite:///{tmp_path / 'files.db'}"
    import_files(hubspot.config, files_url, export(portal, final, tmp_path / "export"))
    synced_rows = stored_events(database_url, "hs:contact") + stored_events(
        database_url, "hs:history"
    )
    assert len(synced_rows) > 150
    assert synced_rows == stored_events(files_url, "hs:contact") + stored_events(
        files_url, "hs:history"
    )
    activities = stored_events(database_url, "hs:calls") + stored_events(database_url, "hs:emails")
    activities += stored_events(database_url, "hs:meetings")
    expected = {(e.contact, f"hs:{e.type}:{e.id}:{e.contact}") for e in portal.engagements}
    assert {(r[0], r[4]) for r in activities} == expected
    assert {r[3] for r in activities} <= {"call:connected", "email:sent", "meeting:held"}


def test_a_429_storm_is_waited_out_and_search_pages_past_its_cap(
    hubspot: HubSpot, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cap of 30 results per search, as HubSpot's 10,000 at a smaller scale.
    monkeypatch.setattr(hubspot_api, "SEARCH_CAP", 30)
    monkeypatch.setattr(hubspot_api, "SEARCH_PAGE", 10)
    hubspot.state.cap = 30
    hubspot.state.retry_after = "3"
    hubspot.state.limited = ["429"] * 5 + ["429-"] * 2 + ["", "429"] * 6
    final = max(c.created for c in hubspot.state.portal.contacts) + 40 * HOUR
    synced, written = hubspot.sync(database_url, final)
    assert hubspot.state.limited == []
    assert synced.records["contacts"] == len(hubspot.state.portal.contacts)
    # Retry-After honoured; without it, one second doubled for each refusal in a row.
    assert hubspot.waits == [3.0] * 5 + [32.0, 64.0] + [3.0] * 6
    assert written is not None and written.failed == []


def test_write_back_properties_match_the_clocks(hubspot: HubSpot, database_url: str) -> None:
    at = START + 30 * HOUR
    _, written = hubspot.sync(database_url, at)
    assert written is not None and written.written > 0
    rules = build_rulebook(load_config(hubspot.config))
    engine = open_database(database_url)
    with engine.connect() as connection:
        records = clock_records(connection, rules, at, policy="follow_up")
    engine.dispose()
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["lead_id"] not in latest or record["cycle"] > latest[record["lead_id"]]["cycle"]:
            latest[record["lead_id"]] = record
    assert set(hubspot.state.written) == set(latest)
    for lead_id, properties in hubspot.state.written.items():
        assert properties["leadsla_sla_state"] == latest[lead_id]["state"]
        due = latest[lead_id]["due_at"]
        assert (properties["leadsla_sla_due"] or None) == (
            None if due is None else iso(parse_instant(due))[:19] + "Z"
        )


def test_the_worker_syncs_on_its_interval(hubspot: HubSpot, database_url: str) -> None:
    at = START + 30 * HOUR
    hubspot.state.now = at
    done = subprocess.run(
        [
            *(LEADSLA, "worker", "--once", "--config", str(hubspot.config)),
            *("--database", database_url, "--now", iso(at)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "LEADSLA_HUBSPOT_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if '"crm"' in line]
    assert len(lines) == 1 and lines[0]["crm"] == "hubspot" and lines[0]["backfill"] is True
    assert lines[0]["stored"] == len(stored_events(database_url, "hs:"))
    assert lines[0]["writeback"]["written"] == len(hubspot.state.written) > 0
