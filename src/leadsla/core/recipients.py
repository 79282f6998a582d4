"""Who a warning or escalation step goes to, and when it is delivered (SPEC §7, §9.4).

``notify`` names resolve as: ``owner`` → the lead's owner; ``manager`` → the manager
of the owner's team; ``executive`` → every executive. A lead with no owner sends its
``owner`` and ``manager`` steps to ``notifications.unassigned`` instead. Each
recipient keeps the hours of one calendar: a rep their own, else their team's; a
manager their team's; an executive or a person of the unassigned desk their own
``calendar``; each else the default calendar. With ``deliver: recipient_hours`` a
message whose instant falls outside those hours is delivered at their next opening,
unless its step is ``urgent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leadsla.core.policy import Person, Rep, Rulebook

OWNER = "owner"
MANAGER = "manager"
EXECUTIVE = "executive"
UNASSIGNED = "unassigned"


@dataclass(frozen=True, slots=True)
class Delivery:
    """``notifications.deliver`` and ``notifications.unassigned`` (SPEC §9.4)."""

    in_hours: bool = False  # deliver: recipient_hours
    unassigned: tuple[Person, ...] = ()


# A config without the §9.4 keys: sent when due, and nobody for an ownerless lead.
AT_ONCE = Delivery()


@dataclass(frozen=True, slots=True)
class Recipient:
    role: str  # owner | manager | executive | unassigned
    address: str
    calendar: str  # the name of the calendar whose hours the recipient keeps


def recipients(
    rules: Rulebook, notify: Sequence[str], owner: str | None, delivery: Delivery = AT_ONCE
) -> list[Recipient]:
    """The people ``notify`` names for a lead of ``owner``, once each (the first name
    that reaches an address decides its role and hours). Names that resolve to nobody
    (an owner who is not a rep, a team without a manager) are left out."""
    default = rules.default_calendar
    found: list[Recipient] = []
    for target in notify:
        if target in (OWNER, MANAGER) and not owner:
            found.extend(_person(UNASSIGNED, person, default) for person in delivery.unassigned)
        elif target == OWNER:
            rep = rules.reps.get(owner or "")
            if rep is not None:
                found.append(Recipient(OWNER, rep.email, _rep_calendar(rules, rep)))
        elif target == MANAGER:
            team = rules.team_of(owner)
            if team is not None and team.manager is not None:
                found.append(Recipient(MANAGER, team.manager.email, team.calendar or default))
        elif target == EXECUTIVE:
            found.extend(_person(EXECUTIVE, person, default) for person in rules.executives)
    unique: dict[str, Recipient] = {}
    for recipient in found:
        unique.setdefault(recipient.address, recipient)
    return list(unique.values())


def delivery_instant(
    rules: Rulebook, recipient: Recipient, at: int, delivery: Delivery, *, urgent: bool = False
) -> int:
    """When a message that fell due at ``at`` is delivered to ``recipient``: at once, or
    with ``recipient_hours`` the next opening of their calendar (``at`` itself when it is
    open); an ``urgent`` step is never held."""
    if not delivery.in_hours or urgent:
        return at
    return rules.calendars[recipient.calendar].next_opening(at)


def _person(role: str, person: Person, default: str) -> Recipient:
    return Recipient(role, person.email, person.calendar or default)


def _rep_calendar(rules: Rulebook, rep: Rep) -> str:
    """SPEC §4 rule 2's ``owner`` calendar: the rep's own, else the team's, else default."""
    if rep.calendar:
        return rep.calendar
    team = rules.teams.get(rep.team)
    if team is not None and team.calendar:
        return team.calendar
    return rules.default_calendar
