"""Firing warnings and escalation steps whose instant has come: one outbox row per recipient.

A cycle (open, or stopped with steps that fell before its stop) is due when its
``next_timer_at`` (indexed) has passed, so finding work
never means looking at every lead. For each due cycle the worker recomputes its
timers from the stored facts and takes those due and not yet handled
(:func:`leadsla.core.schedule.timers_due`, the rule ``next_timer_at`` was stored by;
timers follow the grade at each step's instant, and the steps of the policy version
the cycle started under), writes one notification per timer
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
from leadsla.core.recipients import AT_ONCE, Delivery, delivery_instant, recipients
from leadsla.core.schedule import timers_due
from leadsla.store import outbox
from leadsla.store.leads import load_leads

# Reading the outbox is part of this service's surface (the API and CLI call them here).
from leadsla.store.outbox import next_wake as next_wake
from leadsla.store.outbox import notification_records as notification_records
from leadsla.store.outbox import oldest_undelivered as oldest_undelivered
from leadsla.store.versions import earlier_versions


@dataclass
class FireResult:
    cycles: int = 0
    queued: int = 0
    skipped: int = 0
    held: int = 0  # of the queued: waiting for the recipient's hours (SPEC §9.4)


def fire_due_timers(
    connection: Connection,
    rules: Rulebook,
    now: int,
    *,
    max_delay: int,
    limit: int = 1000,
    channels: Sequence[tuple[str, str]] = (),
    email: bool = True,
    delivery: Delivery = AT_ONCE,
) -> FireResult:
    """Queue the notifications of every warning and step due by ``now`` (in the caller's
    transaction). ``delivery`` says who gets the steps of a lead without an owner and
    whether an email waits for its recipient's hours (SPEC §9.4): it is written now,
    with the instant it is to be delivered. One that would be delivered (at its delivery
    instant, or now if later) more than ``max_delay`` after the step's instant is recorded
    as skipped, not sent. ``channels`` adds
    (channel, address) targets beyond email, e.g. ("webhook", URL); they are not held."""
    due = outbox.due_cycles(connection, now=now, limit=limit)
    result = FireResult(cycles=len(due))
    if not due:
        return result
    states = load_leads(connection, sorted({row.lead_id for row in due}))
    policies = {p.name: p for p in rules.policies}
    # A cycle started under an earlier version of its policy fires that version's
    # steps (SPEC §9.6), not the config's.
    earlier = earlier_versions(connection, rules)
    rows: list[dict[str, object]] = []
    handled: list[outbox.Handled] = []
    for row in due:
        state = states[row.lead_id]
        policy = earlier.get(row.policy_version) or policies.get(row.policy)
        cycle = next((c for c in state.cycles.get(row.policy, []) if c.number == row.cycle), None)
        if policy is None or cycle is None:
            continue
        firing = timers_due(rules, policy, cycle, now, row.timers_done_until)
        for timer in firing.due:
            notify, urgent = _notify_of(policy.escalate, timer)
            people = recipients(rules, notify, state.owner, delivery) if email else []
            targets = [
                ("email", r.address, delivery_instant(rules, r, timer.at, delivery, urgent=urgent))
                for r in people
            ]
            # Slack and webhooks get one message per warning or step, not per person: no
            # one's hours to wait for, so they go when the step falls due.
            targets.extend((channel, address, timer.at) for channel, address in channels)
            for channel, address, deliver_at in targets:
                # SPEC §9.4: the delay runs from the step's instant to its delivery.
                stale = max(now, deliver_at) - timer.at > max_delay
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
                        deliver_at=deliver_at,
                        # Its text is rendered from the steps it was fired by.
                        policy_version=row.policy_version,
                    )
                )
                if stale:
                    result.skipped += 1
                else:
                    result.queued += 1
                    result.held += deliver_at > now
        handled.append(
            outbox.Handled(row.lead_id, row.policy, row.cycle, now, firing.next_timer_at)
        )
    outbox.mark_timers_handled(connection, handled)
    outbox.queue_notifications(connection, rows)
    return result


def _notify_of(steps: Sequence[EscalationStep], timer: Timer) -> tuple[tuple[str, ...], bool]:
    """Whom a timer notifies, and whether it is urgent (sent at once, in any hours)."""
    if timer.kind is TimerKind.WARNING:
        return ("owner",), False  # SPEC §7: a warning goes to the owner
    step = next((step for step in steps if step.number == timer.step), None)
    return (step.notify, step.urgent) if step is not None else ((), False)
