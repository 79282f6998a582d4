"""The dashboard's template environment, and the one way its routes answer with a page."""

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import PackageLoader

from leadsla.notify.rendering import template_environment
from leadsla.service.tokens import Principal
from leadsla.web.csrf import form_token, keep_form_token
from leadsla.web.filters import (
    burn_up_geometry,
    business_span,
    countdown_text,
    decay_geometry,
    money,
    number,
    percent,
    readable_instant,
)

NAV = (
    ("/overview", "Overview"),
    ("/at-risk", "At risk"),
    ("/reps", "Reps and teams"),
    ("/marketing", "Marketing"),
    ("/settings", "Settings"),
)

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
templates.filters["money"] = money
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
        path=request.url.path,
        nav=NAV,
        csrf=csrf,
        **values,
    )
    response = HTMLResponse(html, status_code=code)
    if fresh:
        keep_form_token(request, response, csrf)
    return response


def error_page(request: Request, caller: Principal | None, status: int, text: str) -> HTMLResponse:
    return page(request, "error.html.j2", caller, status, status=status, message=text)
