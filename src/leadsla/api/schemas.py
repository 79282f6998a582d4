"""The request and response bodies of ``/api/v1``, as the OpenAPI document names them.

The routes return the services' JSON-shaped records; these models fix their shape
for validation and for the document (a class name is a schema name: renaming one
changes ``/api/v1/openapi.json``).
"""

from typing import Any

from pydantic import BaseModel, Field


class ScoreRuleOut(BaseModel):
    rule: str
    kind: str
    group: str
    points: float
    count: int
    awarded: float
    detail: str


class ScoreCapOut(BaseModel):
    group: str
    cap: float
    before: float


class ScoreOut(BaseModel):
    lead_id: str
    as_of: str
    score: float
    grade: str | None
    mql: bool
    mql_threshold: float | None
    trigger: str | None
    rules: list[ScoreRuleOut]
    caps: list[ScoreCapOut]
    explanation: list[str]


class DecisionOut(BaseModel):
    at: str
    kind: str
    detail: dict[str, Any]
    recorded_at: str


class EventIn(BaseModel):
    """One event of ``POST /api/v1/events`` (SPEC §3)."""

    lead_id: str = Field(description="The lead's id in the source system.")
    at: str = Field(description="ISO 8601 instant with a UTC offset or Z.")
    field: str = Field(description="status, owner, grade, score, activity or an attribute.")
    value: str | None = Field(default=None, description="The new value; empty or null clears.")
    id: str | None = Field(default=None, description="Idempotency key: stored once.")


# Bodies the routes read by hand (leadsla.api.body), so no route signature names them:
# the app adds them to the document's components for the routes' references.
READ_BY_HAND: tuple[type[BaseModel], ...] = (EventIn,)


class AcceptanceIn(BaseModel):
    """Sales' decision on a lead (SPEC §9.5): a rejection needs a reason."""

    decision: str = Field(description="accepted or rejected")
    reason: str | None = Field(
        default=None, description="Why; one of sal.reasons when the config lists them."
    )


class AcceptanceOut(BaseModel):
    lead_id: str
    sal: str
    sal_reason: str | None
    at: str


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
    attempts: int = Field(
        description="Attempts made in the cycle (activity rows, email:automated never)."
    )
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
    first_touch_at: str | None = Field(
        description="When the latest follow-up clock (the MQL policy's) was stopped by its "
        "stop conditions: a status, an activity or an assignment; not a cycle ended by a "
        "reassignment. None while no follow-up has been stopped."
    )
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
    # When it is to be sent: fire_at, or its recipient's next opening (SPEC §9.4).
    deliver_at: str
    attempts: int
    last_error: str | None
    sent_at: str | None
