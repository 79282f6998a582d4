"""``leadsla doctor``: what in the stored data the config does not account for.

Today: lead owners that are no rep of the config. An owner id a CRM export, webhook or
sync carried that no rep's ``crm`` ids name is stored as written (never dropped), so the
lead belongs to nobody the escalations can reach; this lists each such owner with the
number of leads it holds, most first, and what it looks like (docs/crm.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from leadsla.core.crm_identity import owner_kind
from leadsla.core.policy import Rulebook
from leadsla.store.leads import leads_per_owner

__all__ = ["UnmappedOwner", "unmapped_owners"]


@dataclass(frozen=True, slots=True)
class UnmappedOwner:
    owner: str
    leads: int
    looks_like: str


def unmapped_owners(connection: Connection, rules: Rulebook) -> list[UnmappedOwner]:
    """Owners of stored leads that are not reps of ``rules``, most leads first."""
    found = [
        UnmappedOwner(owner, count, owner_kind(owner))
        for owner, count in leads_per_owner(connection).items()
        if owner not in rules.reps
    ]
    return sorted(found, key=lambda item: (-item.leads, item.owner))
