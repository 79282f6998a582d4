"""Policy versions in the database: recorded the first time the service sees a policy's
definition, and listed for the settings page."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Connection, and_, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from leadsla.core.policy import Policy, Rulebook
from leadsla.core.versions import (
    judging_policy,
    policy_definition,
    policy_digest,
    policy_from_definition,
)
from leadsla.store.bulk import among
from leadsla.store.leads import KeptCycle
from leadsla.store.tables import clock_cycles, policy_versions

# Per lead, the policy each of its cycles is judged by, by (policy name, cycle number):
# only the cycles recorded under a version other than the config's.
RecordedCycles = dict[str, dict[tuple[str, int], Policy]]


@dataclass(frozen=True)
class PolicyVersion:
    id: int
    policy: str
    digest: str
    first_seen_at: int
    current: bool  # the rulebook's definition of the policy


def current_versions(connection: Connection, rules: Rulebook, now: int) -> dict[str, int]:
    """The version id of each policy of ``rules``, recorded at ``now`` if new.

    A policy seen for the first time also becomes the version of its cycles stored
    before versions were kept: the history was clocked under it.
    """
    wanted = {policy.name: policy for policy in rules.policies}
    digests = {name: policy_digest(policy) for name, policy in wanted.items()}
    found = _ids(connection, digests)
    for name in sorted(set(digests) - set(found)):
        first = not connection.execute(
            select(policy_versions.c.id).where(policy_versions.c.policy == name).limit(1)
        ).first()
        refused = (IntegrityError, connection.dialect.loaded_dbapi.IntegrityError)
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(policy_versions).values(
                        policy=name,
                        digest=digests[name],
                        definition=policy_definition(wanted[name]),
                        first_seen_at=now,
                    )
                )
        except refused:
            pass  # another process recorded it first
        found.update(_ids(connection, {name: digests[name]}))
        if first:
            connection.execute(
                update(clock_cycles)
                .where(clock_cycles.c.policy == name, clock_cycles.c.policy_version.is_(None))
                .values(policy_version=found[name])
            )
    return found


def _ids(connection: Connection, digests: Mapping[str, str]) -> dict[str, int]:
    if not digests:
        return {}
    query = select(policy_versions.c.policy, policy_versions.c.id).where(
        policy_versions.c.policy.in_(sorted(digests)),
        policy_versions.c.digest.in_(sorted(set(digests.values()))),
    )
    return {
        policy: int(version_id)
        for policy, version_id in connection.execute(query)
        if policy in digests
    }


def stamp_cycles(
    connection: Connection, lead_ids: Sequence[str], versions: Mapping[str, int]
) -> None:
    """Give these leads' cycles written without a version (an import's packed rows) the
    current one of their policy."""
    if not lead_ids:
        return
    for name, version_id in versions.items():
        connection.execute(
            update(clock_cycles)
            .where(
                and_(
                    among(connection, clock_cycles.c.lead_id, lead_ids),
                    clock_cycles.c.policy == name,
                    clock_cycles.c.policy_version.is_(None),
                )
            )
            .values(policy_version=version_id)
        )


def list_versions(connection: Connection, rules: Rulebook) -> list[PolicyVersion]:
    """Every recorded version, by policy and then first seen."""
    digests = {policy.name: policy_digest(policy) for policy in rules.policies}
    query = select(policy_versions).order_by(
        policy_versions.c.policy, policy_versions.c.first_seen_at, policy_versions.c.id
    )
    return [
        PolicyVersion(
            id=int(row.id),
            policy=row.policy,
            digest=row.digest,
            first_seen_at=int(row.first_seen_at),
            current=digests.get(row.policy) == row.digest,
        )
        for row in connection.execute(query)
    ]


def earlier_versions(connection: Connection, rules: Rulebook) -> dict[int, Policy]:
    """The policy a cycle of each stored version is judged by, by version id, for the
    versions that are not their policy's current one (SPEC §9.6): the version's terms
    on the current conditions (:func:`leadsla.core.versions.judging_policy`).

    A version of a policy the config no longer has is left out (its cycles are not
    judged at all). Reads the few version rows and writes nothing.
    """
    current = {policy.name: policy for policy in rules.policies}
    digests = {name: policy_digest(policy) for name, policy in current.items()}
    query = select(
        policy_versions.c.id,
        policy_versions.c.policy,
        policy_versions.c.digest,
        policy_versions.c.definition,
    )
    return {
        int(row.id): _judging(policy_definition(current[row.policy]), row.definition)
        for row in connection.execute(query)
        if row.policy in current and digests[row.policy] != row.digest
    }


@lru_cache(maxsize=256)
def _judging(current: str, recorded: str) -> Policy:
    # Rebuilt once per pair of definitions: the same object comes back each time, so a
    # rulebook's memo of plans (core.cycle.plan_for) holds one plan per version.
    return judging_policy(policy_from_definition(current), policy_from_definition(recorded))


def recorded_cycles(
    kept: Mapping[tuple[str, str, int], KeptCycle], earlier: Mapping[int, Policy]
) -> RecordedCycles:
    """The cycles of ``kept`` (:func:`leadsla.store.leads.load_stored`) recorded under
    an earlier version, with the policy each is judged by."""
    found: RecordedCycles = {}
    if not earlier:
        return found
    for (lead_id, name, number), cycle in kept.items():
        policy = earlier.get(cycle.version) if cycle.version is not None else None
        if policy is not None:
            found.setdefault(lead_id, {})[(name, number)] = policy
    return found


@dataclass
class VersionedLeads:
    """The stored leads with a cycle of an earlier version, as :func:`versioned_leads`
    finds them."""

    # One row per (lead, policy) whose cycles are all of one earlier version.
    lead_ids: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    # The leads with cycles of several versions of one policy: each cycle's version
    # (None: none recorded), by policy name and cycle number.
    mixed: dict[str, dict[tuple[str, int], int | None]] = field(default_factory=dict)


def versioned_leads(
    connection: Connection, version_ids: Collection[int], *, until: int | None = None
) -> VersionedLeads:
    """The stored cycles (started by ``until``) of the leads with a cycle of one of
    ``version_ids``.

    Most such leads have all their cycles of a policy under one version: those come as
    one row per lead and policy, counted by the database; only the leads that mix
    versions of a policy come cycle by cycle.
    """
    found = VersionedLeads()
    if not version_ids:
        return found
    cycles = clock_cycles.c
    version = func.coalesce(cycles.policy_version, 0)  # ids start at 1
    earlier = case((cycles.policy_version.in_(sorted(version_ids)), 1), else_=0)
    query = (
        select(cycles.lead_id, cycles.policy, func.min(version), func.max(version))
        .group_by(cycles.lead_id, cycles.policy)
        .having(func.sum(earlier) > 0)
    )
    if until is not None:
        query = query.where(cycles.started_at <= until)
    mixed: list[str] = []
    # One fetch of all rows: row by row cost a third of the time (profiled).
    for lead_id, name, low, high in connection.execute(query).all():
        if low == high:
            found.lead_ids.append(lead_id)
            found.policies.append(name)
            found.versions.append(int(low))
        else:
            mixed.append(lead_id)
    if mixed:
        detail = select(cycles.lead_id, cycles.policy, cycles.cycle, cycles.policy_version).where(
            among(connection, cycles.lead_id, sorted(set(mixed)))
        )
        if until is not None:
            detail = detail.where(cycles.started_at <= until)
        for lead_id, name, number, recorded in connection.execute(detail):
            found.mixed.setdefault(lead_id, {})[(name, int(number))] = recorded
    return found
