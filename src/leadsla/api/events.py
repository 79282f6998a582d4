"""``POST /api/v1/events``: a batch of field changes from marketing automation (SPEC §3)."""

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from leadsla.api.body import limited_body, parsed_json
from leadsla.api.deps import AppClock, Caller, Database, Rules
from leadsla.api.schemas import IngestOut, RejectedOut
from leadsla.core.policy import Rulebook
from leadsla.service.ingest import (
    IncomingEvent,
    IngestResult,
    Rejection,
    event_from_json,
    ingest,
)
from leadsla.service.tokens import Role

MAX_EVENTS_PER_BATCH = 10_000

router = APIRouter(prefix="/api/v1", tags=["events"])


async def stored(
    engine: Engine, rules: Rulebook, events: list[IncomingEvent], source: str, now: int
) -> IngestResult:
    """Store a batch in one transaction; the database work blocks, so off the event loop."""

    def run() -> IngestResult:
        with engine.begin() as connection:
            return ingest(connection, rules, events, source=source, recorded_at=now)

    return await run_in_threadpool(run)


def rejections_out(rejected: list[Rejection]) -> list[RejectedOut]:
    return [RejectedOut(index=r.index, error=r.error) for r in rejected]


@router.post(
    "/events",
    response_model=IngestOut,
    # The body is read by hand (see leadsla.api.body), so its schema is declared here.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/EventIn"},
                        "maxItems": MAX_EVENTS_PER_BATCH,
                    }
                }
            },
        }
    },
)
async def post_events(
    request: Request, caller: Caller, rules: Rules, engine: Database, clock: AppClock
) -> IngestOut:
    """Store a batch of events; the good ones are kept even when some are rejected."""
    if caller.role not in (Role.ADMIN, Role.MARKETING):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {caller.role} cannot ingest")
    items = parsed_json(await limited_body(request))
    if not isinstance(items, list):
        raise HTTPException(422, "body must be a JSON array")
    if len(items) > MAX_EVENTS_PER_BATCH:
        raise HTTPException(413, f"at most {MAX_EVENTS_PER_BATCH} events per request")
    statuses = list(rules.statuses)
    grades = [g.name for g in rules.grades]
    good: list[IncomingEvent] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        parsed = event_from_json(item, index, rules, statuses, grades)
        if isinstance(parsed, Rejection):
            rejected.append(parsed)
        else:
            good.append(parsed)
    result = await stored(engine, rules, good, f"api:{caller.name}", clock())
    return IngestOut(
        accepted=result.accepted, duplicates=result.duplicates, rejected=rejections_out(rejected)
    )
