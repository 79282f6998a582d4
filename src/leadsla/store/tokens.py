"""API tokens and dashboard sessions as stored: digests of each, never the secret itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from leadsla.store.tables import api_tokens, dashboard_sessions

# What a listing may show of a token: everything but its digest.
_SHOWN = [column for column in api_tokens.c if column.name != "token_hash"]


def insert_token(
    connection: Connection,
    *,
    name: str,
    role: str,
    rep: str | None,
    team: str | None,
    token_hash: str,
    prefix: str,
    created_at: int,
) -> None:
    connection.execute(
        insert(api_tokens).values(
            name=name,
            role=role,
            rep=rep,
            team=team,
            token_hash=token_hash,
            prefix=prefix,
            created_at=created_at,
        )
    )


def active_token(connection: Connection, token_hash: str) -> Row[Any] | None:
    """The unrevoked token with this digest (id, name, role, rep, team), None when none."""
    return connection.execute(
        select(api_tokens).where(
            api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
        )
    ).first()


def token_rows(connection: Connection) -> list[Row[Any]]:
    """Every token, oldest first, without its digest."""
    return list(connection.execute(select(*_SHOWN).order_by(api_tokens.c.id)))


def tokens_named(connection: Connection, key: str, token_hash: str) -> list[Row[Any]]:
    """The tokens whose name or prefix is ``key``, or whose digest is ``token_hash``."""
    query = select(*_SHOWN).where(
        or_(
            api_tokens.c.name == key,
            api_tokens.c.prefix == key,
            api_tokens.c.token_hash == token_hash,
        )
    )
    return list(connection.execute(query.order_by(api_tokens.c.id)))


def revoke_token(connection: Connection, token_id: int, now: int) -> int:
    """Mark the token revoked and delete its sessions; the number of sessions ended."""
    connection.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    ended = connection.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.token_id == token_id)
    )
    return ended.rowcount


def insert_session(
    connection: Connection, *, session_hash: str, token_id: int, created_at: int, expires_at: int
) -> None:
    connection.execute(
        insert(dashboard_sessions).values(
            session_hash=session_hash,
            token_id=token_id,
            created_at=created_at,
            expires_at=expires_at,
        )
    )


def session_token(connection: Connection, session_hash: str, now: int) -> Row[Any] | None:
    """The token of the unexpired session with this digest, if that token is not revoked."""
    columns = [api_tokens.c.name, api_tokens.c.role, api_tokens.c.rep, api_tokens.c.team]
    query = (
        select(*columns)
        .select_from(dashboard_sessions.join(api_tokens))
        .where(
            dashboard_sessions.c.session_hash == session_hash,
            dashboard_sessions.c.expires_at > now,
            api_tokens.c.revoked_at.is_(None),
        )
    )
    return connection.execute(query).first()


def delete_session(connection: Connection, session_hash: str) -> None:
    connection.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.session_hash == session_hash)
    )


def delete_expired_sessions(connection: Connection, now: int) -> None:
    connection.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
