"""bootstrap.Wiring reads only the mapping it is given, and wires real parts from it; the
worker's rounds (leadsla.worker.run_worker) deliver to a real SMTP server on loopback, at a
pinned instant, each email once."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api_setup import log_in
from leadsla.bootstrap import (
    DATABASE_URL_VARIABLE,
    DEFAULT_DATABASE_URL,
    SESSION_SECRET_VARIABLE,
    Wiring,
)
from leadsla.config import build_rulebook, load_config_text
from leadsla.config.schema import Config
from leadsla.core.events import parse_instant
from leadsla.core.policy import Rulebook
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.tokens import create_token
from leadsla.store.database import DatabaseError, open_database
from leadsla.store.tables import notifications
from leadsla.web.session import COOKIE
from leadsla.worker import LONGEST_PAUSE, SHORTEST_PAUSE, Senders, run_worker
from mail_server import Inbox, free_port

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
EMAIL_LINE = "  email: {host: localhost, port: 8025, from: leadsla@example.com, starttls: false}\n"
START = parse_instant("2026-03-02T09:00:00-05:00")  # Monday; L1 is due Tuesday 10:00
SECOND = 1_000_000
HOUR = 3600 * SECOND


# -- real parts: an SMTP server, an HTTP receiver, a database with one lead --------------


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    """The base URL of an HTTP server on loopback that records every POST."""
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def example(notifications: str | None = None, *, port: int | None = None) -> Config:
    """The example config; its email section pointed at ``port``, or replaced by
    ``notifications`` (lines under ``notifications:``)."""
    text = CONFIG.read_text(encoding="utf-8")
    assert EMAIL_LINE in text
    if notifications is not None:
        text = text.replace(EMAIL_LINE, notifications)
    elif port is not None:
        text = text.replace("port: 8025", f"port: {port}")
    return load_config_text(text)


def one_lead(tmp_path: Path, config: Config) -> tuple[Engine, Rulebook]:
    """A SQLite file holding L1: New, grade A, owner r1 (Sam) since Monday 09:00."""
    rules = build_rulebook(config)
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    rows = [
        IncomingEvent("L1", START, "status", "New", "k1"),
        IncomingEvent("L1", START, "grade", "A", "k2"),
        IncomingEvent("L1", START, "owner", "r1", "k3"),
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=START)
    return engine, rules


class Woken(Exception):
    """Raised by a test's sleep: ends a worker that is not run ``once``."""


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"a worker run once slept {seconds} s")


# -- 1. the database URL -------------------------------------------------------------------


def test_database_option_wins_over_the_variable_which_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The process's own environment says something else: Wiring reads only its mapping.
    monkeypatch.setenv(DATABASE_URL_VARIABLE, "sqlite:///from-os-environ.db")
    assert DEFAULT_DATABASE_URL == "sqlite:///leadsla.db"
    assert Wiring({}).database_url(None) == "sqlite:///leadsla.db"
    assert Wiring({DATABASE_URL_VARIABLE: ""}).database_url(None) == "sqlite:///leadsla.db"
    named = Wiring({DATABASE_URL_VARIABLE: "sqlite:///from-env.db"})
    assert named.database_url(None) == "sqlite:///from-env.db"
    assert named.database_url("sqlite:///from-option.db") == "sqlite:///from-option.db"
    assert Wiring({}).database_url("sqlite:///from-option.db") == "sqlite:///from-option.db"
    # Whichever wins is made a URL SQLAlchemy opens with the driver we ship, or refused.
    postgres = Wiring({DATABASE_URL_VARIABLE: "postgresql://sla@db.internal/leadsla"})
    assert postgres.database_url(None) == "postgresql+psycopg://sla@db.internal/leadsla"
    with pytest.raises(DatabaseError, match="not a database URL"):
        Wiring({DATABASE_URL_VARIABLE: "no url at all"}).database_url(None)
    # A bad variable does not matter when the option is given.
    bad = Wiring({DATABASE_URL_VARIABLE: "no url at all"})
    assert bad.database_url("sqlite:///x.db") == "sqlite:///x.db"


# -- 2. secrets, and the app built with them -----------------------------------------------


def test_hook_and_session_secrets_come_from_the_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSLA_HOOK_SECRET", "from-os-environ")
    monkeypatch.setenv(SESSION_SECRET_VARIABLE, "from-os-environ")
    nothing = Wiring({})
    assert nothing.hook_secrets() == {}
    assert nothing.session_secret() is None
    assert Wiring({SESSION_SECRET_VARIABLE: ""}).session_secret() is None
    assert Wiring({SESSION_SECRET_VARIABLE: "k3y"}).session_secret() == b"k3y"
    shared = Wiring({"LEADSLA_HOOK_SECRET": "s"})
    assert shared.hook_secrets() == {"generic": "s", "hubspot": "s"}
    # A source's own secret wins over the shared one; one alone opens only its source.
    both = Wiring({"LEADSLA_HOOK_SECRET": "s", "LEADSLA_HOOK_SECRET_HUBSPOT": "h"})
    assert both.hook_secrets() == {"generic": "s", "hubspot": "h"}
    assert Wiring({"LEADSLA_HOOK_SECRET_GENERIC": "g"}).hook_secrets() == {"generic": "g"}
    # Secrets of sources leadsla has no hook for are not picked up.
    assert Wiring({"LEADSLA_HOOK_SECRET_SALESFORCE": "x"}).hook_secrets() == {}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, Rulebook, Engine, str]]:
    """The example config, its rules, an empty SQLite file and an admin token in it."""
    config = example()
    rules = build_rulebook(config)
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    with engine.begin() as connection:
        token = create_token(
            connection, rules, role="admin", name="ops", rep=None, team=None, now=START
        )
    yield config, rules, engine, token
    engine.dispose()


def test_apps_built_with_the_same_session_secret_share_logins(
    site: tuple[Config, Rulebook, Engine, str],
) -> None:
    """As a restarted server or a second process does; another secret or none: log in again."""
    config, rules, engine, token = site
    first = Wiring({SESSION_SECRET_VARIABLE: "shared"}).build_app(rules, engine, config)
    with TestClient(first, follow_redirects=False) as client:
        assert client.get("/settings").status_code == 303  # not logged in yet
        login = log_in(client, token, "/settings")
        assert login.status_code == 303 and login.headers["location"] == "/settings"
        cookie = login.cookies[COOKIE]
        assert client.get("/settings").status_code == 200
    # The session id signed with the variable's value itself, not with a key of the
    # app's own; the token is not in the cookie.
    session_id = cookie.rpartition(".")[0]
    expected = hmac.new(b"shared", session_id.encode(), hashlib.sha256).hexdigest()
    assert cookie == f"{session_id}.{expected}" and token not in cookie
    for environ, code in (
        ({SESSION_SECRET_VARIABLE: "shared"}, 200),
        ({SESSION_SECRET_VARIABLE: "other"}, 303),
        ({SESSION_SECRET_VARIABLE: ""}, 303),
        ({}, 303),
    ):
        app = Wiring(environ).build_app(rules, engine, config)
        with TestClient(app, follow_redirects=False) as other:
            other.cookies.set(COOKIE, cookie)
            answer = other.get("/settings")
            assert answer.status_code == code, environ
            if code == 303:
                assert answer.headers["location"] == "/login?next=/settings"


def test_built_app_opens_the_hooks_the_mapping_has_secrets_for(
    site: tuple[Config, Rulebook, Engine, str],
) -> None:
    config, rules, engine, _token = site
    body = b"[]"  # a signed, empty batch: nothing stored
    # The built app runs on the wall clock, which the signed timestamp must be near.
    stamp = str(int(time.time()))
    digest = hmac.new(b"hush", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    signed = {
        "Content-Type": "application/json",
        "X-Leadsla-Timestamp": stamp,
        "X-Leadsla-Signature": f"sha256={digest}",
    }
    forged = {**signed, "X-Leadsla-Signature": "sha256=" + "0" * 64}
    wiring = Wiring({"LEADSLA_HOOK_SECRET_GENERIC": "hush"})
    with TestClient(wiring.build_app(rules, engine, config)) as client:
        accepted = client.post("/api/v1/hooks/generic", content=body, headers=signed)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["accepted"] == 0
        assert client.post("/api/v1/hooks/generic", content=body, headers=forged).status_code == 401
        # No secret for HubSpot in the mapping: that hook does not exist.
        assert client.post("/api/v1/hooks/hubspot", content=body).status_code == 404
    # The demo's app: no hook at all, whatever secrets the mapping holds.
    with TestClient(wiring.build_app(rules, engine, config, webhooks=False)) as client:
        assert client.post("/api/v1/hooks/generic", content=body, headers=signed).status_code == 404


# -- 3. senders ----------------------------------------------------------------------------


def a_message(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "leadsla@example.com", to, "hello"
    message.set_content("a test\n")
    return message


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_sender_logs_in_with_the_password_the_config_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        logins.append((auth.login, auth.password))
        # handled=False: aiosmtpd answers a refusal with 535 (True leaves the client waiting).
        ok = auth.login == b"leadsla" and auth.password == b"s3cret"
        return AuthResult(success=ok, handled=False)

    inbox = Inbox()
    port = free_port()
    # AUTH without TLS, on loopback only: the login itself is what is checked here
    # (STARTTLS with a login: test_worker.py's test_starttls_and_login).
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, auth_required=True, auth_require_tls=False,
        authenticator=authenticator,
    )  # fmt: skip
    controller.start()
    try:
        config = example(
            f"  email: {{host: 127.0.0.1, port: {port}, from: leadsla@example.com, "
            "starttls: false, username: leadsla, password_env: TEST_SMTP_PASSWORD}\n"
        )
        rules = build_rulebook(config)
        senders, notes = Wiring({"TEST_SMTP_PASSWORD": "s3cret"}).senders(config, rules)
        assert notes == []
        assert (senders.sender_address, list(senders.channels), dict(senders.others)) == (
            "leadsla@example.com", [], {},
        )  # fmt: skip
        assert senders.email is not None
        send = senders.email()
        send(a_message("sam@example.com"))
        send(a_message("dana@example.com"))  # the same session: one login
        assert logins == [(b"leadsla", b"s3cret")]
        assert inbox.subjects() == [("dana@example.com", "hello"), ("sam@example.com", "hello")]
        # Without the variable in the mapping (os.environ has it: not read), no password.
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
        unset, _ = Wiring({}).senders(config, rules)
        assert unset.email is not None
        with pytest.raises(smtplib.SMTPAuthenticationError):
            unset.email()(a_message("sam@example.com"))
        # smtplib tries each mechanism the server offers (PLAIN, LOGIN): all without one.
        assert logins[1:] and set(logins[1:]) == {(b"leadsla", b"")}
        assert len(inbox.messages) == 2
    finally:
        controller.stop()


def test_slack_and_webhook_targets_and_secrets_come_from_the_mapping(
    tmp_path: Path, receiver: str
) -> None:
    config = example(
        "  slack: {webhook_url_env: TEST_SLACK_URL}\n"
        f'  webhooks: [{{url: "{receiver}/signed", secret_env: TEST_HOOK_SECRET}}, '
        f'{{url: "{receiver}/plain"}}]\n'
    )
    engine, rules = one_lead(tmp_path, config)
    # Nothing in the mapping: no Slack, and the webhooks go out unsigned.
    bare, notes = Wiring({}).senders(config, rules)
    assert notes == [
        "no notifications.email in the config: no emails",
        "$TEST_SLACK_URL is not set: no Slack",
    ]
    assert bare.email is None and set(bare.others) == {"webhook"}
    wiring = Wiring({"TEST_SLACK_URL": f"{receiver}/slack", "TEST_HOOK_SECRET": "hush"})
    senders, notes = wiring.senders(config, rules)
    assert notes == ["no notifications.email in the config: no emails"]
    assert senders.email is None and senders.sender_address == ""
    assert list(senders.channels) == [
        ("slack", "slack"), ("webhook", f"{receiver}/signed"), ("webhook", f"{receiver}/plain"),
    ]  # fmt: skip
    # The warning (Monday 16:00) goes to Slack and to both webhooks, once each.
    warning = parse_instant("2026-03-02T16:00:00-05:00")
    for _ in range(2):
        run_worker(engine, rules, config, senders, lambda: warning, once=True, at=warning,
                   log=lambda line: None, sleep=no_sleep)  # fmt: skip
    by_path = {path: (headers, body) for path, headers, body in Receiver.received}
    assert sorted(path for path, _, _ in Receiver.received) == ["/plain", "/signed", "/slack"]
    assert json.loads(by_path["/slack"][1]) == {"text": "[leadsla] L1 follow_up: warning"}
    headers, body = by_path["/signed"]
    expected = hmac.new(b"hush", body, hashlib.sha256).hexdigest()
    assert headers["X-Leadsla-Signature"] == f"sha256={expected}"
    assert "X-Leadsla-Signature" not in by_path["/plain"][0]
    assert json.loads(by_path["/plain"][1])["subject"] == "[leadsla] L1 follow_up: warning"
    # No email in the config: no email is queued to wait for a sender that never comes.
    with engine.connect() as connection:
        rows = connection.execute(
            select(notifications.c.channel, notifications.c.recipient, notifications.c.state)
        ).all()
    assert sorted(map(tuple, rows)) == [
        ("slack", "slack", "sent"),
        ("webhook", f"{receiver}/plain", "sent"),
        ("webhook", f"{receiver}/signed", "sent"),
    ]
    engine.dispose()


# -- 4. the worker -------------------------------------------------------------------------


def test_worker_once_delivers_a_breached_leads_emails_exactly_once(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    config = example(port=port)
    engine, rules = one_lead(tmp_path, config)
    senders, notes = Wiring({}).senders(config, rules)
    assert notes == []
    # Tuesday 10:30: L1 breached at 10:00 (8 business hours); the warning (Monday 16:00)
    # and step 1 (Tuesday 09:00, 24 hours) are due, both within max_delay (24 hours).
    at = parse_instant("2026-03-03T10:30:00-05:00")
    # A replay: recorded on Thursday (step 2 would be due by then), acting as of ``at``.
    recorded = parse_instant("2026-03-05T12:00:00-05:00")
    lines: list[str] = []
    run_worker(engine, rules, config, senders, lambda: recorded, once=True, at=at,
               log=lines.append, sleep=no_sleep)  # fmt: skip
    assert inbox.subjects() == [
        ("sam@example.com", "[leadsla] L1 follow_up: escalation 1 of 3"),
        ("sam@example.com", "[leadsla] L1 follow_up: warning"),
    ]
    (line,) = lines
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == {
        "event": "worker.round", "at": "2026-03-03T10:30:00-05:00", "cycles": 1, "queued": 2,
        "held": 0, "skipped_stale": 0, "rerouted": 0, "resurfaced": 0, "objective_alerts": 0,
        "sent": 2, "retry": 0, "failed": 0,
    }  # fmt: skip
    with engine.connect() as connection:
        rows = connection.execute(
            select(notifications.c.kind, notifications.c.step, notifications.c.recipient,
                   notifications.c.state, notifications.c.attempts, notifications.c.sent_at)
        ).all()  # fmt: skip
    assert sorted(map(tuple, rows)) == [
        ("escalation", 1, "sam@example.com", "sent", 1, at),
        ("warning", 0, "sam@example.com", "sent", 1, at),
    ]
    # The same instant again (a retried cron job, a replay): nothing more is sent or logged.
    again: list[str] = []
    run_worker(engine, rules, config, senders, lambda: recorded, once=True, at=at,
               log=again.append, sleep=no_sleep)  # fmt: skip
    assert again == []
    assert len(inbox.messages) == 2
    with engine.connect() as connection:
        assert connection.execute(select(notifications.c.id)).all() == [(1,), (2,)]
    engine.dispose()


@pytest.mark.parametrize(
    ("before", "pause"),
    [
        (10 * SECOND, 10.0),  # the warning is 10 s away: wake then
        (SECOND // 5, SHORTEST_PAUSE),  # never spin faster than the shortest pause
        (2 * HOUR, LONGEST_PAUSE),  # never sleep longer than 30 s: new events may come
    ],
)
def test_a_running_worker_sleeps_until_the_next_timer(
    tmp_path: Path, smtp: tuple[Inbox, int], before: int, pause: float
) -> None:
    inbox, port = smtp
    config = example(port=port)
    engine, rules = one_lead(tmp_path, config)
    senders, _ = Wiring({}).senders(config, rules)
    warning = parse_instant("2026-03-02T16:00:00-05:00")
    now = warning - before
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise Woken

    with pytest.raises(Woken):
        run_worker(engine, rules, config, senders, lambda: now, once=False, log=print,
                   sleep=sleep)  # fmt: skip
    assert slept == [pytest.approx(pause)]
    assert inbox.messages == []
    engine.dispose()


def test_a_running_worker_with_nothing_to_do_sleeps_the_longest_pause(tmp_path: Path) -> None:
    config = example()
    rules = build_rulebook(config)
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    slept: list[float] = []
    lines: list[str] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise Woken

    with pytest.raises(Woken):
        run_worker(engine, rules, config, Senders(), lambda: START, once=False, at=START,
                   log=lines.append, sleep=sleep)  # fmt: skip
    assert (slept, lines) == ([LONGEST_PAUSE], [])
    engine.dispose()
