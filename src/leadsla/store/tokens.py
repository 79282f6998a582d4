"""API tokens as stored: a digest of each, never the token itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select

from leadsla.store.tables import api_tokens


def insert_token(
    connection: Connection,
    *,
    name: str,
    role: str,
    rep: str | None,
    team: str | None,
    token_hash: str,
    created_at: int,
) -> None:
    connection.execute(
        insert(api_tokens).values(
            name=name,
            role=role,
            rep=rep,
            team=team,
            token_hash=token_hash,
            created_at=created_at,
        )
    )


def active_token(connection: Connection, token_hash: str) -> Row[Any] | None:
    """The unrevoked token with this digest (name, role, rep, team), None when none."""
    return connection.execute(
        select(api_tokens).where(
            api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
        )
    ).first()
