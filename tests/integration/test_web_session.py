"""The dashboard's session cookie and login, without a browser (the pages: tests/browser)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from api_setup import FORM, form_token, log_in
from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.web.filters import PLOT, burn_up_geometry, decay_geometry, money, readable_instant
from leadsla.web.session import COOKIE, safe_next
from leadsla.web.wording import policy_sentences

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
SALES_WORK = Path(__file__).resolve().parents[1] / "sales_work.yaml"
CSRF_COOKIE = "leadsla_csrf"
NOW = parse_instant("2026-03-04T15:30:00Z")


@contextmanager
def served(
    where: Path | str,
    role: str,
    rep: str | None,
    session_secret: bytes | None = None,
    now: list[int] | None = None,
) -> Iterator[tuple[TestClient, str]]:
    """The app on the base example with one token of ``role``.

    ``where``: a directory for a SQLite file, or a database URL. ``now``: the app's
    clock, a one-item list the test may move (default: pinned at NOW).
    """
    config = load_config(CONFIG)
    rules = build_rulebook(config)
    url = f"sqlite:///{where / 'leadsla.db'}" if isinstance(where, Path) else where
    engine = open_database(url)
    with engine.begin() as connection:
        token = create_token(connection, rules, role=role, name="sam", rep=rep, team=None, now=NOW)
    clock = now if now is not None else [NOW]
    app = create_app(rules, engine, lambda: clock[0], config=config, session_secret=session_secret)
    with TestClient(app, follow_redirects=False) as client:
        yield client, token
    engine.dispose()


def login(client: TestClient, token: str, target: str = "/overview") -> Response:
    """Log in as the login form does."""
    return log_in(client, token, target)


def post_form(client: TestClient, path: str, **fields: str) -> Response:
    return client.post(path, content=urlencode(fields), headers=FORM)


def signed_cookie(secret: bytes, session_id: str) -> str:
    return f"{session_id}.{hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with served(tmp_path, "rep", "r1", b"k") as opened:
        yield opened


def test_login_sets_a_signed_session_cookie_that_a_forgery_does_not_pass(
    site: tuple[TestClient, str],
) -> None:
    client, token = site
    assert client.get("/at-risk").headers["location"] == "/login?next=/at-risk"
    refused = post_form(client, "/login", token="lsla_nope", csrf=form_token(client))
    assert refused.status_code == 401 and "Unknown or revoked token." in refused.text
    assert COOKIE not in refused.cookies
    done = login(client, token, "/settings")
    assert done.status_code == 303 and done.headers["location"] == "/settings"
    cookie = done.cookies[COOKIE]
    session_id, _, _signed = cookie.rpartition(".")
    assert token not in cookie and cookie == signed_cookie(b"k", session_id)
    flags = done.headers["set-cookie"].lower()
    assert "httponly" in flags and "samesite=lax" in flags
    assert client.get("/at-risk").status_code == 200
    assert client.get("/at-risk", params={"hours": "abc", "grade": "Z"}).status_code == 200
    # The same id with another signature; a well-signed id of no session: refused.
    client.cookies.set(COOKIE, cookie[:-1] + ("0" if cookie[-1] != "0" else "1"))
    assert client.get("/at-risk").status_code == 303
    client.cookies.set(COOKIE, signed_cookie(b"k", "not-a-session"))
    assert client.get("/at-risk").status_code == 303
    client.cookies.set(COOKIE, cookie)
    assert client.get("/at-risk").status_code == 200


def test_a_cookie_with_non_ascii_bytes_is_a_login_not_an_error(
    site: tuple[TestClient, str],
) -> None:
    client, _token = site
    # Non-ASCII text made hmac.compare_digest raise TypeError: a 500 before login.
    for value in ("abc.\u00e9\u00e9", "\u00ff.abc", "\u00e9"):
        answer = client.get("/at-risk", headers={"cookie": f"{COOKIE}={value}".encode()})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_session_secret_lets_another_app_read_the_cookie(tmp_path: Path) -> None:
    """As a restarted server or a second worker does; without the secret, log in again."""
    with served(tmp_path, "admin", None, b"shared") as (client, token):
        opened = login(client, token)
    for secret, code in ((b"shared", 200), (b"other", 303), (None, 303)):
        with served(tmp_path, "admin", None, secret) as (other, _):
            other.cookies.set(COOKIE, opened.cookies[COOKIE])
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
    assert not any("reassign" in line or "attempt" in line for line in lines)


def test_the_rules_of_sales_work_read_as_sentences() -> None:
    """SPEC §9.1–9.3 in plain words: touches and assignment that stop, a start at
    assignment, a restart on reassignment, a cadence and its steps."""
    policies = load_config(SALES_WORK).policies
    follow_up = policy_sentences("follow_up", policies["follow_up"])
    assert follow_up[0] == (
        "The clock starts when a lead's status is New and it has an owner (whichever comes "
        "later) and stops at Attempting to Contact, Contacted or Invalid Information, or "
        "when any call, an email replied to or any meeting is logged; it runs on the "
        "owner's calendar."
    )
    assert "A stop that already holds when the clock starts stops it at once (met)." in follow_up
    assert any(line.startswith("When the lead moves from one rep to another") for line in follow_up)
    assert "if it was already past its target" in follow_up[2]
    assert follow_up[-1] == (
        "Step 3: 72 hours after the start, notify executive (urgent: sent at once, even "
        "outside their hours)."
    )
    routing = policy_sentences("routing", policies["routing"])
    assert routing[0] == (
        "The clock starts when a lead's status becomes New and stops when a call without a "
        "disposition is logged, or once the lead has an owner; it runs on the us-east "
        "calendar."
    )
    cadence = policy_sentences("attempts", policies["attempts"])
    assert "if a gap or the window had already run out" in cadence[2]
    assert cadence[3] == (
        "It asks for 3 attempts within 3 business days, at most 1 business day apart (the "
        "first within 1 business day of the start); an automated email is not an attempt."
    )
    assert "Step 1: 4 business hours after the start or the latest attempt, notify owner." in (
        cadence
    )
    assert policy_sentences("nurture", policies["nurture"])[0] == (
        "The clock starts when a lead's status becomes Recycled and stops at New, or when an "
        "automated email (a sequence or mass send) is logged; it runs on the us-east calendar."
    )
    assert policy_sentences("callback", policies["callback"])[0].startswith(
        "The clock starts when a call without a disposition is logged and stops at "
        "Qualified, or when a call that connected or an email replied to is logged;"
    )


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


def test_decay_chart_marks_sit_where_the_fit_says() -> None:
    # Two bins: 2 h (2 leads, 50 %, fit 0.5, band 0-1) and 8 h (1 lead, 0 %, fit 0, band 0-0.5).
    point = ("hours", "leads", "conversion", "fit", "fit_low", "fit_high")
    decay = {
        "points": [dict(zip(point, (2.0, 2, 0.5, 0.5, 0.0, 1.0), strict=True)),
                   dict(zip(point, (8.0, 1, 0.0, 0.0, 0.0, 0.5), strict=True))],
    }  # fmt: skip
    shape = decay_geometry(decay)
    left, top, right, bottom = PLOT
    # The x axis ends at the last bin; the y axis at the highest band edge (capped at 100 %).
    assert (shape["last_hour"], shape["top"]) == (8.0, 1.0)
    x2 = round(left + (right - left) * 2 / 8, 1)
    middle = round(bottom - (bottom - top) * 0.5, 1)
    assert shape["line"] == f"{x2},{middle} {right:.1f},{bottom:.1f}"
    # The band: upper edge left to right, then the lower edge back.
    assert shape["band"].split() == [
        f"{x2},{top:.1f}", f"{right:.1f},{middle}", f"{right:.1f},{bottom:.1f}",
        f"{x2},{bottom:.1f}",
    ]  # fmt: skip
    # A dot per bin, the bigger bin the bigger dot.
    assert [d[:2] for d in shape["dots"]] == [(x2, middle), (right, bottom)]
    assert shape["dots"][0][2] > shape["dots"][1][2]


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
        login(client, token)
        page = client.get("/leads/L1").text
    assert "Score explanation: not available yet (the config has no scoring section)." in page
    assert "Assignment reason: not available yet (the config has no assignment section)." in page
    assert 'id="score-rules"' not in page


def test_at_risk_links_carry_the_lead_id_percent_encoded(tmp_path: Path) -> None:
    """Issue #20: a lead id with ?, # or a quote still links to its own page."""
    lead = 'Q? #1 "x"'
    with served(tmp_path, "admin", None) as (client, token):
        at = "2026-03-04T09:00:00-05:00"  # grade A: due 8 business hours later, at risk
        facts = (("status", "New"), ("grade", "A"), ("owner", "r1"))
        body = [{"lead_id": lead, "at": at, "field": f, "value": v} for f, v in facts]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/events", json=body, headers=headers).status_code == 200
        login(client, token)
        page = client.get("/at-risk").text
        href = "/leads/Q%3F%20%231%20%22x%22"
        assert f'<a href="{href}">Q? #1 &#34;x&#34;</a>' in page
        assert "Q? #1 &#34;x&#34;" in client.get(href).text


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


# -- server-side sessions, revocation, CSRF (#14) ----------------------------------------------


def test_a_cookie_replayed_after_logout_opens_nothing(database_url: str) -> None:
    """Logging out ends the session on the server, not only in the browser that clicked."""
    with served(database_url, "admin", None) as (client, token):
        cookie = login(client, token).cookies[COOKIE]
        assert client.get("/settings").status_code == 200
        out = post_form(client, "/logout", csrf=form_token(client))
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert COOKIE not in client.cookies
        client.cookies.set(COOKIE, cookie)  # a copy taken before the logout
        assert client.get("/settings").headers["location"] == "/login?next=/settings"


def test_sessions_are_stored_as_digests_with_their_token_and_expiry(database_url: str) -> None:
    # Imported here: a module-level import of what #14 added would hide, before it, which
    # of this module's tests fail and which pass.
    from leadsla.store.tables import api_tokens, dashboard_sessions

    clock = [NOW]
    with served(database_url, "admin", None, now=clock) as (client, token):
        session_id = login(client, token).cookies[COOKIE].rpartition(".")[0]
        engine = open_database(database_url)
        with engine.connect() as connection:
            rows = connection.execute(
                select(dashboard_sessions, api_tokens.c.token_hash).join(api_tokens)
            ).all()
        engine.dispose()
        assert len(rows) == 1
        row = rows[0]
        assert row.session_hash == hashlib.sha256(session_id.encode()).hexdigest()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (row.created_at, row.expires_at) == (NOW, NOW + 12 * 3600 * 10**6)
        # Expiry is read on the app's clock, whatever the cookie's max-age says.
        clock[0] = NOW + 12 * 3600 * 10**6 - 1
        assert client.get("/settings").status_code == 200
        clock[0] += 1
        assert client.get("/settings").status_code == 303


def test_logging_in_again_ends_the_browsers_previous_session(database_url: str) -> None:
    with served(database_url, "admin", None) as (client, token):
        first = login(client, token).cookies[COOKIE]
        assert login(client, token).cookies[COOKIE] != first
        assert client.get("/settings").status_code == 200
        client.cookies.set(COOKIE, first)
        assert client.get("/settings").status_code == 303


def test_revoking_a_token_ends_its_sessions_and_its_api_access_at_once(
    database_url: str,
) -> None:
    from leadsla.service.tokens import revoke  # as above
    from leadsla.store.tables import dashboard_sessions

    with served(database_url, "admin", None) as (client, token):
        app = client.app
        with (
            TestClient(app, follow_redirects=False) as second,
            TestClient(app, follow_redirects=False) as bystander,
        ):
            engine = open_database(database_url)
            with engine.begin() as connection:
                rules = build_rulebook(load_config(CONFIG))
                other = create_token(
                    connection, rules, role="marketing", name="mia", rep=None, team=None, now=NOW
                )
            for browser, key in ((client, token), (second, token), (bystander, other)):
                login(browser, key)
                assert browser.get("/settings").status_code == 200
            bearer = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/clocks", headers=bearer).status_code == 200
            with engine.begin() as connection:
                done = revoke(connection, "sam", NOW + 1)
            assert (done.sessions_ended, done.already) == (2, False)
            with engine.connect() as connection:
                left = connection.execute(select(dashboard_sessions.c.token_id)).all()
            engine.dispose()
            assert len(left) == 1  # the bystander's
            for browser in (client, second):
                assert browser.get("/settings").status_code == 303
            assert client.get("/api/v1/clocks", headers=bearer).status_code == 401
            assert bystander.get("/settings").status_code == 200
            refused = login(second, token)
            assert refused.status_code == 401 and "Unknown or revoked token." in refused.text


def test_login_and_logout_without_the_forms_csrf_token_are_refused(
    site: tuple[TestClient, str],
) -> None:
    client, token = site
    page = client.get("/login")
    assert 'name="csrf"' in page.text
    flags = page.headers.get("set-cookie", "").lower()
    assert CSRF_COOKIE in flags and "httponly" in flags and "samesite=strict" in flags
    good = form_token(client)
    for fields in ({"token": token}, {"token": token, "csrf": "forged"}):
        refused = post_form(client, "/login", **fields)
        assert refused.status_code == 403, fields
        assert "security token is missing or does not match" in refused.text
        assert COOKIE not in refused.cookies
    # The field without its cookie (another site cannot set it) is refused too.
    client.cookies.delete(CSRF_COOKIE)
    assert post_form(client, "/login", token=token, csrf=good).status_code == 403
    assert login(client, token).status_code == 303
    # Logging in hands out a new form token: one known before the login is worthless.
    assert client.cookies[CSRF_COOKIE] != good
    assert f'value="{client.cookies[CSRF_COOKIE]}"' in client.get("/settings").text
    for fields in ({}, {"csrf": "forged"}, {"csrf": good}):
        assert post_form(client, "/logout", **fields).status_code == 403, fields
        assert client.get("/settings").status_code == 200  # still logged in
    assert post_form(client, "/logout", csrf=client.cookies[CSRF_COOKIE]).status_code == 303
    assert client.get("/settings").status_code == 303
