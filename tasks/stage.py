"""The job's context and the typed stage runner both flows use.

A flow run builds one :class:`JobContext` (:func:`job_scope`): it claims the job id in the ledger
(``job_id_taken`` before any work when the id belongs to another run), starts the job's watchdog
(the resource guard every external process of the job runs under, passed explicitly) and its ledger
heartbeat, and creates the Prefect progress artifact. Every stage then runs through
:func:`run_stage`, which marks the stage in the ledger, applies the stage's timeout and retry
policy from settings, maps a timeout to the error of what the stage was doing, and moves the
progress bar through the stage's band (``infra/jobs/stages.py``).

Settings, the ledger and the guard are passed down from the flow (the entry point of a run);
nothing here reads a process-wide cache.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.tasks import Task, exponential_backoff

from infra.errors import (
    InternalError,
    LedgerUnavailable,
    ReelflowError,
    ResourceLimitExceeded,
    UserCanceled,
)
from infra.jobs.limits import effective_limits
from infra.jobs.models import JobKind, JobRequest
from infra.jobs.stages import (
    ACTIVITY_TIMEOUT_ERRORS,
    PROGRESS_BANDS,
    STAGE_TIMEOUT_ERRORS,
    Stage,
)
from infra.logs import configure_logging, job_context, stage_context
from infra.process.runner import redact_text
from infra.process.watchdog import JobWatchdog
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore, open_store
from infra.store.layout import validate_job_id
from infra.store.ledger import JobLedger
from infra.store.removal import job_work_dir

__all__ = [
    "JobContext",
    "failed_state",
    "job_id_for",
    "job_scope",
    "record_failure",
    "retry_on_retryable",
    "run_stage",
    "stage_timeout",
]

log = logging.getLogger("reelflow.stage")
P = ParamSpec("P")
R = TypeVar("R")
PROGRESS_STEP = 2.0  # percent: smaller moves are not written (ledger and artifact writes)


def job_id_for(flow_run_id: UUID | str, request: JobRequest) -> str:
    """The job id: the request's own (validated), else the flow run id."""
    return validate_job_id(request.job_id or str(flow_run_id))


class JobContext:
    """What every stage of one job needs; built once per flow run by :func:`job_scope`.

    A plain class on purpose: Prefect passes it to tasks as it is, without visiting its fields.
    """

    def __init__(
        self,
        *,
        job_id: str,
        flow_run_id: str | None,
        kind: JobKind,
        settings: Settings,
        ledger: JobLedger,
        guard: JobWatchdog,
        progress_id: UUID | None,
    ) -> None:
        self.job_id = job_id
        self.flow_run_id = flow_run_id
        self.kind = kind
        self.settings = settings
        self.ledger = ledger
        self.guard = guard
        self.progress_id = progress_id
        self.work_dir: Path = job_work_dir(settings.work_dir_root, job_id)
        self._store: ArtifactStore | None = None
        self._activities: list[str] = []
        self._interrupted: str | None = None
        self._shown = -PROGRESS_STEP

    def store(self) -> ArtifactStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @contextlib.contextmanager
    def doing(self, activity: str) -> Iterator[None]:
        """Declare what the job is doing (``upload``, ``llm``...): a timeout is blamed on it.

        The timeout unwinds this block before the stage runner names the error, so the activity
        an exception left through is remembered until the next stage starts.
        """
        self._activities.append(activity)
        try:
            yield
        except BaseException:
            if self._interrupted is None:  # the innermost activity is the one that was running
                self._interrupted = activity
            raise
        finally:
            self._activities.pop()

    def start_stage(self) -> None:
        """Forget what earlier stages did: a timeout is blamed on what this stage runs."""
        self._interrupted = None
        self.guard.last_process = None

    def activity(self) -> str | None:
        """What the current stage was doing: the declared activity that is running or that an
        exception left, else the newest process of the stage."""
        if self._activities:
            return self._activities[-1]
        return self._interrupted or self.guard.last_process

    def progress(self, stage: Stage, fraction: float) -> None:
        """Move the job's progress to ``fraction`` (0-1) of ``stage``'s band. Never raises."""
        start, end = PROGRESS_BANDS[self.kind].get(stage, (0.0, 0.0))
        percent = start + (end - start) * min(max(fraction, 0.0), 1.0)
        if percent - self._shown < PROGRESS_STEP and percent < 100.0:
            return
        self._shown = percent
        try:
            self.ledger.set_progress(self.job_id, percent)
            if self.progress_id is not None:
                update_progress_artifact(artifact_id=self.progress_id, progress=round(percent, 1))
        except Exception:  # progress is informative; never fail a job over it
            log.warning("could not update progress", exc_info=True)


def _heartbeat(ctx: JobContext, stop: threading.Event) -> None:
    """Touch the job's ledger row every ``REELFLOW_LEDGER__HEARTBEAT_S`` while the job runs."""
    interval = ctx.settings.ledger.heartbeat_s
    while not stop.wait(interval):
        try:
            ctx.ledger.touch(ctx.job_id)
        except Exception:  # a missed beat is what the reaper is for; never fail the job
            log.warning("ledger heartbeat failed", exc_info=True)


@contextlib.contextmanager
def job_scope(
    request: JobRequest,
    *,
    kind: JobKind,
    flow_run_id: UUID | str | None,
    settings: Settings,
    ledger: JobLedger,
    description: str,
) -> Iterator[JobContext]:
    """Claim the job, start its guard and heartbeat; stop both whatever happens.

    Raises JobIdTaken before any work when the job id belongs to another run, InputInvalid for an
    id that could be a path, and ``resource_limit_exceeded``/``input_invalid`` when the request
    asks for limits above the operator's.
    """
    job_id = job_id_for(flow_run_id or "", request)
    configure_logging(settings.log.level, settings.log.json_format)  # in a worker's process too
    with job_context(job_id, flow_run_id=str(flow_run_id) if flow_run_id else None):
        ledger.claim_job(  # first: a taken id is refused before anything else happens
            job_id,
            flow_run_id=str(flow_run_id) if flow_run_id else None,
            source=request.source,
            kind=kind.value,
            preset=request.preset,
            client=request.client,
        )
        limits = effective_limits(request.limits, settings)
        progress_id = _progress_artifact(job_id, description)
        guard = JobWatchdog(
            limits,
            job_work_dir(settings.work_dir_root, job_id),
            interval_s=settings.limits.watchdog_interval_s,
        )
        ctx = JobContext(
            job_id=job_id,
            flow_run_id=str(flow_run_id) if flow_run_id else None,
            kind=kind,
            settings=settings,
            ledger=ledger,
            guard=guard,
            progress_id=progress_id,
        )
        stop = threading.Event()
        beat = threading.Thread(
            target=_heartbeat, args=(ctx, stop), name="reelflow-heartbeat", daemon=True
        )
        guard.start()
        beat.start()
        try:
            yield ctx
        except UserCanceled:
            raise
        except ReelflowError as exc:
            record_failure(ctx, exc)
            raise
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                record_failure(ctx, InternalError(f"{type(exc).__name__}: {exc}"))
                raise
            full = ResourceLimitExceeded(
                f"the work disk is full ({exc.strerror}); free space on the work root "
                f"{ctx.settings.work_dir_root} (REELFLOW_WORK_ROOT) and run the job again"
            )
            record_failure(ctx, full)
            raise full from exc
        except Exception as exc:  # a bug: recorded as internal_error, then Prefect shows it
            record_failure(ctx, InternalError(f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            stop.set()
            beat.join(timeout=5)
            guard.stop()


def record_failure(ctx: JobContext, exc: ReelflowError) -> None:
    """FAILED in the ledger with the error's code, message and (redacted) stderr tail; the tail
    is logged once here with the job id. Never raises (the flow's hooks are the safety net)."""
    detail = redact_text(exc.detail) if exc.detail else None
    if detail:
        log.error("[%s] %s\n%s", exc.code, exc.message, detail)
    try:
        ctx.ledger.mark_failed(ctx.job_id, exc.code, str(exc), detail)
    except Exception:
        log.exception("could not record the failure of job %s", ctx.job_id)


def failed_state(exc: ReelflowError) -> Any:
    """A Prefect Failed state whose message starts with ``[code]`` (docs/ERRORS.md)."""
    from prefect.states import Failed

    return Failed(message=str(exc), data=exc)


def _progress_artifact(job_id: str, description: str) -> UUID | None:
    try:
        created = create_progress_artifact(progress=0.0, description=f"{description} {job_id}")
    except Exception:  # the UI's progress bar is informative; the ledger has the progress
        log.warning("could not create the progress artifact", exc_info=True)
        return None
    return created if isinstance(created, UUID) else None


def retry_on_retryable(task: Any, task_run: Any, state: Any) -> bool:  # noqa: ARG001
    """Prefect ``retry_condition_fn``: retry only errors that say they are retryable."""
    exc = state.data
    return isinstance(exc, ReelflowError) and exc.retryable


def stage_timeout(ctx: JobContext, stage: Stage) -> ReelflowError:
    """The error of a stage stopped at its timeout: what it was doing decides the code."""
    seconds = getattr(ctx.settings.stages, f"{stage.value}_timeout_s", None)
    activity = ctx.activity()
    error = ACTIVITY_TIMEOUT_ERRORS.get(activity or "", STAGE_TIMEOUT_ERRORS[stage])
    doing = f" while {activity} was running" if activity else ""
    return error(
        f"the {stage.value} stage ran past its {seconds or 0:.0f} s timeout{doing} and was "
        f"stopped (REELFLOW_STAGES__{stage.value.upper()}_TIMEOUT_S)"
    )


def _with_stage_retries(ctx: JobContext, write: Callable[[], object]) -> None:
    """A ledger write outside a task, retried like a stage: a database that fails over for a
    moment (``ledger_unavailable``) must not fail the job."""
    cfg = ctx.settings.stages
    for attempt in range(cfg.retries + 1):
        try:
            write()
            return
        except LedgerUnavailable:
            if attempt == cfg.retries:
                raise
            delay = cfg.retry_backoff_s * 2**attempt * (1 + cfg.retry_jitter * random.random())
            log.warning("ledger unavailable; retry %d in %.1f s", attempt + 1, delay)
            time.sleep(delay)


def run_stage(
    ctx: JobContext, stage: Stage, stage_task: Task[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run ``stage_task`` as the job's ``stage``, with the stage's timeout and retry policy.

    mypy checks ``args`` against the task's own signature. The ledger shows the stage while it
    runs (not for cleanup, which also runs after a job ended); the progress bar reaches the end
    of the stage's band when it returns.
    """
    cfg = ctx.settings.stages
    configured = stage_task.with_options(
        timeout_seconds=getattr(cfg, f"{stage.value}_timeout_s", None),
        retries=cfg.retries,
        retry_delay_seconds=exponential_backoff(backoff_factor=cfg.retry_backoff_s),
        retry_jitter_factor=cfg.retry_jitter,
        retry_condition_fn=retry_on_retryable,
    )
    if stage != Stage.CLEANUP:
        ctx.guard.check()
        _with_stage_retries(ctx, lambda: ctx.ledger.mark_running(ctx.job_id, stage.value))
    ctx.start_stage()
    with stage_context(stage.value):
        log.info("stage %s started", stage.value)
        started = time.monotonic()
        try:
            result = configured(*args, **kwargs)
        except TimeoutError as exc:
            raise stage_timeout(ctx, stage) from exc
        log.info("stage %s finished in %.2f s", stage.value, time.monotonic() - started)
    if stage != Stage.CLEANUP:
        ctx.progress(stage, 1.0)
    return result
