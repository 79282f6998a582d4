"""The rows of the dashboard's lead queues, by hand: the viewer's zone, the lead's local
time, and a clock whose business time ran out while its office is closed."""

from __future__ import annotations

from pathlib import Path

from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import Principal, Role
from leadsla.web.pages import breached_row, countdown_row, viewer_zone

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
RULES = build_rulebook(load_config(EXAMPLE))
LONDON = RULES.calendars["uk"].zone
NEW_YORK = RULES.calendars["us-east"].zone


def test_the_viewer_zone_is_the_reps_or_the_managers_calendar() -> None:
    assert str(viewer_zone(RULES, Principal("Ana", Role.REP, rep="r3"))) == "Europe/London"
    assert str(viewer_zone(RULES, Principal("Sam", Role.REP, rep="r1"))) == "America/New_York"
    manager = Principal("Tom Hale", Role.MANAGER, team="emea")
    assert str(viewer_zone(RULES, manager)) == "Europe/London"
    assert str(viewer_zone(RULES, Principal("admin", Role.ADMIN))) == "America/New_York"


def clock(state: str, **instants: str | None) -> dict[str, object]:
    return {
        "policy": "follow_up", "state": state, "calendar": "us-east", "escalations": 1,
        "due_at": None, "breached_at": None, **instants,
    }  # fmt: skip


def lead(*clocks: dict[str, object]) -> dict[str, object]:
    return {"lead_id": "L1", "owner": "r1", "grade": "A", "status": "New", "clocks": list(clocks)}


def test_a_clock_out_of_time_while_the_office_is_closed_names_its_breach() -> None:
    # Due Tuesday 17:00 in New York (the office's close); seen Wednesday 07:00 there.
    now = parse_instant("2026-03-04T12:00:00Z")
    row = countdown_row(
        RULES, lead(clock("running", due_at="2026-03-03T17:00:00-05:00")), now, LONDON
    )
    assert row is not None
    assert row["remaining"] == 0
    # It breaches at Wednesday's opening, 09:00 in New York: 14:00 for a London viewer.
    assert row["breaches_at"] == "Wed 14:00 GMT"
    assert row["due_shown"] == "2026-03-03T22:00:00+00:00"
    assert row["due_local"] == "2026-03-03T17:00:00-05:00"
    assert row["owner_name"] == "Sam Ortiz"


def test_a_clock_with_time_left_names_no_breach() -> None:
    now = parse_instant("2026-03-04T15:00:00Z")  # Wednesday 10:00 in New York, open
    row = countdown_row(
        RULES, lead(clock("running", due_at="2026-03-04T11:00:00-05:00")), now, NEW_YORK
    )
    assert row is not None
    assert row["remaining"] == 3600
    assert row["breaches_at"] is None


def test_the_breached_row_is_the_first_breach_and_its_business_overdue_time() -> None:
    now = parse_instant("2026-03-04T15:00:00Z")  # Wednesday 10:00 in New York
    first = clock("breached", breached_at="2026-03-03T16:00:00-05:00")  # Tue 16:00
    later = clock("breached", breached_at="2026-03-04T09:30:00-05:00")
    row = breached_row(RULES, lead(later, first), now, NEW_YORK)
    assert row is not None
    # Tuesday 16:00-17:00 and Wednesday 09:00-10:00 open: two business hours overdue.
    assert row["overdue"] == 2 * 3600
    assert row["breached_local"] == "2026-03-03T16:00:00-05:00"
    assert breached_row(RULES, lead(clock("met")), now, NEW_YORK) is None
