"""The dashboard's login: an API token kept in a signed cookie.

The user pastes an API token; the server checks it, then keeps it in a cookie
signed with HMAC-SHA256 (``HttpOnly``, ``SameSite=Lax``). Every request checks the
signature and authenticates the token again, so a revoked token ends its sessions.
The signing key is the app's session secret (``create_app(session_secret=...)``),
else a random key per app, and sessions then end when the server restarts.
"""

import hashlib
import hmac
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadsla.api.deps import Database, Reading, SessionSecret
from leadsla.service.tokens import Principal, authenticate
from leadsla.web.render import page

COOKIE = "leadsla_session"
SESSION_SECONDS = 12 * 3600

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """A page asked for without a valid session: answered with a redirect to the login."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


async def redirect_to_login(_request: Request, exc: LoginRequired) -> Response:
    """The exception handler for :class:`LoginRequired`; back to the page after login."""
    return RedirectResponse(f"/login?next={quote(exc.path)}", status_code=303)


def signature(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


def session_caller(request: Request, secret: SessionSecret, engine: Database) -> Principal | None:
    """Who the session cookie belongs to; None without one, or with a forged or revoked one."""
    value = request.cookies.get(COOKIE, "")
    token, _, signed = value.rpartition(".")
    if not token or not hmac.compare_digest(signature(secret, token), signed):
        return None
    # Its own connection, closed at once: see leadsla.api.deps.principal.
    with engine.connect() as connection:
        return authenticate(connection, token)


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


@router.get("/")
def home(caller: SessionCaller) -> Response:
    target = "/overview" if caller else "/login"
    return RedirectResponse(target, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/overview") -> Response:
    return page(request, "login.html.j2", None, next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request, secret: SessionSecret, connection: Reading) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = safe_next((form.get("next") or ["/overview"])[0])
    found = authenticate(connection, token) if token else None
    if found is None:
        message = "Paste an API token." if not token else "Unknown or revoked token."
        return page(request, "login.html.j2", None, 401, next=target, error=message)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        f"{token}.{signature(secret, token)}",
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
