"""An API client on a fresh database with one token per kind of caller, and a dashboard login."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.policy import Rulebook
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database

LEADSLA = str(Path(sys.executable).with_name("leadsla"))

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


@dataclass
class Api:
    """The app of :func:`open_api` and its tokens, called as one of ``CALLERS``."""

    client: TestClient
    engine: Engine
    rules: Rulebook
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def post(self, who: str, body: Any) -> Any:
        return self.client.post("/api/v1/events", json=body, headers=self.headers(who))

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(who))


@contextmanager
def serving(config: Path, database_url: str, now: int) -> Iterator[Api]:
    """:func:`open_api` as an :class:`Api`, closed (client and engine) on the way out."""
    client, engine, rules, tokens = open_api(config, database_url, now)
    try:
        yield Api(client, engine, rules, tokens)
    finally:
        client.close()
        engine.dispose()


def evaluate_csv(
    config: Path, tmp_path: Path, rows: list[dict[str, str]], as_of: str
) -> list[dict[str, str]]:
    """The rows ``leadsla evaluate`` (the installed command) writes for these events."""
    source = tmp_path / "events.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["lead_id", "at", "field", "value"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("lead_id", "at", "field", "value")} for r in rows)
    target = tmp_path / "clocks.csv"
    subprocess.run(
        [LEADSLA, "evaluate", "--config", str(config), "--events", str(source),
         "--as-of", as_of, "--output", str(target)],
        check=True, capture_output=True,
    )  # fmt: skip
    with target.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def as_csv_rows(clocks: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``GET /api/v1/clocks`` rows as the CSV of ``leadsla evaluate`` writes them."""
    columns = ["lead_id", "policy", "cycle", "grade", "owner", "state", "started_at", "due_at",
               "stopped_at", "business_seconds", "escalations", "attempts"]  # fmt: skip
    return [{c: "" if row[c] is None else str(row[c]) for c in columns} for row in clocks]


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
