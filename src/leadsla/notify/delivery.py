"""Delivering queued notifications (email, Slack, signed webhooks), with retries.

A worker claims a batch of due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite has one writer), sends each message, and records the outcome in the same
transaction. The one window in which a crash can repeat a message lies between
the SMTP server accepting it and that commit; each message is committed on its
own to keep that window to one message.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    select_autoescape,
)
from sqlalchemy import Connection, Engine, Row

from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.notify.digest import digest_context
from leadsla.store import outbox

MAX_ATTEMPTS = 5
FIRST_RETRY_MICROS = 30 * 1_000_000


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None


@dataclass
class DeliveryResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


Sender = Callable[[EmailMessage], None]


def smtp_sender(settings: MailSettings, timeout: float = 30.0) -> Sender:
    """Send through one SMTP session kept open between messages (reopened after an error);
    a session per message cost ~15 ms each on loopback."""
    session: list[smtplib.SMTP] = []

    def connect() -> smtplib.SMTP:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        if settings.starttls:
            # Verified TLS: the system's CAs (or SSL_CERT_FILE), and the host name checked.
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        return smtp

    def send(message: EmailMessage) -> None:
        if not session:
            session.append(connect())
        try:
            session[0].send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # A dropped session is retried once on a fresh one; a refused message is not.
            stale = session.pop()
            with contextlib.suppress(OSError, smtplib.SMTPException):
                stale.close()
            if not isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            session.append(connect())
            session[0].send_message(message)

    return send


def subject(lead_id: str, policy: str, kind: str, step: int, steps: int) -> str:
    """SPEC §7: ``[leadsla] L00042 follow_up: escalation 2 of 3`` or ``…: warning``."""
    what = "warning" if kind == "warning" else f"escalation {step} of {steps}"
    return f"[leadsla] {lead_id} {policy}: {what}"


class Templates:
    """The email bodies: Jinja2 templates, the user's directory first, ours behind it."""

    def __init__(self, directory: str | Path | None = None) -> None:
        loaders: list[BaseLoader] = []
        if directory is not None:
            loaders.append(FileSystemLoader(str(directory)))
        loaders.append(PackageLoader("leadsla.notify", "templates"))
        self._environment = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=True,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self._environment.get_template(name).render(**context)


DEFAULT_TEMPLATES = Templates()


def message_for(
    rules: Rulebook,
    row: Row[Any],
    sender: str,
    *,
    templates: Templates = DEFAULT_TEMPLATES,
    base_url: str | None = None,
) -> EmailMessage:
    """The email of one notification: SPEC §7 subject, plain text and HTML bodies."""
    payload = notification_payload(rules, row)
    zone = rules.default_zone
    context = {
        **payload,
        "fire_at": format_instant(int(row.fire_at), zone),
        "recipient": row.recipient,
        "lead_url": f"{base_url.rstrip('/')}/leads/{row.lead_id}" if base_url else None,
    }
    message = EmailMessage()
    message["From"] = sender
    message["To"] = str(row.recipient)
    message["Subject"] = payload["subject"]
    message.set_content(templates.render("notification.txt.j2", context))
    message.add_alternative(templates.render("notification.html.j2", context), subtype="html")
    return message


def digest_message(
    connection: Connection,
    rules: Rulebook,
    row: Row[Any],
    sender: str,
    templates: Templates = DEFAULT_TEMPLATES,
) -> EmailMessage:
    team = str(row.lead_id).removeprefix("team:")
    context = digest_context(connection, rules, team, int(row.fire_at))
    message = EmailMessage()
    message["From"] = sender
    message["To"] = str(row.recipient)
    message["Subject"] = (
        f"[leadsla] {team} digest {context['date']}: {len(context['breached'])} breached, "
        f"{len(context['at_risk'])} at risk"
    )
    message.set_content(templates.render("digest.txt.j2", context))
    message.add_alternative(templates.render("digest.html.j2", context), subtype="html")
    return message


RowSender = Callable[[Row[Any]], None]


def email_row_sender(
    rules: Rulebook,
    send: Sender,
    sender_address: str,
    templates: Templates = DEFAULT_TEMPLATES,
    base_url: str | None = None,
) -> RowSender:
    return lambda row: send(
        message_for(rules, row, sender_address, templates=templates, base_url=base_url)
    )


def webhook_row_sender(rules: Rulebook, secrets: Mapping[str, str | None]) -> RowSender:
    """POST the notification as JSON to the row's URL, signed like the webhooks we accept:
    ``X-Leadsla-Signature: sha256=<hex HMAC-SHA256 of the body>`` when a secret is set."""

    def send(row: Row[Any]) -> None:
        body = json.dumps(notification_payload(rules, row), sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        secret = secrets.get(row.recipient)
        if secret:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Leadsla-Signature"] = f"sha256={digest}"
        _post(row.recipient, body, headers)

    return send


def slack_row_sender(rules: Rulebook, webhook_url: str) -> RowSender:
    """Slack incoming webhooks take ``{"text": …}``."""

    def send(row: Row[Any]) -> None:
        payload = notification_payload(rules, row)
        text = payload["subject"] + (f"\n{payload['message']}" if payload["message"] else "")
        _post(
            webhook_url, json.dumps({"text": text}).encode(), {"Content-Type": "application/json"}
        )

    return send


def _post(url: str, body: bytes, headers: Mapping[str, str]) -> None:
    response = httpx.post(url, content=body, headers=dict(headers), timeout=15)
    if response.status_code >= 300:
        raise OSError(f"{url} answered {response.status_code}")


def notification_payload(rules: Rulebook, row: Row[Any]) -> dict[str, Any]:
    policy = next((p for p in rules.policies if p.name == row.policy), None)
    steps = len(policy.escalate) if policy is not None else row.step
    message = ""
    if policy is not None and row.kind == "escalation":
        message = next((s.message or "" for s in policy.escalate if s.number == row.step), "")
    return {
        "lead_id": row.lead_id,
        "policy": row.policy,
        "cycle": row.cycle,
        "kind": row.kind,
        "step": row.step,
        "steps": steps,
        "fire_at_us": row.fire_at,
        "subject": subject(row.lead_id, row.policy, row.kind, row.step, steps),
        "message": message,
    }


def deliver(
    engine: Engine,
    rules: Rulebook,
    now: int,
    send: Sender | None,
    sender_address: str,
    *,
    limit: int | None = 100,
    others: Mapping[str, RowSender] | None = None,
    templates: Templates = DEFAULT_TEMPLATES,
    base_url: str | None = None,
) -> DeliveryResult:
    """Send the queued notifications whose attempt is due (at most ``limit``; None: all)
    on every channel there is a sender for; back off exponentially on failure."""
    senders: dict[str, RowSender] = dict(others or {})
    if send is not None:
        senders["email"] = email_row_sender(rules, send, sender_address, templates, base_url)
    result = DeliveryResult()
    if not senders:
        return result
    while True:
        with engine.begin() as connection:
            row = outbox.claim_next(connection, now=now, channels=tuple(senders))
            if row is None:
                return result
            try:
                if row.kind == "digest" and send is not None:
                    # A digest's body is what is true when it goes out.
                    send(digest_message(connection, rules, row, sender_address, templates))
                else:
                    senders[row.channel](row)
            except (OSError, smtplib.SMTPException, httpx.HTTPError) as exc:
                attempts = row.attempts + 1
                failed = attempts >= MAX_ATTEMPTS
                outbox.mark_failed_attempt(
                    connection,
                    row.id,
                    attempts=attempts,
                    error=str(exc)[:1000],
                    retry_at=None if failed else now + FIRST_RETRY_MICROS * 2 ** (attempts - 1),
                )
                if failed:
                    result.failed += 1
                else:
                    result.retried += 1
            else:
                outbox.mark_sent(connection, row.id, attempts=row.attempts + 1, at=now)
                result.sent += 1
        if limit is not None:
            limit -= 1
            if limit <= 0:
                return result
