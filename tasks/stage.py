"""What every stage task shares: the retry condition, stage bookkeeping and job paths.

Paths and ids are derived only from the flow run id and the request, never from in-memory state,
so a hook running in a fresh process (a Docker container after a crash) finds the same things.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from prefect.artifacts import update_progress_artifact
from prefect.tasks import exponential_backoff

from infra.errors import (
    FFmpegTimeout,
    InputUnreadable,
    InternalError,
    ReelflowError,
    ScriptInvalid,
    StorageUnavailable,
)
from infra.logs import job_context
from infra.settings import Settings, get_settings
from infra.store.ledger import JobLedger, ledger_from

__all__ = [
    "STAGE_TIMEOUT_ERRORS",
    "configured",
    "job_id_for",
    "job_prefix",
    "ledger",
    "remove_work_dir",
    "retry_on_retryable",
    "stage",
    "stage_timeout",
    "work_dir",
]

log = logging.getLogger("reelflow.stage")
T = TypeVar("T")


# What a stage that ran past its timeout fails with.
STAGE_TIMEOUT_ERRORS: dict[str, type[ReelflowError]] = {
    "probe": InputUnreadable,
    "script": ScriptInvalid,
    "render": FFmpegTimeout,
    "upload": StorageUnavailable,
    "cleanup": InternalError,
}


def configured(stage_task: T, name: str, settings: Settings) -> T:
    """``stage_task`` with its timeout and retry policy from settings (read at run time)."""
    cfg = settings.stages
    return stage_task.with_options(  # type: ignore[attr-defined]
        timeout_seconds=getattr(cfg, f"{name}_timeout_s"),
        retries=cfg.retries,
        retry_delay_seconds=exponential_backoff(backoff_factor=cfg.retry_backoff_s),
        retry_jitter_factor=cfg.retry_jitter,
        retry_condition_fn=retry_on_retryable,
    )


def stage_timeout(name: str, settings: Settings) -> ReelflowError:
    seconds = getattr(settings.stages, f"{name}_timeout_s")
    return STAGE_TIMEOUT_ERRORS[name](
        f"the {name} stage ran past its {seconds:.0f} s timeout and was stopped "
        f"(REELFLOW_STAGES__{name.upper()}_TIMEOUT_S)"
    )


def retry_on_retryable(task: Any, task_run: Any, state: Any) -> bool:  # noqa: ARG001
    """Prefect ``retry_condition_fn``: retry only errors that say they are retryable."""
    exc = state.data
    return isinstance(exc, ReelflowError) and exc.retryable


def job_id_for(flow_run_id: UUID | str, request: Mapping[str, Any] | Any) -> str:
    """The job id: the request's own, else the flow run id."""
    given = request.get("job_id") if isinstance(request, Mapping) else request.job_id
    return str(given or flow_run_id)


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def work_dir(job_id: str, settings: Settings | None = None) -> Path:
    root = (settings or get_settings()).work_dir_root
    path = (root / job_id).resolve()
    if path.parent != root.resolve():
        raise ValueError(f"job id {job_id!r} does not name a folder under the work root")
    return path


def remove_work_dir(job_id: str, settings: Settings | None = None) -> bool:
    """Remove the job's work folder; True when nothing is left. Never raises."""
    path = work_dir(job_id, settings)
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        log.error("could not remove work dir %s", path)
        return False
    return True


def ledger(settings: Settings | None = None) -> JobLedger:
    return ledger_from((settings or get_settings()).ledger)


@contextlib.contextmanager
def stage(
    job_id: str, name: str, progress_id: UUID | None = None, done: float | None = None
) -> Iterator[None]:
    """Record that ``job_id`` entered stage ``name``; on success move the progress bar."""
    with job_context(job_id):
        jobs = ledger()
        jobs.mark_running(job_id, name, heartbeat_at=datetime.now(UTC))
        log.info("stage %s started", name)
        beating = threading.Event()
        beat = threading.Thread(
            target=_heartbeat, args=(job_id, beating), name="reelflow-heartbeat", daemon=True
        )
        beat.start()
        try:
            yield
        finally:
            beating.set()
            beat.join(timeout=5)
        log.info("stage %s finished", name)
        if done is not None:
            update_progress(job_id, progress_id, done)


def _heartbeat(job_id: str, stop: threading.Event) -> None:
    """Touch the job's ledger row every ``REELFLOW_LEDGER__HEARTBEAT_S`` while a stage runs."""
    interval = get_settings().ledger.heartbeat_s
    while not stop.wait(interval):
        try:
            ledger().touch(job_id)
        except Exception:  # a missed beat is what the reaper is for; never fail the job
            log.warning("ledger heartbeat failed", exc_info=True)


def update_progress(job_id: str, progress_id: UUID | None, percent: float) -> None:
    """Move the job's progress in the ledger and on its Prefect progress artifact."""
    try:
        ledger().set_progress(job_id, percent)
        if progress_id is not None:
            update_progress_artifact(artifact_id=progress_id, progress=round(percent, 1))
    except Exception:  # progress is informative; never fail a job over it
        log.warning("could not update progress", exc_info=True)
