"""The outbox: the cycles whose timers are due, and the notifications queued from them.

A notification row is written once per (cycle, kind, step, recipient, channel):
:func:`queue_notifications` drops a second one, however many workers run. A row held
for the recipient's hours (SPEC §9.4) is written when its step falls due, with its
``deliver_at``, and is claimed for sending only from then on.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, select, update

from leadsla.store.bulk import insert_ignoring_duplicates
from leadsla.store.tables import clock_cycles, notifications, policy_versions

QUEUED = "queued"
SKIPPED = "skipped"
SENT = "sent"
FAILED = "failed"


# -- timers ---------------------------------------------------------------------------------


def due_cycles(connection: Connection, *, now: int, limit: int) -> list[Row[Any]]:
    """Up to ``limit`` cycles with a timer due by ``now``, earliest first: their lead,
    policy, cycle, ``timers_done_until`` and policy version. On PostgreSQL the rows stay
    locked for the transaction and rows another worker holds are passed over."""
    query = (
        select(
            clock_cycles.c.lead_id,
            clock_cycles.c.policy,
            clock_cycles.c.cycle,
            clock_cycles.c.timers_done_until,
            clock_cycles.c.policy_version,
        )
        .where(clock_cycles.c.next_timer_at <= now)
        .order_by(clock_cycles.c.next_timer_at)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        # Several workers split the due cycles instead of waiting on each other.
        query = query.with_for_update(skip_locked=True)
    return list(connection.execute(query))


@dataclass(frozen=True, slots=True)
class Handled:
    """A cycle whose timers up to ``done_until`` are handled, and when its next one is
    due (None: no more)."""

    lead_id: str
    policy: str
    cycle: int
    done_until: int
    next_timer_at: int | None


def mark_timers_handled(connection: Connection, handled: Sequence[Handled]) -> None:
    """Record that these cycles' timers are handled: one executemany for them all, not
    a round trip per cycle (a demo at 200,000 leads records ~300,000 reminders due, a
    thousand cycles a batch)."""
    if not handled:
        return
    connection.execute(
        update(clock_cycles)
        .where(
            clock_cycles.c.lead_id == bindparam("key_lead_id"),
            clock_cycles.c.policy == bindparam("key_policy"),
            clock_cycles.c.cycle == bindparam("key_cycle"),
        )
        .values(timers_done_until=bindparam("done"), next_timer_at=bindparam("next")),
        [
            {
                "key_lead_id": h.lead_id,
                "key_policy": h.policy,
                "key_cycle": h.cycle,
                "done": h.done_until,
                "next": h.next_timer_at,
            }
            for h in handled
        ],
    )


def next_wake(connection: Connection, *, now: int | None = None) -> int | None:
    """The earliest instant at which some open cycle has a timer to handle; with
    ``now``, also the earliest later instant at which a queued notification (held for
    its recipient's hours, or waiting for a retry) is to be sent."""
    timer = connection.scalar(
        select(clock_cycles.c.next_timer_at)
        .where(clock_cycles.c.next_timer_at.is_not(None))
        .order_by(clock_cycles.c.next_timer_at)
        .limit(1)
    )
    if now is None:
        return timer
    # Only later ones: a row due already but left queued (no sender for its channel)
    # must not keep the worker from sleeping.
    message = connection.scalar(
        select(notifications.c.next_attempt_at)
        .where(notifications.c.state == QUEUED, notifications.c.next_attempt_at > now)
        .order_by(notifications.c.next_attempt_at)
        .limit(1)
    )
    return min((wake for wake in (timer, message) if wake is not None), default=None)


# -- notifications --------------------------------------------------------------------------


def notification_row(
    *,
    lead_id: str,
    policy: str,
    cycle: int,
    kind: str,
    step: int,
    recipient: str,
    channel: str,
    fire_at: int,
    created_at: int,
    skipped: bool = False,
    deliver_at: int | None = None,
    policy_version: int | None = None,
) -> dict[str, object]:
    """A ``notifications`` row: queued for a first attempt at ``deliver_at`` (default
    ``fire_at``) or ``created_at``, whichever is later, or recorded as skipped (never
    sent). ``policy_version``: the version of the cycle that fired it, whose text it
    is sent with (SPEC §9.6)."""
    deliver_at = fire_at if deliver_at is None else deliver_at
    return {
        "lead_id": lead_id,
        "policy": policy,
        "cycle": cycle,
        "kind": kind,
        "step": step,
        "recipient": recipient,
        "channel": channel,
        "state": SKIPPED if skipped else QUEUED,
        "fire_at": fire_at,
        "deliver_at": deliver_at,
        "attempts": 0,
        "next_attempt_at": None if skipped else max(created_at, deliver_at),
        "created_at": created_at,
        "policy_version": policy_version,
    }


def queue_notifications(connection: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Store :func:`notification_row` rows; one already stored (same cycle, kind, step,
    recipient and channel) is not written again."""
    insert_ignoring_duplicates(connection, notifications, rows)


def claim_next(connection: Connection, *, now: int, channels: Sequence[str]) -> Row[Any] | None:
    """The oldest queued notification on one of ``channels`` whose attempt is due; on
    PostgreSQL locked for the transaction, passing over those another worker holds.

    The row carries ``policy_definition`` too: the definition of its policy version
    (None without one), which its text is rendered from."""
    return connection.execute(
        _claim_query(connection.dialect.name == "postgresql", tuple(channels)), {"now": now}
    ).first()


@functools.cache
def _claim_query(skip_locked: bool, channels: tuple[str, ...]) -> Select[Any]:
    # Built once per worker, not per message (a worker claims one row per email).
    # Read with the claim: a second query per message would cost a round trip each.
    definition = (
        select(policy_versions.c.definition)
        .where(policy_versions.c.id == notifications.c.policy_version)
        .scalar_subquery()
        .label("policy_definition")
    )
    query = (
        select(notifications, definition)
        .where(
            notifications.c.state == QUEUED,
            notifications.c.channel.in_(channels),
            notifications.c.next_attempt_at <= bindparam("now"),
        )
        .order_by(notifications.c.id)
        .limit(1)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=notifications)
    return query


_MARK_SENT = (
    update(notifications)
    .where(notifications.c.id == bindparam("notification_id"))
    .values(state=SENT, attempts=bindparam("attempts"), sent_at=bindparam("at"))
)


def mark_sent(connection: Connection, notification_id: int, *, attempts: int, at: int) -> None:
    connection.execute(
        _MARK_SENT, {"notification_id": notification_id, "attempts": attempts, "at": at}
    )


_MARK_SKIPPED = (
    update(notifications)
    .where(notifications.c.id == bindparam("notification_id"))
    .values(state=SKIPPED, next_attempt_at=None)
)


def mark_skipped(connection: Connection, notification_id: int) -> None:
    """Record a queued notification as skipped: it will never be sent."""
    connection.execute(_MARK_SKIPPED, {"notification_id": notification_id})


def mark_failed_attempt(
    connection: Connection,
    notification_id: int,
    *,
    attempts: int,
    error: str,
    retry_at: int | None,
) -> None:
    """Record a failed attempt: queued again for ``retry_at``, or failed for good when None."""
    connection.execute(
        update(notifications)
        .where(notifications.c.id == notification_id)
        .values(
            attempts=attempts,
            state=FAILED if retry_at is None else QUEUED,
            last_error=error,
            next_attempt_at=retry_at,
        )
    )


def notification_records(
    connection: Connection,
    *,
    state: str | None = None,
    lead_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The outbox, newest first: what was queued, sent, skipped or failed, and why."""
    query = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(notifications.c.state == state)
    if lead_id is not None:
        query = query.where(notifications.c.lead_id == lead_id)
    return [dict(row._mapping) for row in connection.execute(query)]


def oldest_undelivered(connection: Connection) -> tuple[int, int | None]:
    """How many notifications wait to be sent (held ones included), and the instant the
    oldest is due to be delivered (for a held one its recipient's next opening)."""
    count = connection.scalar(
        select(func.count()).select_from(notifications).where(notifications.c.state == QUEUED)
    )
    oldest = connection.scalar(
        select(func.min(notifications.c.deliver_at)).where(notifications.c.state == QUEUED)
    )
    return int(count or 0), oldest
