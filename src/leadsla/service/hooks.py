"""Webhooks in: the JSON a CRM automation sends on a lead change, checked and turned into events.

Two shapes:

* ``generic``: one object or an array of objects
  ``{"id": "evt-1", "lead_id": "L1", "at": "2026-03-02T09:00:00Z",
  "changes": {"status": "New", "owner": "r1"}}``, signed with
  ``X-Leadsla-Timestamp: <Unix seconds>`` and
  ``X-Leadsla-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>``;
  the timestamp must be within five minutes of the server's clock, so a captured
  request cannot be replayed later (an event without ``id`` has no idempotency
  key to stop it).
* ``hubspot``: HubSpot's webhook batches (an array of
  ``{"eventId", "subscriptionType", "objectId", "propertyName",
  "propertyValue", "occurredAt"}``), signed with HubSpot's v3 scheme:
  ``X-HubSpot-Signature-v3`` is base64(HMAC-SHA256(secret, method + URL + body +
  timestamp)) and ``X-HubSpot-Request-Timestamp`` must be under five minutes old.

Every event carries an idempotency key from the sender's event id, so a
redelivered webhook stores nothing twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadsla.core.acceptance import Acceptance
from leadsla.core.crm_identity import CrmSettings
from leadsla.core.events import InstantError, normalize_field, parse_event_instant, value_problem
from leadsla.core.limits import instant_in_range, range_problem
from leadsla.service.ingest import IncomingEvent, Rejection, incoming_problem

MICROS_PER_MILLI = 1000
MICROS_PER_SECOND = 1_000_000
HUBSPOT_MAX_AGE_MICROS = 5 * 60 * 1_000_000
GENERIC_MAX_SKEW_MICROS = 5 * 60 * 1_000_000
# Past 4300 digits int() raises; a Unix time in milliseconds has 13.
_MAX_TIMESTAMP_DIGITS = 16

# HubSpot contact properties and what they mean here; other properties are ignored.
HUBSPOT_PROPERTIES: dict[str, str] = {
    "hs_lead_status": "status",
    "hubspot_owner_id": "owner",
    "hubspotscore": "score",
    "hs_lead_rating": "grade",
    "lifecyclestage": "lifecycle_stage",
    "industry": "industry",
    "country": "country",
    "hs_analytics_source": "source",
}
HUBSPOT_STATUSES: dict[str, str] = {
    "NEW": "New",
    "OPEN": "New",
    "ATTEMPTED_TO_CONNECT": "Attempting to Contact",
    "CONNECTED": "Contacted",
    "IN_PROGRESS": "Contacted",
    "OPEN_DEAL": "Qualified",
    "UNQUALIFIED": "Not a Lead",
    "BAD_TIMING": "Deferred",
}


class SignatureError(ValueError):
    """The request is not signed with the shared secret (or too old to trust)."""


@dataclass
class HookBatch:
    events: list[IncomingEvent] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    ignored: int = 0


def _same(expected: str, given: str) -> bool:
    """Constant-time equality; a header with a non-ASCII character is simply wrong.

    ``hmac.compare_digest`` raises TypeError on non-ASCII text, and HTTP headers
    arrive decoded as Latin-1, so any byte above 0x7F would otherwise be a 500.
    """
    return given.isascii() and hmac.compare_digest(expected.encode(), given.encode())


def _timestamp(text: str, header: str, unit: str) -> int:
    # isdigit alone admits "²" (Latin-1 0xB2), which int() refuses.
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_TIMESTAMP_DIGITS):
        raise SignatureError(f"{header} is not {unit} since 1970")
    return int(text)


def verify_generic(
    secret: str, *, body: bytes, signature: str | None, timestamp: str | None, now: int
) -> None:
    """Check a generic webhook's signature over ``timestamp + "." + body``.

    Signing the timestamp with the body and refusing a skew over five minutes
    against ``now`` (the app's clock) bounds how long a captured request can be
    replayed, as HubSpot's v3 scheme does.
    """
    if not signature or not signature.startswith("sha256=") or not timestamp:
        raise SignatureError(
            "missing X-Leadsla-Timestamp (Unix seconds) or X-Leadsla-Signature: "
            'sha256=<hex HMAC of timestamp + "." + body>'
        )
    seconds = _timestamp(timestamp, "X-Leadsla-Timestamp", "seconds")
    if abs(now - seconds * MICROS_PER_SECOND) > GENERIC_MAX_SKEW_MICROS:
        raise SignatureError("X-Leadsla-Timestamp is more than five minutes off")
    message = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    if not _same(expected, signature.removeprefix("sha256=").strip().lower()):
        raise SignatureError("X-Leadsla-Signature does not match the timestamp and body")


def verify_hubspot(
    secret: str,
    *,
    method: str,
    url: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: int,
) -> None:
    if not signature or not timestamp:
        raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    millis = _timestamp(timestamp, "X-HubSpot-Request-Timestamp", "milliseconds")
    if abs(now - millis * MICROS_PER_MILLI) > HUBSPOT_MAX_AGE_MICROS:
        raise SignatureError("X-HubSpot-Request-Timestamp is more than five minutes off")
    message = method.upper().encode() + url.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    if not _same(base64.b64encode(digest).decode(), signature.strip()):
        raise SignatureError("X-HubSpot-Signature-v3 does not match the request")


def generic_events(
    payload: Any,
    statuses: Sequence[str],
    grades: Sequence[str],
    source: str,
    acceptance: Acceptance | None = None,
) -> HookBatch:
    batch = HookBatch()
    items = payload if isinstance(payload, list) else [payload]
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            batch.rejected.append(Rejection(index, "expected an object with lead_id, at, changes"))
            continue
        lead_id = item.get("lead_id")
        at_text = item.get("at")
        changes = item.get("changes")
        if not isinstance(lead_id, str | int) or not str(lead_id).strip():
            batch.rejected.append(Rejection(index, "lead_id: missing or empty"))
            continue
        if not isinstance(at_text, str):
            batch.rejected.append(Rejection(index, "at: missing; expected an ISO 8601 instant"))
            continue
        try:
            at = parse_event_instant(at_text)
        except InstantError as exc:
            batch.rejected.append(Rejection(index, f"at: {exc}"))
            continue
        if not isinstance(changes, Mapping) or not changes:
            batch.rejected.append(Rejection(index, "changes: expected an object field → value"))
            continue
        event_id = item.get("id")
        converted: list[IncomingEvent] = []
        problem: str | None = None
        for raw_name, raw_value in changes.items():
            name = normalize_field(str(raw_name))
            value = "" if raw_value is None else str(raw_value).strip()
            problem = value_problem(name, value, statuses, grades, acceptance)
            if not name or problem is not None:
                problem = f"changes.{raw_name}: {problem or 'empty field name'}"
                break
            key = f"hook:{source}:{event_id}:{name}" if event_id is not None else None
            event = IncomingEvent(str(lead_id).strip(), at, name, value or None, key)
            problem = incoming_problem(event)
            if problem is not None:
                problem = f"changes.{raw_name}: {problem}"
                break
            converted.append(event)
        if problem is not None:
            batch.rejected.append(Rejection(index, problem))
            continue
        batch.events.extend(converted)
    return batch


def hubspot_events(
    payload: Any,
    statuses: Sequence[str],
    grades: Sequence[str],
    acceptance: Acceptance | None = None,
    crm: CrmSettings | None = None,
) -> HookBatch:
    """The events of a HubSpot webhook batch; ``crm`` maps ``hubspot_owner_id`` values to
    the reps whose ``crm.hubspot`` id they are (an unknown id is stored as sent, and
    ``leadsla doctor`` lists it)."""
    batch = HookBatch()
    if not isinstance(payload, list):
        batch.rejected.append(Rejection(0, "HubSpot sends an array of events"))
        return batch
    for index, item in enumerate(payload):
        if not isinstance(item, Mapping):
            batch.rejected.append(Rejection(index, "expected an event object"))
            continue
        kind = str(item.get("subscriptionType", ""))
        name = HUBSPOT_PROPERTIES.get(str(item.get("propertyName", "")))
        if kind != "contact.propertyChange" or name is None:
            batch.ignored += 1  # creations, deletions, properties we do not track
            continue
        object_id = item.get("objectId")
        occurred = item.get("occurredAt")
        event_id = item.get("eventId")
        if (
            object_id is None
            or isinstance(occurred, bool)
            or not isinstance(occurred, int)
            or event_id is None
        ):
            batch.rejected.append(Rejection(index, "needs objectId, eventId and occurredAt (ms)"))
            continue
        if not instant_in_range(occurred * MICROS_PER_MILLI):
            outside = range_problem(f"{occurred} ms since 1970")
            batch.rejected.append(Rejection(index, f"occurredAt: {outside}"))
            continue
        raw = item.get("propertyValue")
        value = "" if raw is None else str(raw).strip()
        if name == "status":
            value = HUBSPOT_STATUSES.get(value, value)
        elif name == "owner" and value and crm is not None:
            value = crm.owner("hubspot", value)
        problem = value_problem(name, value, statuses, grades, acceptance)
        if problem is not None:
            batch.rejected.append(Rejection(index, f"propertyValue: {problem}"))
            continue
        event = IncomingEvent(
            str(object_id),
            occurred * MICROS_PER_MILLI,
            name,
            value or None,
            f"hook:hubspot:{event_id}",
        )
        problem = incoming_problem(event)
        if problem is not None:
            batch.rejected.append(Rejection(index, problem))
            continue
        batch.events.append(event)
    return batch
