"""Fixtures for tests that need a real database: a SQLite file and a PostgreSQL 15 server.

A test that takes ``database_url`` runs once per backend (ids ``sqlite`` and
``postgresql``), each time on a fresh, empty database. The PostgreSQL server is
started once per session, and only when a test asks for it, so tests that need
no database never pay for it. See ``tests/postgres.py`` for the environment
variables (``LEADSLA_TEST_DATABASES``, ``LEADSLA_TEST_POSTGRES_URL``).

``pytest -m "not postgresql"`` leaves the PostgreSQL runs out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy.engine import URL

# tests/ is on sys.path: pytest puts a rootless conftest's directory there.
from mail_server import Inbox, running_smtp
from postgres import (
    DATABASES_VARIABLE,
    PostgresUnavailable,
    ThrowawayPostgres,
    selected_backends,
)

# No per-example deadline: the suite runs in parallel processes on shared cores
# (scripts/test), where a 200 ms deadline measures the machine's load, not the code.
# A property still fails on a wrong answer.
settings.register_profile("leadsla", deadline=None)
settings.load_profile("leadsla")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs against the PostgreSQL server (deselect: -m 'not postgresql')"
    )
    config.addinivalue_line(
        "markers", "fuzz: schemathesis against the OpenAPI document (deselect: -m 'not fuzz')"
    )
    try:
        selected_backends()
    except ValueError as exc:
        # A typo in CI's environment must stop the run, not quietly test less.
        raise pytest.UsageError(str(exc)) from exc


def _require(backend: str) -> None:
    if backend not in selected_backends():
        pytest.skip(f"{backend} is not in {DATABASES_VARIABLE}")


def _start(server: ThrowawayPostgres) -> str | None:
    """Start ``server``; the reason if it cannot (failed outside ``except``, unchained)."""
    try:
        server.start()
    except PostgresUnavailable as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """The session's PostgreSQL server (started on first use, destroyed at the end)."""
    _require("postgresql")
    server = ThrowawayPostgres.from_environment()
    problem = _start(server)
    if problem is not None:
        # Fail, never skip: a CI machine without PostgreSQL must be noticed. pytest
        # caches this failure, so the other PostgreSQL tests fail without retrying.
        pytest.fail(
            f"PostgreSQL is unavailable: {problem}\n"
            f"(to test without it, set {DATABASES_VARIABLE}=sqlite)",
            pytrace=False,
        )
    with server:
        yield server


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database; the test runs once per backend."""
    backend: str = request.param
    _require(backend)
    if backend == "sqlite":
        # A real file, not :memory:, so that separate connections share it.
        yield URL.create("sqlite", database=str(tmp_path / "leadsla.db")).render_as_string()
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    # Unique across processes, so parallel runs may share an existing server.
    name = f"leadsla_t_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback: its inbox and port (``mail_server``)."""
    with running_smtp() as server:
        yield server
