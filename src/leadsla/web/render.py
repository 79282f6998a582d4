"""The dashboard's template environment, and the one way its routes answer with a page."""

import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import PackageLoader

from leadsla.notify.rendering import template_environment
from leadsla.service.tokens import Principal, Role
from leadsla.web.csrf import form_token, keep_form_token
from leadsla.web.filters import (
    burn_up_geometry,
    business_span,
    countdown_text,
    decay_geometry,
    money,
    number,
    percent,
    readable_in,
    readable_instant,
    whole,
)

NAV = (
    ("/overview", "Overview"),
    ("/at-risk", "At risk"),
    ("/reps", "Reps and teams"),
    ("/marketing", "Marketing"),
    ("/settings", "Settings"),
)
# Pages of team-wide figures: a rep's session has nothing to see there.
MANAGERS_ONLY = frozenset({"/reps", "/marketing"})


def nav_for(caller: Principal | None) -> tuple[tuple[str, str], ...]:
    """The menu links the caller can use."""
    if caller is not None and caller.role is Role.REP:
        return tuple(item for item in NAV if item[0] not in MANAGERS_ONLY)
    return NAV


def who_label(caller: Principal) -> str:
    """The caller as the header names them: the token's name, and its role unless the name
    already says it (the demo's "Maya Chen (east rep)" is not followed by "(rep)")."""
    if re.search(rf"\b{re.escape(caller.role.value)}\b", caller.name, re.IGNORECASE):
        return caller.name
    return f"{caller.name} ({caller.role.value})"


# One environment per process: it holds no app's data, only templates and filters,
# and it caches the compiled templates across apps. Every page is HTML: all escaped.
templates = template_environment(
    PackageLoader("leadsla.web", "templates"), html=True, trim_blocks=True, lstrip_blocks=True
)
templates.filters["pct"] = percent
templates.filters["span"] = business_span
templates.filters["num"] = number
templates.filters["hms"] = countdown_text
templates.filters["when"] = readable_instant
templates.filters["when_in"] = readable_in
templates.filters["money"] = money
templates.filters["whole"] = whole
templates.globals["burn_up_geometry"] = burn_up_geometry
templates.globals["decay_geometry"] = decay_geometry


def page(
    request: Request, name: str, caller: Principal | None, code: int = 200, **values: Any
) -> HTMLResponse:
    """Template ``name`` rendered with ``values`` and what every page shows (menu, user).

    Also the forms' CSRF token (:mod:`leadsla.web.csrf`): the login and logout forms
    carry it, and a page sets its cookie when the browser holds none yet.
    """
    csrf, fresh = form_token(request)
    html = templates.get_template(name).render(
        caller=caller,
        who=who_label(caller) if caller is not None else "",
        path=request.url.path,
        nav=nav_for(caller),
        csrf=csrf,
        **values,
    )
    response = HTMLResponse(html, status_code=code)
    if fresh:
        keep_form_token(request, response, csrf)
    return response


def error_page(request: Request, caller: Principal | None, status: int, text: str) -> HTMLResponse:
    return page(request, "error.html.j2", caller, status, status=status, message=text)
