"""The REST API (SPEC §6) under ``/api/v1``: ingest events, read clocks and leads.

The app is built by :func:`create_app` from a rulebook, an engine and a clock
(a function returning epoch microseconds), so tests pin the instant and nothing
here reads the wall clock on its own.
"""

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from leadsla import __version__
from leadsla.api.qualify import ScoreOut, qualify_router
from leadsla.config.schema import Config
from leadsla.core.events import InstantError, parse_instant
from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.report.analytics import segments as report_segments
from leadsla.report.figures import SEGMENT_FIELDS, SORT_KEYS
from leadsla.report.full import report as full_report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service.hooks import (
    SignatureError,
    generic_events,
    hubspot_events,
    verify_generic,
    verify_hubspot,
)
from leadsla.service.ingest import (
    IncomingEvent,
    IngestResult,
    Rejection,
    event_from_json,
    ingest,
)
from leadsla.service.qualify import lead_qualification
from leadsla.service.queries import (
    Scope,
    clock_records,
    lead_detail,
    lead_list,
    lead_owner,
    scope_for,
)
from leadsla.service.timers import notification_records, oldest_undelivered
from leadsla.service.tokens import Principal, Role, authenticate
from leadsla.web.pages import install_web

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_EVENTS_PER_BATCH = 10_000
MICROS_PER_HOUR = 3_600_000_000

Clock = Callable[[], int]


class EventIn(BaseModel):
    """One event of ``POST /api/v1/events`` (SPEC §3)."""

    lead_id: str = Field(description="The lead's id in the source system.")
    at: str = Field(description="ISO 8601 instant with a UTC offset or Z.")
    field: str = Field(description="status, owner, grade, score, activity or an attribute.")
    value: str | None = Field(default=None, description="The new value; empty or null clears.")
    id: str | None = Field(default=None, description="Idempotency key: stored once.")


class RejectedOut(BaseModel):
    index: int
    error: str


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedOut]


class HookOut(BaseModel):
    accepted: int
    duplicates: int
    ignored: int
    rejected: list[RejectedOut]


class ClockOut(BaseModel):
    lead_id: str
    policy: str
    cycle: int
    grade: str | None
    owner: str | None
    state: str
    started_at: str
    due_at: str | None
    stopped_at: str | None
    business_seconds: int
    escalations: int
    calendar: str
    breached_at: str | None


class PauseOut(BaseModel):
    from_: str = Field(alias="from", description="When the clock was paused.")
    to: str | None = Field(description="When it ran again or stopped; None: still paused.")


class LeadClockOut(ClockOut):
    pauses: list[PauseOut] = Field(description="Each pause of this cycle (SPEC §4 rule 3).")


class LeadSummaryOut(BaseModel):
    lead_id: str
    status: str | None
    owner: str | None
    grade: str | None
    fields: dict[str, str]
    clocks: list[ClockOut]


class EventOut(BaseModel):
    at: str
    field: str
    value: str | None
    source: str
    recorded_at: str


class SkippedOut(BaseModel):
    rep: str
    reason: str


class AssignmentOut(BaseModel):
    """The latest routing decision: who got the lead, by which rule and method, and why."""

    at: str
    kind: str = Field(description="assignment (a new MQL routed) or reroute")
    rep: str | None = Field(description="None: nobody was available")
    rule: str | None
    method: str | None
    reason: str
    skipped: list[SkippedOut]
    reroute: str | None = Field(default=None, description="Why a reroute moved the lead.")


class LeadOut(BaseModel):
    lead_id: str
    fields: dict[str, str]
    status: str | None
    owner: str | None
    grade: str | None
    last_event_at: str
    events: list[EventOut]
    clocks: list[LeadClockOut]
    score_explanation: ScoreOut | None = Field(
        description="The score at as_of, rule by rule; None without a scoring section."
    )
    assignment: AssignmentOut | None = Field(
        description="The latest routing decision; None when routing never routed the lead."
    )


class HealthOut(BaseModel):
    status: str
    version: str
    queued_notifications: int
    oldest_undelivered: str | None


class NotificationOut(BaseModel):
    id: int
    lead_id: str
    policy: str
    cycle: int
    kind: str
    step: int
    recipient: str
    channel: str
    state: str
    fire_at: str
    attempts: int
    last_error: str | None
    sent_at: str | None


def create_app(
    rules: Rulebook,
    engine: Engine,
    clock: Clock,
    hook_secrets: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> FastAPI:
    """The app; ``hook_secrets`` maps a webhook source (generic, hubspot) to its secret."""
    app = FastAPI(
        title="leadsla",
        version=__version__,
        description="The marketing-to-sales SLA engine: events in, business-hour clocks out.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    bearer = HTTPBearer(auto_error=False)
    statuses = list(rules.statuses)
    grades = [g.name for g in rules.grades]

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
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

    def scope_of(caller: Principal) -> Scope:
        return scope_for(rules, caller)

    def instant(text: str | None, name: str) -> int:
        if text is None:
            return clock()
        try:
            return parse_instant(text)
        except InstantError as exc:
            raise HTTPException(422, f"{name}: {exc}") from None

    app.include_router(qualify_router(rules, engine, principal, scope_of, instant))
    zone = rules.calendars[rules.default_calendar].zone

    def shown(instant: int | None) -> str | None:
        return None if instant is None else format_instant(instant, zone)

    async def store(events: list[IncomingEvent], source: str, now: int) -> IngestResult:
        """Store a batch in one transaction; the database work blocks, so off the event loop."""

        def run() -> IngestResult:
            with engine.begin() as connection:
                return ingest(connection, rules, events, source=source, recorded_at=now)

        return await run_in_threadpool(run)

    @app.get("/api/v1/health", response_model=HealthOut, tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness, and how far behind delivery is (the oldest queued notification)."""
        with engine.connect() as connection:
            queued, oldest = oldest_undelivered(connection)
        return {
            "status": "ok",
            "version": __version__,
            "queued_notifications": queued,
            "oldest_undelivered": shown(oldest),
        }

    @app.get("/api/v1/notifications", response_model=list[NotificationOut], tags=["service"])
    def get_notifications(
        caller: Caller,
        state: Annotated[str | None, Query(pattern="^(queued|sent|skipped|failed)$")] = None,
        lead_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        """The notification outbox with state and attempts (admin only)."""
        if caller.role is not Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only admin reads the outbox")
        with engine.connect() as connection:
            rows = notification_records(connection, state=state, lead_id=lead_id, limit=limit)
        for row in rows:
            row["fire_at"] = shown(row["fire_at"])
            row["sent_at"] = shown(row["sent_at"])
        return rows

    @app.post(
        "/api/v1/events",
        response_model=IngestOut,
        tags=["events"],
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
    async def post_events(request: Request, caller: Caller) -> dict[str, Any]:
        """Store a batch of events; the good ones are kept even when some are rejected."""
        if caller.role not in (Role.ADMIN, Role.MARKETING):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {caller.role} cannot ingest")
        body = await _limited_body(request)
        try:
            items = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not JSON: {exc}") from None
        if not isinstance(items, list):
            raise HTTPException(422, "body must be a JSON array")
        if len(items) > MAX_EVENTS_PER_BATCH:
            raise HTTPException(
                413,
                f"at most {MAX_EVENTS_PER_BATCH} events per request",
            )
        good: list[IncomingEvent] = []
        rejected: list[Rejection] = []
        for index, item in enumerate(items):
            parsed = event_from_json(item, index, rules, statuses, grades)
            (rejected if isinstance(parsed, Rejection) else good).append(parsed)  # type: ignore[arg-type]

        result = await store(good, f"api:{caller.name}", clock())
        return {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [{"index": r.index, "error": r.error} for r in rejected],
        }

    @app.get("/api/v1/clocks", response_model=list[ClockOut], tags=["clocks"])
    def get_clocks(
        caller: Caller,
        as_of: Annotated[str | None, Query(description="ISO 8601 instant; default now.")] = None,
        lead_id: str | None = None,
        policy: str | None = None,
        state: str | None = None,
        owner: str | None = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    ) -> list[dict[str, Any]]:
        """The rows of ``leadsla evaluate`` for the events stored, judged at ``as_of``."""
        at = instant(as_of, "as_of")
        with engine.connect() as connection:
            return clock_records(
                connection,
                rules,
                at,
                scope=scope_of(caller),
                lead_id=lead_id,
                policy=policy,
                state=state,
                owner=owner,
                limit=limit,
            )

    @app.get("/api/v1/leads", response_model=list[LeadSummaryOut], tags=["leads"])
    def get_leads(
        caller: Caller,
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
        at = instant(as_of, "as_of")
        within = None if at_risk_hours is None else round(at_risk_hours * MICROS_PER_HOUR)
        with engine.connect() as connection:
            return lead_list(
                connection,
                rules,
                at,
                scope=scope_of(caller),
                owner=owner,
                status=status_,
                grade=grade,
                at_risk_within=within,
                breached=breached,
                limit=limit,
                offset=offset,
            )

    @app.get(
        "/api/v1/leads/{lead_id}",
        response_model=LeadOut,
        tags=["leads"],
        responses={403: {"description": "not your lead"}, 404: {"description": "no such lead"}},
    )
    def get_lead(lead_id: str, caller: Caller, as_of: str | None = None) -> dict[str, Any]:
        """A lead's fields, event history and clocks; its score explained and why it was routed."""
        at = instant(as_of, "as_of")
        with engine.connect() as connection:
            exists, owner = lead_owner(connection, lead_id)
            if not exists:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lead {lead_id!r}")
            if not scope_of(caller).allows(owner):
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"lead {lead_id!r} is not yours")
            detail = lead_detail(connection, rules, lead_id, at)
            assert detail is not None
            detail.update(lead_qualification(connection, rules, lead_id, at))
        return detail

    @app.get("/api/v1/report", tags=["report"])
    def get_report(
        caller: Caller,
        as_of: Annotated[str | None, Query(description="ISO 8601 instant; default now.")] = None,
        period: Annotated[str, Query(pattern="^(month|quarter)$")] = "month",
    ) -> dict[str, Any]:
        """The metrics of SPEC §8 as one JSON object, within what the caller may see."""
        if caller.role is Role.REP:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "reps do not read reports")
        if config is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "started without a config")
        at = instant(as_of, "as_of")
        owners = scope_of(caller).owners
        with engine.connect() as connection:
            events = stored_events(connection, at, owners=owners)
            return full_report(events, ReportSettings.of(rules, config), at, period, owners)

    @app.get("/api/v1/segments", tags=["report"])
    def get_segments(
        caller: Caller,
        by: Annotated[str, Query(description="Comma-separated: " + ", ".join(SEGMENT_FIELDS))] = (
            "source"
        ),
        as_of: Annotated[str | None, Query(description="ISO 8601 instant; default now.")] = None,
        min_leads: Annotated[int, Query(ge=1)] = 30,
        sort: Annotated[str, Query(pattern="^(" + "|".join(SORT_KEYS) + ")$")] = "profit",
    ) -> dict[str, Any]:
        """Closed-loop lead segments (``leadsla segments``), within what the caller may see."""
        if caller.role is Role.REP:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "reps do not read reports")
        if config is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "started without a config")
        fields = [name.strip() for name in by.split(",") if name.strip()]
        wrong = [f for f in fields if f not in SEGMENT_FIELDS] or (
            ["a field twice"] if len(set(fields)) != len(fields) else []
        )
        if not fields or wrong:
            raise HTTPException(422, f"by: {wrong[0] if wrong else 'no field'}; fields are "
                                f"{', '.join(SEGMENT_FIELDS)}, each once")  # fmt: skip
        at = instant(as_of, "as_of")
        with engine.connect() as connection:
            owners = scope_of(caller).owners
            table = stored_events(connection, at, owners=owners).table
            return report_segments(
                table, ReportSettings.of(rules, config), at, fields, min_leads=min_leads,
                sort=sort, scope=owners,
            )  # fmt: skip

    secrets_by_source = dict(hook_secrets or {})

    @app.post(
        "/api/v1/hooks/{source}",
        response_model=HookOut,
        tags=["events"],
        responses={401: {"description": "bad signature"}, 404: {"description": "no such hook"}},
    )
    async def post_hook(source: str, request: Request) -> dict[str, Any]:
        """A CRM automation's change notice, signed with the shared secret of ``source``."""
        secret = secrets_by_source.get(source)
        if secret is None or source not in ("generic", "hubspot"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook {source!r} configured")
        body = await _limited_body(request)
        now = clock()
        try:
            if source == "hubspot":
                verify_hubspot(
                    secret,
                    method=request.method,
                    url=str(request.url),
                    body=body,
                    signature=request.headers.get("x-hubspot-signature-v3"),
                    timestamp=request.headers.get("x-hubspot-request-timestamp"),
                    now=now,
                )
            else:
                verify_generic(secret, body, request.headers.get("x-leadsla-signature"))
        except SignatureError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not JSON: {exc}") from None
        if source == "hubspot":
            batch = hubspot_events(payload, statuses, grades)
        else:
            batch = generic_events(payload, statuses, grades, source)

        result = await store(batch.events, f"hook:{source}", now)
        return {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "ignored": batch.ignored,
            "rejected": [{"index": r.index, "error": r.error} for r in batch.rejected],
        }

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    install_web(app, rules, engine, clock, config)
    return app


async def _limited_body(request: Request) -> bytes:
    """The request body, refused with 413 past ``MAX_BODY_BYTES`` (checked while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"body over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
