"""Schemathesis against the published OpenAPI: no request, however odd, gets a 500."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
NOW = parse_instant("2026-03-06T18:00:00-05:00")
DATABASE = ROOT / ".pytest-fuzz.db"


def build_app():  # type: ignore[no-untyped-def]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)
    setup = load_config(CONFIG)
    rules = build_rulebook(setup)
    engine = open_database(f"sqlite:///{DATABASE}")
    with engine.begin() as connection:
        token = create_token(
            connection, rules, role="admin", name="fuzz", rep=None, team=None, now=NOW
        )
    return create_app(
        rules, engine, lambda: NOW, hook_secrets={"generic": "x"}, config=setup
    ), token


APP, TOKEN = build_app()
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
