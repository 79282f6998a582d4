"""Warnings and escalation steps reach a real SMTP server on loopback, each exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import Engine, select

from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.notify.delivery import MailSettings, deliver, smtp_sender
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.timers import fire_due_timers
from leadsla.store.database import open_database
from leadsla.store.outbox import notification_row, queue_notifications
from leadsla.store.tables import notifications
from mail_server import Inbox, free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
HOUR = 3_600_000_000
DAY = 24 * HOUR


def setup(database_url: str) -> tuple[Engine, Rulebook]:
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")  # Monday
    rows = [
        IncomingEvent("L1", start, "status", "New", "k1"),
        IncomingEvent("L1", start, "grade", "A", "k2"),
        IncomingEvent("L1", start, "owner", "r1", "k3"),
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=start)
    return engine, rules


def work(engine: Engine, rules: Rulebook, now: int, port: int) -> None:
    with engine.begin() as connection:
        fire_due_timers(connection, rules, now, max_delay=DAY)
    settings = MailSettings("127.0.0.1", port, "leadsla@example.com")
    deliver(engine, rules, now, smtp_sender(settings, timeout=5), settings.sender)


def test_ladder_fires_each_step_once_at_its_instant(
    database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    engine, rules = setup(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    # Warning at 75 % of 8 business hours on us-east (lunch 12-13): Monday 16:00.
    work(engine, rules, start + 7 * HOUR - 1, port)
    assert inbox.messages == []
    work(engine, rules, start + 7 * HOUR, port)
    assert inbox.subjects() == [("sam@example.com", "[leadsla] L1 follow_up: warning")]
    # 24 hours: the owner; 48 hours: owner and manager; 72 hours: the executive.
    for hours in (24, 30, 48, 72, 80):
        work(engine, rules, start + hours * HOUR, port)
    assert inbox.subjects() == sorted(
        [
            ("sam@example.com", "[leadsla] L1 follow_up: warning"),
            ("sam@example.com", "[leadsla] L1 follow_up: escalation 1 of 3"),
            ("sam@example.com", "[leadsla] L1 follow_up: escalation 2 of 3"),
            ("dana@example.com", "[leadsla] L1 follow_up: escalation 2 of 3"),
            ("ceo@example.com", "[leadsla] L1 follow_up: escalation 3 of 3"),
        ]
    )
    step1 = next(m for m in inbox.messages if "escalation 1" in m["Subject"])
    assert "This lead is getting stale." in step1.get_body(("plain",)).get_content()
    html = step1.get_body(("html",)).get_content()
    assert "<strong>L1</strong>" in html and "step 1 of 3" in html
    engine.dispose()


def test_no_step_after_a_stop_and_stale_steps_are_skipped(
    database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    engine, rules = setup(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    with engine.begin() as connection:
        contacted = IncomingEvent("L1", start + 30 * HOUR, "status", "Contacted", "k4")
        ingest(connection, rules, [contacted], source="test", recorded_at=start + 30 * HOUR)
    # First look a week later: the warning and step 1 happened before the stop but are
    # older than max_delay (24 hours): recorded as skipped, not sent. Steps 2 and 3
    # fell after the stop: never fired.
    work(engine, rules, start + 7 * DAY, port)
    assert inbox.messages == []
    with engine.connect() as connection:
        rows = connection.execute(select(notifications.c.kind, notifications.c.step,
                                         notifications.c.state)).all()  # fmt: skip
    assert sorted(map(tuple, rows)) == [("escalation", 1, "skipped"), ("warning", 0, "skipped")]
    engine.dispose()


def test_smtp_down_then_up_delivers_after_retry(database_url: str, tmp_path: Path) -> None:
    engine, rules = setup(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    port = free_port()  # nothing listens yet
    work(engine, rules, start + 7 * HOUR, port)
    with engine.connect() as connection:
        (attempts, state) = connection.execute(
            select(notifications.c.attempts, notifications.c.state)
        ).one()
    assert (attempts, state) == (1, "queued")
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        work(engine, rules, start + 7 * HOUR + 10 * 1_000_000, port)  # before the backoff
        assert inbox.messages == []
        work(engine, rules, start + 8 * HOUR, port)
        assert [m["Subject"] for m in inbox.messages] == ["[leadsla] L1 follow_up: warning"]
    finally:
        controller.stop()
    engine.dispose()


def test_worker_once_from_the_command_line(
    database_url: str, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    config = tmp_path / "leadsla.yaml"
    config.write_text(
        CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}"),
        encoding="utf-8",
    )
    engine, _rules = setup(database_url)
    engine.dispose()
    command = [LEADSLA, "worker", "--config", str(config), "--database", database_url, "--once",
               "--now", "2026-03-03T09:30:00-05:00"]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    logged = json.loads(first.stderr.strip().splitlines()[-1])  # structured: one JSON object
    assert (logged["event"], logged["queued"], logged["sent"]) == ("worker.round", 2, 2)
    again = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    # Tuesday 09:30: the warning (Monday 16:00) and step 1 (Tuesday 09:00), once each.
    assert sorted(m["Subject"] for m in inbox.messages) == [
        "[leadsla] L1 follow_up: escalation 1 of 3",
        "[leadsla] L1 follow_up: warning",
    ]


def test_three_workers_deliver_each_notification_once(
    database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    leads = 120
    rows = [
        IncomingEvent(f"W{i:04d}", start, name, value, f"w{i}:{name}")
        for i in range(leads)
        for name, value in (("status", "New"), ("grade", "A"), ("owner", "r1"))
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=start)
    now = start + 80 * HOUR
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(3):
                with engine.begin() as connection:
                    fire_due_timers(connection, rules, now, max_delay=7 * DAY, limit=25)
                settings = MailSettings("127.0.0.1", port, "leadsla@example.com")
                deliver(engine, rules, now, smtp_sender(settings, timeout=5), settings.sender)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    # Whatever is left after the racing rounds, one last pass finishes it.
    work(engine, rules, now, port)
    # Per lead: the warning and step 1 (owner), step 2 (owner and manager), step 3 (CEO).
    keys = [(m["To"], m["Subject"]) for m in inbox.messages]
    assert len(keys) == leads * 5
    assert len(set(keys)) == leads * 5
    engine.dispose()


class SlowInbox(Inbox):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def test_sigkill_mid_batch_loses_nothing(database_url: str, tmp_path: Path) -> None:
    inbox = SlowInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = tmp_path / "leadsla.yaml"
        # notifications is the config's last section: a week's max_delay keeps every
        # step of the ladder fresh enough to send.
        text = CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}")
        config.write_text(text.rstrip("\n") + "\n  max_delay: 7 days\n", encoding="utf-8")
        rules = build_rulebook(load_config(config))
        engine = open_database(database_url)
        start = parse_instant("2026-03-02T09:00:00-05:00")
        leads = 40
        rows = [
            IncomingEvent(f"K{i:03d}", start, name, value, f"k{i}:{name}")
            for i in range(leads)
            for name, value in (("status", "New"), ("grade", "A"), ("owner", "r1"))
        ]
        with engine.begin() as connection:
            ingest(connection, rules, rows, source="test", recorded_at=start)
        engine.dispose()
        command = [LEADSLA, "worker", "--config", str(config), "--database", database_url,
                   "--once", "--now", "2026-03-05T17:00:00-05:00"]  # fmt: skip
        victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(inbox.messages) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        sent_before = len(inbox.messages)
        assert 0 < sent_before < leads * 5, "the kill must land mid-batch"
        finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert finished.returncode == 0, finished.stderr
        keys = [(m["To"], m["Subject"]) for m in inbox.messages]
        # Everything arrives; at most the one message in flight at the kill comes twice.
        assert len(set(keys)) == leads * 5
        assert len(keys) - len(set(keys)) <= 1
    finally:
        controller.stop()


def test_outbox_is_listed_and_health_reports_the_backlog(database_url: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from leadsla.app import create_app
    from leadsla.service.tokens import create_token

    engine, rules = setup(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    with engine.begin() as connection:
        fire_due_timers(connection, rules, start + 7 * HOUR, max_delay=DAY)  # the warning
        admin = create_token(connection, rules, role="admin", name="a", rep=None, team=None,
                             now=start)  # fmt: skip
        rep = create_token(connection, rules, role="rep", name="r", rep="r1", team=None, now=start)
    client = TestClient(create_app(rules, engine, lambda: start + 8 * HOUR))
    health = client.get("/api/v1/health").json()
    assert health["queued_notifications"] == 1
    assert health["oldest_undelivered"] == "2026-03-02T16:00:00-05:00"
    listed = client.get(
        "/api/v1/notifications", headers={"Authorization": f"Bearer {admin}"}
    ).json()
    assert [(n["kind"], n["recipient"], n["state"], n["attempts"]) for n in listed] == [
        ("warning", "sam@example.com", "queued", 0)
    ]
    # Not held (deliver: immediately): to be delivered at the warning's own instant.
    assert listed[0]["deliver_at"] == listed[0]["fire_at"] == "2026-03-02T16:00:00-05:00"
    forbidden = client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {rep}"})
    assert forbidden.status_code == 403
    shown = subprocess.run(
        [LEADSLA, "notifications", "list", "--config", str(CONFIG), "--database", database_url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "sam@example.com" in shown.stdout and "queued" in shown.stdout
    client.close()
    engine.dispose()


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhooks_and_slack_are_posted_signed(database_url: str, tmp_path: Path) -> None:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        text = CONFIG.read_text(encoding="utf-8")
        text = text.rstrip("\n") + (
            "\n  slack: {webhook_url_env: TEST_SLACK_URL}"
            f'\n  webhooks: [{{url: "{base}/hook", secret_env: TEST_HOOK_SECRET}}]\n'
        )
        text = text.replace("  email: {host: localhost, port: 8025, from: leadsla@example.com, "
                            "starttls: false}\n", "")  # fmt: skip
        config = tmp_path / "leadsla.yaml"
        config.write_text(text, encoding="utf-8")
        engine, _rules = setup(database_url)
        engine.dispose()
        env = {**os.environ, "TEST_SLACK_URL": f"{base}/slack", "TEST_HOOK_SECRET": "hush"}
        done = subprocess.run(
            [LEADSLA, "worker", "--config", str(config), "--database", database_url, "--once",
             "--now", "2026-03-02T16:00:00-05:00"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        by_path = {path: (headers, body) for path, headers, body in Receiver.received}
        assert set(by_path) == {"/hook", "/slack"}
        headers, body = by_path["/hook"]
        expected = hmac.new(b"hush", body, hashlib.sha256).hexdigest()
        assert headers["X-Leadsla-Signature"] == f"sha256={expected}"
        payload = json.loads(body)
        assert (payload["lead_id"], payload["kind"], payload["subject"]) == (
            "L1", "warning", "[leadsla] L1 follow_up: warning"
        )  # fmt: skip
        assert json.loads(by_path["/slack"][1]) == {"text": "[leadsla] L1 follow_up: warning"}
    finally:
        server.shutdown()
        server.server_close()


def test_templates_can_be_replaced_and_link_the_lead(
    database_url: str, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    own = tmp_path / "templates"
    own.mkdir()
    (own / "notification.txt.j2").write_text(
        "{{ lead_id }} needs you ({{ kind }}) -> {{ lead_url }}\n", encoding="utf-8"
    )
    text = CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}")
    text = text.rstrip("\n") + (f"\n  templates: {own}\n  base_url: https://sla.example.com/\n")
    config = tmp_path / "leadsla.yaml"
    config.write_text(text, encoding="utf-8")
    engine, _rules = setup(database_url)
    engine.dispose()
    done = subprocess.run(
        [LEADSLA, "worker", "--config", str(config), "--database", database_url, "--once",
         "--now", "2026-03-02T16:00:00-05:00"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (message,) = inbox.messages
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain == "L1 needs you (warning) -> https://sla.example.com/leads/L1\n"
    # The HTML body is still ours, with the link.
    assert 'href="https://sla.example.com/leads/L1"' in message.get_body(("html",)).get_content()


def test_manager_digest_once_a_day(
    database_url: str, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    text = CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}")
    text = text.replace(
        "  east:\n    calendar: us-east\n", '  east:\n    calendar: us-east\n    digest: "08:00"\n'
    )
    config = tmp_path / "leadsla.yaml"
    config.write_text(text, encoding="utf-8")
    engine, _rules = setup(database_url)  # L1: New, A, r1 on Monday 09:00; due Tuesday 10:00
    engine.dispose()

    def run(now: str) -> None:
        done = subprocess.run(
            [LEADSLA, "worker", "--config", str(config), "--database", database_url, "--once",
             "--now", now],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    run("2026-03-03T07:59:00-05:00")  # before 08:00 on the team's calendar: no digest
    assert [m for m in inbox.messages if "digest" in m["Subject"]] == []
    run("2026-03-03T08:30:00-05:00")
    run("2026-03-03T09:30:00-05:00")  # the same day: no second digest
    digests = [m for m in inbox.messages if "digest" in m["Subject"]]
    assert [(m["To"], m["Subject"]) for m in digests] == [
        ("dana@example.com", "[leadsla] east digest 2026-03-03: 0 breached, 1 at risk")
    ]
    body = digests[0].get_body(("plain",)).get_content()
    assert "L1 (owner r1, grade A, due 2026-03-03T10:00:00-05:00)" in body
    run("2026-03-04T08:05:00-05:00")  # the next day: L1 has breached since
    latest = [m["Subject"] for m in inbox.messages if "digest" in m["Subject"]][-1]
    assert latest == "[leadsla] east digest 2026-03-04: 1 breached, 0 at risk"


def test_business_unit_step_and_pause(
    database_url: str, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    text = CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}")
    text = text.replace(
        "    stop: {status: [Attempting to Contact, Contacted, Invalid Information]}\n",
        "    stop: {status: [Attempting to Contact, Contacted, Invalid Information]}\n"
        "    pause: {status: [Demo Request]}\n",
    )
    text = text.replace(
        "{after: 72 hours, notify: [executive]}", "{after: 2 business days, notify: [executive]}"
    )
    config = tmp_path / "leadsla.yaml"
    config.write_text(text, encoding="utf-8")
    rules = build_rulebook(load_config(config))
    engine = open_database(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    rows = [
        IncomingEvent("P1", start, "status", "New", "p1"),
        IncomingEvent("P1", start, "grade", "A", "p2"),
        IncomingEvent("P1", start, "owner", "r1", "p3"),
        IncomingEvent("P1", start + HOUR, "status", "Demo Request", "p4"),  # paused 10:00
        IncomingEvent("P1", start + 5 * HOUR, "status", "New", "p5"),  # resumed 14:00
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=start + 5 * HOUR)
    settings = MailSettings("127.0.0.1", port, "leadsla@example.com")

    def at(text: str) -> list[str]:
        with engine.begin() as connection:
            fire_due_timers(connection, rules, parse_instant(text), max_delay=7 * DAY)
        deliver(
            engine, rules, parse_instant(text), smtp_sender(settings, timeout=5), settings.sender
        )
        return sorted({m["Subject"].split(": ", 1)[1] for m in inbox.messages})

    # Step 1 is 24 wall-clock hours of running time: the 4 paused hours push it from
    # Tuesday 09:00 to Tuesday 13:00.
    assert "escalation 1 of 3" not in at("2026-03-03T12:59:59-05:00")
    assert "escalation 1 of 3" in at("2026-03-03T13:00:00-05:00")
    # Step 3 is 2 business days = 14 business hours on us-east (7-hour days, lunch 12-13),
    # counted while running: Mon 09-10 (1 h) and 14-17 (3 h), Tue 7 h, Wed 09-12 (3 h)
    # → Wednesday 12:00.
    assert "escalation 3 of 3" not in at("2026-03-04T11:59:59-05:00")
    assert "escalation 3 of 3" in at("2026-03-04T12:00:00-05:00")
    engine.dispose()


def test_three_workers_over_ten_thousand_timers_on_postgresql(
    database_url: str, smtp: tuple[Inbox, int]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the 10,000-timer run is the PostgreSQL check (SKIP LOCKED)")
    inbox, port = smtp
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    leads = 2000  # x 5 notifications (warning, steps 1, 2 twice, 3) = 10,000
    rows = [
        IncomingEvent(f"T{i:05d}", start, name, value, f"t{i}:{name}")
        for i in range(leads)
        for name, value in (("status", "New"), ("grade", "A"), ("owner", "r1"))
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=start)
    now = start + 80 * HOUR
    errors: list[BaseException] = []
    settings = MailSettings("127.0.0.1", port, "leadsla@example.com")

    def run() -> None:
        try:
            for _ in range(4):
                with engine.begin() as connection:
                    fire_due_timers(connection, rules, now, max_delay=7 * DAY, limit=500)
                deliver(engine, rules, now, smtp_sender(settings, timeout=10), settings.sender,
                        limit=None)  # fmt: skip
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    keys = [(m["To"], m["Subject"]) for m in inbox.messages]
    assert len(set(keys)) == len(keys) == leads * 5
    engine.dispose()


def test_starttls_and_login(database_url: str, tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(str(cert), str(key))
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        logins.append((auth.login, auth.password))
        return AuthResult(success=auth.login == b"leadsla" and auth.password == b"s3cret")

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True,
        auth_required=True, auth_require_tls=True, authenticator=authenticator,
    )  # fmt: skip
    controller.start()
    try:
        text = CONFIG.read_text(encoding="utf-8").replace(
            "email: {host: localhost, port: 8025, from: leadsla@example.com, starttls: false}",
            f"email: {{host: localhost, port: {port}, from: leadsla@example.com, starttls: true, "
            "username: leadsla, password_env: TEST_SMTP_PASSWORD}",
        )
        config = tmp_path / "leadsla.yaml"
        config.write_text(text, encoding="utf-8")
        engine, _rules = setup(database_url)
        engine.dispose()
        command = [LEADSLA, "worker", "--config", str(config), "--database", database_url,
                   "--once", "--now", "2026-03-02T16:00:00-05:00"]  # fmt: skip
        env = {**os.environ, "SSL_CERT_FILE": str(cert), "TEST_SMTP_PASSWORD": "wrong"}
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 0, refused.stderr
        assert inbox.messages == [] and logins == [(b"leadsla", b"wrong")]
        listed = subprocess.run(
            [LEADSLA, "notifications", "list", "--config", str(config), "--database",
             database_url, "--state", "queued"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        (row,) = listed.strip().splitlines()[1:]
        assert row.split("\t")[6:7] == ["1"] and row.split("\t")[7]  # one try, error kept
        env["TEST_SMTP_PASSWORD"] = "s3cret"
        later = [*command[:-1], "2026-03-02T16:05:00-05:00"]  # after the first backoff
        accepted = subprocess.run(later, env=env, capture_output=True, text=True, timeout=60)
        assert accepted.returncode == 0, accepted.stderr
        assert [m["Subject"] for m in inbox.messages] == ["[leadsla] L1 follow_up: warning"]
    finally:
        controller.stop()


def test_a_notification_fails_after_the_last_try(database_url: str) -> None:
    engine, rules = setup(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    port = free_port()  # nothing ever listens
    settings = MailSettings("127.0.0.1", port, "leadsla@example.com")
    with engine.begin() as connection:
        fire_due_timers(connection, rules, start + 7 * HOUR, max_delay=DAY)
    moment = start + 7 * HOUR
    for _ in range(5):
        deliver(engine, rules, moment, smtp_sender(settings, timeout=2), settings.sender)
        moment += HOUR  # past every backoff
    with engine.connect() as connection:
        (state, attempts, error) = connection.execute(
            select(notifications.c.state, notifications.c.attempts, notifications.c.last_error)
        ).one()
    assert (state, attempts) == ("failed", 5)
    assert error
    engine.dispose()


def test_no_notification_for_an_optional_grade(database_url: str, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")
    rows = [
        IncomingEvent("C1", start, "status", "New", "c1"),
        IncomingEvent("C1", start, "grade", "C", "c2"),
        IncomingEvent("C1", start, "owner", "r1", "c3"),
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=start)
    work(engine, rules, start + 80 * HOUR, port)
    assert inbox.messages == []
    engine.dispose()


POISON_TEMPLATE = """<!doctype html>
<html lang="en"><body>
<p>Lead <strong>{{ lead_id }}</strong> (CRM number {{ lead_id.split("-", 1)[1].lstrip("0") }})</p>
{% if message %}<p>{{ message }}</p>{% endif %}
{% if lead_url %}<p><a href="{{ lead_url }}">Open the lead</a></p>{% endif %}
</body></html>
"""


def test_a_poisoned_message_fails_alone_and_the_others_go_out_once(
    database_url: str, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    """Issue #20: one message that cannot be built never holds up the outbox.

    Four leads fall due together. EU-1 and EU-2 are plain. EU-3's id holds markup and
    CR/LF, as a database written before such ids were refused may hold: its emails go
    out with the subject mended and no header added, and the manager's digest lists it
    escaped. L9 breaks the user's template
    (it has no "-"), and one row of EU-1 carries a recipient with a line break: those
    two fail alone, after their five tries, each with its reason, while every other
    email is delivered exactly once and each ``--once`` run exits 0.
    """
    inbox, port = smtp
    own = tmp_path / "templates"
    own.mkdir()
    (own / "notification.html.j2").write_text(POISON_TEMPLATE, encoding="utf-8")
    text = CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}")
    text = text.rstrip("\n") + f"\n  templates: {own}\n  base_url: https://sla.example.com\n"
    # The manager's digest lists every lead of the team, the hostile ones too.
    text = text.replace(
        "  east:\n    calendar: us-east\n", '  east:\n    calendar: us-east\n    digest: "08:00"\n'
    )
    config = tmp_path / "leadsla.yaml"
    config.write_text(text, encoding="utf-8")
    rules = build_rulebook(load_config(config))
    engine = open_database(database_url)
    start = parse_instant("2026-03-02T09:00:00-05:00")  # Monday
    hostile = "EU-3 <img src=x onerror=alert(1)>\r\nBcc: evil@example.com"
    leads = ["EU-1", "EU-2", hostile, "L9"]
    rows = [
        IncomingEvent(lead, start, name, value, f"{n}:{name}")
        for n, lead in enumerate(leads)
        for name, value in (("status", "New"), ("grade", "A"), ("owner", "r1"))
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=start)
        # A row whose recipient holds a line break (an outbox written by hand or by
        # an older version): refused, never mended into someone else's address.
        step_one = start + DAY
        queue_notifications(connection, [notification_row(
            lead_id="EU-1", policy="follow_up", cycle=1, kind="escalation", step=1,
            recipient="sam@example.com\r\nBcc: evil@example.com", channel="email",
            fire_at=step_one, created_at=step_one,
        )])  # fmt: skip
    engine.dispose()

    def run(now: int) -> list[dict[str, Any]]:
        done = subprocess.run(
            [LEADSLA, "worker", "--config", str(config), "--database", database_url,
             "--once", "--now", format_instant(now, rules.default_zone)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr  # individual failures: still 0
        return [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]

    # Tuesday 09:30: each lead's warning (Monday 16:00) and step 1 (Tuesday 09:00).
    first = start + DAY + HOUR // 2
    (round_one,) = run(first)
    assert (round_one["queued"], round_one["sent"], round_one["retry"]) == (8, 7, 3)
    # Four more tries, each past its backoff (30 s, 1, 2, 4 min) and before step 2.
    logged = [line for k in range(1, 5) for line in run(first + k * HOUR)]
    failed = [line for line in logged if line["event"] == "worker.failed"]
    assert sorted((f["lead_id"], f["kind"], f["attempts"]) for f in failed) == [
        ("EU-1", "escalation", 5), ("L9", "escalation", 5), ("L9", "warning", 5),
    ]  # fmt: skip

    # Every other email exactly once, to its one recipient, nobody else.
    (digest,) = [m for m in inbox.messages if m["To"] == "dana@example.com"]
    subjects = [(m["To"], m["Subject"]) for m in inbox.messages if m is not digest]
    mended = "EU-3 <img src=x onerror=alert(1)> Bcc: evil@example.com"
    assert sorted(subjects) == sorted(
        ("sam@example.com", f"[leadsla] {lead} follow_up: {what}")
        for lead in ("EU-1", "EU-2", mended)
        for what in ("warning", "escalation 1 of 3")
    )
    assert sorted(inbox.recipients) == ["dana@example.com"] + ["sam@example.com"] * 6
    assert all(m["Bcc"] is None for m in inbox.messages)
    assert digest["Subject"] == "[leadsla] east digest 2026-03-03: 0 breached, 4 at risk"
    listed = digest.get_body(("html",)).get_content()
    assert "<img" not in listed and "<li>EU-3 &lt;img src=x onerror=alert(1)&gt;" in listed
    assert f"- {hostile} (owner r1" in digest.get_body(("plain",)).get_content()
    poisoned = [m for m in inbox.messages if "EU-3" in m["Subject"]]
    html = poisoned[0].get_body(("html",)).get_content()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "CRM number 3 &lt;img" in html  # the user's template, escaped as ours
    assert 'href="https://sla.example.com/leads/EU-3%20%3Cimg%20src%3Dx%20' in html

    with engine.connect() as connection:
        outcome = connection.execute(
            select(notifications.c.lead_id, notifications.c.kind, notifications.c.state,
                   notifications.c.attempts, notifications.c.last_error)
            .where(notifications.c.state != "sent")
        ).all()  # fmt: skip
    engine.dispose()
    reasons = {(lead, kind, state, tries): error for lead, kind, state, tries, error in outcome}
    assert sorted(reasons) == [
        ("EU-1", "escalation", "failed", 5),
        ("L9", "escalation", "failed", 5),
        ("L9", "warning", "failed", 5),
    ]
    assert "holds a control character or line break" in reasons[("EU-1", "escalation", "failed", 5)]
    for kind in ("warning", "escalation"):
        error = reasons[("L9", kind, "failed", 5)]
        assert error.startswith("UndefinedError: ")
        assert error.endswith(f"(at {own / 'notification.html.j2'}, line 3)")


def test_a_digest_that_cannot_be_built_fails_alone(
    database_url: str, smtp: tuple[Inbox, int]
) -> None:
    """A digest queued for a team the config no longer has fails after its tries; its
    queries run in a savepoint, so the claim's transaction still records it, and the
    messages after it in the outbox go out."""
    inbox, port = smtp
    engine, rules = setup(database_url)  # L1: its warning falls on Monday 16:00
    start = parse_instant("2026-03-02T09:00:00-05:00")
    moment = start + 7 * HOUR
    with engine.begin() as connection:
        # First in the outbox, before the warning.
        queue_notifications(connection, [notification_row(
            lead_id="team:gone", policy="digest", cycle=0, kind="digest", step=20260302,
            recipient="dana@example.com", channel="email", fire_at=moment, created_at=moment,
        )])  # fmt: skip
        fire_due_timers(connection, rules, moment, max_delay=DAY)
    settings = MailSettings("127.0.0.1", port, "leadsla@example.com")
    results = []
    for _ in range(5):
        results.append(
            deliver(engine, rules, moment, smtp_sender(settings, timeout=5), settings.sender)
        )
        moment += HOUR  # past every backoff
    assert [(r.sent, r.retried, r.failed) for r in results] == [
        (1, 1, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 0, 1),
    ]  # fmt: skip
    (failure,) = results[-1].failures
    assert (failure.lead_id, failure.error) == ("team:gone", "KeyError: 'gone'")
    assert [m["Subject"] for m in inbox.messages] == ["[leadsla] L1 follow_up: warning"]
    with engine.connect() as connection:
        states = connection.execute(
            select(notifications.c.kind, notifications.c.state, notifications.c.attempts)
            .order_by(notifications.c.id)
        ).all()  # fmt: skip
    assert [tuple(row) for row in states] == [("digest", "failed", 5), ("warning", "sent", 1)]
    engine.dispose()
