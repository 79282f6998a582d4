"""`leadsla sync` from Salesforce against a local HTTPS server that answers the REST API's
documented shapes (tests/crm_server.py, tests/fixtures/crm/): SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from crm_org import HOUR, Org
from crm_server import CLIENT_ID, CLIENT_SECRET, JWT_USER, CrmState, rsa_pair, running_salesforce
from crm_setup import import_files, stored_events, sync_config
from leadsla.bootstrap import Wiring
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.queries import clock_records
from leadsla.service.sync import CrmJob, run_job
from leadsla.store.database import open_database
from leadsla.store.sync import watermark
from leadsla.store.tables import events

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
START = parse_instant("2026-03-02T08:00:00Z")
DAY = 24 * HOUR


def write_config(folder: Path, login_url: str) -> Path:
    return sync_config(folder, "salesforce", {"login_url": login_url, "bulk_poll_seconds": 0.01})


ENVIRON = {
    "LEADSLA_SALESFORCE_CLIENT_ID": CLIENT_ID,
    "LEADSLA_SALESFORCE_CLIENT_SECRET": CLIENT_SECRET,
}


class Salesforce:
    """A test org served on loopback, and the config that syncs from it."""

    def __init__(self, state: CrmState, url: str, cert: Path, config: Path) -> None:
        self.state, self.url, self.cert, self.config = state, url, cert, config
        self.waits: list[float] = []

    def job(self, environ: dict[str, str] | None = None) -> CrmJob:
        setup = load_config(self.config)
        jobs, notes = Wiring(environ or ENVIRON).crm_jobs(
            setup, build_rulebook(setup), self.config.parent, sleep=self.waits.append
        )
        assert notes == [] and len(jobs) == 1, notes
        return jobs[0]


@pytest.fixture
def salesforce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Salesforce]:
    org = Org(150, start=START, span=2 * DAY, seed=11)
    private, public = rsa_pair()
    state = CrmState(org, START, public_key=public)
    state.page_size = 40  # several nextRecordsUrl pages per query
    with running_salesforce(state, tmp_path) as (url, cert):
        # requests trusts the server's certificate through the variable it reads itself.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        server = Salesforce(state, url, cert, write_config(tmp_path, url))
        server.private_key = private  # type: ignore[attr-defined]
        yield server


def clocks(database_url: str, config: Path, at: int) -> list[dict[str, Any]]:
    rules = build_rulebook(load_config(config))
    engine = open_database(database_url)
    with engine.connect() as connection:
        records = clock_records(connection, rules, at)
    engine.dispose()
    return sorted(records, key=lambda r: (r["lead_id"], r["policy"], r["cycle"]))


def sync_at(salesforce: Salesforce, database_url: str, at: int, job: CrmJob | None = None):  # type: ignore[no-untyped-def]
    salesforce.state.now = at
    rules = build_rulebook(load_config(salesforce.config))
    engine = open_database(database_url)
    try:
        return run_job(engine, rules, job or salesforce.job(), now=at)
    finally:
        engine.dispose()


def file_import(org: Org, at: int, folder: Path, config: Path, database_url: str) -> None:
    folder.mkdir()
    import_files(config, database_url, org.export(at, folder))


@pytest.fixture
def files_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Another empty database of the same kind as ``database_url``, for the file import."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'files.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"leadsla_t_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


def test_backfill_then_incremental_syncs_equal_importing_the_same_data_as_files(
    salesforce: Salesforce, database_url: str, files_url: str, tmp_path: Path
) -> None:
    org = salesforce.state.org
    final = org.end + HOUR
    moments = [START + DAY // 2, START + DAY, START + 2 * DAY, final]
    first, *later = moments
    synced, _ = sync_at(salesforce, database_url, first)
    assert synced.window is not None and synced.window.backfill
    assert any("/jobs/query" in call for call in salesforce.state.calls)  # Bulk API 2.0
    for at in later:
        synced, _ = sync_at(salesforce, database_url, at)
        assert synced.window is not None and not synced.window.backfill
    assert any("/query/01gD" in call for call in salesforce.state.calls)  # nextRecordsUrl
    file_import(org, final, tmp_path / "export", salesforce.config, files_url)

    synced_rows = stored_events(database_url)
    imported_rows = stored_events(files_url)
    assert len(synced_rows) > 500
    assert synced_rows == imported_rows
    assert clocks(database_url, salesforce.config, final) == clocks(
        files_url, salesforce.config, final
    )
    # A sync with nothing new changes nothing.
    again, _ = sync_at(salesforce, database_url, final)
    assert again.window is None
    assert stored_events(database_url) == synced_rows


def test_a_429_storm_and_an_expired_token_are_survived(
    salesforce: Salesforce, database_url: str, files_url: str, tmp_path: Path
) -> None:
    org = salesforce.state.org
    final = org.end + HOUR
    sync_at(salesforce, database_url, START + DAY)
    state = salesforce.state
    state.expire_tokens()
    # Eleven refusals in a row, then every other call refused, 429 and 403 by turns.
    state.limit_next(["429"] * 11 + ["", "429", "", "403"] * 2, retry_after="7")
    job = salesforce.job()
    synced, written = sync_at(salesforce, database_url, final, job)
    assert synced.window is not None and synced.window.until == final // 1_000_000 * 1_000_000
    # Retry-After is honoured; a 403 REQUEST_LIMIT_EXCEEDED, which has none, backs off.
    assert state.limited == []  # every refusal was met
    assert salesforce.waits == [7.0] * 11 + [7.0, 1.0] * 2
    assert state.issued >= 2  # signed in again after the tokens expired
    assert written is not None and written.failed == []
    file_import(org, final, tmp_path / "export", salesforce.config, files_url)
    assert stored_events(database_url) == stored_events(files_url)


def test_a_token_refused_is_a_clear_error_and_nothing_moves(
    salesforce: Salesforce, database_url: str
) -> None:
    environ = dict(ENVIRON, LEADSLA_SALESFORCE_CLIENT_SECRET="wrong")
    done = subprocess.run(
        [LEADSLA, "sync", "--config", str(salesforce.config), "--database", database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **environ},
    )
    assert done.returncode == 1
    assert "salesforce: Salesforce sign-in (client-credentials) refused: HTTP 400" in done.stderr
    assert "invalid assertion" in done.stderr
    assert "Traceback" not in done.stderr
    engine = open_database(database_url)
    with engine.connect() as connection:
        assert watermark(connection, "salesforce") is None
    engine.dispose()


def test_a_failed_bulk_job_is_a_clear_error_and_the_backfill_is_tried_again(
    salesforce: Salesforce, database_url: str
) -> None:
    salesforce.state.fail_jobs = True
    command = [LEADSLA, "sync", "--config", str(salesforce.config), "--database", database_url]
    env = {**os.environ, **ENVIRON, "REQUESTS_CA_BUNDLE": str(salesforce.cert)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1
    assert "salesforce: Bulk API 2.0 query on Lead: Job failure" in done.stderr
    assert "INVALID_FIELD: No such column 'Segment__c'" in done.stderr
    assert "Traceback" not in done.stderr
    salesforce.state.fail_jobs = False
    synced, _ = sync_at(salesforce, database_url, START + DAY)
    assert synced.window is not None and synced.window.backfill


def test_the_jwt_bearer_flow_signs_in_with_the_apps_key(
    salesforce: Salesforce, database_url: str
) -> None:
    data = yaml.safe_load(salesforce.config.read_text(encoding="utf-8"))
    data["connectors"]["salesforce"]["sync"]["username"] = JWT_USER
    salesforce.config.write_text(yaml.safe_dump(data), encoding="utf-8")
    environ = {
        "LEADSLA_SALESFORCE_CLIENT_ID": CLIENT_ID,
        "LEADSLA_SALESFORCE_PRIVATE_KEY": salesforce.private_key,  # type: ignore[attr-defined]
    }
    synced, _ = sync_at(salesforce, database_url, START + DAY, salesforce.job(environ))
    assert synced.stored.accepted > 0


def test_write_back_fields_match_the_clocks_and_are_written_once_per_change(
    salesforce: Salesforce, database_url: str
) -> None:
    state = salesforce.state
    at = START + DAY
    _, written = sync_at(salesforce, database_url, at)
    assert written is not None and written.written > 0 and written.failed == []
    assert_fields_show_the_clocks(state.written, clocks(database_url, salesforce.config, at))
    # Nothing changed: nothing is written again.
    calls = len([c for c in state.calls if "composite/sobjects" in c])
    _, again = sync_at(salesforce, database_url, at)
    assert again is not None and again.changed == 0
    assert len([c for c in state.calls if "composite/sobjects" in c]) == calls
    # A refused record stays pending and is retried on the next round.
    later = at + 6 * HOUR
    state.refuse_ids = set(state.written)
    _, refused = sync_at(salesforce, database_url, later)
    assert refused is not None and refused.failed and refused.written < refused.changed
    state.refuse_ids = set()
    _, retried = sync_at(salesforce, database_url, later)
    assert retried is not None and retried.written == len(refused.failed)
    assert retried.failed == []
    assert_fields_show_the_clocks(state.written, clocks(database_url, salesforce.config, later))
    # Days later, clocks that ran past their due (running → breached) show it, though only
    # the leads whose record could change were judged again.
    _, quiet = sync_at(salesforce, database_url, later + 2 * DAY)
    assert quiet is not None and quiet.failed == []
    assert_fields_show_the_clocks(
        state.written, clocks(database_url, salesforce.config, later + 2 * DAY)
    )
    assert "breached" in {fields["SLA_State__c"] for fields in state.written.values()}


def assert_fields_show_the_clocks(
    written: dict[str, dict[str, Any]], records: list[dict[str, Any]]
) -> None:
    """Each record written shows its lead's latest follow_up clock."""
    latest: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["policy"] == "follow_up" and (
            r["lead_id"] not in latest or r["cycle"] > latest[r["lead_id"]]["cycle"]
        ):
            latest[r["lead_id"]] = r
    assert written and set(written) <= set(latest)
    for lead_id, fields in written.items():
        assert fields["SLA_State__c"] == latest[lead_id]["state"], lead_id
        due = latest[lead_id]["due_at"]
        assert fields["SLA_Due__c"] == (
            None
            if due is None
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(parse_instant(due) // 1_000_000))
        )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sync_killed_mid_way_then_run_again_loses_and_duplicates_nothing(
    salesforce: Salesforce, database_url: str, files_url: str, tmp_path: Path
) -> None:
    org = salesforce.state.org
    final = org.end + HOUR
    state = salesforce.state
    sync_at(salesforce, database_url, START + DAY)
    before = stored_events(database_url)
    # The next sync is killed while it reads tasks, after the Lead pages.
    state.now = final
    state.hold_on = "FROM+Task"
    command = [
        LEADSLA,
        "sync",
        "--config",
        str(salesforce.config),
        "--database",
        database_url,
        "--now",
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(final / 1_000_000)),
    ]
    env = {**os.environ, **ENVIRON, "REQUESTS_CA_BUNDLE": str(salesforce.cert)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert state.held.wait(60), "the sync never reached the Task query"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    state.hold_on = None
    state.release.set()
    assert stored_events(database_url) == before
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    file_import(org, final, tmp_path / "export", salesforce.config, files_url)
    assert stored_events(database_url) == stored_events(files_url)


def test_a_backfill_killed_between_its_chunks_then_run_again_loses_and_duplicates_nothing(
    tmp_path: Path, files_url: str, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough: the kill is the same on both")
    # Enough leads for several chunks of CHUNK_ROWS events, each its own transaction.
    org = Org(6000, start=START, span=4 * DAY, seed=5)
    final = org.end + HOUR
    state = CrmState(org, final)
    with running_salesforce(state, tmp_path) as (url, cert):
        config = write_config(tmp_path, url)
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(final / 1_000_000))
        command = [LEADSLA, "sync", "--config", str(config), "--database", database_url]
        command += ["--now", at]
        env = {**os.environ, **ENVIRON, "REQUESTS_CA_BUNDLE": str(cert)}
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        engine = open_database(database_url)
        killed_with: tuple[int, int | None] | None = None
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with engine.connect() as connection:
                    count = connection.execute(select(func.count()).select_from(events)).scalar()
                    mark = watermark(connection, "salesforce")
            except OperationalError:
                count, mark = 0, None  # the tables are not there yet
            if count:
                process.send_signal(signal.SIGKILL)
                killed_with = (count, mark)
                break
            time.sleep(0.005)
        process.wait(30)
        assert killed_with is not None, "the sync ended before the test could kill it"
        count, mark = killed_with
        assert mark is None  # killed after its first chunk, before its last
        with engine.connect() as connection:
            assert watermark(connection, "salesforce") is None
        engine.dispose()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["already_there"] >= count > 0
        file_import(org, final, tmp_path / "export", config, files_url)
        assert stored_events(database_url) == stored_events(files_url)
