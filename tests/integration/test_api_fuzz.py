"""Schemathesis against the published OpenAPI: no request, however odd, gets a 500.

Every operation of ``/api/v1/openapi.json`` with an admin token: the document's own
examples, its coverage cases and a few hundred generated requests each, on SQLite
(about 30-60 s on two cores). ``-m "not fuzz"`` leaves it out of a quick run; CI
runs it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
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
EXAMPLES_PER_OPERATION = 200

pytestmark = pytest.mark.fuzz


def build_app():  # type: ignore[no-untyped-def]
    # At import: schemathesis reads the document while pytest collects the tests.
    database = Path(tempfile.mkdtemp(prefix="leadsla-fuzz-")) / "leadsla.db"
    setup = load_config(CONFIG)
    rules = build_rulebook(setup)
    engine = open_database(f"sqlite:///{database}")
    with engine.begin() as connection:
        token = create_token(
            connection, rules, role="admin", name="fuzz", rep=None, team=None, now=NOW
        )
    app = create_app(rules, engine, lambda: NOW, hook_secrets={"generic": "x"}, config=setup)
    return app, token


APP, TOKEN = build_app()
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


def test_every_reference_of_the_document_resolves() -> None:
    document = schema.raw_schema
    named = set(document["components"]["schemas"])
    referenced = {
        ref.removeprefix("#/components/schemas/")
        for ref in _refs(document)
        if ref.startswith("#/components/schemas/")
    }
    assert referenced <= named, referenced - named
    body = document["paths"]["/api/v1/events"]["post"]["requestBody"]
    items = body["content"]["application/json"]["schema"]["items"]
    assert items == {"$ref": "#/components/schemas/EventIn"}
    assert set(document["components"]["schemas"]["EventIn"]["required"]) == {
        "lead_id",
        "at",
        "field",
    }
    assert json.loads(json.dumps(document)) == document


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
