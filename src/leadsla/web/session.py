"""The dashboard's login: a random session id in a signed cookie, the session on the server.

The user pastes an API token; the server checks it and opens a session: a row of
``dashboard_sessions`` holding the digest of a random id, the token it was opened
with and its expiry (12 hours, on the app's clock). The cookie ``leadsla_session``
(``HttpOnly``, ``SameSite=Lax``, ``Secure`` over HTTPS) carries the id, never the
token, signed with HMAC-SHA256 under the app's session secret. The id alone is
unguessable; the signature lets a forged or stale cookie be turned away without a
query, and changing the secret ends every session at once. Every request looks the
session up with its token, so logging out (which deletes the row) and revoking the
token (which deletes its rows and marks it revoked) take effect at once; a copy of
the cookie taken before either no longer opens anything. Login and logout are
forms with a CSRF token (:mod:`leadsla.web.csrf`).
"""

import hashlib
import hmac
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from leadsla.api.deps import AppClock, Database, SessionSecret
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.service.tokens import (
    SESSION_MICROS,
    Principal,
    end_session,
    open_session,
)
from leadsla.service.tokens import session_caller as stored_caller
from leadsla.web.csrf import form_is_ours, keep_form_token, new_form_token
from leadsla.web.render import error_page, page

COOKIE = "leadsla_session"
SESSION_SECONDS = SESSION_MICROS // MICROS_PER_SECOND
REFUSED_FORM = (
    "This form could not be checked: its security token is missing or does not match "
    "(the page was open too long, or the form came from another site). "
    "Reload the page and try again."
)

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """A page asked for without a valid session: answered with a redirect to the login."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


async def redirect_to_login(_request: Request, exc: LoginRequired) -> Response:
    """The exception handler for :class:`LoginRequired`; back to the page after login."""
    return RedirectResponse(f"/login?next={quote(exc.path)}", status_code=303)


def signature(secret: bytes, session_id: str) -> str:
    return hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()


def cookie_value(secret: bytes, session_id: str) -> str:
    return f"{session_id}.{signature(secret, session_id)}"


def session_id_of(request: Request, secret: bytes) -> str | None:
    """The session id the cookie carries if its signature holds, else None."""
    session_id, _, signed = request.cookies.get(COOKIE, "").rpartition(".")
    # As bytes: compare_digest refuses text with non-ASCII characters (a TypeError, so a
    # 500), and a cookie can carry any byte.
    expected = signature(secret, session_id).encode()
    if not session_id or not hmac.compare_digest(expected, signed.encode("utf-8", "replace")):
        return None
    return session_id


def session_caller(
    request: Request, secret: SessionSecret, engine: Database, clock: AppClock
) -> Principal | None:
    """Who the session belongs to; None without one, or with a forged, ended or expired one."""
    session_id = session_id_of(request, secret)
    if session_id is None:
        return None
    # Its own connection, closed at once: see leadsla.api.deps.principal.
    with engine.connect() as connection:
        return stored_caller(connection, session_id, clock())


SessionCaller = Annotated[Principal | None, Depends(session_caller)]


async def viewer(request: Request, caller: SessionCaller) -> Principal:
    """The signed-in user; without one, :class:`LoginRequired` (a redirect, not a 401)."""
    if caller is None:
        raise LoginRequired(request.url.path)
    return caller


Viewer = Annotated[Principal, Depends(viewer)]


def safe_next(target: str) -> str:
    """Only a path of this site (no scheme, no host): no open redirect through login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/overview"
    return target


async def posted_form(request: Request) -> dict[str, list[str]]:
    return parse_qs((await request.body()).decode("utf-8", "replace"))


def refused_form(request: Request) -> Response:
    return error_page(request, None, 403, REFUSED_FORM)


def _log_in(engine: Engine, token: str, now: int, previous: str | None) -> str | None:
    """A new session for ``token`` (ending the browser's previous one), None if refused."""
    with engine.begin() as connection:
        opened = open_session(connection, token, now)
        if opened is not None and previous is not None:
            end_session(connection, previous)
    return None if opened is None else opened[0]


def _log_out(engine: Engine, session_id: str) -> None:
    with engine.begin() as connection:
        end_session(connection, session_id)


@router.get("/")
def home(caller: SessionCaller) -> Response:
    target = "/overview" if caller else "/login"
    return RedirectResponse(target, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/overview") -> Response:
    return page(request, "login.html.j2", None, next=safe_next(next), error=None)


@router.post("/login")
async def login(
    request: Request, secret: SessionSecret, engine: Database, clock: AppClock
) -> Response:
    form = await posted_form(request)
    if not form_is_ours(request, form):
        return refused_form(request)
    token = (form.get("token") or [""])[0].strip()
    target = safe_next((form.get("next") or ["/overview"])[0])
    previous = session_id_of(request, secret)
    # Off the event loop: a write transaction, which on SQLite may wait for the writer.
    session_id = (
        await run_in_threadpool(_log_in, engine, token, clock(), previous) if token else None
    )
    if session_id is None:
        message = "Paste an API token." if not token else "Unknown or revoked token."
        return page(request, "login.html.j2", None, 401, next=target, error=message)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie_value(secret, session_id),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    # A new form token with the new session: one planted before the login is worthless.
    keep_form_token(request, response, new_form_token())
    return response


@router.post("/logout")
async def logout(request: Request, secret: SessionSecret, engine: Database) -> Response:
    form = await posted_form(request)
    if not form_is_ours(request, form):
        return refused_form(request)
    session_id = session_id_of(request, secret)
    if session_id is not None:
        await run_in_threadpool(_log_out, engine, session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        COOKIE, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
    return response
