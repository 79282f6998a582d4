"""Request bodies of the routes that take raw JSON (events and webhooks).

Those routes read the body themselves rather than through a pydantic model: a
webhook's signature covers the exact bytes, and a batch of events is judged item
by item so that one bad event does not refuse the rest.
"""

import json

from fastapi import HTTPException, Request, status

MAX_BODY_BYTES = 5 * 1024 * 1024


async def limited_body(request: Request) -> bytes:
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


def parsed_json(body: bytes) -> object:
    """The body as JSON, else 400."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not JSON: {exc}") from None
