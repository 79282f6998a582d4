"""The service's own state: liveness, and the notification outbox behind it."""

from datetime import tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from leadsla import __version__
from leadsla.api.deps import Caller, Reading, Zone
from leadsla.api.schemas import HealthOut, NotificationOut
from leadsla.core.instants import format_instant
from leadsla.service.timers import notification_records, oldest_undelivered
from leadsla.service.tokens import Role

router = APIRouter(prefix="/api/v1", tags=["service"])


def shown(instant: int | None, zone: tzinfo) -> str | None:
    return None if instant is None else format_instant(instant, zone)


@router.get("/health", response_model=HealthOut)
def health(connection: Reading, zone: Zone) -> HealthOut:
    """Liveness, and how far behind delivery is (the oldest queued notification)."""
    queued, oldest = oldest_undelivered(connection)
    return HealthOut(
        status="ok",
        version=__version__,
        queued_notifications=queued,
        oldest_undelivered=shown(oldest, zone),
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
        row["sent_at"] = shown(row["sent_at"], zone)
    return rows
