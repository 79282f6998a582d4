"""An API client on a fresh database with one token per kind of caller, and a dashboard login."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from httpx import Response
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


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def form_token(client: TestClient) -> str:
    """The CSRF token the login page puts in its form (and, the first time, in a cookie).

    Empty when the form has none: the tests that check it say so themselves.
    """
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    return "" if found is None else found.group(1)


def log_in(client: TestClient, token: str, target: str = "/overview") -> Response:
    """Log in to the dashboard as the login form does, CSRF token included."""
    body = urlencode({"token": token, "next": target, "csrf": form_token(client)})
    return client.post("/login", content=body, headers=FORM)
