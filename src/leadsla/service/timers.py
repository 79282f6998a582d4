"""Firing warnings and escalation steps whose instant has come: one outbox row per recipient.

A cycle (open, or stopped with steps that fell before its stop) is due when its
``next_timer_at`` (indexed) has passed, so finding work
never means looking at every lead. For each due cycle the worker recomputes its
timers from the stored facts and takes those due and not yet handled
(:func:`leadsla.core.schedule.timers_due`, the rule ``next_timer_at`` was stored by;
timers follow the grade at each step's instant), writes one notification per timer
and recipient, and moves the cycle's mark (``timers_done_until``) and ``next_timer_at`` forward —
all in one transaction. The unique key on (cycle, kind, step, recipient,
channel) makes a second firing impossible, however many workers run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from leadsla.core.clock import Timer, TimerKind
from leadsla.core.policy import EscalationStep, Rulebook
from leadsla.core.schedule import timers_due
from leadsla.store import outbox
from leadsla.store.leads import load_leads

# Reading the outbox is part of this service's surface (the API and CLI call them here).
from leadsla.store.outbox import next_wake as next_wake
from leadsla.store.outbox import notification_records as notification_records
from leadsla.store.outbox import oldest_undelivered as oldest_undelivered


@dataclass
class FireResult:
    cycles: int = 0
    queued: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Recipient:
    role: str  # owner | manager | executive
    address: str


def recipients(rules: Rulebook, notify: Sequence[str], owner: str | None) -> list[Recipient]:
    """SPEC §7: owner → the owner's email; manager → the owner's team manager;
    executive → every executive. Names that resolve to nobody are left out."""
    found: list[Recipient] = []
    for target in notify:
        if target == "owner":
            rep = rules.reps.get(owner or "")
            if rep is not None:
                found.append(Recipient("owner", rep.email))
        elif target == "manager":
            team = rules.team_of(owner)
            if team is not None and team.manager is not None:
                found.append(Recipient("manager", team.manager.email))
        elif target == "executive":
            found.extend(Recipient("executive", person.email) for person in rules.executives)
    unique: dict[str, Recipient] = {}
    for recipient in found:
        unique.setdefault(recipient.address, recipient)
    return list(unique.values())


def fire_due_timers(
    connection: Connection,
    rules: Rulebook,
    now: int,
    *,
    max_delay: int,
    limit: int = 1000,
    channels: Sequence[tuple[str, str]] = (),
    email: bool = True,
) -> FireResult:
    """Queue the notifications of every warning and step due by ``now`` (in the caller's
    transaction). Steps older than ``max_delay`` are recorded as skipped, not sent.
    ``channels`` adds (channel, address) targets beyond email, e.g. ("webhook", URL)."""
    due = outbox.due_cycles(connection, now=now, limit=limit)
    result = FireResult(cycles=len(due))
    if not due:
        return result
    states = load_leads(connection, sorted({row.lead_id for row in due}))
    policies = {p.name: p for p in rules.policies}
    rows: list[dict[str, object]] = []
    for row in due:
        state = states[row.lead_id]
        policy = policies.get(row.policy)
        cycle = next((c for c in state.cycles.get(row.policy, []) if c.number == row.cycle), None)
        if policy is None or cycle is None:
            continue
        firing = timers_due(rules, policy, cycle, now, row.timers_done_until)
        for timer in firing.due:
            notify = _notify_of(policy.escalate, timer)
            stale = now - timer.at > max_delay
            people = recipients(rules, notify, state.owner) if email else []
            targets = [("email", r.address) for r in people]
            # Slack and webhooks get one message per warning or step, not per person.
            targets.extend(channels)
            for channel, address in targets:
                rows.append(
                    outbox.notification_row(
                        lead_id=row.lead_id,
                        policy=row.policy,
                        cycle=row.cycle,
                        kind=timer.kind.value,
                        step=timer.step,
                        recipient=address,
                        channel=channel,
                        fire_at=timer.at,
                        created_at=now,
                        skipped=stale,
                    )
                )
                if stale:
                    result.skipped += 1
                else:
                    result.queued += 1
        outbox.mark_timers_handled(
            connection,
            lead_id=row.lead_id,
            policy=row.policy,
            cycle=row.cycle,
            done_until=now,
            next_timer_at=firing.next_timer_at,
        )
    outbox.queue_notifications(connection, rows)
    return result


def _notify_of(steps: Sequence[EscalationStep], timer: Timer) -> tuple[str, ...]:
    if timer.kind is TimerKind.WARNING:
        return ("owner",)  # SPEC §7: a warning goes to the owner
    return next((step.notify for step in steps if step.number == timer.step), ())
