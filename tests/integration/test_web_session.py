"""The dashboard's session cookie and login, without a browser (the pages: tests/browser)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.web.filters import PLOT, burn_up_geometry, money, readable_instant
from leadsla.web.session import COOKIE, safe_next
from leadsla.web.wording import policy_sentences

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
NOW = parse_instant("2026-03-04T15:30:00Z")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@contextmanager
def served(
    tmp_path: Path, role: str, rep: str | None, session_secret: bytes | None = None
) -> Iterator[tuple[TestClient, str]]:
    """The app on the base example with one token of ``role``."""
    config = load_config(CONFIG)
    rules = build_rulebook(config)
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    with engine.begin() as connection:
        token = create_token(connection, rules, role=role, name="sam", rep=rep, team=None, now=NOW)
    app = create_app(rules, engine, lambda: NOW, config=config, session_secret=session_secret)
    with TestClient(app, follow_redirects=False) as client:
        yield client, token
    engine.dispose()


def login(client: TestClient, token: str, target: str = "/overview") -> Response:
    """Log in as the login form does."""
    return client.post("/login", content=f"token={token}&next={target}", headers=FORM)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with served(tmp_path, "rep", "r1") as opened:
        yield opened


def test_login_sets_a_signed_cookie_that_a_forgery_does_not_pass(
    site: tuple[TestClient, str],
) -> None:
    client, token = site
    assert client.get("/at-risk").headers["location"] == "/login?next=/at-risk"
    refused = client.post("/login", content="token=lsla_nope", headers=FORM)
    assert refused.status_code == 401 and "Unknown or revoked token." in refused.text
    assert COOKIE not in refused.cookies
    done = client.post("/login", content=f"token={token}&next=/settings", headers=FORM)
    assert done.status_code == 303 and done.headers["location"] == "/settings"
    cookie = done.cookies[COOKIE]
    assert "httponly" in done.headers["set-cookie"].lower()
    assert client.get("/at-risk").status_code == 200
    assert client.get("/at-risk", params={"hours": "abc", "grade": "Z"}).status_code == 200
    # The same token with another signature, or another token with this one: refused.
    client.cookies.set(COOKIE, cookie[:-1] + ("0" if cookie[-1] != "0" else "1"))
    assert client.get("/at-risk").status_code == 303
    client.cookies.set(COOKIE, "lsla_other." + cookie.rpartition(".")[2])
    assert client.get("/at-risk").status_code == 303
    client.cookies.set(COOKIE, cookie)
    assert client.get("/at-risk").status_code == 200
    assert client.post("/logout").headers["location"] == "/login"


def test_a_session_secret_lets_another_app_read_the_cookie(tmp_path: Path) -> None:
    """As a restarted server or a second worker does; without the secret, log in again."""
    with served(tmp_path, "admin", None, b"shared") as (client, token):
        login = client.post("/login", content=f"token={token}", headers=FORM)
    for secret, code in ((b"shared", 200), (b"other", 303), (None, 303)):
        with served(tmp_path, "admin", None, secret) as (other, _):
            other.cookies.set(COOKIE, login.cookies[COOKIE])
            assert other.get("/settings").status_code == code


def test_login_redirects_only_within_the_site() -> None:
    assert safe_next("/leads/L1") == "/leads/L1"
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "leads"):
        assert safe_next(target) == "/overview"


def test_policies_read_as_sentences() -> None:
    policy = load_config(CONFIG).policies["follow_up"]
    lines = policy_sentences("follow_up", policy)
    assert lines[0] == (
        "The clock starts when a lead's status becomes New and stops at Attempting to "
        "Contact, Contacted or Invalid Information; it runs on the owner's calendar."
    )
    assert "C leads: within 5 business days (optional: a miss is not a breach)." in lines
    assert "The owner is warned at 75% of the target." in lines
    assert lines[-1] == "Step 3: 72 hours after the start, notify executive."


def test_instants_read_as_dates() -> None:
    assert readable_instant("2026-03-04T10:30:00-05:00") == "Wed 4 Mar 2026 10:30 (UTC-05:00)"
    assert readable_instant(None) == ""


def test_burn_up_lines_end_where_the_figures_say() -> None:
    # February 2026 (28 days), 3 days gone: 2, 2, 5 MQLs; target 56.
    entry = {
        "period": {"start": "2026-02-01T00:00:00-05:00", "end": "2026-03-01T00:00:00-05:00"},
        "target": 56,
        "days": [{"date": f"2026-02-0{d}", "count": c} for d, c in ((1, 2), (2, 2), (3, 5))],
    }
    shape = burn_up_geometry(entry)
    left, top, right, bottom = PLOT
    assert (shape["days"], shape["first_date"], shape["last_date"]) == (
        28, "2026-02-01", "2026-02-28",
    )  # fmt: skip
    high = 56 * 1.08  # the target with some room above it
    height = bottom - top
    last = (round(left + (right - left) * 3 / 28, 1), round(bottom - height * 5 / high, 1))
    assert shape["last"] == last
    assert shape["line"].split()[0] == f"{left:.1f},{bottom:.1f}"  # the period starts at 0
    assert len(shape["line"].split()) == 4
    assert shape["target_y"] == round(bottom - height * 56 / high, 1)
    # The pace runs from 0 at the start to the target at the end of the period.
    assert shape["pace"] == (left, bottom, right, shape["target_y"])


def test_money_reads_without_cents() -> None:
    assert (money(1234.5), money(-20.0), money(None), money(7, "USD")) == (
        "1,234", "-20", "n/a", "7 USD",
    )  # fmt: skip


def test_lead_page_says_why_score_and_assignment_are_not_available(tmp_path: Path) -> None:
    """The base example has no scoring and no assignment section: the page says so."""
    with served(tmp_path, "admin", None) as (client, token):
        body = [{"lead_id": "L1", "at": "2026-03-04T09:00:00-05:00", "field": "status",
                 "value": "New"}]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/events", json=body, headers=headers).status_code == 200
        client.post("/login", content=f"token={token}", headers=FORM)
        page = client.get("/leads/L1").text
    assert "Score explanation: not available yet (the config has no scoring section)." in page
    assert "Assignment reason: not available yet (the config has no assignment section)." in page
    assert 'id="score-rules"' not in page


def test_another_reps_lead_page_reads_as_a_missing_one(tmp_path: Path) -> None:
    """Not 403 against 404: a rep must not learn which lead ids exist."""
    with served(tmp_path, "admin", None) as (client, token):
        at = "2026-03-04T09:00:00-05:00"
        body = [
            {"lead_id": lead, "at": at, "field": field, "value": value}
            for lead, owner in (("L1", "r1"), ("L2", "r2"))
            for field, value in (("status", "New"), ("owner", owner))
        ]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/events", json=body, headers=headers).status_code == 200
        engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
        with engine.begin() as connection:
            rules = build_rulebook(load_config(CONFIG))
            rep = create_token(
                connection, rules, role="rep", name="r1", rep="r1", team=None, now=NOW
            )
        engine.dispose()
        login(client, rep)
        assert client.get("/leads/L1").status_code == 200
        other, missing = client.get("/leads/L2"), client.get("/leads/NOPE")
    assert other.status_code == missing.status_code == 404
    assert "There is no lead &#39;L2&#39;." in other.text
    assert "There is no lead &#39;NOPE&#39;." in missing.text
