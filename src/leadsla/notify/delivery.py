"""Delivering queued notifications (email, Slack, signed webhooks), with retries.

A worker claims a batch of due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite has one writer), sends each message, and records the outcome in the same
transaction. The one window in which a crash can repeat a message lies between
the SMTP server accepting it and that commit; each message is committed on its
own to keep that window to one message.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import hmac
import json
import random
import re
import smtplib
import ssl
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from email import quoprimime
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, Row
from sqlalchemy.exc import OperationalError

from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.core.versions import version_policy
from leadsla.notify.digest import digest_context
from leadsla.notify.rendering import Templates, url_segment
from leadsla.service.objectives import ALERT_KIND
from leadsla.store import episodes, outbox

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


@dataclass(frozen=True)
class Failure:
    """A notification given up on after its last try, and why."""

    notification: int
    lead_id: str
    kind: str
    step: int
    channel: str
    recipient: str
    attempts: int
    error: str

    @classmethod
    def of(cls, row: Row[Any], attempts: int, error: str) -> Failure:
        return cls(
            int(row.id),
            str(row.lead_id),
            str(row.kind),
            int(row.step),
            str(row.channel),
            str(row.recipient),
            attempts,
            error,
        )


@dataclass
class DeliveryResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0  # held for the recipient's hours, then stale when claimed
    failures: list[Failure] = field(default_factory=list)  # the failed, with their reasons


@dataclass(frozen=True)
class Outgoing:
    """An email ready for SMTP: its envelope and its bytes as they go on the wire."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


Sender = Callable[[EmailMessage | Outgoing], None]


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

    def transmit(smtp: smtplib.SMTP, message: EmailMessage | Outgoing) -> None:
        if isinstance(message, Outgoing):
            smtp.sendmail(message.sender, list(message.recipients), message.data)
        else:
            smtp.send_message(message)

    def send(message: EmailMessage | Outgoing) -> None:
        if not session:
            session.append(connect())
        try:
            transmit(session[0], message)
        except Exception as exc:
            # Whatever failed, the session may be left inside a transaction (MAIL FROM
            # sent, the message not): the next message starts on a fresh one. A dropped
            # session is retried once on a fresh one; a refused message is not.
            stale = session.pop()
            with contextlib.suppress(OSError, smtplib.SMTPException):
                stale.close()
            if not isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            session.append(connect())
            transmit(session[0], message)

    return send


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: what
# ``str.splitlines`` breaks at, and what the email package refuses in a header.
_UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(text: str) -> str:
    """``text`` fit for one header line: each run of control characters and line breaks
    (CR, LF, tab, NUL, U+0085, U+2028, …) becomes one space.

    Lead ids are refused with such characters on the way in (:mod:`leadsla.core.limits`),
    but a database written before that rule may hold one: its subject must still be
    one header, neither broken nor able to add headers of its own (``Bcc:``)."""
    return _UNSAFE_IN_HEADER.sub(" ", text)


def subject(lead_id: str, policy: str, kind: str, step: int, steps: int) -> str:
    """SPEC §7: ``[leadsla] L00042 follow_up: escalation 2 of 3`` or ``…: warning``;
    one header line whatever the lead id holds (:func:`header_text`)."""
    what = "warning" if kind == "warning" else f"escalation {step} of {steps}"
    return header_text(f"[leadsla] {lead_id} {policy}: {what}")


def recipient_address(recipient: str) -> str:
    """The ``To`` of an email; an address with a control character or line break is
    refused (ValueError), not repaired: mended, it would reach someone else."""
    if _UNSAFE_IN_HEADER.search(recipient):
        raise ValueError(
            f"the recipient address {recipient!r} holds a control character or line break"
        )
    return recipient


def lead_link(base_url: str | None, lead_id: str) -> str | None:
    """The lead's page, ``<base_url>/leads/<lead id>``, the id percent-encoded as one
    path segment (``/``, ``?``, ``#``, ``"`` and ``<`` included); None without a base URL."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/leads/{url_segment(lead_id)}"


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
    return _email_message(*_notification_parts(rules, row, sender, templates, base_url))


def mail_for(
    rules: Rulebook,
    row: Row[Any],
    sender: str,
    *,
    templates: Templates = DEFAULT_TEMPLATES,
    base_url: str | None = None,
) -> EmailMessage | Outgoing:
    """:func:`message_for`, as the bytes the email package would send for it when they
    can be written directly (plain ASCII addresses, subject and bodies, no folding);
    building and flattening an :class:`EmailMessage` cost ~1.5 ms, most of a worker's
    time per message."""
    parts = _notification_parts(rules, row, sender, templates, base_url)
    return _plain_mail(*parts) or _email_message(*parts)


def _notification_parts(
    rules: Rulebook, row: Row[Any], sender: str, templates: Templates, base_url: str | None
) -> tuple[str, str, str, str, str]:
    """From, To, Subject, the plain text and the HTML body of a notification."""
    context = notification_context(rules, row, base_url)
    return (
        sender,
        recipient_address(str(row.recipient)),
        context["subject"],
        templates.text("notification.txt.j2", context),
        templates.html("notification.html.j2", context),
    )


def notification_context(rules: Rulebook, row: Row[Any], base_url: str | None) -> dict[str, Any]:
    """What a notification's templates are given: :func:`notification_payload`, the
    step's instant as text, the recipient and the link to the lead (or None)."""
    return {
        **notification_payload(rules, row),
        "fire_at": format_instant(int(row.fire_at), rules.default_zone),
        "recipient": row.recipient,
        "lead_url": lead_link(base_url, str(row.lead_id)),
    }


def _email_message(sender: str, recipient: str, title: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = title
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


# What the email package writes unchanged: a dot-atom address, a subject of printable
# ASCII words with single spaces (no encoded-word "=?"), lines of at most 78 characters.
_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_WORDS = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
_LINE = 78
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_NEWLINE = re.compile(r"\r\n|\r|\n")
_FROM = re.compile(r"^From ", re.MULTILINE)


def _plain_mail(sender: str, recipient: str, title: str, text: str, html: str) -> Outgoing | None:
    """The bytes ``smtplib`` sends for :func:`_email_message` of the same parts, written
    directly; None when the email package would encode or fold something."""
    if not (
        _ADDRESS.fullmatch(sender)
        and _ADDRESS.fullmatch(recipient)
        and _WORDS.fullmatch(title)
        and "=?" not in title
        and max(len(sender) + 6, len(recipient) + 4, len(title) + 9) <= _LINE
    ):
        return None
    plain, rich = _ascii_body(text), _ascii_body(html)
    if plain is None or rich is None:
        return None
    while True:
        # As email.generator draws its boundaries; one that occurs in a body is redrawn.
        boundary = "=" * 15 + str(random.randrange(sys.maxsize)).zfill(_BOUNDARY_DIGITS) + "=="
        if boundary not in plain[1] and boundary not in rich[1]:
            break
    data = (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: {title}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n"
        f'Content-Type: text/plain; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {plain[0]}\r\n\r\n"
        f"{plain[1]}\r\n--{boundary}\r\n"
        f'Content-Type: text/html; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {rich[0]}\r\nMIME-Version: 1.0\r\n\r\n"
        f"{rich[1]}\r\n--{boundary}--\r\n"
    ).encode("ascii")
    return Outgoing(sender, (recipient,), data)


def _ascii_body(body: str) -> tuple[str, str] | None:
    """An ASCII body as ``set_content`` encodes it and smtplib's generator writes it: the
    transfer encoding (7bit when no line is over 78 characters, else quoted-printable
    unless base64 comes out shorter) and the lines ended by CRLF. None: not ASCII, or
    base64 (left to the email package)."""
    if not body.isascii():
        return None
    lines = [line.decode("ascii") for line in body.encode("ascii").splitlines()]
    if max((len(line) for line in lines), default=0) <= _LINE:
        encoding, payload = "7bit", "\n".join(lines) + "\n"
    else:
        sniff = "\n".join(lines[:10]) + "\n"
        sniff_qp = quoprimime.body_encode(sniff, _LINE)
        if len(sniff_qp) > len(binascii.b2a_base64(sniff.encode("ascii"))):
            return None
        encoding = "quoted-printable"
        if len(lines) <= 10:
            payload = sniff_qp
        else:
            payload = quoprimime.body_encode("\n".join(lines) + "\n", _LINE)
    # The generator quotes a line that begins "From " (mbox) and ends each line by CRLF.
    parts = _NEWLINE.split(_FROM.sub(">From ", payload))
    return encoding, "".join(part + "\r\n" for part in parts[:-1]) + parts[-1]


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
    message["To"] = recipient_address(str(row.recipient))
    message["Subject"] = header_text(
        f"[leadsla] {team} digest {context['date']}: {len(context['breached'])} breached, "
        f"{len(context['at_risk'])} at risk"
    )
    message.set_content(templates.text("digest.txt.j2", context))
    message.add_alternative(templates.html("digest.html.j2", context), subtype="html")
    return message


def objective_subject(row: Row[Any]) -> str:
    """``[leadsla] A follow-up (team east): error budget burning, episode 2``: short
    enough for one header line with a short objective name."""
    group = str(row.lead_id).replace(":", " ", 1)
    return header_text(
        f"[leadsla] {row.policy} ({group}): error budget burning, episode {row.cycle}"
    )


def objective_message(
    connection: Connection, row: Row[Any], sender: str, templates: Templates, zone: tzinfo
) -> EmailMessage:
    """An objective's alert, with the figures of its episode when it opened (its
    instant written in ``zone``)."""
    group = str(row.lead_id).partition(":")[2] or str(row.lead_id)
    found = episodes.episode(connection, str(row.policy), group, int(row.cycle))
    if found is None:
        raise LookupError(f"no episode {row.cycle} of objective {row.policy!r} for {group}")
    context = {
        "objective": row.policy,
        "group": str(row.lead_id).replace(":", " ", 1),
        "episode": row.cycle,
        "started_at": format_instant(int(found.started_at), zone),
        "long_burn": found.long_burn,
        "short_burn": found.short_burn,
        "budget_left": found.budget_left,
    }
    return _email_message(
        sender,
        recipient_address(str(row.recipient)),
        objective_subject(row),
        templates.text("objective.txt.j2", context),
        templates.html("objective.html.j2", context),
    )


RowSender = Callable[[Row[Any]], None]


def email_row_sender(
    rules: Rulebook,
    send: Sender,
    sender_address: str,
    templates: Templates = DEFAULT_TEMPLATES,
    base_url: str | None = None,
) -> RowSender:
    return lambda row: send(
        mail_for(rules, row, sender_address, templates=templates, base_url=base_url)
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
    """Slack incoming webhooks take ``{"text": …}``: the subject, then the step's message,
    each escaped as Slack asks (:func:`slack_escaped`)."""

    def send(row: Row[Any]) -> None:
        payload = notification_payload(rules, row)
        text = slack_escaped(payload["subject"])
        if payload["message"]:
            text += "\n" + slack_escaped(payload["message"])
        _post(
            webhook_url, json.dumps({"text": text}).encode(), {"Content-Type": "application/json"}
        )

    return send


def slack_escaped(text: str) -> str:
    """``&``, ``<`` and ``>`` as Slack's ``&amp;``, ``&lt;``, ``&gt;``: left alone, a lead
    id such as ``<!channel>`` would notify the whole channel, and ``<https://…|text>``
    would show a link under other words."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _post(url: str, body: bytes, headers: Mapping[str, str]) -> None:
    response = httpx.post(url, content=body, headers=dict(headers), timeout=15)
    if response.status_code >= 300:
        raise OSError(f"{url} answered {response.status_code}")


def notification_payload(rules: Rulebook, row: Row[Any]) -> dict[str, Any]:
    if row.kind == ALERT_KIND:
        # An objective's alert (service/objectives.py): policy is the objective's name,
        # lead_id its group, cycle the episode.
        return {
            "objective": row.policy,
            "group": row.lead_id,
            "episode": row.cycle,
            "kind": row.kind,
            "fire_at_us": row.fire_at,
            "subject": objective_subject(row),
            "message": "",
        }
    # The steps of the version the cycle fired under (SPEC §9.6): a config change since
    # does not rewrite what an older cycle's escalation says. A row without the column
    # (built by hand) or written before versions were kept is the config's.
    policy = version_policy(rules, str(row.policy), getattr(row, "policy_definition", None))
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
    max_delay: int | None = None,
) -> DeliveryResult:
    """Send the queued notifications whose attempt is due (at most ``limit``; None: all)
    on every channel there is a sender for; back off exponentially on failure.

    A message held for its recipient's hours (``deliver_at`` after ``fire_at``) that
    is first claimed more than ``max_delay`` after its step's instant is recorded as
    skipped, not sent (SPEC §9.4: max_delay counts from the step's instant to the
    delivery)."""
    senders: dict[str, RowSender] = dict(others or {})
    if send is not None:
        senders["email"] = email_row_sender(rules, send, sender_address, templates, base_url)
    result = DeliveryResult()
    if not senders:
        return result
    # One connection for the batch, one transaction per message: a connection checked
    # out per message cost a pool round and, on PostgreSQL, a ping each.
    with engine.connect() as connection:
        while True:
            with connection.begin():
                row = outbox.claim_next(connection, now=now, channels=tuple(senders))
                if row is None:
                    return result
                if max_delay is not None and _stale_when_held(row, now, max_delay):
                    outbox.mark_skipped(connection, row.id)
                    result.skipped += 1
                else:
                    _attempt(
                        connection,
                        rules,
                        row,
                        now,
                        senders,
                        result,
                        send,
                        sender_address,
                        templates,
                    )
            if limit is not None:
                limit -= 1
                if limit <= 0:
                    return result


def _stale_when_held(row: Row[Any], now: int, max_delay: int) -> bool:
    """A held message never tried, claimed more than ``max_delay`` after its step's
    instant (a message not held was judged when its step was fired)."""
    held = int(row.deliver_at) > int(row.fire_at)
    return held and row.attempts == 0 and now - int(row.fire_at) > max_delay


def _attempt(
    connection: Connection,
    rules: Rulebook,
    row: Row[Any],
    now: int,
    senders: Mapping[str, RowSender],
    result: DeliveryResult,
    send: Sender | None,
    sender_address: str,
    templates: Templates,
) -> None:
    """Send one claimed notification and record how it went, in the claim's transaction.

    Whatever keeps this one message from being built or sent (a refused address, a
    template that breaks on this lead's data, a server that refuses it, a digest of a
    team no longer in the config) is this message's failure alone: recorded against
    it, retried with backoff, and after :data:`MAX_ATTEMPTS` tries the row is
    ``failed`` with the reason, while the rest of the outbox goes on. Only the
    database refusing (:class:`~sqlalchemy.exc.OperationalError`) ends the batch: the
    worker takes the round again, and nothing about the message is recorded."""
    try:
        if row.kind == "digest" and send is not None:
            # A digest's body is what is true when it goes out. Its queries run in a
            # savepoint: one that fails leaves the claim's transaction usable.
            with connection.begin_nested():
                message = digest_message(connection, rules, row, sender_address, templates)
            send(message)
        elif row.kind == ALERT_KIND and row.channel == "email" and send is not None:
            with connection.begin_nested():
                message = objective_message(
                    connection, row, sender_address, templates, rules.default_zone
                )
            send(message)
        else:
            senders[row.channel](row)
    except OperationalError:
        raise
    except Exception as exc:  # one message's failure, whatever it is
        attempts = row.attempts + 1
        failed = attempts >= MAX_ATTEMPTS
        reason = failure_reason(exc)
        outbox.mark_failed_attempt(
            connection,
            row.id,
            attempts=attempts,
            error=reason,
            retry_at=None if failed else now + FIRST_RETRY_MICROS * 2 ** (attempts - 1),
        )
        if failed:
            result.failed += 1
            result.failures.append(Failure.of(row, attempts, reason))
        else:
            result.retried += 1
    else:
        outbox.mark_sent(connection, row.id, attempts=row.attempts + 1, at=now)
        result.sent += 1


_TRANSPORT_ERRORS = (OSError, smtplib.SMTPException, httpx.HTTPError)


def failure_reason(exc: BaseException) -> str:
    """Why a message was not sent, on one line of at most 1,000 characters: a server's
    or the network's answer as it came, anything else with its type first and, for an
    error in a template, the template's file and line (``UndefinedError: … (at
    templates/notification.html.j2, line 3)``)."""
    text = str(exc)
    if not isinstance(exc, _TRANSPORT_ERRORS) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        where = _template_line(exc)
        if where is not None:
            text += f" (at {where[0]}, line {where[1]})"
    return header_text(text).strip()[:1000]


def _template_line(exc: BaseException) -> tuple[str, int] | None:
    """The template file and line an error was raised in: Jinja rewrites the traceback
    so that a template's frames carry its file name (``.py`` files are code)."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.lineno is not None and not frame.filename.endswith(".py"):
            found = (frame.filename, frame.lineno)
    return found
