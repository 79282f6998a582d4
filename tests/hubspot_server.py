"""A local HubSpot for the sync tests: a threaded HTTP server on loopback answering the CRM
v3 API's documented shapes (``tests/fixtures/crm/``) from a small synthetic portal.

It serves the search (``POST /crm/v3/objects/{type}/search``: filters GT/GTE/LTE on a
date property, ascending sort, ``after`` paging and HubSpot's 10,000-result cap), the
contacts batch read with ``propertiesWithHistory``, the associations v4 batch read and
the contacts batch update; a private app token is required. Faults on demand: the next
calls answered with 429 (``Retry-After`` sent or not).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from crm_server import fixture

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
OWNERS = ("70012001", "70012002", "70012003")
STATUSES = ("NEW", "ATTEMPTED_TO_CONNECT", "CONNECTED")
MINUTE = 60_000_000


def iso(micros: int) -> str:
    moment = datetime.fromtimestamp(micros / 1e6, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Contact:
    id: str
    created: int
    # property -> [(at, value)] oldest first
    history: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


@dataclass
class Engagement:
    type: str  # calls, emails, meetings
    id: str
    at: int  # hs_timestamp, also its last modification
    contact: str
    properties: dict[str, str]


class Portal:
    """Contacts whose status and owner change over time, and their calls, emails, meetings."""

    def __init__(self, contacts: int, *, start: int, seed: int = 5) -> None:
        rng = random.Random(seed)
        self.contacts: list[Contact] = []
        self.engagements: list[Engagement] = []
        for n in range(contacts):
            created = start + rng.randrange(0, 48 * 60) * MINUTE + rng.randrange(1000) * 1000
            contact = Contact(str(5000 + n), created)
            at = created
            steps = [(created, STATUSES[0])]
            for status in STATUSES[1 : 1 + rng.randrange(3)]:
                at += rng.randrange(10, 600) * MINUTE
                steps.append((at, status))
            contact.history["hs_lead_status"] = steps
            owner_steps = [(created + 1000, rng.choice(OWNERS))]
            if rng.random() < 0.3:
                owner_steps.append((created + rng.randrange(5, 300) * MINUTE, rng.choice(OWNERS)))
            contact.history["hubspot_owner_id"] = owner_steps
            contact.history["lifecyclestage"] = [(created, "lead")]
            for k in range(rng.randrange(3)):
                kind = rng.choice(("calls", "emails", "meetings"))
                when = created + rng.randrange(5, 900) * MINUTE
                properties = {
                    "calls": {
                        "hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
                        "hs_call_status": "COMPLETED",
                        "hs_call_direction": "OUTBOUND",
                    },
                    "emails": {"hs_email_direction": "EMAIL", "hs_email_status": "SENT"},
                    "meetings": {"hs_meeting_outcome": "COMPLETED"},
                }[kind]
                self.engagements.append(
                    Engagement(kind, f"{9000 + n * 10 + k}", when, contact.id, properties)
                )
            self.contacts.append(contact)

    def modified(self, contact: Contact, at: int) -> int | None:
        stamps = [t for steps in contact.history.values() for t, _ in steps if t <= at]
        return max(stamps) if contact.created <= at else None


class HubState:
    def __init__(self, portal: Portal, now: int) -> None:
        self.portal = portal
        self.now = now
        self.lock = threading.Lock()
        self.limited: list[str] = []  # per call: "429" (with Retry-After), "429-" (without), ""
        self.retry_after = "0"
        self.calls: list[str] = []
        self.written: dict[str, dict[str, str]] = {}
        self.cap = 10_000  # results one search can page through


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        path = urlparse(self.path).path
        with state.lock:
            state.calls.append(path)
            kind = state.limited.pop(0) if state.limited else ""
        if kind.startswith("429"):
            headers = {"Retry-After": state.retry_after} if kind == "429" else {}
            self._send(429, fixture("hubspot_rate_limited.json"), headers)
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "category": "INVALID_AUTHENTICATION",
                },
            )
            return
        parts = path.strip("/").split("/")
        if parts[:3] == ["crm", "v3", "objects"] and parts[-1] == "search":
            self._search(parts[3], body)
        elif path == "/crm/v3/objects/contacts/batch/read":
            self._batch_read(body)
        elif path == "/crm/v3/objects/contacts/batch/update":
            self._batch_update(body)
        elif parts[:3] == ["crm", "v4", "associations"] and parts[-2:] == ["batch", "read"]:
            self._associations(parts[3], body)
        else:
            self._send(404, {"status": "error", "message": f"no route {path}"})

    def _search(self, object_type: str, body: dict[str, Any]) -> None:
        state = self.server.state
        portal = state.portal
        filters = body["filterGroups"][0]["filters"]
        rows: list[tuple[int, str, dict[str, str]]] = []
        if object_type == "contacts":
            for contact in portal.contacts:
                stamp = portal.modified(contact, state.now)
                if stamp is not None:
                    rows.append((stamp, contact.id, {"lastmodifieddate": iso(stamp)}))
        else:
            for e in portal.engagements:
                if e.type == object_type and e.at <= state.now:
                    props = {
                        "hs_lastmodifieddate": iso(e.at),
                        "hs_timestamp": iso(e.at),
                        **e.properties,
                    }
                    rows.append((e.at, e.id, props))
        for f in filters:
            bound = int(f["value"]) * 1000
            op = f["operator"]
            rows = [
                r
                for r in rows
                if (r[0] > bound if op == "GT" else r[0] >= bound if op == "GTE" else r[0] <= bound)
            ]
        rows.sort(key=lambda r: (r[0], r[1]))
        offset = int(body.get("after") or 0)
        if offset >= state.cap:
            self._send(
                400,
                {
                    "status": "error",
                    "message": f"paging past {state.cap} results",
                    "category": "VALIDATION_ERROR",
                },
            )
            return
        limit = int(body.get("limit") or 10)
        page = rows[offset : offset + limit]
        answer = fixture("hubspot_search_page.json")
        answer["total"] = len(rows)
        answer["results"] = [
            {
                "id": rid,
                "properties": {"hs_object_id": rid, **props},
                "createdAt": iso(stamp),
                "updatedAt": iso(stamp),
                "archived": False,
            }
            for stamp, rid, props in page
        ]
        if offset + limit < len(rows):
            answer["paging"] = {
                "next": {"after": str(offset + limit), "link": f"?after={offset + limit}"}
            }
        else:
            answer.pop("paging")
        self._send(200, answer)

    def _batch_read(self, body: dict[str, Any]) -> None:
        state = self.server.state
        by_id = {c.id: c for c in state.portal.contacts}
        wanted = body.get("propertiesWithHistory") or []
        answer = fixture("hubspot_batch_read_history.json")
        results = []
        for item in body["inputs"]:
            contact = by_id[item["id"]]
            current = {
                name: [v for t, v in steps if t <= state.now][-1]
                for name, steps in contact.history.items()
            }
            stamp = state.portal.modified(contact, state.now) or contact.created
            history = {
                name: [
                    {
                        "value": v,
                        "timestamp": iso(t),
                        "sourceType": "CRM_UI",
                        "sourceId": "userId:1234",
                    }
                    for t, v in reversed([s for s in contact.history[name] if s[0] <= state.now])
                ]
                for name in wanted
            }
            results.append(
                {
                    "id": contact.id,
                    "properties": {
                        "hs_object_id": contact.id,
                        "createdate": iso(contact.created),
                        "lastmodifieddate": iso(stamp),
                        **current,
                    },
                    "propertiesWithHistory": history,
                    "createdAt": iso(contact.created),
                    "updatedAt": iso(stamp),
                    "archived": False,
                }
            )
        answer["results"] = results
        self._send(200, answer)

    def _associations(self, from_type: str, body: dict[str, Any]) -> None:
        state = self.server.state
        owners = {e.id: e.contact for e in state.portal.engagements if e.type == from_type}
        results = [
            {
                "from": {"id": item["id"]},
                "to": [
                    {
                        "toObjectId": owners[item["id"]],
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": 194, "label": None}
                        ],
                    }
                ],
            }
            for item in body["inputs"]
            if item["id"] in owners
        ]
        answer = fixture("hubspot_associations.json")
        answer.update(results=results, startedAt=iso(state.now), completedAt=iso(state.now))
        self._send(200, answer)

    def _batch_update(self, body: dict[str, Any]) -> None:
        state = self.server.state
        answer = fixture("hubspot_batch_update.json")
        results = []
        with state.lock:
            for item in body["inputs"]:
                state.written.setdefault(item["id"], {}).update(item["properties"])
                results.append(
                    {
                        "id": item["id"],
                        "properties": item["properties"],
                        "createdAt": iso(state.now),
                        "updatedAt": iso(state.now),
                        "archived": False,
                    }
                )
        answer["results"] = results
        self._send(200, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState


@contextmanager
def running_hubspot(state: HubState) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
