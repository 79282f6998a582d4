"""The dashboard's forms and their CSRF token (double submit).

Every page sets a random token in the cookie ``leadsla_csrf`` (``HttpOnly``,
``SameSite=Strict``) unless the browser already holds one, and writes the same value
in a hidden field of its forms (login, logout). A POST whose field differs from the
cookie is refused: another site can make a browser send a form, but it can neither
read the cookie nor set it, so it cannot know the value to put in the field. The
session cookie's ``SameSite=Lax`` already stops most cross-site POSTs; this covers
the browsers and the cases where it does not (and login, where there is no session
yet to protect, but a forged login would sign the victim in as the attacker).
"""

import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response

CSRF_COOKIE = "leadsla_csrf"
FIELD = "csrf"


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def form_token(request: Request) -> tuple[str, bool]:
    """The token the page's forms carry, and whether it is new (the cookie must be set)."""
    held = request.cookies.get(CSRF_COOKIE, "")
    if held:
        return held, False
    return new_form_token(), True


def keep_form_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def form_is_ours(request: Request, form: dict[str, list[str]]) -> bool:
    """The form's token equals the cookie's (compared in constant time), both present."""
    held = request.cookies.get(CSRF_COOKIE, "")
    sent = (form.get(FIELD) or [""])[0]
    return bool(held) and hmac.compare_digest(
        held.encode("utf-8", "replace"), sent.encode("utf-8", "replace")
    )
