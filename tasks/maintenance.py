"""Maintenance: reap dead jobs, sweep leftovers, enforce retention, keep the ledger's database fit.

Each function takes the ledger, the store and the settings, returns a report (a dict of lists of
ids/keys, so a dry run shows exactly what an execute would do) and never raises for one bad item.
The ``reelflow-*`` maintenance flows call them on schedules (prefect.yaml); ``reelflow cleanup``
calls the same code from the CLI.
"""

from __future__ import annotations

import logging
import shutil
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import code_from_message
from infra.settings import Settings, get_settings
from infra.store.artifacts import ArtifactStore, open_store
from infra.store.ledger import TERMINAL, JobLedger, JobStatus
from tasks.stage import job_prefix, ledger
from tasks.upload import MANIFEST

__all__ = [
    "RunState",
    "enforce_retention",
    "flow_run_state",
    "ledger_maintenance_task",
    "reap_jobs",
    "reap_task",
    "retention_task",
    "sweep",
    "sweep_task",
]

log = logging.getLogger("reelflow.maintenance")
Report = dict[str, list[str]]


class RunState(NamedTuple):
    """What the reaper needs of a flow run's Prefect state."""

    name: str
    message: str | None
    final: bool
    scheduled: bool  # Scheduled, Late, AwaitingRetry…: it may wait in its pool's queue for long


def flow_run_state(flow_run_id: str) -> RunState | None:
    """Prefect's state (name and message) of a flow run, or None when the run does not exist."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(flow_run_id)).state
    except (ObjectNotFound, ValueError):
        return None
    if state is None:
        return None
    return RunState(
        state.name or state.type.value, state.message, state.is_final(), state.is_scheduled()
    )


def reap_jobs(
    ledger: JobLedger,
    settings: Settings,
    state_of: Callable[[str], RunState | None] = flow_run_state,
    now: datetime | None = None,
) -> Report:
    """Make the ledger right about jobs whose runs ended without telling it.

    A job not yet terminal, silent for ``reaper_stale_s``, is reaped when its run is gone or final:
    Cancelled becomes CANCELED; Failed/Crashed become FAILED with the code in Prefect's state
    message (``[resource_limit_exceeded]`` from the container supervisor, ``[worker_timeout]``
    from the heartbeat automation), else ``worker_timeout``. A job silent for
    ``reaper_dead_after_s`` is reaped whatever Prefect says (its automation did not fire), except
    a QUEUED job whose run is still scheduled: it may wait in its pool's queue for a long time.
    """
    now = now or datetime.now(UTC)
    cfg = settings.maintenance
    report: Report = {"failed": [], "canceled": [], "alive": []}
    for job in ledger.list_active():
        silent = (now - job.last_sign_of_life()).total_seconds()
        if silent < cfg.reaper_stale_s:
            report["alive"].append(job.id)
            continue
        state = state_of(job.flow_run_id) if job.flow_run_id else None
        name, message = (state.name, state.message) if state is not None else ("gone", None)
        waiting = job.status == JobStatus.QUEUED and state is not None and state.scheduled
        dead = not waiting and silent >= cfg.reaper_dead_after_s
        if name == "Cancelled":
            ledger.mark_canceled(job.id, "reaped: the flow run was cancelled")
            report["canceled"].append(job.id)
        elif state is None or state.final or dead:
            code = code_from_message(message) or "worker_timeout"
            why = (
                f": {message}" if message else "; the worker running it died or lost its connection"
            )
            ledger.mark_failed(
                job.id,
                code,
                f"[{code}] no sign of life for {silent:.0f} s and the flow run is {name}{why}",
            )
            report["failed"].append(job.id)
        else:
            report["alive"].append(job.id)
    return report


def sweep(ledger: JobLedger, store: ArtifactStore, settings: Settings, *, execute: bool) -> Report:
    """Remove what finished or dead jobs left behind; report orphans both ways."""
    now = datetime.now(UTC)
    grace = timedelta(seconds=settings.maintenance.sweep_grace_s)
    jobs = {job.id: job for job in ledger.list_jobs(limit=1_000_000)}
    report: Report = defaultdict(list)

    root = settings.work_dir_root
    for folder in sorted(root.iterdir()) if root.exists() else []:
        job = jobs.get(folder.name)
        age = now - datetime.fromtimestamp(folder.stat().st_mtime, UTC)
        if (job is not None and job.status in TERMINAL) or (job is None and age > grace):
            report["work_dirs"].append(folder.name)
            if execute:
                shutil.rmtree(folder, ignore_errors=True)

    prefixes: dict[str, list[Any]] = defaultdict(list)
    for obj in store.list_objects("jobs/"):
        prefixes[obj.key.split("/")[1]].append(obj)
    for job_id, objects in sorted(prefixes.items()):
        job = jobs.get(job_id)
        newest = max(o.modified for o in objects)
        committed = any(o.key == job_prefix(job_id) + MANIFEST for o in objects)
        old = now - newest > grace
        if not committed and old and (job is None or job.status != JobStatus.RUNNING):
            report["uncommitted"].append(job_id)
        elif job is None and old:
            report["orphaned_objects"].append(job_id)
        else:
            continue
        if execute:
            store.delete_prefix(job_prefix(job_id))
    for job in jobs.values():
        if job.status == JobStatus.SUCCEEDED and job.artifacts and job.id not in prefixes:
            report["missing_objects"].append(job.id)
            if execute:
                ledger.annotate(
                    job.id, f"sweeper {now:%Y-%m-%d %H:%M}: outputs missing", drop_artifacts=True
                )
    stale = store.abort_stale_uploads(now - grace) if execute else 0
    report["stale_uploads_aborted"] = [str(stale)]
    return dict(report)


def enforce_retention(
    ledger: JobLedger, store: ArtifactStore, settings: Settings, days: int, *, execute: bool
) -> Report:
    """Jobs finished more than ``days`` ago: their objects, work dirs and ledger rows."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    expired = [job.id for job in ledger.list_finished_before(cutoff)]
    if execute:
        for job_id in expired:
            store.delete_prefix(job_prefix(job_id))
            shutil.rmtree(settings.work_dir_root / job_id, ignore_errors=True)
        ledger.delete(expired)
    return {"expired": expired}


@task(name="reap", cache_policy=NO_CACHE)
def reap_task() -> Report:
    return reap_jobs(ledger(), get_settings())


@task(name="sweep", cache_policy=NO_CACHE)
def sweep_task(execute: bool) -> Report:
    settings = get_settings()
    return sweep(ledger(), open_store(settings), settings, execute=execute)


@task(name="retention", cache_policy=NO_CACHE)
def retention_task(days: int | None, execute: bool) -> Report:
    settings = get_settings()
    return enforce_retention(
        ledger(),
        open_store(settings),
        settings,
        days if days is not None else settings.maintenance.retention_days,
        execute=execute,
    )


@task(name="ledger-maintenance", cache_policy=NO_CACHE)
def ledger_maintenance_task() -> str:
    return ledger().maintain()
