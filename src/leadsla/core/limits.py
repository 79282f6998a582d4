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
* Lead ids: no control character (C0, DEL, C1: CR, LF, tab, …) and no Unicode line
  or paragraph separator. An id goes into email subjects, links, log lines and
  tab-separated listings, where a line break splits what must stay one line (a CSV
  field may hold one in quotes). Values may hold them: a note has lines.
"""

from __future__ import annotations

import re
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


# The characters a lead id may not hold: Unicode's control characters (category Cc)
# and the line and paragraph separators, all that str.splitlines breaks at.
_NOT_IN_IDS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def lead_id_problem(lead_id: str) -> str | None:
    """Why ``lead_id`` cannot be a lead's id (:func:`text_problem`, then a control
    character or line break), else ``None``."""
    problem = text_problem(lead_id, MAX_LEAD_ID)
    if problem is not None:
        return problem
    found = _NOT_IN_IDS.search(lead_id)
    if found is not None:
        return (
            f"holds U+{ord(found.group()):04X} at position {found.start() + 1}: a lead id "
            "may hold no control character or line break (CR, LF, tab, …)"
        )
    return None


def event_problem(lead_id: str, field: str, value: str | None) -> tuple[str, str] | None:
    """``(column, why)`` for the first text of an event that cannot be stored, else ``None``.

    The texts are given as they will be stored (stripped, field names normalised).
    """
    problem = lead_id_problem(lead_id)
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
