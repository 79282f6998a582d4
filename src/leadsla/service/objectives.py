"""Compliance objectives against the stored clocks: each group's budget, and the alerts.

The figures are :mod:`leadsla.core.objectives`' over the clocks judged at an instant;
this module loads those clocks, says which groups a caller may see, and opens and
closes the alert episodes that the worker's rounds queue alerts for (docs/worker.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection

from leadsla.core.objectives import GroupStatus, Objective, objective_statuses, outcomes_of
from leadsla.core.policy import Rulebook
from leadsla.service.queries import EVERYTHING, Scope, clocks_at
from leadsla.store import episodes
from leadsla.store.bulk import KEY_CHUNK
from leadsla.store.outbox import notification_row, queue_notifications

ALERT_KIND = "objective"

Statuses = dict[str, dict[str, GroupStatus]]


def objective_figures(
    connection: Connection,
    rules: Rulebook,
    objectives: Sequence[Objective],
    now: int,
    *,
    scope: Scope = EVERYTHING,
    also: Mapping[str, Iterable[str]] | None = None,
) -> Statuses:
    """Each objective's groups at ``now`` that ``scope`` may see: every team (or rep) of
    the config, with or without clocks, and the groups in ``also``."""
    figures: Statuses = {}
    for objective in objectives:
        ids = episodes.leads_started_since(connection, objective.policy, now - objective.window)
        outcomes = []
        for start in range(0, len(ids), KEY_CHUNK):
            judged = clocks_at(connection, rules, ids[start : start + KEY_CHUNK], now)
            verdicts = (verdict for one in judged.values() for verdict in one)
            outcomes.extend(outcomes_of(objective, rules, verdicts, now))
        groups = [*_config_groups(objective, rules), *(also or {}).get(objective.name, ())]
        statuses = objective_statuses(objective, outcomes, now, groups=groups)
        figures[objective.name] = {
            group: status
            for group, status in statuses.items()
            if visible(objective.per, group, rules, scope)
        }
    return figures


def _config_groups(objective: Objective, rules: Rulebook) -> list[str]:
    if objective.per == "team":
        return list(rules.teams)
    if objective.per == "owner":
        return list(rules.reps)
    return []


def visible(per: str, group: str, rules: Rulebook, scope: Scope) -> bool:
    """Whether a caller limited to ``scope`` sees a group of an objective counted ``per``
    company, team or owner: the company figure only with every lead in sight, a team's
    when all its reps are, an owner's when the owner is."""
    if scope.owners is None:
        return True
    if per == "owner":
        return scope.allows(group)
    if per == "team":
        team = rules.teams.get(group)
        return team is not None and bool(team.reps) and all(scope.allows(r) for r in team.reps)
    return False


def check_objectives(
    connection: Connection,
    rules: Rulebook,
    objectives: Sequence[Objective],
    now: int,
    *,
    channels: Sequence[tuple[str, str]] = (),
    email: bool = True,
) -> int:
    """Open an episode for each group whose burn-rate rule holds at ``now`` and has none
    open, queueing its alerts, and close the open episodes of groups where it no longer
    holds. Returns how many alerts were queued."""
    opened = {
        objective.name: episodes.open_episodes(connection, objective.name)
        for objective in objectives
    }
    figures = objective_figures(connection, rules, objectives, now, also=opened)
    rows: list[dict[str, object]] = []
    for objective in objectives:
        for group, status in figures[objective.name].items():
            running = opened[objective.name].get(group)
            if status.firing and running is None:
                assert status.long_burn is not None and status.short_burn is not None
                number = episodes.open_episode(
                    connection,
                    objective=objective.name,
                    group=group,
                    at=now,
                    long_burn=status.long_burn,
                    short_burn=status.short_burn,
                    budget_left=status.budget_left,
                )
                targets = [("email", a) for a in recipients(objective, group, rules) if email]
                for channel, target in [*targets, *channels]:
                    rows.append(
                        notification_row(
                            lead_id=group_label(objective, group),
                            policy=objective.name,
                            cycle=number,
                            kind=ALERT_KIND,
                            step=1,
                            recipient=target,
                            channel=channel,
                            fire_at=now,
                            created_at=now,
                        )
                    )
            elif not status.firing and running is not None:
                episodes.close_episode(connection, objective=objective.name, group=group, at=now)
    queue_notifications(connection, rows)
    return len(rows)


def recipients(objective: Objective, group: str, rules: Rulebook) -> list[str]:
    """Who an alert goes to: the executives for the company, the team's manager for a
    team, the rep and their team's manager for an owner."""
    if objective.per == "company":
        return [person.email for person in rules.executives]
    if objective.per == "team":
        team = rules.teams.get(group)
    else:
        rep = rules.reps.get(group)
        team = rules.team_of(group)
        if rep is not None:
            return [rep.email, *([team.manager.email] if team and team.manager else [])]
    return [team.manager.email] if team is not None and team.manager is not None else []


def group_label(objective: Objective, group: str) -> str:
    """The group as the outbox's ``lead_id`` names it: ``company``, ``team:east``, ``owner:r1``."""
    return group if objective.per == "company" else f"{objective.per}:{group}"
