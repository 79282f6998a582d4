"""API tokens: shown once, stored as a SHA-256 digest.

Tokens are 32 random bytes, so a plain digest is enough: there is nothing to
guess that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from leadsla.core.policy import Rulebook
from leadsla.store.tokens import active_token, insert_token

PREFIX = "lsla_"


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
        created_at=now,
    )
    return token


def authenticate(connection: Connection, token: str) -> Principal | None:
    row = active_token(connection, digest(token))
    if row is None:
        return None
    return Principal(name=row.name, role=Role(row.role), rep=row.rep, team=row.team)
