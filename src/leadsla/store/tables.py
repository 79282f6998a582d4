"""The database schema (SQLAlchemy Core). Alembic migrations create and change it.

Instants are BIGINT epoch microseconds (UTC), as in the core: no time-zone
conversions on the way in or out, and the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# BIGINT autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
SequenceId = BigInteger().with_variant(Integer(), "sqlite")

leads = Table(
    "leads",
    metadata,
    Column("lead_id", String(255), primary_key=True),
    Column("fields", JSON, nullable=False),  # current fields after the last instant
    Column("status", String(255)),
    Column("owner", String(255)),
    Column("grade", String(255)),
    Column("last_at", BigInteger, nullable=False),  # the last instant applied
    Column("events", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),  # when the service last wrote it
    Index("ix_leads_owner", "owner"),
    Index("ix_leads_status", "status"),
    # The leads with an event after a queue's instant, found without a scan (0016).
    Index("ix_leads_last_at", "last_at"),
)

events = Table(
    "events",
    metadata,
    Column("seq", SequenceId, primary_key=True, autoincrement=True),
    Column("lead_id", String(255), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("field", String(255), nullable=False),
    Column("value", Text),
    Column("source", String(255), nullable=False),
    # Idempotency: the client's event id, or a key derived from an import row.
    Column("key", String(512)),
    Column("recorded_at", BigInteger, nullable=False),
    UniqueConstraint("key", name="uq_events_key"),
    Index("ix_events_lead_at", "lead_id", "at", "seq"),
)

clock_cycles = Table(
    "clock_cycles",
    metadata,
    Column("lead_id", String(255), primary_key=True),
    Column("policy", String(255), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("calendar", String(255), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("stopped_at", BigInteger),
    Column("open", Integer, nullable=False),  # 1 while not stopped
    Column("due_at", BigInteger),
    Column("breach_at", BigInteger),
    # The earliest warning, step or breach instant still ahead of the last event:
    # the worker's index into what is due.
    Column("next_timer_at", BigInteger),
    Column("facts", JSON, nullable=False),  # segments, grade and owner histories
    # The worker has handled every warning and step up to this instant; ingest keeps
    # it when it rewrites the cycle, so a replay never fires a step twice.
    Column("timers_done_until", BigInteger),
    # The policy version (``policy_versions.id``) the cycle was first recorded under: a
    # later config change leaves its deadlines as they were (``leadsla db reclock``).
    Column("policy_version", Integer),
    # Partial: most cycles of a history are stopped with no timer ahead, and indexing
    # their NULLs cost an import more than the events' own indexes (measured).
    Index(
        "ix_clock_cycles_next_timer",
        "next_timer_at",
        sqlite_where=text("next_timer_at IS NOT NULL"),
        postgresql_where=text("next_timer_at IS NOT NULL"),
    ),
    Index(
        "ix_clock_cycles_due",
        "open",
        "due_at",
        # Covering: an at-risk window's cycles are read from the index alone (0016).
        "breach_at",
        "lead_id",
        sqlite_where=text("open = 1"),
        postgresql_where=text("open = 1"),
    ),
)

# Each policy's definitions, the first time the service saw each (SPEC §9.6).
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("id", SequenceId, primary_key=True, autoincrement=True),
    Column("policy", String(255), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("definition", Text, nullable=False),  # canonical JSON (core.versions)
    Column("first_seen_at", BigInteger, nullable=False),
    UniqueConstraint("policy", "digest", name="uq_policy_versions_digest"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", SequenceId, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("rep", String(255)),
    Column("team", String(255)),
    Column("token_hash", String(128), nullable=False, unique=True),
    # The token's first characters in clear, so that `leadsla token list` and `revoke`
    # can name a token without its secret; null for tokens made before it was kept.
    Column("prefix", String(32)),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

# The dashboard's logins. The cookie holds a random session id; only its digest is
# stored, so a copy of the table opens no session. A row lives until its expiry, its
# logout or its token's revocation.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", SequenceId, primary_key=True, autoincrement=True),
    Column("session_hash", String(128), nullable=False, unique=True),
    Column("token_id", BigInteger, ForeignKey("api_tokens.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_dashboard_sessions_token", "token_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", SequenceId, primary_key=True, autoincrement=True),
    Column("lead_id", String(255), nullable=False),
    Column("policy", String(255), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("kind", String(32), nullable=False),  # warning | escalation
    Column("step", Integer, nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("state", String(32), nullable=False),  # queued | sent | failed | skipped
    Column("fire_at", BigInteger, nullable=False),
    # When it is to be delivered: fire_at, or with deliver: recipient_hours the next
    # opening of the recipient's calendar (SPEC §9.4); max_delay is counted from it.
    Column("deliver_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    # The policy version (``policy_versions.id``) of the cycle that fired it: its text
    # (message, "step N of M") is that version's. Null: the config's.
    Column("policy_version", Integer),
    UniqueConstraint(
        "lead_id",
        "policy",
        "cycle",
        "kind",
        "step",
        "recipient",
        "channel",
        name="uq_notifications_once",
    ),
    Index("ix_notifications_state", "state", "next_attempt_at"),
    # A claim's oldest queued notification, without passing over the sent ones (0017).
    Index("ix_notifications_claim", "state", "id"),
)

# What qualification and routing decided about a lead, and why: an MQL or a nurture
# decision with the score's explanation, an assignment with its rule and skipped reps.
lead_decisions = Table(
    "lead_decisions",
    metadata,
    Column("id", SequenceId, primary_key=True, autoincrement=True),
    Column("lead_id", String(255), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # mql | nurture | assignment
    Column("rep", String(255)),  # the rep an assignment chose
    Column("detail", JSON, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    UniqueConstraint("lead_id", "kind", "at", name="uq_lead_decisions_once"),
    Index("ix_lead_decisions_lead", "lead_id", "at"),
    Index("ix_lead_decisions_rep", "kind", "rep", "at"),
)

# Smooth round robin: each rule's credit per rep, carried from one lead to the next.
routing_credits = Table(
    "routing_credits",
    metadata,
    Column("rule", String(255), primary_key=True),
    Column("rep", String(255), primary_key=True),
    Column("credit", Float, nullable=False),
)

# The rep a company's first routed lead went to: later leads of the account follow.
account_owners = Table(
    "account_owners",
    metadata,
    Column("account", String(512), primary_key=True),
    Column("rep", String(255), nullable=False),
    Column("since", BigInteger, nullable=False),
)

# When a worker last completed a round: /api/v1/health reports a worker that has died or
# is stuck, which an outbox that merely grows cannot tell apart from a busy one.
worker_heartbeat = Table(
    "worker_heartbeat",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("finished_at", BigInteger, nullable=False),
)

# The dashboard's figures, computed by the worker in the background: a page reads the
# report of its scope (everything, or a team) instead of recomputing it from every
# event (tens of seconds at 200,000 leads). ``events_seq`` is the last event counted.
report_snapshots = Table(
    "report_snapshots",
    metadata,
    Column("scope", String(255), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("as_of", BigInteger, nullable=False),
    Column("events_seq", BigInteger, nullable=False),
    Column("report", Text, nullable=False),  # the report object, JSON
    Column("segments", Text),  # the Marketing page's segment table, JSON
    Column("objectives", Text),  # the overview's compliance objectives, JSON
    Column("computed_at", BigInteger, nullable=False),
    Column("counts", Text),  # the overview's queue counts at ``as_of``, JSON
)

# Compliance objectives (docs/worker.md): an episode opens when a group's burn-rate rule
# starts to hold and closes when it stops. The key makes one episode of each number
# however many workers see the rule fire; its alerts are outbox rows keyed by it.
objective_episodes = Table(
    "objective_episodes",
    metadata,
    Column("objective", String(255), primary_key=True),
    Column("group_key", String(255), primary_key=True),
    Column("episode", Integer, primary_key=True, autoincrement=False),
    Column("started_at", BigInteger, nullable=False),
    Column("cleared_at", BigInteger),  # null while the rule holds
    # The figures when it opened, for the alert's text.
    Column("long_burn", Float, nullable=False),
    Column("short_burn", Float, nullable=False),
    Column("budget_left", Float),
)

# CRM sync (docs/crm.md): how far each CRM has been read. ``synced_until`` is the end of
# the last window whose events are stored; it is written in the same transaction as
# that window's last events, so a sync killed mid-way reads the window again.
sync_watermarks = Table(
    "sync_watermarks",
    metadata,
    Column("crm", String(32), primary_key=True),
    Column("synced_until", BigInteger, nullable=False),
    Column("synced_at", BigInteger, nullable=False),
    Column("written_at", BigInteger),  # the instant of the last write-back round
)

# Write-back: the SLA fields last written to each CRM record (``due_at``, ``state``), and
# the values waiting to be written. A lead is written when what it should show differs
# from what was written; a failed write keeps its pending values, counts the attempt and
# is tried again on the next round.
crm_writebacks = Table(
    "crm_writebacks",
    metadata,
    Column("crm", String(32), primary_key=True),
    Column("lead_id", String(255), primary_key=True),
    Column("due_at", BigInteger),
    Column("state", String(32)),
    Column("written_at", BigInteger),
    Column("pending_due_at", BigInteger),
    Column("pending_state", String(32)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
)
