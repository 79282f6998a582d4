"""Policy versions in the database: recorded the first time the service sees a policy's
definition, and listed for the settings page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from leadsla.core.policy import Rulebook
from leadsla.core.versions import policy_definition, policy_digest
from leadsla.store.bulk import among
from leadsla.store.tables import clock_cycles, policy_versions


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
