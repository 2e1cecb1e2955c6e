"""The job ledger: the domain record Prefect does not keep (SQLAlchemy 2, SQLite or PostgreSQL).

Prefect owns run state; the ledger keeps job id <-> flow run id, stage, error code and message,
artifacts and timestamps. Public states: QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELED.
Terminal states never change again: every transition is a conditional UPDATE that skips terminal
rows, so late or repeated writes are harmless. On SQLite the database runs in WAL mode with a busy
timeout, and writes retry on "database is locked".
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    String,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from infra.settings import LedgerSettings

__all__ = ["TERMINAL", "Job", "JobLedger", "JobStatus", "ledger_from", "open_ledger"]

log = logging.getLogger("reelflow.ledger")
T = TypeVar("T")


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


def _now() -> datetime:
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

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=JobStatus.QUEUED)
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float | None] = mapped_column(Float)  # percent, 0-100
    kind: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(Text)
    preset: Mapped[str | None] = mapped_column(String(32))
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    artifacts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    def running_for_s(self) -> float:
        """Seconds since the job started running (0 before it started)."""
        if self.started_at is None:
            return 0.0
        return (_now() - self.started_at).total_seconds()

    def last_sign_of_life(self) -> datetime:
        """The newest of its heartbeat, last update and creation."""
        moments = (self.heartbeat_at, self.updated_at, self.created_at)
        return max(m for m in moments if m is not None)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[..., None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def _add_missing_columns(session: Session) -> list[str]:
    """Bring an older ``jobs`` table up to the model: add the columns it lacks.

    New ledger columns are always nullable, so an additive ALTER is the whole migration; a
    ledger written by an earlier build keeps its rows. Returns the columns added.
    """
    bind = session.connection()
    present = {c["name"] for c in inspect(bind).get_columns(Job.__tablename__)}
    added = []
    for column in Job.__table__.columns:
        if column.name not in present:
            kind = column.type.compile(dialect=bind.dialect)
            bind.exec_driver_sql(f"ALTER TABLE {Job.__tablename__} ADD COLUMN {column.name} {kind}")
            added.append(column.name)
    if added:
        log.info("ledger schema: added columns %s", added)
    return added


class JobLedger:
    """All reads and writes of job records. One instance per process per URL is enough."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000, write_retries: int = 5) -> None:
        self.url = url
        self.write_retries = write_retries
        self.engine: Engine
        if url.startswith("sqlite"):
            self.engine = create_engine(
                url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_schema(self) -> None:
        if self.url.startswith("sqlite:///"):
            from pathlib import Path

            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._write(lambda s: Base.metadata.create_all(s.get_bind()))
        self._write(_add_missing_columns)

    def dispose(self) -> None:
        self.engine.dispose()

    def _write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a transaction, retrying with jitter while the database is locked."""
        for attempt in range(self.write_retries + 1):
            try:
                with self._sessions.begin() as session:
                    return fn(session)
            except OperationalError as exc:
                locked = "locked" in str(exc).lower() or "busy" in str(exc).lower()
                if not locked or attempt == self.write_retries:
                    raise
                delay = min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())
                log.warning("ledger busy, retry %d in %.2fs", attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    # -- writes ------------------------------------------------------------------------------

    def create_job(self, job_id: str, **fields: Any) -> Job:
        """Insert the job (QUEUED) or return the existing one: creating twice is a no-op."""

        def op(session: Session) -> Job:
            existing = session.get(Job, job_id)
            if existing is not None:
                for key in ("flow_run_id", "source", "kind", "preset"):
                    if fields.get(key) and not getattr(existing, key):
                        setattr(existing, key, fields[key])
                return existing
            job = Job(id=job_id, status=JobStatus.QUEUED, **fields)
            session.add(job)
            return job

        try:
            return self._write(op)
        except IntegrityError:  # a concurrent insert (submit vs probe) won: the row exists
            existing = self.get(job_id)
            if existing is None:
                raise
            return existing

    def _transition(self, job_id: str, values: dict[str, Any]) -> bool:
        values = {**values, "updated_at": _now()}

        def op(session: Session) -> bool:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.not_in([s.value for s in TERMINAL]))
                .values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self._write(op)

    def mark_running(self, job_id: str, stage: str, **fields: Any) -> bool:
        values: dict[str, Any] = {"status": JobStatus.RUNNING, "stage": stage, **fields}
        job = self.get(job_id)
        if job is not None and job.started_at is None:
            values["started_at"] = _now()
        return self._transition(job_id, values)

    def set_progress(self, job_id: str, percent: float) -> bool:
        return self._transition(job_id, {"progress": round(percent, 1)})

    def mark_succeeded(self, job_id: str, artifacts: dict[str, Any]) -> bool:
        return self._transition(
            job_id,
            {
                "status": JobStatus.SUCCEEDED,
                "artifacts": artifacts,
                "progress": 100.0,
                "finished_at": _now(),
            },
        )

    def mark_failed(self, job_id: str, code: str, message: str) -> bool:
        return self._transition(
            job_id,
            {
                "status": JobStatus.FAILED,
                "error_code": code,
                "error_message": message[:4000],
                "finished_at": _now(),
            },
        )

    def mark_canceled(self, job_id: str, message: str = "canceled by request") -> bool:
        return self._transition(
            job_id,
            {
                "status": JobStatus.CANCELED,
                "error_code": "user_canceled",
                "error_message": message,
                "finished_at": _now(),
            },
        )

    def touch(self, job_id: str) -> bool:
        """The job's own heartbeat (the reaper trusts it even when Prefect's automation is off)."""
        return self._transition(job_id, {"heartbeat_at": _now()})

    def annotate(self, job_id: str, message: str, *, drop_artifacts: bool = False) -> None:
        """Add a note to any job, terminal ones included; its status never changes."""

        def op(session: Session) -> None:
            job = session.get(Job, job_id)
            if job is not None:
                job.error_message = ((job.error_message or "") + f"\n{message}").strip()[:4000]
                if drop_artifacts:
                    job.artifacts = None
                job.updated_at = _now()

        self._write(op)

    def delete(self, job_ids: list[str]) -> int:
        def op(session: Session) -> int:
            result = session.execute(delete(Job).where(Job.id.in_(job_ids)))
            return int(result.rowcount)  # type: ignore[attr-defined]

        return self._write(op) if job_ids else 0

    def maintain(self) -> str:
        """SQLite: checkpoint the WAL and VACUUM; PostgreSQL: ANALYZE. Returns what ran."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("VACUUM")
                return "sqlite: wal_checkpoint(TRUNCATE), VACUUM"
            conn.exec_driver_sql("ANALYZE jobs")
            return f"{self.engine.dialect.name}: ANALYZE jobs"

    # -- reads -------------------------------------------------------------------------------

    def list_active(self) -> list[Job]:
        """Jobs not yet terminal (QUEUED or RUNNING)."""
        query = select(Job).where(Job.status.not_in([s.value for s in TERMINAL]))
        with self._sessions() as session:
            return list(session.scalars(query))

    def list_finished_before(self, cutoff: datetime) -> list[Job]:
        query = select(Job).where(
            Job.status.in_([s.value for s in TERMINAL]), Job.finished_at < cutoff
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def all_ids(self) -> set[str]:
        with self._sessions() as session:
            return set(session.scalars(select(Job.id)))

    def get(self, job_id: str) -> Job | None:
        with self._sessions() as session:
            return session.get(Job, job_id)

    def list_jobs(self, limit: int = 50, status: str | None = None) -> list[Job]:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if status:
            query = query.where(Job.status == status)
        with self._sessions() as session:
            return list(session.scalars(query))


_LEDGERS: dict[str, JobLedger] = {}


def open_ledger(url: str, *, busy_timeout_ms: int = 10_000, write_retries: int = 5) -> JobLedger:
    """The process-wide ledger for ``url``, with its schema created."""
    ledger = _LEDGERS.get(url)
    if ledger is None:
        ledger = JobLedger(url, busy_timeout_ms=busy_timeout_ms, write_retries=write_retries)
        ledger.create_schema()
        _LEDGERS[url] = ledger
    return ledger


def ledger_from(settings: LedgerSettings) -> JobLedger:
    """The process-wide ledger configured by ``REELFLOW_LEDGER__*``."""
    assert settings.url is not None
    return open_ledger(
        settings.url, busy_timeout_ms=settings.busy_timeout_ms, write_retries=settings.write_retries
    )
