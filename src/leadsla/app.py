"""The web application: the REST API (SPEC §6) under ``/api/v1`` and the dashboard at ``/``.

:func:`create_app` builds it from a rulebook, an engine and a clock (a function
returning epoch microseconds), so tests pin the instant and nothing here reads the
wall clock or the environment on its own. The routes live in one module per
resource and reach these collaborators through :mod:`leadsla.api.deps`.
"""

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from leadsla import __version__
from leadsla.api import clocks, events, health, hooks, leads, qualify, report
from leadsla.api.deps import Clock
from leadsla.api.schemas import READ_BY_HAND
from leadsla.config.schema import Config
from leadsla.core.policy import Rulebook
from leadsla.web import pages, session


def create_app(
    rules: Rulebook,
    engine: Engine,
    clock: Clock,
    hook_secrets: Mapping[str, str] | None = None,
    config: Config | None = None,
    session_secret: bytes | None = None,
) -> FastAPI:
    """The app.

    ``hook_secrets`` maps a webhook source (generic, hubspot) to its secret;
    ``session_secret`` signs the dashboard's session cookies (None or empty: a random
    key, so sessions end with the process). ``config`` feeds the reports; without it
    they answer 503.
    """
    app = FastAPI(
        title="leadsla",
        version=__version__,
        description="The marketing-to-sales SLA engine: events in, business-hour clocks out.",
        openapi_url="/api/v1/openapi.json",
        # The reference page is served below from the package's own copy of Swagger UI:
        # FastAPI's default loads it from a CDN, a blank page on an offline server.
        docs_url=None,
        redoc_url=None,
    )
    app.state.rules = rules
    app.state.engine = engine
    app.state.clock = clock
    app.state.config = config
    app.state.hook_secrets = dict(hook_secrets or {})
    # An empty key would sign with nothing secret: treated as no key at all.
    app.state.session_secret = session_secret or secrets.token_bytes(32)

    # The order of the routers is the order of the paths in the OpenAPI document.
    for router in (
        qualify.router,
        health.router,
        events.router,
        clocks.router,
        leads.router,
        report.router,
        hooks.router,
        session.router,
        pages.router,
    ):
        app.include_router(router)
    # Through the decorator: it takes a handler typed for its own exception class.
    app.exception_handler(HTTPException)(json_error)
    app.exception_handler(session.LoginRequired)(session.redirect_to_login)
    app.openapi = with_schemas_read_by_hand(app.openapi)  # type: ignore[method-assign]
    serve_api_reference(app)
    return app


API_REFERENCE_ASSETS = "/api/v1/docs-assets"


def serve_api_reference(app: FastAPI) -> None:
    """``/api/v1/docs``: Swagger UI with its scripts and styles from the installed
    ``fastapi_offline`` package (Swagger UI 5, which reads the OpenAPI 3.1 document FastAPI
    writes), so the page works with no internet access."""
    app.mount(
        API_REFERENCE_ASSETS,
        StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"),
        name="api-reference-assets",
    )

    @app.get("/api/v1/docs", include_in_schema=False)
    def api_reference() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="leadsla API reference",
            swagger_js_url=f"{API_REFERENCE_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{API_REFERENCE_ASSETS}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )


def with_schemas_read_by_hand(
    openapi: Callable[[], dict[str, Any]],
) -> Callable[[], dict[str, Any]]:
    """FastAPI's document plus the models of the bodies read by hand.

    ``POST /events`` refers to ``EventIn`` in its ``openapi_extra``; FastAPI lists
    only the models that route signatures use, so without this the reference
    dangled and no client generator or fuzzer could read the body.
    """

    def document() -> dict[str, Any]:
        # FastAPI builds the document once and keeps it; adding is then done once too.
        doc = openapi()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in READ_BY_HAND:
            if model.__name__ not in schemas:
                schemas[model.__name__] = model.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
        return doc

    return document


async def json_error(_request: Request, exc: HTTPException) -> JSONResponse:
    """An HTTP error as ``{"detail": ...}`` with its status and headers."""
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
