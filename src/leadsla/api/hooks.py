"""``POST /api/v1/hooks/{source}``: a CRM automation's signed change notice.

No bearer token here: the CRM signs the body with a secret shared per source, and
a source without a configured secret does not exist (404).
"""

from fastapi import APIRouter, HTTPException, Request, status

from leadsla.api.body import limited_body, parsed_json
from leadsla.api.deps import AppClock, Database, HookSecrets, Rules
from leadsla.api.events import rejections_out, stored
from leadsla.api.schemas import HookOut
from leadsla.service.hooks import (
    SignatureError,
    generic_events,
    hubspot_events,
    verify_generic,
    verify_hubspot,
)

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.post(
    "/hooks/{source}",
    response_model=HookOut,
    responses={401: {"description": "bad signature"}, 404: {"description": "no such hook"}},
)
async def post_hook(
    source: str,
    request: Request,
    secrets: HookSecrets,
    rules: Rules,
    engine: Database,
    clock: AppClock,
) -> HookOut:
    """A CRM automation's change notice, signed with the shared secret of ``source``."""
    secret = secrets.get(source)
    if secret is None or source not in ("generic", "hubspot"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook {source!r} configured")
    body = await limited_body(request)
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
            verify_generic(
                secret,
                body=body,
                signature=request.headers.get("x-leadsla-signature"),
                timestamp=request.headers.get("x-leadsla-timestamp"),
                now=now,
            )
    except SignatureError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    payload = parsed_json(body)
    statuses = list(rules.statuses)
    grades = [g.name for g in rules.grades]
    if source == "hubspot":
        batch = hubspot_events(payload, statuses, grades, rules.acceptance, rules.crm)
    else:
        batch = generic_events(payload, statuses, grades, source, rules.acceptance)
    result = await stored(engine, rules, batch.events, f"hook:{source}", now)
    return HookOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        ignored=batch.ignored,
        rejected=rejections_out(batch.rejected),
    )
