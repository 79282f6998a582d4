"""A small lead history for the analytics tests, checked by hand (see the unit tests'
module docstring for what each lead does and yields)."""

from __future__ import annotations

COSTS = """
costs:
  per_lead: {Webinar: 40, Ads: 25}
  currency: USD
"""
AS_OF_TEXT = "2026-03-06T12:00:00-05:00"


def _rows(lead: str, day: str, time: str, **fields: str) -> list[str]:
    at = f"2026-{day}T{time}:00-05:00"
    return [f"{lead},{at},{name},{value}" for name, value in fields.items()]


EVENTS = "\n".join(
    [
        "lead_id,at,field,value",
        *_rows("A1", "02-02", "09:00", status="New", score="90", owner="r1", source="Webinar",
               industry="Healthcare"),
        *_rows("A1", "02-02", "09:03", activity="call:connected", status="Contacted"),
        *_rows("A1", "02-03", "09:00", status="Qualified"),
        *_rows("A1", "02-20", "09:00", outcome="won", amount="10000"),
        *_rows("A2", "02-02", "10:00", status="New", grade="A", owner="r1", source="Webinar"),
        *_rows("A2", "02-02", "10:20", activity="email:sent"),
        *_rows("A2", "02-02", "11:00", status="Attempting to Contact"),
        *_rows("A2", "02-05", "09:00", status="Qualified"),
        *_rows("A2", "02-25", "09:00", outcome="Lost", amount="5000"),
        *_rows("A3", "02-03", "09:00", status="New", grade="B", owner="r2", source="Ads"),
        *_rows("A3", "02-03", "09:45", activity="call:no_answer"),
        *_rows("A4", "02-03", "09:00", status="New", grade="B", owner="r2", source="Ads"),
        *_rows("A4", "02-03", "11:00", status="Attempting to Contact"),
        *_rows("A4", "02-10", "09:00", status="Qualified"),
        *_rows("A4", "03-02", "09:00", outcome="won", amount="4000"),
        *_rows("A5", "02-04", "09:00", status="New", grade="C", owner="r3", source="Ads"),
        *_rows("A6", "03-02", "09:00", status="New", grade="A", owner="r2", source="Webinar",
               industry="Tech"),
        *_rows("A6", "03-03", "10:00", activity="call:connected", status="Contacted"),
        *_rows("A7", "03-03", "09:00", score="55", source="Organic"),
        *_rows("A8", "03-02", "08:00", status="New", grade="A", owner="r1", source="Webinar",
               industry="Healthcare"),
        *_rows("A8", "03-02", "13:00", activity="call:connected", status="Contacted"),
        *_rows("A8", "03-04", "09:00", status="Recycled"),
        *_rows("A8", "03-05", "09:00", status="New"),
    ]
)  # fmt: skip
