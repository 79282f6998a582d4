"""``GET /api/v1/clocks``: the SLA clocks of the stored events, judged at an instant."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from leadsla.api.deps import AppClock, CallerScope, Reading, Rules, as_of_instant
from leadsla.api.schemas import ClockOut
from leadsla.service.queries import clock_records

router = APIRouter(prefix="/api/v1", tags=["clocks"])


@router.get("/clocks", response_model=list[ClockOut])
def get_clocks(
    scope: CallerScope,
    rules: Rules,
    clock: AppClock,
    connection: Reading,
    as_of: Annotated[str | None, Query(description="ISO 8601 instant; default now.")] = None,
    lead_id: str | None = None,
    policy: str | None = None,
    state: Annotated[
        str | None,
        Query(
            description="running, paused, met, breached, lapsed or reassigned (a cycle "
            "ended by an owner change under on_reassign: restart)."
        ),
    ] = None,
    owner: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> list[dict[str, Any]]:
    """The rows of ``leadsla evaluate`` for the events stored, judged at ``as_of``."""
    return clock_records(
        connection,
        rules,
        as_of_instant(as_of, clock),
        scope=scope,
        lead_id=lead_id,
        policy=policy,
        state=state,
        owner=owner,
        limit=limit,
    )
