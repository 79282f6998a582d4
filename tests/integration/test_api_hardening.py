"""Requests that used to get a 500 or be accepted when they should not (issue #14).

Deeply nested bodies, signatures with bytes outside ASCII, and generic webhooks
replayed long after they were signed; each on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.store.tables import events

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
NOW = parse_instant("2026-03-06T18:00:00-05:00")
NOW_SECONDS = NOW // 1_000_000
SECRET = "s3cret-for-tests"
HUBSPOT_URL = "http://testserver/api/v1/hooks/hubspot"


class Service:
    def __init__(self, database_url: str) -> None:
        rules = build_rulebook(load_config(CONFIG))
        self.engine = open_database(database_url)
        with self.engine.begin() as connection:
            self.token = create_token(
                connection, rules, role="admin", name="admin", rep=None, team=None, now=NOW
            )
        # The app's clock, moved by the tests to replay a request later.
        self.now = NOW
        app = create_app(
            rules,
            self.engine,
            lambda: self.now,
            hook_secrets={"generic": SECRET, "hubspot": SECRET},
        )
        self.client = TestClient(app, raise_server_exceptions=False)

    def stored_events(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    service = Service(database_url)
    yield service
    service.engine.dispose()


def generic_headers(body: bytes, stamp: int = NOW_SECONDS) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Leadsla-Timestamp": str(stamp), "X-Leadsla-Signature": f"sha256={digest}"}


def hubspot_headers(body: bytes, stamp: int = NOW // 1000) -> dict[str, str]:
    message = b"POST" + HUBSPOT_URL.encode() + body + str(stamp).encode()
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": str(stamp),
    }


# -- nesting -----------------------------------------------------------------------------------

DEEP = b"[" * 100_000


def test_a_deeply_nested_batch_of_events_is_a_400(service: Service) -> None:
    bearer = {"Authorization": f"Bearer {service.token}"}
    for body in (DEEP, b"[" * 33 + b"]" * 33, b'[{"lead_id": ' + b"[" * 40 + b"]" * 40 + b"}]"):
        answer = service.client.post("/api/v1/events", content=body, headers=bearer)
        assert answer.status_code == 400, answer.text
        assert "deeper than 32 levels" in answer.json()["detail"]


def test_a_deeply_nested_webhook_is_a_400(service: Service) -> None:
    generic = service.client.post(
        "/api/v1/hooks/generic", content=DEEP, headers=generic_headers(DEEP)
    )
    hubspot = service.client.post(
        "/api/v1/hooks/hubspot", content=DEEP, headers=hubspot_headers(DEEP)
    )
    for answer in (generic, hubspot):
        assert answer.status_code == 400, answer.text
        assert "deeper than 32 levels" in answer.json()["detail"]
    assert service.stored_events() == 0


def test_brackets_inside_strings_do_not_count_as_nesting(service: Service) -> None:
    value = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ \\" {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{'
    body = (
        '[{"lead_id": "N1", "at": "2026-03-02T09:00:00-05:00", "field": "note", "value": "'
        + value
        + '"}]'
    ).encode()
    bearer = {"Authorization": f"Bearer {service.token}"}
    answer = service.client.post("/api/v1/events", content=body, headers=bearer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1


# -- signatures outside ASCII ------------------------------------------------------------------


def raw_post(service: Service, path: str, headers: dict[str, bytes], body: bytes) -> int:
    """The status of a request whose header bytes reach the app as sent.

    TestClient re-encodes header bytes as UTF-8; a server (uvicorn, h11) passes any
    byte from 0x80 up, which Starlette decodes as Latin-1.
    """
    app = service.client.app
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "headers": [
            (b"host", b"testserver"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value) for name, value in headers.items()),
        ],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    async def call() -> None:
        try:
            await app(scope, receive, send)  # type: ignore[arg-type]
        except Exception:
            statuses.append(500)

    asyncio.run(call())
    return statuses[0]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Leadsla-Timestamp": str(NOW_SECONDS).encode(), "X-Leadsla-Signature": b"sha256=\xe9"},
        {"X-Leadsla-Timestamp": str(NOW_SECONDS).encode(), "X-Leadsla-Signature": b"sha256=\xff"},
        # "\xb2" is "²" in Latin-1: str.isdigit admits it, int() does not.
        {"X-Leadsla-Timestamp": b"\xb2", "X-Leadsla-Signature": b"sha256=00"},
        # Past 4300 digits int() refuses the text.
        {"X-Leadsla-Timestamp": b"9" * 5000, "X-Leadsla-Signature": b"sha256=00"},
    ],
    ids=["e-acute", "byte-ff", "superscript-timestamp", "5000-digit-timestamp"],
)
def test_generic_signature_outside_ascii_is_a_401(
    service: Service, headers: dict[str, bytes]
) -> None:
    assert raw_post(service, "/api/v1/hooks/generic", headers, b"[]") == 401


@pytest.mark.parametrize(
    "headers",
    [
        {
            "X-HubSpot-Request-Timestamp": str(NOW // 1000).encode(),
            "X-HubSpot-Signature-v3": b"\xe9=",
        },
        {"X-HubSpot-Request-Timestamp": b"\xb2", "X-HubSpot-Signature-v3": b"AAAA"},
        {"X-HubSpot-Request-Timestamp": b"9" * 5000, "X-HubSpot-Signature-v3": b"AAAA"},
    ],
    ids=["e-acute", "superscript-timestamp", "5000-digit-timestamp"],
)
def test_hubspot_signature_outside_ascii_is_a_401(
    service: Service, headers: dict[str, bytes]
) -> None:
    assert raw_post(service, "/api/v1/hooks/hubspot", headers, b"[]") == 401


# -- replayed generic webhooks -----------------------------------------------------------------

NO_ID = json.dumps(
    {
        "lead_id": "R1",
        "at": "2026-03-02T09:00:00-05:00",
        "changes": {"status": "New", "owner": "r1"},
    }
).encode()


def test_a_generic_webhook_replayed_after_five_minutes_is_refused(service: Service) -> None:
    headers = generic_headers(NO_ID)
    first = service.client.post("/api/v1/hooks/generic", content=NO_ID, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 2
    # The same captured request, later: without an id nothing marks it as seen.
    service.now = NOW + 5 * 60 * 1_000_000 + 1
    replayed = service.client.post("/api/v1/hooks/generic", content=NO_ID, headers=headers)
    assert replayed.status_code == 401, replayed.text
    assert "five minutes" in replayed.json()["detail"]
    assert service.stored_events() == 2


def test_the_generic_timestamp_is_signed_and_checked_both_ways(service: Service) -> None:
    def post(headers: dict[str, str]) -> int:
        return service.client.post(
            "/api/v1/hooks/generic", content=NO_ID, headers=headers
        ).status_code

    # Within five minutes either side of the app's clock: accepted.
    assert post(generic_headers(NO_ID, NOW_SECONDS - 300)) == 200
    assert post(generic_headers(NO_ID, NOW_SECONDS + 300)) == 200
    # Further off, though correctly signed: refused.
    assert post(generic_headers(NO_ID, NOW_SECONDS - 301)) == 401
    assert post(generic_headers(NO_ID, NOW_SECONDS + 301)) == 401
    # A fresh timestamp pasted onto an old signature: refused.
    old = generic_headers(NO_ID, NOW_SECONDS - 3600)
    assert post({**old, "X-Leadsla-Timestamp": str(NOW_SECONDS)}) == 401
    # The former scheme, the body alone signed, or no timestamp: refused.
    body_only = hmac.new(SECRET.encode(), NO_ID, hashlib.sha256).hexdigest()
    assert post({"X-Leadsla-Signature": f"sha256={body_only}"}) == 401
    assert post({**generic_headers(NO_ID), "X-Leadsla-Timestamp": ""}) == 401
    assert service.stored_events() == 4
