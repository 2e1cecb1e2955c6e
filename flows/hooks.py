"""State hooks of the video job: record the outcome in the ledger and clean up.

Hooks may run in a process that never ran the job (a fresh container after a crash), so they derive
everything from the flow run id and its parameters. Each step is guarded: a hook that raises is
only logged by Prefect, and one failing step must not skip the others.
"""

from __future__ import annotations

import logging
from typing import Any

from infra.errors import code_from_message
from infra.prefect.client import fail_flow_run
from infra.process.cgroup import oom_report
from tasks.cleanup import discard_after_cancel, discard_uncommitted
from tasks.stage import job_id_for, ledger, remove_work_dir

__all__ = ["on_cancelled", "on_completed", "on_crashed", "on_failed"]

log = logging.getLogger("reelflow.hooks")


def _job_id(flow_run: Any) -> str:
    return job_id_for(flow_run.id, (flow_run.parameters or {}).get("request") or {})


def _ensure_row(job_id: str, flow_run: Any) -> None:
    request = (flow_run.parameters or {}).get("request") or {}
    ledger().create_job(
        job_id,
        flow_run_id=str(flow_run.id),
        source=request.get("source"),
        kind=request.get("kind"),
        preset=request.get("preset"),
    )


def _guarded(what: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("hook step %r failed", what)


def on_failed(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    job_id = _job_id(flow_run)
    message = state.message or "the job failed"
    code = code_from_message(message) or "internal_error"
    _guarded("ledger row", _ensure_row, job_id, flow_run)
    _guarded("ledger", lambda: ledger().mark_failed(job_id, code, message))
    _guarded("objects", discard_uncommitted, job_id)
    _guarded("work dir", remove_work_dir, job_id)


def on_crashed(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    """A crash in a job container that hit its memory limit is ``resource_limit_exceeded``
    (Prefect's executor survives the OOM kill of its engine and runs this hook in the same
    container); any other crash is ``worker_timeout``."""
    job_id = _job_id(flow_run)
    oom = oom_report()
    if oom is not None:
        code, message = "resource_limit_exceeded", oom
        _guarded("prefect state", fail_flow_run, flow_run.id, message)
    else:
        code = "worker_timeout"
        message = f"[worker_timeout] the worker running the job crashed: {state.message or ''}"
    _guarded("ledger row", _ensure_row, job_id, flow_run)
    _guarded("ledger", lambda: ledger().mark_failed(job_id, code, message))
    _guarded("objects", discard_uncommitted, job_id)
    _guarded("work dir", remove_work_dir, job_id)


def on_cancelled(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    job_id = _job_id(flow_run)
    _guarded("ledger row", _ensure_row, job_id, flow_run)
    _guarded("ledger", lambda: ledger().mark_canceled(job_id))
    _guarded("objects", discard_after_cancel, job_id)
    _guarded("work dir", remove_work_dir, job_id)


def on_completed(flow: Any, flow_run: Any, state: Any) -> None:  # noqa: ARG001
    _guarded("work dir", remove_work_dir, _job_id(flow_run))
