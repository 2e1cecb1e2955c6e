"""The job ledger: the domain record Prefect does not keep (SQLAlchemy 2, SQLite or PostgreSQL).

Prefect owns run state; the ledger keeps job id <-> flow run id, client, stage, error code, message
and stderr tail, artifact keys, usage and timestamps. Public states: QUEUED -> RUNNING ->
SUCCEEDED | FAILED | CANCELED. Contracts:

- A job id is claimed once (:meth:`JobLedger.claim_job` inserts, never overwrites): a second
  request with a taken id gets ``job_id_taken`` and the existing job is never touched.
- Terminal states never change again: every transition is a conditional UPDATE that skips terminal
  rows, so late or repeated writes are harmless.
- Errors are mapped at this boundary: a database that is unreachable, locked past the retries or
  failing over is ``ledger_unavailable`` (retryable by the stage policy); anything else from
  SQLAlchemy is a bug and stays ``internal_error``.
- On SQLite the database runs in WAL mode with a busy timeout, and writes retry on "locked".
- The schema changes only by migration (``infra/store/migrate.py``); opening a ledger upgrades it
  when it is behind.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from infra.errors import InternalError, JobIdTaken, LedgerUnavailable
from infra.settings import LedgerSettings
from infra.store.migrate import ensure_current
from infra.store.outbox import EVENT_FOR_STATUS, Outbox, enqueue_job_event
from infra.store.schema import TERMINAL, ChunkClaim, Job, JobStatus, utcnow

__all__ = ["TERMINAL", "Job", "JobLedger", "JobStatus", "ledger_errors"]

log = logging.getLogger("reelflow.ledger")
T = TypeVar("T")
MESSAGE_CHARS = 4000
DETAIL_CHARS = 8000
_TERMINAL_VALUES = [s.value for s in TERMINAL]
# SQLite reports schema bugs as OperationalError too; those are not outages.
_NOT_TRANSIENT = ("no such table", "no such column", "syntax error")


@contextlib.contextmanager
def ledger_errors(what: str) -> Iterator[None]:
    """Translate database errors at the ledger's boundary (cause kept)."""
    try:
        yield
    except IntegrityError:
        raise  # a constraint: the caller decides (e.g. a taken job id)
    except (OperationalError, DisconnectionError, PoolTimeout) as exc:
        if any(bug in str(exc).lower() for bug in _NOT_TRANSIENT):
            raise InternalError(f"ledger {what} failed: {_short(exc)}") from exc
        raise LedgerUnavailable(f"the job ledger is unavailable ({what}): {_short(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise LedgerUnavailable(f"the ledger connection was lost ({what})") from exc
        raise InternalError(f"ledger {what} failed: {_short(exc)}") from exc
    except SQLAlchemyError as exc:
        raise InternalError(f"ledger {what} failed: {_short(exc)}") from exc


def _short(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[..., None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


class JobLedger:
    """All reads and writes of job records. Build one per process (entry point) and pass it down."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 10_000,
        write_retries: int = 5,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.write_retries = write_retries
        self.engine: Engine
        if url.startswith("sqlite"):
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        else:
            self.engine = create_engine(
                url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_timeout=10
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.outbox = Outbox(self)
        if migrate:
            with ledger_errors("migration"):
                ensure_current(self.engine)

    @classmethod
    def from_settings(cls, cfg: LedgerSettings) -> JobLedger:
        assert cfg.url is not None
        return cls(cfg.url, busy_timeout_ms=cfg.busy_timeout_ms, write_retries=cfg.write_retries)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- plumbing ----------------------------------------------------------------------------

    def write(self, fn: Callable[[Session], T], what: str = "write") -> T:
        """Run ``fn`` in a transaction, retrying with jitter while the database is locked."""
        for attempt in range(self.write_retries + 1):
            try:
                with ledger_errors(what), self._sessions.begin() as session:
                    return fn(session)
            except LedgerUnavailable as exc:
                cause = str(exc.__cause__ or "").lower()
                locked = "locked" in cause or "busy" in cause
                if not locked or attempt == self.write_retries:
                    raise
                delay = min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())
                log.warning("ledger busy, retry %d in %.2fs", attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def read(self, fn: Callable[[Session], T], what: str = "read") -> T:
        with ledger_errors(what), self._sessions() as session:
            return fn(session)

    # -- claiming ------------------------------------------------------------------------------

    def claim_job(self, job_id: str, *, flow_run_id: str | None, **fields: Any) -> Job:
        """Insert the job (QUEUED), bound to ``flow_run_id``; JobIdTaken if the id is taken.

        Claiming again from the same flow run (a retry, or the flow confirming what its submitter
        wrote) returns the row and fills fields it lacks; the row is never overwritten.
        """

        def insert(session: Session) -> Job:
            job = Job(id=job_id, status=JobStatus.QUEUED, flow_run_id=flow_run_id, **fields)
            session.add(job)
            return job

        try:
            return self.write(insert, "claim")
        except IntegrityError as exc:
            existing = self.get(job_id)
            if existing is None:  # the conflict was another unique index (idempotency key)
                raise JobIdTaken(
                    f"the idempotency key of job {job_id} is already used by another job"
                ) from exc
            if flow_run_id is None or existing.flow_run_id != flow_run_id:
                raise JobIdTaken(
                    f"job id {job_id} is already taken by another job; choose another id "
                    "(the existing job is left as it is)"
                ) from exc
            self._fill_missing(job_id, fields)
            return self.get(job_id) or existing

    def _fill_missing(self, job_id: str, fields: dict[str, Any]) -> None:
        def op(session: Session) -> None:
            job = session.get(Job, job_id)
            if job is None:
                return
            for key, value in fields.items():
                if value is not None and getattr(job, key) is None:
                    setattr(job, key, value)

        self.write(op, "claim")

    def assign_chunk(self, job_id: str, run_key: str) -> None:
        """Record the chunk run ``run_key`` (its idempotency key) as ``queued``, before the
        parent creates it; a row that exists (a retried stage) is left as it is."""

        def insert(session: Session) -> None:
            session.add(ChunkClaim(run_key=run_key, job_id=job_id, holder="queued"))

        with contextlib.suppress(IntegrityError):
            self.write(insert, "assign chunk")

    def take_chunk(self, run_key: str, by: str) -> str | None:
        """``by`` (``run`` or ``parent``) takes the chunk of run ``run_key`` if it is still
        queued (or already its own); returns who holds it now, None when no row exists."""

        def take(session: Session) -> str | None:
            session.execute(
                update(ChunkClaim)
                .where(ChunkClaim.run_key == run_key, ChunkClaim.holder.in_(("queued", by)))
                .values(holder=by, claimed_at=utcnow())
            )
            row = session.get(ChunkClaim, run_key)
            return None if row is None else row.holder

        return self.write(take, "take chunk")

    def owns(self, job_id: str, flow_run_id: str) -> bool:
        """True when ``job_id``'s row is bound to ``flow_run_id`` (hooks act only then)."""
        job = self.get(job_id)
        return job is not None and job.flow_run_id == flow_run_id

    # -- transitions -------------------------------------------------------------------------

    def _transition(
        self, job_id: str, values: dict[str, Any], what: str = "update", event: str | None = None
    ) -> bool:
        """Apply ``values`` unless the job is terminal; with ``event``, enqueue its webhook
        deliveries in the same transaction (the outbox: recorded together or not at all)."""
        values = {**values, "updated_at": utcnow()}

        def op(session: Session) -> bool:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.not_in(_TERMINAL_VALUES))
                .values(**values)
            )
            changed = bool(result.rowcount)  # type: ignore[attr-defined]
            if changed and event is not None:
                enqueue_job_event(session, job_id, event)
            return changed

        return self.write(op, what)

    def mark_running(self, job_id: str, stage: str, **fields: Any) -> bool:
        values: dict[str, Any] = {"status": JobStatus.RUNNING, "stage": stage, **fields}
        job = self.get(job_id)
        first = job is not None and job.started_at is None
        if first:
            values["started_at"] = utcnow()
        event = EVENT_FOR_STATUS["RUNNING"] if first else None
        return self._transition(job_id, values, "mark running", event)

    def set_progress(self, job_id: str, percent: float) -> bool:
        return self._transition(job_id, {"progress": round(percent, 1)}, "progress")

    def mark_succeeded(self, job_id: str, artifacts: dict[str, Any], **fields: Any) -> bool:
        """SUCCEEDED with the artifact *keys* (never presigned URLs: those are bearer tokens)."""
        return self._transition(
            job_id,
            {
                "status": JobStatus.SUCCEEDED,
                "artifacts": artifacts,
                "progress": 100.0,
                "finished_at": utcnow(),
                **fields,
            },
            "mark succeeded",
            EVENT_FOR_STATUS["SUCCEEDED"],
        )

    def mark_failed(self, job_id: str, code: str, message: str, detail: str | None = None) -> bool:
        values: dict[str, Any] = {
            "status": JobStatus.FAILED,
            "error_code": code,
            "error_message": message[:MESSAGE_CHARS],
            "finished_at": utcnow(),
        }
        if detail:
            values["error_detail"] = detail[-DETAIL_CHARS:]
        return self._transition(job_id, values, "mark failed", EVENT_FOR_STATUS["FAILED"])

    def mark_canceled(self, job_id: str, message: str = "canceled by request") -> bool:
        return self._transition(
            job_id,
            {
                "status": JobStatus.CANCELED,
                "error_code": "user_canceled",
                "error_message": message[:MESSAGE_CHARS],
                "finished_at": utcnow(),
            },
            "mark canceled",
            EVENT_FOR_STATUS["CANCELED"],
        )

    def touch(self, job_id: str) -> bool:
        """The job's own heartbeat (the reaper trusts it even when Prefect's automation is off)."""
        return self._transition(job_id, {"heartbeat_at": utcnow()}, "heartbeat")

    def record_usage(self, job_id: str, usage: dict[str, Any]) -> None:
        """Merge ``usage`` (LLM tokens, cost, ...) into the job's record, terminal or not."""

        def op(session: Session) -> None:
            job = session.get(Job, job_id)
            if job is not None:
                job.usage = {**(job.usage or {}), **usage}
                cost = job.usage.get("cost_usd")
                job.cost_usd = float(cost) if isinstance(cost, int | float) else job.cost_usd

        self.write(op, "usage")

    def annotate(self, job_id: str, message: str, *, drop_artifacts: bool = False) -> None:
        """Add a note to any job, terminal ones included; its status never changes."""

        def op(session: Session) -> None:
            job = session.get(Job, job_id)
            if job is not None:
                note = ((job.error_message or "") + f"\n{message}").strip()
                job.error_message = note[-MESSAGE_CHARS:]
                if drop_artifacts:
                    job.artifacts = None
                job.updated_at = utcnow()

        self.write(op, "annotate")

    def mark_deleted(self, job_id: str, by: str) -> bool:
        """Keep the row as an audit record of who deleted the job and when; True the first time."""

        def op(session: Session) -> bool:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.deleted_at.is_(None))
                .values(deleted_at=utcnow(), deleted_by=by[:128], artifacts=None)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self.write(op, "mark deleted")

    def delete(self, job_ids: list[str]) -> int:
        def op(session: Session) -> int:
            session.execute(delete(ChunkClaim).where(ChunkClaim.job_id.in_(job_ids)))
            result = session.execute(delete(Job).where(Job.id.in_(job_ids)))
            return int(result.rowcount)  # type: ignore[attr-defined]

        return self.write(op, "delete") if job_ids else 0

    def maintain(self) -> str:
        """SQLite: checkpoint the WAL and VACUUM; PostgreSQL: ANALYZE. Returns what ran."""
        with (
            ledger_errors("maintenance"),
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        ):
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("VACUUM")
                return "sqlite: wal_checkpoint(TRUNCATE), VACUUM"
            conn.exec_driver_sql("ANALYZE")
            return f"{self.engine.dialect.name}: ANALYZE"

    # -- reads -------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        return self.read(lambda s: s.get(Job, job_id), "get")

    def find_idempotent(self, client: str, key: str) -> Job | None:
        query = select(Job).where(Job.client == client, Job.idempotency_key == key)
        return self.read(lambda s: s.scalars(query).first(), "idempotency lookup")

    def list_active(self) -> list[Job]:
        """Jobs not yet terminal (QUEUED or RUNNING)."""
        query = select(Job).where(Job.status.not_in(_TERMINAL_VALUES))
        return self.read(lambda s: list(s.scalars(query)), "list active")

    def count_active(self, client: str | None = None) -> int:
        query = select(func.count()).select_from(Job).where(Job.status.not_in(_TERMINAL_VALUES))
        if client is not None:
            query = query.where(Job.client == client)
        return int(self.read(lambda s: s.scalar(query) or 0, "count active"))

    def queued_ahead_of(self, job: Job) -> int:
        """QUEUED jobs created before ``job`` (the status hint's "N jobs ahead")."""
        query = (
            select(func.count())
            .select_from(Job)
            .where(Job.status == JobStatus.QUEUED, Job.created_at < job.created_at)
        )
        return int(self.read(lambda s: s.scalar(query) or 0, "queue position"))

    def counts_by_status(self) -> dict[str, int]:
        query = select(Job.status, func.count()).group_by(Job.status)
        rows = self.read(lambda s: list(s.execute(query)), "counts")
        return {str(status): int(count) for status, count in rows}

    def list_finished_before(self, cutoff: datetime) -> list[Job]:
        query = select(Job).where(Job.status.in_(_TERMINAL_VALUES), Job.finished_at < cutoff)
        return self.read(lambda s: list(s.scalars(query)), "list finished")

    def list_jobs(
        self,
        limit: int = 50,
        status: str | None = None,
        *,
        client: str | None = None,
        before: tuple[datetime, str] | None = None,
        include_deleted: bool = False,
    ) -> list[Job]:
        """Newest first; ``before`` = (created_at, id) of the last row seen (a cursor)."""
        query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        if status:
            query = query.where(Job.status == status)
        if client is not None:
            query = query.where(Job.client == client)
        if not include_deleted:
            query = query.where(Job.deleted_at.is_(None))
        if before is not None:
            created, job_id = before
            query = query.where(
                (Job.created_at < created) | ((Job.created_at == created) & (Job.id < job_id))
            )
        return self.read(lambda s: list(s.scalars(query)), "list")
