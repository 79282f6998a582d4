"""What a route takes from the app it runs in, as FastAPI dependencies.

:func:`leadsla.app.create_app` keeps its collaborators on ``app.state``; the
functions here read them back with their types. A route module is then a plain
module-level router whose signatures say what each route uses, and one process
can serve several apps (tests build one per database) without shared globals.
"""

from collections.abc import Callable, Iterator, Mapping
from datetime import tzinfo
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from leadsla.config.schema import Config
from leadsla.core.events import InstantError, parse_event_instant
from leadsla.core.policy import Rulebook
from leadsla.service.queries import Scope, lead_owner, scope_for
from leadsla.service.tokens import Principal, authenticate

Clock = Callable[[], int]
"""Epoch microseconds now; injected so that tests pin the instant."""

# The dependencies that only read app.state are coroutines: FastAPI runs a plain
# function dependency in its thread pool, a hop per dependency per request that cost
# more than the lookups themselves. Those that touch the database stay plain functions.


async def rules_of(request: Request) -> Rulebook:
    rules: Rulebook = request.app.state.rules
    return rules


async def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def config_of(request: Request) -> Config | None:
    config: Config | None = request.app.state.config
    return config


async def hook_secrets_of(request: Request) -> Mapping[str, str]:
    secrets: Mapping[str, str] = request.app.state.hook_secrets
    return secrets


async def session_secret_of(request: Request) -> bytes:
    secret: bytes = request.app.state.session_secret
    return secret


Rules = Annotated[Rulebook, Depends(rules_of)]
Database = Annotated[Engine, Depends(engine_of)]
AppClock = Annotated[Clock, Depends(clock_of)]
AppConfig = Annotated[Config | None, Depends(config_of)]
HookSecrets = Annotated[Mapping[str, str], Depends(hook_secrets_of)]
SessionSecret = Annotated[bytes, Depends(session_secret_of)]


async def default_zone(rules: Rules) -> tzinfo:
    """The zone the API writes instants in: the default calendar's."""
    return rules.default_zone


Zone = Annotated[tzinfo, Depends(default_zone)]


def read_connection(engine: Database) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection


# Closed when the route function returns, not after the response is sent: a read
# holds a snapshot (and a pooled connection) only while it works. Only for routes that
# read; ingesting routes open their own write transaction off the event loop.
Reading = Annotated[Connection, Depends(read_connection, scope="function")]

bearer = HTTPBearer(auto_error=False)


def principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    engine: Database,
) -> Principal:
    """Who the bearer token belongs to, else 401.

    Its own short connection rather than :data:`Reading`: an ingesting route depends
    on this and then writes, which a still-open read on SQLite would block.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing token: send Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with engine.connect() as connection:
        found = authenticate(connection, credentials.credentials)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


Caller = Annotated[Principal, Depends(principal)]


async def caller_scope(caller: Caller, rules: Rules) -> Scope:
    return scope_for(rules, caller)


CallerScope = Annotated[Scope, Depends(caller_scope)]


def as_of_instant(text: str | None, clock: Clock) -> int:
    """The ``as_of`` parameter in epoch microseconds (absent: now), else 422.

    A plain function, not a dependency: as a dependency the parameter would move to
    the end of each route's parameter list in the OpenAPI document.
    """
    if text is None:
        return clock()
    try:
        return parse_event_instant(text)
    except InstantError as exc:
        raise HTTPException(422, f"as_of: {exc}") from None


def require_visible(connection: Connection, scope: Scope, lead_id: str) -> None:
    """404 for a lead the caller may not read, whether it exists or not.

    A 403 for another rep's lead would tell a rep which lead ids exist; the same 404
    for both tells them nothing.
    """
    exists, owner = lead_owner(connection, lead_id)
    if not exists or not scope.allows(owner):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lead {lead_id!r}")
