"""Qualification and routing decisions as stored, with the routing state they carry:
round-robin credits and accounts' owners."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, or_, select, text

from leadsla.store.bulk import insert_ignoring_duplicates, insert_rows
from leadsla.store.tables import account_owners, lead_decisions, leads, routing_credits

ROUTING_KINDS = ("assignment", "reroute")


def decision_row(
    lead_id: str,
    at: int,
    kind: str,
    detail: Mapping[str, Any],
    recorded_at: int,
    rep: str | None = None,
) -> dict[str, object]:
    """A row of ``lead_decisions``."""
    return {
        "lead_id": lead_id,
        "at": at,
        "kind": kind,
        "rep": rep,
        "detail": dict(detail),
        "recorded_at": recorded_at,
    }


def record_decisions(connection: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Store :func:`decision_row` rows; a decision stored already (lead, kind, instant)
    is kept as it was."""
    insert_ignoring_duplicates(connection, lead_decisions, rows)


def decisions_of(connection: Connection, lead_id: str) -> list[Row[Any]]:
    """A lead's ``lead_decisions`` rows, oldest first."""
    query = (
        select(lead_decisions)
        .where(lead_decisions.c.lead_id == lead_id)
        .order_by(lead_decisions.c.at, lead_decisions.c.id)
    )
    return list(connection.execute(query))


def latest_routing(connection: Connection, lead_id: str) -> Row[Any] | None:
    """The lead's latest routing decision (an assignment or a reroute), None when none."""
    query = (
        select(lead_decisions)
        .where(lead_decisions.c.lead_id == lead_id, lead_decisions.c.kind.in_(ROUTING_KINDS))
        .order_by(lead_decisions.c.at.desc(), lead_decisions.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def rerouted_since(connection: Connection, lead_id: str, since: int) -> bool:
    """Whether the lead was re-routed at or after ``since``."""
    query = select(lead_decisions.c.id).where(
        lead_decisions.c.lead_id == lead_id,
        lead_decisions.c.kind == "reroute",
        lead_decisions.c.at >= since,
    )
    return connection.execute(query).first() is not None


def routed_per_rep(connection: Connection, start: int, end: int) -> dict[str, int]:
    """How many leads routing gave each rep from ``start`` to before ``end``."""
    query = (
        select(lead_decisions.c.rep, func.count())
        .where(
            lead_decisions.c.kind.in_(ROUTING_KINDS),
            lead_decisions.c.rep.is_not(None),
            lead_decisions.c.at >= start,
            lead_decisions.c.at < end,
        )
        .group_by(lead_decisions.c.rep)
    )
    return {rep: count for rep, count in connection.execute(query)}


# -- routing state --------------------------------------------------------------------------


def lock_routing(connection: Connection) -> None:
    """One router at a time (PostgreSQL): two batches must not take the same turn."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('leadsla:routing'))"))


def credits(connection: Connection) -> dict[tuple[str, str], float]:
    """Each rule's round-robin credit per rep: (rule, rep) → credit."""
    return {(row.rule, row.rep): row.credit for row in connection.execute(select(routing_credits))}


def owners_of_accounts(connection: Connection, accounts: Sequence[str]) -> dict[str, str]:
    """The rep each of these accounts (casefolded names) belongs to, where one does."""
    query = select(account_owners).where(account_owners.c.account.in_(accounts))
    return {row.account: row.rep for row in connection.execute(query)}


def owned_leads_of_accounts(
    connection: Connection,
    *,
    account_field: str | None,
    companies: Sequence[str],
    email_field: str | None,
    domains: Sequence[str],
    owners: Sequence[str],
) -> list[tuple[str, dict[str, Any], int]]:
    """``(owner, fields, last_at)`` of the leads owned by one of ``owners`` whose company
    (lower case) is one of ``companies`` or whose email ends in ``@`` one of ``domains``:
    the owners a CRM set on an account's earlier leads."""
    conditions = []
    if account_field and companies:
        company = func.lower(func.trim(leads.c.fields[account_field].as_string()))
        conditions.append(company.in_(sorted(companies)))
    if email_field and domains:
        # The domain cut out in SQL, so one IN serves every domain of the batch (a LIKE
        # per domain cost a pass over the leads each).
        email = func.lower(func.trim(leads.c.fields[email_field].as_string()))
        if connection.dialect.name == "postgresql":
            domain = func.split_part(email, "@", 2)
        else:
            domain = func.substr(email, func.instr(email, "@") + 1)
        conditions.append(domain.in_(sorted(domains)))
    if not conditions or not owners:
        return []
    query = select(leads.c.owner, leads.c.fields, leads.c.last_at).where(
        leads.c.owner.in_(sorted(owners)), or_(*conditions)
    )
    return [(row.owner, dict(row.fields), row.last_at) for row in connection.execute(query)]


def save_routing(
    connection: Connection,
    *,
    new_accounts: Mapping[str, str],
    credits: Mapping[tuple[str, str], float],
    recorded_at: int,
) -> None:
    """Keep the accounts' first owners (account → rep; an account owned already keeps
    its rep) and replace the round-robin credits."""
    insert_ignoring_duplicates(
        connection,
        account_owners,
        [
            {"account": account, "rep": rep, "since": recorded_at}
            for account, rep in new_accounts.items()
        ],
    )
    connection.execute(delete(routing_credits))
    insert_rows(
        connection,
        routing_credits,
        ("rule", "rep", "credit"),
        [(rule, rep, credit) for (rule, rep), credit in sorted(credits.items())],
    )
