"""``GET /api/v1/leads`` and ``/api/v1/leads/{id}``: leads with their fields and clocks."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from starlette.concurrency import run_in_threadpool

from leadsla.api.deps import (
    AppClock,
    Caller,
    CallerScope,
    Database,
    Reading,
    Rules,
    Zone,
    as_of_instant,
    require_visible,
)
from leadsla.api.schemas import AcceptanceIn, AcceptanceOut, LeadOut, LeadSummaryOut
from leadsla.core.columns import MICROS_PER_HOUR
from leadsla.core.instants import format_instant
from leadsla.service.acceptance import DecisionRefused, decide
from leadsla.service.qualify import lead_qualification
from leadsla.service.queries import lead_detail, lead_list

router = APIRouter(prefix="/api/v1", tags=["leads"])


@router.get("/leads", response_model=list[LeadSummaryOut])
def get_leads(
    scope: CallerScope,
    rules: Rules,
    clock: AppClock,
    connection: Reading,
    as_of: str | None = None,
    owner: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    grade: str | None = None,
    at_risk_hours: Annotated[
        float | None,
        Query(ge=0, le=10_000, description="Running clocks due within N business hours."),
    ] = None,
    breached: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Leads with their current fields and clocks; filters for lists and the dashboard."""
    at = as_of_instant(as_of, clock)
    within = None if at_risk_hours is None else round(at_risk_hours * MICROS_PER_HOUR)
    return lead_list(
        connection,
        rules,
        at,
        scope=scope,
        owner=owner,
        status=status_,
        grade=grade,
        at_risk_within=within,
        breached=breached,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/leads/{lead_id}",
    response_model=LeadOut,
    responses={404: {"description": "no such lead, or not one the caller may read"}},
)
def get_lead(
    lead_id: str,
    scope: CallerScope,
    rules: Rules,
    clock: AppClock,
    connection: Reading,
    as_of: str | None = None,
) -> dict[str, Any]:
    """A lead's fields, event history and clocks; its score explained and why it was routed."""
    at = as_of_instant(as_of, clock)
    require_visible(connection, scope, lead_id)
    detail = lead_detail(connection, rules, lead_id, at)
    if detail is None:  # leads are never deleted, but the two reads are separate statements
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lead {lead_id!r}")
    detail.update(lead_qualification(connection, rules, lead_id, at))
    return detail


@router.post(
    "/leads/{lead_id}/acceptance",
    response_model=AcceptanceOut,
    responses={
        403: {"description": "the caller's role does not accept or reject leads"},
        404: {"description": "no such lead, or not one the caller may read"},
        422: {
            "description": "not accepted or rejected, a rejection without a reason, or a "
            "reason outside sal.reasons"
        },
    },
)
async def post_acceptance(
    lead_id: str,
    body: AcceptanceIn,
    caller: Caller,
    rules: Rules,
    engine: Database,
    clock: AppClock,
    zone: Zone,
) -> dict[str, Any]:
    """Sales accepts or rejects the lead now (SPEC §9.5): the lead's owner, their team's
    manager, or an admin. Appends a ``sal`` and a ``sal_reason`` event."""
    now = clock()

    def run() -> dict[str, str | None]:
        with engine.begin() as connection:
            return decide(
                connection,
                rules,
                caller,
                lead_id,
                body.decision,
                body.reason,
                now,
                source=f"api:{caller.name}",
            )

    try:
        stored = await run_in_threadpool(run)
    except DecisionRefused as refused:
        raise HTTPException(refused.status, refused.message) from None
    return {**stored, "at": format_instant(now, zone)}
