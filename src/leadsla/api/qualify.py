"""Qualification routes of the REST API: a lead's score with its explanation.

:func:`qualify_router` is included by :func:`leadsla.api.app.create_app`, which hands
over its own access checks (the token's principal and the leads it may see), so the
roles mean here what they mean everywhere else.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import Connection, Engine

from leadsla.api.schemas import DecisionOut, ScoreOut
from leadsla.core.policy import Rulebook
from leadsla.service.qualify import decision_records, lead_score
from leadsla.service.queries import Scope, lead_owner
from leadsla.service.tokens import Principal


def qualify_router(
    rules: Rulebook,
    engine: Engine,
    principal: Callable[..., Principal],
    scope_of: Callable[[Principal], Scope],
    instant: Callable[[str | None, str], int],
) -> APIRouter:
    """The routes; ``instant`` reads an ``as_of`` parameter (None: now) or answers 422."""
    router = APIRouter(prefix="/api/v1", tags=["qualification"])
    Caller = Annotated[Principal, Depends(principal)]
    zone = rules.calendars[rules.default_calendar].zone

    def visible(connection: Connection, lead_id: str, caller: Principal) -> None:
        """404 for an unknown lead, 403 for one outside the caller's scope."""
        exists, owner = lead_owner(connection, lead_id)
        if not exists:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lead {lead_id!r}")
        if not scope_of(caller).allows(owner):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"lead {lead_id!r} is not yours")

    @router.get(
        "/leads/{lead_id}/score",
        response_model=ScoreOut,
        responses={
            403: {"description": "not your lead"},
            404: {"description": "no such lead"},
            409: {"description": "the config has no scoring section"},
        },
    )
    def get_score(
        lead_id: str,
        caller: Caller,
        as_of: Annotated[
            str | None, Query(description="ISO 8601 instant; decay counts to it. Default now.")
        ] = None,
    ) -> dict[str, Any]:
        """The lead's score, grade and MQL verdict, with the points each rule gave."""
        if rules.scoring is None:
            raise HTTPException(status.HTTP_409_CONFLICT, "the config has no scoring section")
        at = instant(as_of, "as_of")
        with engine.connect() as connection:
            visible(connection, lead_id, caller)
            return lead_score(connection, rules, lead_id, at)

    @router.get(
        "/leads/{lead_id}/decisions",
        response_model=list[DecisionOut],
        responses={403: {"description": "not your lead"}, 404: {"description": "no such lead"}},
    )
    def get_decisions(lead_id: str, caller: Caller) -> list[dict[str, Any]]:
        """What qualification (MQL or nurture, with the score explained) and routing decided."""
        with engine.connect() as connection:
            visible(connection, lead_id, caller)
            return decision_records(connection, lead_id, zone)

    return router
