"""Random lead histories for ``sales_work.yaml`` (a policy for every key of SPEC §9.1–9.3),
shared by the unit test of the live path and the integration test of the service.

A history is a list of ``(lead_id, at, field, value)`` rows (``at`` in epoch
microseconds, ``value`` empty to clear). Each lead walks from a first New instant
through calls, emails, owner changes and status changes spaced minutes to days apart,
so that queues are left, touches stop follow-ups, owners move while clocks run,
cadences reach their attempts or let a gap overrun, and callbacks and nurtures start
and stop. Rows of one lead, instant and field all carry the same value: the order of
rows within an instant then cannot matter, in a file or in arrivals.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime
from pathlib import Path

CONFIG = Path(__file__).resolve().with_name("sales_work.yaml")
# Friday 2026-12-18 09:00 New York: the histories span a weekend, Christmas Eve (an
# extra closed date of us-east), Christmas Day and Boxing Day (closed in London).
BASE = int(datetime(2026, 12, 18, 14, 0, tzinfo=UTC).timestamp()) * 1_000_000
MINUTE = 60_000_000

History = list[tuple[str, int, str, str]]

STATUSES = [
    "New",
    "New",
    "Attempting to Contact",
    "Contacted",
    "Invalid Information",
    "Not a Lead",
    "Demo Request",
    "Qualified",
    "Deferred",
    "Deferred",
    "Recycled",
    "Recycled",
    "",
]
ACTIVITIES = [
    "call:connected",
    "call:no_answer",
    "call:voicemail",
    "call:attempted",
    "call:attempted",
    "email:sent",
    "email:replied",
    "email:automated",
    "email:automated",
    "meeting:held",
    "sms:sent",
]
OWNERS = ["r1", "r2", "r3", "r3", "ghost", ""]
# How often each field changes at an instant: mostly work, some moves.
FIELDS = ["activity"] * 5 + ["owner"] * 2 + ["status"] * 3 + ["grade", "score"]
VALUES: dict[str, list[str]] = {
    "activity": ACTIVITIES,
    "owner": OWNERS,
    "status": STATUSES,
    "grade": ["A", "B", "C", ""],
    "score": ["95", "60", "10", ""],
}


def sales_history(
    rng: random.Random, leads: int = 3, instants: int = 14, prefix: str = "L"
) -> History:
    """A random history of ``leads`` leads with up to ``instants`` instants each."""
    rows: History = []
    for number in range(1, leads + 1):
        lead = f"{prefix}{number}"
        at = BASE + rng.randrange(0, 4 * 24 * 60) * MINUTE
        first: dict[str, str] = {"status": "New"}
        if rng.random() < 0.7:
            first["grade"] = rng.choice(["A", "B", "C"])
        if rng.random() < 0.5:
            first["owner"] = rng.choice(OWNERS[:-1])
        changes = [first]
        for _ in range(rng.randint(0, instants - 1)):
            names = {rng.choice(FIELDS) for _ in range(rng.randint(1, 3))}
            changes.append({name: rng.choice(VALUES[name]) for name in names})
        for fields in changes:
            for name, value in fields.items():
                rows.append((lead, at, name, value))
                if name == "activity" and rng.random() < 0.15:
                    rows.append((lead, at, name, value))  # the same call logged twice
            # Minutes (the next touch), hours, or a day or two (a gap that overruns).
            spread = rng.choice([90, 8 * 60, 40 * 60])
            at += rng.randint(1, spread) * MINUTE
    return rows


def iso(at: int) -> str:
    return datetime.fromtimestamp(at / 1_000_000, UTC).isoformat().replace("+00:00", "Z")


def history_csv(rows: History) -> str:
    """The native CSV of SPEC §3."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["lead_id", "at", "field", "value"])
    for lead, at, name, value in rows:
        writer.writerow([lead, iso(at), name, value])
    return out.getvalue()
