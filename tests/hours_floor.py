"""A sales floor in New York and London that delivers in the recipient's hours (SPEC §9.4),
for the tests of who gets a step and when.

- us-east (the default): Monday to Friday 09:00-17:00 New York.
- uk: Monday to Thursday 08:30-17:30, Friday 08:30-16:00 London.
- Team east (us-east): manager Dana, rep r1 Sam. Team emea (uk): manager Tom, reps r3
  Ana (the team's hours) and r4 Ravi (his own us-east hours).
- Executives: Chris (uk hours), Lee (no calendar: the default's).
- The unassigned desk: Lead desk (uk hours), Night desk (the default's).
- ``follow_up``: 24 wall-clock hours from New; step 1 at 24 hours to the owner and the
  manager, step 2 at 26 hours to the executives, urgent.
"""

from __future__ import annotations

from leadsla.config import Config, build_rulebook, load_config_text
from leadsla.core.policy import Rulebook

TEXT = """
default_calendar: us-east
calendars:
  us-east:
    timezone: America/New_York
    hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"],
            thu: ["09:00-17:00"], fri: ["09:00-17:00"]}
  uk:
    timezone: Europe/London
    hours: {mon: ["08:30-17:30"], tue: ["08:30-17:30"], wed: ["08:30-17:30"],
            thu: ["08:30-17:30"], fri: ["08:30-16:00"]}
teams:
  east:
    calendar: us-east
    manager: {name: Dana Whitfield, email: dana@example.com}
    reps:
      - {id: r1, name: Sam Ortiz, email: sam@example.com}
  emea:
    calendar: uk
    manager: {name: Tom Hale, email: tom@example.com}
    reps:
      - {id: r3, name: Ana Lopes, email: ana@example.com}
      - {id: r4, name: Ravi Shah, email: ravi@example.com, calendar: us-east}
executives:
  - {name: Chris Young, email: ceo@example.com, calendar: uk}
  - {name: Lee Park, email: coo@example.com}
policies:
  follow_up:
    start: {status: [New]}
    stop: {status: [Contacted]}
    target: {default: 24 hours}
    calendar: owner
    escalate:
      - {after: 24 hours, notify: [owner, manager], message: "A day without a touch."}
      - {after: 26 hours, notify: [executive], urgent: true}
notifications:
  deliver: recipient_hours
  unassigned:
    - {name: Lead desk, email: leads@example.com, calendar: uk}
    - {name: Night desk, email: night@example.com}
  email: {host: 127.0.0.1, port: PORT, from: leadsla@example.com, starttls: false}
  max_delay: 72 hours  # a weekend hold (Friday 23:00 → Monday 08:30 London) is 57.5 h
"""


def floor_text(port: int = 8025) -> str:
    """The config's text, its email sent to ``port``."""
    return TEXT.replace("port: PORT", f"port: {port}")


def floor(port: int = 8025) -> Config:
    return load_config_text(floor_text(port))


def floor_rules() -> Rulebook:
    return build_rulebook(floor())
