"""What an event may hold: the instants and texts every way in accepts, defined once.

The API, the hooks, the imports and the file readers all check events against
these rules before anything stores or evaluates them, so SQLite and PostgreSQL
see the same events, and an event one path takes is never refused by another.

* Instants: the calendars, the ``datetime`` conversions of reports and pages,
  and routing's look-ahead all break on instants far from now (year 0, year
  10000, a few centuries past today), and no lead history is that old or that
  far ahead. 1970-01-01T00:00:00Z up to 2199-12-31T23:59:59.999999Z is enough.
* Texts: PostgreSQL refuses a NUL character and text that is not valid Unicode
  (a lone surrogate, as JSON's ``"\\ud800"`` decodes to); SQLite takes both, and
  the two databases must agree. The lengths are those of the columns in
  ``store/tables.py``: a lead id, a field name and the values of the fields the
  ``leads`` table keeps in columns (``status``, ``owner``, ``grade``) fit in 255
  characters; other values are stored as text, capped so that one event cannot
  carry a document.
"""

from __future__ import annotations

from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FIRST_INSTANT = 0
"""The first instant accepted (1970-01-01T00:00:00Z), in epoch microseconds."""
LAST_INSTANT = int((datetime(2200, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000 - 1
"""The last instant accepted (2199-12-31T23:59:59.999999Z), in epoch microseconds."""
INSTANT_RANGE = "1970-01-01 to 2199-12-31"

MAX_LEAD_ID = 255
MAX_FIELD = 255
MAX_COLUMN_VALUE = 255
"""Values of the fields the ``leads`` table also keeps as columns of 255 characters."""
COLUMN_FIELDS = ("status", "owner", "grade")
MAX_VALUE = 10_000
"""Values of any other field."""
MAX_KEY = 512
"""An event's idempotency key, with the prefix the service puts before a client's id."""


def instant_in_range(at: int) -> bool:
    return FIRST_INSTANT <= at <= LAST_INSTANT


def range_problem(shown: str) -> str:
    """The refusal of an instant outside the range, ``shown`` as the sender wrote it."""
    return f"{shown} is outside the instants leadsla accepts ({INSTANT_RANGE})"


def value_limit(field: str) -> int:
    return MAX_COLUMN_VALUE if field in COLUMN_FIELDS else MAX_VALUE


def text_problem(text: str, limit: int) -> str | None:
    """Why ``text`` cannot be stored (NUL, invalid Unicode, over ``limit`` characters)."""
    if "\x00" in text:
        return "contains a NUL character, which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # str → UTF-8 fails only on surrogates: half of a pair, or an undecodable byte.
        return "is not valid Unicode (it holds a lone surrogate such as \\ud800)"
    if len(text) > limit:
        return f"is {len(text)} characters long; at most {limit} are accepted"
    return None


def event_problem(lead_id: str, field: str, value: str | None) -> tuple[str, str] | None:
    """``(column, why)`` for the first text of an event that cannot be stored, else ``None``.

    The texts are given as they will be stored (stripped, field names normalised).
    """
    problem = text_problem(lead_id, MAX_LEAD_ID)
    if problem is not None:
        return "lead_id", problem
    problem = text_problem(field, MAX_FIELD)
    if problem is not None:
        return "field", problem
    if value is not None:
        problem = text_problem(value, value_limit(field))
        if problem is not None:
            return "value", problem
    return None
