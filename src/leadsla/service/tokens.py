"""API tokens and the dashboard's sessions: shown once, stored as SHA-256 digests.

Tokens and session ids are 32 random bytes, so a plain digest is enough: there is
nothing to guess that a slow password hash would protect. A session belongs to the
token it was opened with: revoking the token ends its sessions in the same
transaction, and a session is only honoured while its token is not revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row

from leadsla.core.columns import MICROS_PER_HOUR
from leadsla.core.policy import Rulebook
from leadsla.store.tokens import (
    active_token,
    delete_expired_sessions,
    delete_session,
    insert_session,
    insert_token,
    revoke_token,
    session_token,
    token_rows,
    tokens_named,
)

PREFIX = "lsla_"
# What `token list` shows of a token: 8 of its 43 random characters (48 of 256 bits),
# enough to tell tokens apart and far too little to guess the rest.
SHOWN_LENGTH = len(PREFIX) + 8
SESSION_MICROS = 12 * MICROS_PER_HOUR


class Role(StrEnum):
    ADMIN = "admin"
    MARKETING = "marketing"
    MANAGER = "manager"
    REP = "rep"


class TokenError(ValueError):
    """A token cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's role and whose leads it covers."""

    name: str
    role: Role
    rep: str | None = None
    team: str | None = None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    connection: Connection,
    rules: Rulebook,
    *,
    role: str,
    name: str,
    rep: str | None,
    team: str | None,
    now: int,
) -> str:
    """Store a new token and return it in clear (the only time it is shown)."""
    try:
        parsed = Role(role)
    except ValueError:
        raise TokenError(
            f"--role: {role!r} is not a role; expected one of {', '.join(r.value for r in Role)}"
        ) from None
    if not name.strip():
        raise TokenError("--name: give the token a name (who or what uses it)")
    if parsed is Role.REP:
        if rep is None:
            raise TokenError("--rep: a rep token needs the rep's id")
        if rep not in rules.reps:
            raise TokenError(f"--rep: {rep!r} is not a rep of the config")
        team = rules.reps[rep].team
    if parsed is Role.MANAGER:
        if team is None and rep is not None and rep in rules.reps:
            team = rules.reps[rep].team
        if team is None:
            raise TokenError("--team: a manager token needs the team it manages")
        if team not in rules.teams:
            raise TokenError(f"--team: {team!r} is not a team of the config")
    token = PREFIX + secrets.token_urlsafe(32)
    insert_token(
        connection,
        name=name.strip(),
        role=parsed.value,
        rep=rep if parsed is Role.REP else None,
        team=team if parsed in (Role.MANAGER, Role.REP) else None,
        token_hash=digest(token),
        prefix=token[:SHOWN_LENGTH],
        created_at=now,
    )
    return token


def _principal(row: Row[Any]) -> Principal:
    return Principal(name=row.name, role=Role(row.role), rep=row.rep, team=row.team)


def authenticate(connection: Connection, token: str) -> Principal | None:
    row = active_token(connection, digest(token))
    return None if row is None else _principal(row)


def token_list(connection: Connection) -> list[dict[str, Any]]:
    """Every token, oldest first: name, role, rep, team, prefix, created_at, revoked_at."""
    keys = ("name", "role", "rep", "team", "prefix", "created_at", "revoked_at")
    return [{key: getattr(row, key) for key in keys} for row in token_rows(connection)]


@dataclass(frozen=True)
class Revoked:
    """What ``revoke`` did: the token, when it was revoked, whether it already was."""

    name: str
    prefix: str | None
    revoked_at: int
    already: bool
    sessions_ended: int


def revoke(connection: Connection, key: str, now: int) -> Revoked:
    """Revoke the one token named by ``key`` (its name, its prefix, or the token itself).

    Its dashboard sessions end in the same transaction. A token already revoked keeps
    its first revocation instant. :class:`TokenError` when no token or several match.
    """
    matches = tokens_named(connection, key, digest(key))
    if not matches:
        raise TokenError(f"no token has the name or prefix {key!r} (see `leadsla token list`)")
    if len(matches) > 1:
        shown = ", ".join(f"{row.name} ({row.prefix or 'no prefix'})" for row in matches)
        raise TokenError(f"{len(matches)} tokens match {key!r}: {shown}; name one by its prefix")
    row = matches[0]
    ended = revoke_token(connection, row.id, now)
    already = row.revoked_at is not None
    return Revoked(
        name=row.name,
        prefix=row.prefix,
        revoked_at=row.revoked_at if already else now,
        already=already,
        sessions_ended=ended,
    )


def open_session(connection: Connection, token: str, now: int) -> tuple[str, Principal] | None:
    """A new dashboard session for ``token``: its id (for the cookie only) and its caller.

    None for an unknown or revoked token. Expired sessions are deleted on the way, so the
    table holds no more than the sessions opened within the last 12 hours.
    """
    row = active_token(connection, digest(token))
    if row is None:
        return None
    delete_expired_sessions(connection, now)
    session_id = secrets.token_urlsafe(32)
    insert_session(
        connection,
        session_hash=digest(session_id),
        token_id=row.id,
        created_at=now,
        expires_at=now + SESSION_MICROS,
    )
    return session_id, _principal(row)


def session_caller(connection: Connection, session_id: str, now: int) -> Principal | None:
    """Whose session this is; None once it has ended, expired or its token was revoked."""
    row = session_token(connection, digest(session_id), now)
    return None if row is None else _principal(row)


def end_session(connection: Connection, session_id: str) -> None:
    delete_session(connection, digest(session_id))
