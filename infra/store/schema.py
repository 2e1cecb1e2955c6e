"""The ledger's tables (SQLAlchemy 2 declarative models), one per domain record.

- ``jobs``: one row per job, claimed once (insert-only id), QUEUED -> RUNNING -> terminal.
- ``api_keys``: job API clients (hashed keys, limits, webhook signing secrets).
- ``webhook_deliveries`` / ``delivery_attempts``: the outbox of outbound callbacks and their log.
- ``disabled_endpoints``: callback URLs that answered 410 Gone.
- ``seen_signatures``: inbound webhook signatures already used (replay protection).
- ``script_cache``: LLM scripts keyed by document, model, prompt version, language and options.

The schema changes only through migrations (``infra/store/migrations``); a test checks that the
migrated database equals these models.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "TERMINAL",
    "ApiKey",
    "Base",
    "DeliveryAttempt",
    "DisabledEndpoint",
    "Job",
    "JobStatus",
    "ScriptCacheEntry",
    "SeenSignature",
    "WebhookDelivery",
    "utcnow",
]


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive datetimes otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("uq_jobs_client_idempotency_key", "client", "idempotency_key", unique=True),
        Index("ix_jobs_client_created_at", "client", "created_at"),  # revision 0004: budgets
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # nullable as the first milestone created them: existing ledgers keep their table
    status: Mapped[str] = mapped_column(
        String(16), index=True, default=JobStatus.QUEUED, nullable=True
    )
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float | None] = mapped_column(Float)  # percent, 0-100
    kind: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(Text)
    preset: Mapped[str | None] = mapped_column(String(32))
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    artifacts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=True, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # -- revision 0002 -----------------------------------------------------------------------
    client: Mapped[str | None] = mapped_column(String(128), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_digest: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)  # stderr tail, bounded and redacted
    deployment: Mapped[str | None] = mapped_column(String(128))
    priority: Mapped[int | None] = mapped_column(Integer)
    client_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    callback_url: Mapped[str | None] = mapped_column(Text)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # LLM tokens and cost, ...
    output_duration_s: Mapped[float | None] = mapped_column(Float)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_by: Mapped[str | None] = mapped_column(String(128))
    # -- revision 0004 -----------------------------------------------------------------------
    cost_usd: Mapped[float | None] = mapped_column(Float)  # = usage["cost_usd"], for budgets

    def running_for_s(self) -> float:
        """Seconds since the job started running (0 before it started)."""
        if self.started_at is None:
            return 0.0
        return (utcnow() - self.started_at).total_seconds()

    def last_sign_of_life(self) -> datetime:
        """The newest of its heartbeat, last update and creation."""
        moments = (self.heartbeat_at, self.updated_at, self.created_at)
        return max(m for m in moments if m is not None)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


class ApiKey(Base):
    """A job API client. Only the key's SHA-256 is stored; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public part of the key
    name: Mapped[str] = mapped_column(String(128), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    rate_per_min: Mapped[int] = mapped_column(Integer)
    max_active: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    callback_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    previous_webhook_secret: Mapped[str | None] = mapped_column(String(128))
    budget_usd: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event to deliver to one URL (the outbox row, written with the job's outcome)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "url", name="uq_delivery_event_url"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|...
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # revision 0003


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    response_head: Mapped[str | None] = mapped_column(Text)  # first 1 KB of the answer
    error: Mapped[str | None] = mapped_column(Text)


class DisabledEndpoint(Base):
    """A callback URL that answered 410 Gone: no further deliveries go to it."""

    __tablename__ = "disabled_endpoints"

    url: Mapped[str] = mapped_column(String(2048), primary_key=True)
    disabled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


class SeenSignature(Base):
    """An inbound webhook signature already accepted (refused when replayed)."""

    __tablename__ = "seen_signatures"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ScriptCacheEntry(Base):
    __tablename__ = "script_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    script: Mapped[dict[str, Any]] = mapped_column(JSON)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)


class ChunkClaim(Base):
    """Who encodes the chunk of one chunk run: the run itself or its parent job.

    Keyed by the run's idempotency key (job id, chunk index and the parent's attempt: unique per
    deployment in Prefect, so a forged run has another key and never touches this row). The
    parent writes it ``queued`` before creating the run; then the first of the run (``run``)
    and the parent (``parent``, taking over a run no worker has started) wins
    (tasks/media/chunked.py).
    """

    __tablename__ = "chunk_claims"

    run_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    holder: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
