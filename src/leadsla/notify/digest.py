"""The manager's daily digest: the team's breached and at-risk leads, once a day.

A digest is an outbox row like any notification (kind ``digest``, step = the local
date as YYYYMMDD), so the same unique key makes it once per manager and day
however many workers run; its body is computed when it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.service.queries import Scope, lead_list
from leadsla.store.outbox import notification_row, queue_notifications

AT_RISK_MICROS = 8 * 3600 * MICROS_PER_SECOND  # one business day ahead


def queue_digests(
    connection: Connection, rules: Rulebook, digest_times: Mapping[str, str], now: int
) -> int:
    """Queue today's digest of each team whose digest time has passed on its calendar."""
    rows: list[dict[str, object]] = []
    for team_name, at in digest_times.items():
        team = rules.teams.get(team_name)
        if team is None or team.manager is None:
            continue
        zone = rules.calendars[team.calendar or rules.default_calendar].zone
        local = datetime.fromtimestamp(now / MICROS_PER_SECOND, zone)
        hour, minute = (int(part) for part in at.split(":"))
        if (local.hour, local.minute) < (hour, minute):
            continue
        rows.append(
            notification_row(
                lead_id=f"team:{team_name}",
                policy="digest",
                cycle=0,
                kind="digest",
                step=int(local.strftime("%Y%m%d")),
                recipient=team.manager.email,
                channel="email",
                fire_at=now,
                created_at=now,
            )
        )
    queue_notifications(connection, rows)
    return len(rows)


def digest_context(
    connection: Connection, rules: Rulebook, team_name: str, at: int
) -> dict[str, Any]:
    """What a digest says: the team's breached leads and those due within a business day."""
    team = rules.teams[team_name]
    scope = Scope(frozenset(team.reps))
    zone = rules.calendars[team.calendar or rules.default_calendar].zone

    def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "lead_id": row["lead_id"],
                "owner": row["owner"],
                "grade": row["grade"],
                "due_at": next(
                    (c["due_at"] for c in row["clocks"] if c["state"] in ("running", "breached")),
                    None,
                ),
            }
            for row in rows
        ]

    breached = lead_list(connection, rules, at, scope=scope, breached=True, limit=200)
    at_risk = lead_list(
        connection, rules, at, scope=scope, at_risk_within=AT_RISK_MICROS, limit=200
    )
    return {
        "team": team_name,
        "date": format_instant(at, zone)[:10],
        "breached": summary(breached),
        "at_risk": summary(at_risk),
    }
