"""An API client on a fresh database with one token per kind of caller, for API tests."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.policy import Rulebook
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database

# Callers of the example configs: admin, marketing, the east team's manager, reps r1 and r3.
CALLERS = [
    ("admin", "admin", None, None),
    ("marketing", "marketing", None, None),
    ("east-manager", "manager", None, "east"),
    ("r1", "rep", "r1", None),
    ("r3", "rep", "r3", None),
]


def open_api(
    config: Path, database_url: str, now: int
) -> tuple[TestClient, Engine, Rulebook, dict[str, str]]:
    """The app on ``config`` and a fresh database, its clock pinned at ``now``; token per caller."""
    rules = build_rulebook(load_config(config))
    engine = open_database(database_url)
    tokens: dict[str, str] = {}
    with engine.begin() as connection:
        for who, role, rep, team in CALLERS:
            tokens[who] = create_token(
                connection, rules, role=role, name=who, rep=rep, team=team, now=now
            )
    return TestClient(create_app(rules, engine, lambda: now)), engine, rules, tokens
