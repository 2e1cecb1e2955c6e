"""State hooks of the job flows: record the outcome in the ledger and clean up.

Hooks may run in a process that never ran the job (a fresh container after a crash), so they derive
everything from the flow run id and its parameters. They act only on a job whose ledger row is
bound to *this* flow run: a run refused because its job id was taken never touches the job that
owns the id. Each step is guarded: a hook that raises is only logged by Prefect, and one failing
step must not skip the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from infra.errors import ReelflowError, code_from_message
from infra.jobs.outcome import notify
from infra.prefect.bootstrap import JOB_FINISHED_EVENT
from infra.prefect.client import fail_flow_run
from infra.process.cgroup import oom_report
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from infra.store.layout import validate_job_id
from infra.store.ledger import JobLedger
from infra.store.removal import remove_work_dir
from tasks.cleanup import discard_after_cancel, discard_uncommitted
from tasks.media.chunked import crash_retry_left, stop_chunk_runs

__all__ = ["on_cancelled", "on_completed", "on_crashed", "on_failed"]

log = logging.getLogger("reelflow.hooks")


def _owned(flow_run: Any) -> tuple[str, Settings, JobLedger] | None:
    """(job id, settings, ledger) when this flow run owns its job's ledger row, else None."""
    request = (flow_run.parameters or {}).get("request") or {}
    given = request.get("job_id") if isinstance(request, dict) else None
    try:
        job_id = validate_job_id(given or str(flow_run.id))
        settings = get_settings()
        ledger = JobLedger.from_settings(settings.ledger)
    except ReelflowError:
        log.exception("hook: no job to act on for flow run %s", flow_run.id)
        return None
    if not ledger.owns(job_id, str(flow_run.id)):
        log.info("hook: job %s is not this run's (%s); left alone", job_id, flow_run.id)
        return None
    return job_id, settings, ledger


def _announce(job_id: str) -> None:
    """Tell Prefect the job's outcome is recorded: the webhook automation delivers its outbox."""
    from prefect.events import emit_event

    emit_event(
        event=JOB_FINISHED_EVENT,
        resource={"prefect.resource.id": f"reelflow.job.{job_id}", "reelflow.job.id": job_id},
    )


def _guarded(what: str, fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("hook step %r failed", what)


def on_failed(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    owned = _owned(flow_run)
    if owned is None:
        return
    job_id, settings, ledger = owned
    message = state.message or "the job failed"
    code = code_from_message(message) or "internal_error"
    _guarded("ledger", ledger.mark_failed, job_id, code, message)
    _guarded("chunk runs", stop_chunk_runs, job_id)  # before scratch goes: they write there
    _guarded("objects", discard_uncommitted, open_store(settings), job_id)
    _guarded("work dir", remove_work_dir, settings.work_dir_root, job_id)
    _guarded("event", _announce, job_id)
    notify(job_id, state)


def on_crashed(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    """A crash in a job container that hit its memory limit is ``resource_limit_exceeded``
    (Prefect's executor survives the OOM kill of its engine and runs this hook in the same
    container); a media job with a crash retry left stays RUNNING with its scratch (the reaper
    runs it again, reusing its chunks); any other crash is ``worker_timeout``."""
    owned = _owned(flow_run)
    if owned is None:
        return
    job_id, settings, ledger = owned
    oom = oom_report()
    if oom is None and _will_run_again(job_id, settings, ledger, flow_run):
        _guarded("chunk runs", stop_chunk_runs, job_id)
        _guarded("work dir", remove_work_dir, settings.work_dir_root, job_id)
        log.warning("hook: job %s crashed; left RUNNING with its scratch for the reaper", job_id)
        return  # the reaper runs it again; the next attempt reuses the chunks in scratch
    if oom is not None:
        code, message = "resource_limit_exceeded", oom
        _guarded("prefect state", fail_flow_run, flow_run.id, message)
    else:
        code = "worker_timeout"
        message = f"[worker_timeout] the worker running the job crashed: {state.message or ''}"
    _guarded("ledger", ledger.mark_failed, job_id, code, message)
    _guarded("chunk runs", stop_chunk_runs, job_id)  # before scratch goes: they write there
    _guarded("objects", discard_uncommitted, open_store(settings), job_id)
    _guarded("work dir", remove_work_dir, settings.work_dir_root, job_id)
    _guarded("event", _announce, job_id)
    notify(job_id, state)


def _will_run_again(job_id: str, settings: Settings, ledger: JobLedger, flow_run: Any) -> bool:
    """A crashed media job with a retry left is run again by the reaper (see
    :func:`tasks.media.chunked.retry_crashed_parent`): not from here, where Prefect 3.8.8's
    process worker would report the run Crashed again after the hooks, over the new state."""
    job = ledger.get(job_id)
    if job is None or job.kind != "media":
        return False
    try:
        return crash_retry_left(str(flow_run.id), settings.media.crash_retries)
    except Exception:
        log.exception("hook step 'retry' failed")
        return False


def on_cancelled(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    owned = _owned(flow_run)
    if owned is None:
        return
    job_id, settings, ledger = owned
    _guarded("ledger", ledger.mark_canceled, job_id)
    _guarded("chunk runs", stop_chunk_runs, job_id)
    _guarded("objects", discard_after_cancel, open_store(settings), ledger, job_id)
    _guarded("work dir", remove_work_dir, settings.work_dir_root, job_id)
    _guarded("event", _announce, job_id)
    notify(job_id, state)


def on_completed(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    owned = _owned(flow_run)
    if owned is not None:
        job_id, settings, _ = owned
        _guarded("work dir", remove_work_dir, settings.work_dir_root, job_id)
        _guarded("event", _announce, job_id)
        notify(job_id, state)
