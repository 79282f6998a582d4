"""``GET /api/v1/report`` and ``/api/v1/segments``: the metrics of SPEC §8.

Both need the config (targets, costs) besides the rulebook, and neither is for reps.
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from leadsla.api.deps import (
    AppClock,
    AppConfig,
    Caller,
    CallerScope,
    Reading,
    Rules,
    as_of_instant,
)
from leadsla.config.schema import Config
from leadsla.report.analytics import segment_field_problem
from leadsla.report.analytics import segments as report_segments
from leadsla.report.figures import SEGMENT_FIELDS, SORT_KEYS
from leadsla.report.full import report as full_report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service.tokens import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["report"])


def report_config(caller: Principal, config: Config | None) -> Config:
    """The config to report with: 403 for a rep (first), 503 when the app has none."""
    if caller.role is Role.REP:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "reps do not read reports")
    if config is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "started without a config")
    return config


@router.get("/report")
def get_report(
    caller: Caller,
    scope: CallerScope,
    rules: Rules,
    config: AppConfig,
    clock: AppClock,
    connection: Reading,
    as_of: Annotated[str | None, Query(description="ISO 8601 instant; default now.")] = None,
    period: Annotated[str, Query(pattern="^(month|quarter)$")] = "month",
) -> dict[str, Any]:
    """The metrics of SPEC §8 as one JSON object, within what the caller may see."""
    setup = report_config(caller, config)
    at = as_of_instant(as_of, clock)
    events = stored_events(connection, at, owners=scope.owners, rules=rules)
    return full_report(events, ReportSettings.of(rules, setup), at, period, scope.owners)


@router.get("/segments")
def get_segments(
    caller: Caller,
    scope: CallerScope,
    rules: Rules,
    config: AppConfig,
    clock: AppClock,
    connection: Reading,
    by: Annotated[
        str,
        Query(
            description="Comma-separated fields of the events, or grade, owner, team: e.g. "
            + ", ".join(SEGMENT_FIELDS)
        ),
    ] = "source",
    as_of: Annotated[str | None, Query(description="ISO 8601 instant; default now.")] = None,
    min_leads: Annotated[int, Query(ge=1)] = 30,
    sort: Annotated[str, Query(pattern="^(" + "|".join(SORT_KEYS) + ")$")] = "profit",
) -> dict[str, Any]:
    """Closed-loop lead segments (``leadsla segments``), within what the caller may see."""
    setup = report_config(caller, config)
    fields = [name.strip() for name in by.split(",") if name.strip()]
    at = as_of_instant(as_of, clock)
    table = stored_events(connection, at, owners=scope.owners).table
    problem = segment_field_problem(table, fields)
    if problem is not None:
        raise HTTPException(422, f"by: {problem}")
    return report_segments(
        table, ReportSettings.of(rules, setup), at, fields, min_leads=min_leads,
        sort=sort, scope=scope.owners,
    )  # fmt: skip
