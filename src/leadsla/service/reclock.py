"""``leadsla db reclock``: stored cycles started since an instant, re-clocked under the
current config (SPEC §9.6).

A config change never rewrites the stored history by itself: each cycle keeps the
deadlines of the policy version it was first recorded under
(:func:`leadsla.service.ingest.cycle_values`). This re-clocks on request: the cycles
started at or after ``since`` get the current version's deadline, breach instant and
timers. What started and stopped them is as recorded. :func:`preview` says what
would change; :func:`apply` writes it, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from leadsla.core.clock import judge
from leadsla.core.policy import Policy, Rulebook
from leadsla.service.ingest import cycle_values
from leadsla.store import leads as stored_leads
from leadsla.store.leads import CYCLE_COLUMNS, KeptCycle, StoredLeads
from leadsla.store.tables import clock_cycles
from leadsla.store.versions import current_versions, earlier_versions

_COLUMN = {name: i for i, name in enumerate(CYCLE_COLUMNS)}


@dataclass
class PolicyChanges:
    """What a re-clock changes of one policy's cycles."""

    cycles: int = 0  # started at or after ``since``
    versions: int = 0  # recorded under another version of the policy
    deadlines: int = 0  # whose deadline or breach instant moves
    states: int = 0  # whose state (running, met, breached) at ``now`` changes


@dataclass
class Reclock:
    since: int
    now: int
    by_policy: dict[str, PolicyChanges] = field(default_factory=dict)
    stored: StoredLeads = field(default_factory=StoredLeads)
    rows: list[tuple[object, ...]] = field(default_factory=list)


def preview(connection: Connection, rules: Rulebook, since: int, now: int) -> Reclock:
    """What re-clocking the cycles started at or after ``since`` would change."""
    query = (
        select(clock_cycles.c.lead_id)
        .where(clock_cycles.c.started_at >= since)
        .distinct()
        .order_by(clock_cycles.c.lead_id)
    )
    lead_ids: Sequence[str] = list(connection.scalars(query))
    stored = stored_leads.load_stored(connection, lead_ids)
    versions = current_versions(connection, rules, now)
    earlier = earlier_versions(connection, rules)
    result = Reclock(since, now, stored=stored)
    for lead_id in lead_ids:
        rows = cycle_values(
            rules,
            stored.states[lead_id],
            stored.done_until,
            versions,
            stored.kept,
            reclock_since=since,
            earlier=earlier,
        )
        result.rows.extend(rows)
        for row in rows:
            started_at = row[_COLUMN["started_at"]]
            assert isinstance(started_at, int)
            if started_at < since:
                continue
            key = (lead_id, str(row[_COLUMN["policy"]]), int(str(row[_COLUMN["cycle"]])))
            old = stored.kept.get(key)
            changes = result.by_policy.setdefault(key[1], PolicyChanges())
            changes.cycles += 1
            if old is not None:
                _count(changes, old, row)
                changes.states += _state_changes(rules, earlier, stored, key, old, now)
    return result


def _count(changes: PolicyChanges, old: KeptCycle, row: tuple[object, ...]) -> None:
    due_at, breach_at = row[_COLUMN["due_at"]], row[_COLUMN["breach_at"]]
    changes.versions += old.version != row[_COLUMN["policy_version"]]
    changes.deadlines += (old.due_at, old.breach_at) != (due_at, breach_at)


def _state_changes(
    rules: Rulebook,
    earlier: Mapping[int, Policy],
    stored: StoredLeads,
    key: tuple[str, str, int],
    old: KeptCycle,
    now: int,
) -> bool:
    """Whether the cycle's state now under the config's policy differs from its state
    under the version it was recorded under (a stopped cycle stores no deadline, so
    both are judged from its facts: met under 8 hours can be breached under 4)."""
    lead_id, name, number = key
    current = next((p for p in rules.policies if p.name == name), None)
    cycle = next(
        (c for c in stored.states[lead_id].cycles.get(name, []) if c.number == number), None
    )
    if current is None or cycle is None:
        return False
    recorded = earlier.get(old.version, current) if old.version is not None else current
    return judge(rules, recorded, cycle, now).state != judge(rules, current, cycle, now).state


def apply(connection: Connection, rules: Rulebook, planned: Reclock) -> None:
    """Write the re-clocked cycles of :func:`preview` (the same transaction)."""
    stored = planned.stored
    stored_leads.save_leads(
        connection,
        states=list(stored.states.values()),
        stored=stored,
        added={},
        cycle_rows=planned.rows,
        recorded_at=planned.now,
    )
