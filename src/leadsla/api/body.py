"""Request bodies of the routes that take raw JSON (events and webhooks).

Those routes read the body themselves rather than through a pydantic model: a
webhook's signature covers the exact bytes, and a batch of events is judged item
by item so that one bad event does not refuse the rest.
"""

import json

from fastapi import HTTPException, Request, status

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_NESTING = 32
"""Arrays and objects inside each other; an event batch needs 2, a webhook 3."""

_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_AS_PARENS = bytes.maketrans(_BRACKETS, b"()()")


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


def nests_deeper_than(body: bytes, limit: int) -> bool:
    """Whether the UTF-8 JSON ``body`` opens more than ``limit`` arrays or objects inside
    each other.

    Counted on the bytes, before parsing: the parser recurses once per level, and a
    few thousand ``[`` exhaust Python's stack (RecursionError, a 500), while values
    nested a few hundred deep still parse and then fail wherever the code recurses
    into them. The work is done by ``bytes`` methods, in C: a Python loop over a
    5 MiB body would cost more than parsing it.
    """
    # Brackets inside strings do not count: drop escaped backslashes, then escaped
    # quotes, and every other piece between quotes is a string's content. In UTF-8 no
    # byte of a multibyte character is a quote or a bracket.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = b"".join(unescaped.split(b'"')[::2]).translate(_AS_PARENS, _NOT_BRACKETS)
    # Each pass takes away every innermost pair, one level: a well-formed body at most
    # ``limit`` deep is gone after ``limit`` passes.
    rest = skeleton
    for _ in range(limit):
        shorter = rest.replace(b"()", b"")
        if shorter == rest:
            break
        rest = shorter
    if not rest:
        return False
    # Deep or malformed: count the levels exactly, stopping at the first one too deep.
    depth = 0
    for byte in skeleton:
        depth += 1 if byte == ord("(") else -1
        if depth > limit:
            return True
    return False


def parsed_json(body: bytes) -> object:
    """The body as JSON, else 400 (also when it nests deeper than ``MAX_NESTING``)."""
    too_deep = f"body nests arrays and objects deeper than {MAX_NESTING} levels"
    try:
        # json.loads also reads UTF-16 and UTF-32; those are counted in UTF-8.
        encoding = json.detect_encoding(body)
        utf8 = (
            body
            if encoding.startswith("utf-8")
            else body.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
        )
        if nests_deeper_than(utf8, MAX_NESTING):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, too_deep)
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not JSON: {exc}") from None
    except RecursionError:
        # Only if the count above were fooled by a malformed string; kept as a 400.
        raise HTTPException(status.HTTP_400_BAD_REQUEST, too_deep) from None
