"""The lead page's Accept and Reject buttons (SPEC §9.5) in Debian's Chromium.

A uvicorn server on a free loopback port over a SQLite file with one lead of rep r1;
the config lists ``sal.reasons``, so Reject asks for one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser_setup import CHROMIUM, chromium, served
from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
NOW = parse_instant("2026-03-04T15:30:00Z")
REASONS = "\nsal:\n  reasons: [No budget, Wrong contact]\n"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium (CI installs it)"
)


def example_without_reason_lists() -> str:
    """The example config without its own sal and reasons lists: this test sets its own."""
    return (
        (ROOT / "examples" / "leadsla.yaml")
        .read_text(encoding="utf-8")
        .split("\n# Sales acceptance")[0]
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("acceptance")
    config_path = directory / "leadsla.yaml"
    config_path.write_text(
        example_without_reason_lists() + REASONS,
        encoding="utf-8",
    )
    config = load_config(config_path)
    rules = build_rulebook(config)
    engine = open_database(f"sqlite:///{directory / 'leadsla.db'}")
    start = parse_instant("2026-03-04T14:00:00Z")
    with engine.begin() as connection:
        tokens = {
            who: create_token(connection, rules, role=role, name=who, rep=rep, team=None, now=NOW)
            for who, role, rep in (("r1", "rep", "r1"), ("admin", "admin", None))
        }
        rows = [("status", "New"), ("grade", "A"), ("owner", "r1")]
        ingest(
            connection,
            rules,
            [IncomingEvent("W1", start, name, value) for name, value in rows],
            source="test",
            recorded_at=start,
        )
    app = create_app(rules, engine, lambda: NOW, config=config)
    try:
        with served(app) as base:
            yield base, tokens
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as opened:
        yield opened


def overall(base: str, token: str) -> dict[str, Any]:
    response = httpx.get(
        f"{base}/api/v1/report",
        params={"as_of": "2026-03-04T15:30:00Z"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    found: dict[str, Any] = response.json()["overall"]
    return found


def test_the_owner_accepts_then_rejects_with_a_listed_reason(
    browser: Any, site: tuple[str, dict[str, str]]
) -> None:
    base, tokens = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/login")
    page.get_by_label("API token").fill(tokens["r1"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/overview$"))
    page.goto(f"{base}/leads/W1")
    sal = page.locator("[data-figure='sal']")
    assert sal.inner_text().strip() == "none yet"

    page.locator("#accept").click()
    page.wait_for_url(re.compile(r"/leads/W1$"))
    assert sal.inner_text().strip() == "accepted"
    assert (
        overall(base, tokens["admin"])["sals"],
        overall(base, tokens["admin"])["sal_rejected"],
    ) == (1, 0)

    # Reject offers the config's reasons only, and asks for one before it submits.
    reason = page.locator("#reject-reason")
    options = reason.locator("option").all_inner_texts()
    assert options == ["Choose a reason", "No budget", "Wrong contact"]
    page.locator("#reject").click()
    assert reason.evaluate("element => element.validity.valueMissing") is True
    assert sal.inner_text().strip() == "accepted"  # nothing was sent
    reason.select_option("Wrong contact")
    page.locator("#reject").click()
    page.wait_for_url(re.compile(r"/leads/W1$"))
    assert sal.inner_text().strip() == "rejected"
    assert "Wrong contact" in page.locator("[data-figure='sal-reason']").inner_text()
    figures = overall(base, tokens["admin"])
    assert (figures["sals"], figures["sal_rejected"], figures["sal_reasons"]) == (
        0,
        1,
        {"Wrong contact": 1},
    )
    page.close()
