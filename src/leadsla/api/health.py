"""The service's own state: liveness, and the notification outbox behind it."""

from datetime import tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from leadsla import __version__
from leadsla.api.deps import AppClock, Caller, Reading, Zone
from leadsla.api.schemas import HealthOut, NotificationOut
from leadsla.core.instants import format_instant
from leadsla.service.timers import notification_records, oldest_undelivered
from leadsla.service.tokens import Role
from leadsla.store.heartbeat import last_round

router = APIRouter(prefix="/api/v1", tags=["service"])

# A running worker completes a round at least every 30 s when idle, and a round with a
# backlog is bounded (1,000 cycles, 100 messages): 5 minutes without one means it died
# or is stuck, while the API itself may be fine.
WORKER_STALE_AFTER = 5 * 60 * 1_000_000


class WorkerHealthOut(HealthOut):
    # "ok", "stale" (no round for WORKER_STALE_AFTER) or "none" (no worker ever ran).
    worker: str
    worker_last_round: str | None
    worker_round_age_seconds: float | None


def shown(instant: int | None, zone: tzinfo) -> str | None:
    return None if instant is None else format_instant(instant, zone)


@router.get("/health", response_model=WorkerHealthOut)
def health(connection: Reading, zone: Zone, clock: AppClock) -> WorkerHealthOut:
    """Liveness, how far behind delivery is (the oldest queued notification), and
    whether a worker completed a round lately (``worker``: ok, stale or none)."""
    queued, oldest = oldest_undelivered(connection)
    finished = last_round(connection)
    age = None if finished is None else max(0, clock() - finished)
    worker = "none" if age is None else "stale" if age > WORKER_STALE_AFTER else "ok"
    return WorkerHealthOut(
        status="ok",
        version=__version__,
        queued_notifications=queued,
        oldest_undelivered=shown(oldest, zone),
        worker=worker,
        worker_last_round=shown(finished, zone),
        worker_round_age_seconds=None if age is None else round(age / 1e6, 1),
    )


@router.get("/notifications", response_model=list[NotificationOut])
def get_notifications(
    caller: Caller,
    connection: Reading,
    zone: Zone,
    state: Annotated[str | None, Query(pattern="^(queued|sent|skipped|failed)$")] = None,
    lead_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """The notification outbox with state and attempts (admin only)."""
    if caller.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only admin reads the outbox")
    rows = notification_records(connection, state=state, lead_id=lead_id, limit=limit)
    for row in rows:
        row["fire_at"] = shown(row["fire_at"], zone)
        row["deliver_at"] = shown(row["deliver_at"], zone)
        row["sent_at"] = shown(row["sent_at"], zone)
    return rows
