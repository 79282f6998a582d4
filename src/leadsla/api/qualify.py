"""Qualification routes of the REST API: a lead's score with its explanation.

The access checks are the API's own (:mod:`leadsla.api.deps`), so the roles mean
here what they mean everywhere else.
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from leadsla.api.deps import (
    AppClock,
    CallerScope,
    Reading,
    Rules,
    Zone,
    as_of_instant,
    require_visible,
)
from leadsla.api.schemas import DecisionOut, ScoreOut
from leadsla.service.qualify import decision_records, lead_score

router = APIRouter(prefix="/api/v1", tags=["qualification"])


@router.get(
    "/leads/{lead_id}/score",
    response_model=ScoreOut,
    responses={
        404: {"description": "no such lead, or not one the caller may read"},
        409: {"description": "the config has no scoring section"},
    },
)
def get_score(
    lead_id: str,
    scope: CallerScope,
    rules: Rules,
    clock: AppClock,
    connection: Reading,
    as_of: Annotated[
        str | None, Query(description="ISO 8601 instant; decay counts to it. Default now.")
    ] = None,
) -> dict[str, Any]:
    """The lead's score, grade and MQL verdict, with the points each rule gave."""
    if rules.scoring is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the config has no scoring section")
    at = as_of_instant(as_of, clock)
    require_visible(connection, scope, lead_id)
    return lead_score(connection, rules, lead_id, at)


@router.get(
    "/leads/{lead_id}/decisions",
    response_model=list[DecisionOut],
    responses={404: {"description": "no such lead, or not one the caller may read"}},
)
def get_decisions(
    lead_id: str, scope: CallerScope, zone: Zone, connection: Reading
) -> list[dict[str, Any]]:
    """What qualification (MQL or nurture, with the score explained) and routing decided."""
    require_visible(connection, scope, lead_id)
    return decision_records(connection, lead_id, zone)
