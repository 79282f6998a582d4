"""Who a step goes to and when (SPEC §7 and §9.4): each role's calendar, the unassigned
desk for a lead without an owner, and a message outside those hours held to their next
opening unless the step is urgent."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hours_floor import floor_rules
from leadsla.core.policy import Person
from leadsla.core.recipients import AT_ONCE, Delivery, Recipient, delivery_instant, recipients

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
RULES = floor_rules()
DESK = (
    Person("Lead desk", "leads@example.com", calendar="uk"),
    Person("Night desk", "night@example.com"),
)
IN_HOURS = Delivery(in_hours=True, unassigned=DESK)


def at(zone: ZoneInfo, *parts: int) -> int:
    return int(datetime(*parts, tzinfo=zone).timestamp()) * 1_000_000  # type: ignore[misc]


def test_each_role_keeps_its_calendar() -> None:
    assert recipients(RULES, ("owner", "manager", "executive"), "r3", IN_HOURS) == [
        Recipient("owner", "ana@example.com", "uk"),  # no calendar of her own: the team's
        Recipient("manager", "tom@example.com", "uk"),  # the team's
        Recipient("executive", "ceo@example.com", "uk"),  # his own
        Recipient("executive", "coo@example.com", "us-east"),  # none: the default
    ]
    # A rep's own calendar wins over the team's.
    assert recipients(RULES, ("owner",), "r4") == [
        Recipient("owner", "ravi@example.com", "us-east")
    ]


def test_a_lead_without_an_owner_goes_to_the_unassigned_desk_once() -> None:
    desk = [
        Recipient("unassigned", "leads@example.com", "uk"),
        Recipient("unassigned", "night@example.com", "us-east"),
    ]
    assert recipients(RULES, ("owner", "manager"), None, IN_HOURS) == desk
    assert recipients(RULES, ("manager",), "", IN_HOURS) == desk
    # Without notifications.unassigned, as before: nobody.
    assert recipients(RULES, ("owner", "manager"), None, AT_ONCE) == []
    # An owner who is not a rep is an owner all the same: nobody, not the desk.
    assert recipients(RULES, ("owner", "manager"), "someone-else", IN_HOURS) == []


def test_one_email_per_address() -> None:
    shared = recipients(RULES, ("owner", "owner", "manager", "manager"), "r1", IN_HOURS)
    assert [r.address for r in shared] == ["sam@example.com", "dana@example.com"]


TOM = Recipient("manager", "tom@example.com", "uk")
FRIDAY_EVENING = at(NEW_YORK, 2026, 4, 17, 18)  # 23:00 in London, after Friday's 16:00
MONDAY_OPENING = at(LONDON, 2026, 4, 20, 8, 30)


@pytest.mark.parametrize(
    ("fires", "delivery", "urgent", "delivered"),
    [
        (FRIDAY_EVENING, IN_HOURS, False, MONDAY_OPENING),
        (FRIDAY_EVENING, IN_HOURS, True, FRIDAY_EVENING),  # urgent: at once
        (FRIDAY_EVENING, AT_ONCE, False, FRIDAY_EVENING),  # deliver: immediately
        (at(LONDON, 2026, 4, 17, 15, 59), IN_HOURS, False, at(LONDON, 2026, 4, 17, 15, 59)),
        (at(LONDON, 2026, 4, 17, 16), IN_HOURS, False, MONDAY_OPENING),  # closing: outside
        (at(LONDON, 2026, 4, 20, 8, 29), IN_HOURS, False, MONDAY_OPENING),
        (MONDAY_OPENING, IN_HOURS, False, MONDAY_OPENING),
    ],
)
def test_a_message_outside_the_recipients_hours_waits_for_their_next_opening(
    fires: int, delivery: Delivery, urgent: bool, delivered: int
) -> None:
    assert delivery_instant(RULES, TOM, fires, delivery, urgent=urgent) == delivered


def test_the_same_instant_is_held_for_one_recipient_and_not_another() -> None:
    # Friday 18:00 in New York: a New York rep's day has ended too, but Thursday 12:00
    # in New York is 17:00 in London, inside both.
    sam = Recipient("owner", "sam@example.com", "us-east")
    assert delivery_instant(RULES, sam, FRIDAY_EVENING, IN_HOURS) == at(NEW_YORK, 2026, 4, 20, 9)
    thursday_noon = at(NEW_YORK, 2026, 4, 16, 12)
    assert delivery_instant(RULES, sam, thursday_noon, IN_HOURS) == thursday_noon
    assert delivery_instant(RULES, TOM, thursday_noon, IN_HOURS) == thursday_noon
