"""Who a CRM owner id is here, and the CRM settings the rulebook carries (docs/crm.md).

A rep's config entry may name its CRM user ids (``crm: {salesforce: 005…, hubspot:
70012001}``). :class:`CrmSettings` maps owner ids from exports, webhooks and sync to
reps; an id it does not know is kept as written (``leadsla doctor`` lists those). It
also carries the user's activity rules, laid before the built-in tables of
:mod:`leadsla.core.crm_activity`. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from leadsla.core.crm_activity import (
    HUBSPOT_DEFAULT_RULES,
    SALESFORCE_DEFAULT_RULES,
    ActivityRule,
    fold_value,
)

__all__ = ["CRMS", "Crm", "CrmSettings", "id18", "owner_kind"]

Crm = Literal["salesforce", "hubspot"]
CRMS: Final[tuple[Crm, ...]] = ("salesforce", "hubspot")

_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", re.ASCII)
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(record_id: str) -> str:
    """The 18-character form of a Salesforce record id; other texts are returned as given.

    The three added characters encode which of the first 15 are upper case, which
    makes the id usable where case is ignored (Excel, most databases).
    """
    if len(record_id) != 15 or _ID.fullmatch(record_id) is None:
        return record_id
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << k for k, char in enumerate(record_id[start : start + 5]) if char.isupper())
        suffix += _CHECKSUM[bits]
    return record_id + suffix


_SALESFORCE_USER = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", re.ASCII)
_SALESFORCE_QUEUE = re.compile(r"00G[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", re.ASCII)


def owner_kind(owner: str) -> str:
    """What an owner value that is no rep looks like, for ``leadsla doctor``'s hint."""
    text = owner.strip()
    if _SALESFORCE_USER.fullmatch(text):
        return "a Salesforce user id: give the rep crm: {salesforce: ...}"
    if _SALESFORCE_QUEUE.fullmatch(text):
        return "a Salesforce queue id: a queue is no rep; route or assign its leads"
    if text.isdigit():
        return "a HubSpot owner id: give the rep crm: {hubspot: ...}"
    return "a name or another id: map it in the import mapping's owner: section"


def _owner_key(crm: str, owner: str) -> str:
    text = owner.strip()
    if crm == "salesforce" and _ID.fullmatch(text):
        # Both forms are one user; the 18-character form's tail is the first 15's checksum.
        return id18(text[:15])
    return text


@dataclass(frozen=True, slots=True)
class CrmSettings:
    """Owner ids of reps by CRM, and the user's activity rules (before the defaults)."""

    owners: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (crm, key) → rep
    salesforce_rules: tuple[ActivityRule, ...] = ()
    hubspot_rules: tuple[ActivityRule, ...] = ()
    closed_statuses: frozenset[str] = frozenset({fold_value("Completed")})

    @classmethod
    def of(
        cls,
        rep_ids: Mapping[str, Mapping[str, str]],
        *,
        salesforce_rules: tuple[ActivityRule, ...] = (),
        hubspot_rules: tuple[ActivityRule, ...] = (),
        closed_statuses: tuple[str, ...] = ("Completed",),
    ) -> CrmSettings:
        """From each rep's ``{crm: user id}``."""
        owners = {
            (crm, _owner_key(crm, user)): rep
            for rep, ids in rep_ids.items()
            for crm, user in ids.items()
        }
        return cls(
            owners,
            salesforce_rules,
            hubspot_rules,
            frozenset(fold_value(status) for status in closed_statuses),
        )

    def rep_for(self, crm: str, owner: str) -> str | None:
        """The rep whose ``crm`` user id ``owner`` is (either Salesforce form), if any."""
        return self.owners.get((crm, _owner_key(crm, owner)))

    def owner(self, crm: str, owner: str) -> str:
        """The rep for a CRM owner id, or the id as written when no rep has it."""
        return self.rep_for(crm, owner) or owner.strip()

    def activity_rules(self, crm: Crm) -> tuple[ActivityRule, ...]:
        """The user's rules, then the built-in table."""
        if crm == "salesforce":
            return (*self.salesforce_rules, *SALESFORCE_DEFAULT_RULES)
        return (*self.hubspot_rules, *HUBSPOT_DEFAULT_RULES)

    def task_closed(self, status: str) -> bool:
        return fold_value(status) in self.closed_statuses
