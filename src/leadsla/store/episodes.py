"""The episodes of compliance objectives' burn-rate alerts, and the clocks they are judged on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from leadsla.store.bulk import insert_ignoring_duplicates
from leadsla.store.tables import clock_cycles, objective_episodes


def leads_started_since(connection: Connection, policy: str, since: int) -> list[str]:
    """The leads with a cycle of ``policy`` started after ``since``, in key order."""
    query = (
        select(clock_cycles.c.lead_id)
        .where(clock_cycles.c.policy == policy, clock_cycles.c.started_at > since)
        .distinct()
        .order_by(clock_cycles.c.lead_id)
    )
    return list(connection.scalars(query))


def open_episodes(connection: Connection, objective: str) -> dict[str, int]:
    """The groups of ``objective`` whose alert episode is open, with its number."""
    query = select(objective_episodes.c.group_key, objective_episodes.c.episode).where(
        objective_episodes.c.objective == objective, objective_episodes.c.cleared_at.is_(None)
    )
    return {str(group): int(episode) for group, episode in connection.execute(query)}


def open_episode(
    connection: Connection,
    *,
    objective: str,
    group: str,
    at: int,
    long_burn: float,
    short_burn: float,
    budget_left: float | None,
) -> int:
    """Open the group's next episode and return its number. A worker that opens the same
    number at the same time adds nothing: the key keeps the first."""
    last = connection.scalar(
        select(func.max(objective_episodes.c.episode)).where(
            objective_episodes.c.objective == objective, objective_episodes.c.group_key == group
        )
    )
    number = int(last or 0) + 1
    row = {
        "objective": objective,
        "group_key": group,
        "episode": number,
        "started_at": at,
        "cleared_at": None,
        "long_burn": long_burn,
        "short_burn": short_burn,
        "budget_left": budget_left,
    }
    insert_ignoring_duplicates(connection, objective_episodes, [row])
    return number


def close_episode(connection: Connection, *, objective: str, group: str, at: int) -> None:
    """Record that the group's open episode ended at ``at``."""
    connection.execute(
        update(objective_episodes)
        .where(
            objective_episodes.c.objective == objective,
            objective_episodes.c.group_key == group,
            objective_episodes.c.cleared_at.is_(None),
        )
        .values(cleared_at=at)
    )


def episode(connection: Connection, objective: str, group: str, number: int) -> Row[Any] | None:
    return connection.execute(
        select(objective_episodes).where(
            objective_episodes.c.objective == objective,
            objective_episodes.c.group_key == group,
            objective_episodes.c.episode == number,
        )
    ).first()
