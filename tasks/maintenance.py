"""Maintenance: reap dead jobs, sweep leftovers, enforce retention, keep the ledger's database fit.

Each function takes the ledger, the store and the settings, returns a report (lists of ids/keys and
counts, so a dry run shows exactly what an execute would do) and never raises for one bad item.
Every removal goes through the checked helpers of ``infra/store/removal.py``: a folder or prefix
whose name is not a valid job id is reported, never removed. The ``reelflow-*`` maintenance flows
call these on schedules (prefect.yaml); ``reelflow cleanup`` calls the same code from the CLI.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import ReelflowError, code_from_message
from infra.prefect.client import RunState, read_run_state
from infra.settings import Settings, get_settings
from infra.store.artifacts import ArtifactStore, ObjectInfo, open_store
from infra.store.layout import MANIFEST, Area, area_prefix, job_prefix, validate_job_id
from infra.store.ledger import TERMINAL, Job, JobLedger, JobStatus
from infra.store.removal import delete_job_objects, remove_work_dir
from tasks.media.chunked import retry_crashed_parent

__all__ = [
    "enforce_retention",
    "ledger_maintenance_task",
    "reap_jobs",
    "reap_task",
    "retention_task",
    "sweep",
    "sweep_task",
]

log = logging.getLogger("reelflow.maintenance")
Report = dict[str, Any]


def _valid(job_id: str) -> bool:
    try:
        validate_job_id(job_id)
    except ReelflowError:
        return False
    return True


def reap_jobs(
    ledger: JobLedger,
    settings: Settings,
    state_of: Callable[[str], RunState | None] = read_run_state,
    now: datetime | None = None,
    run_again: Callable[[str, str, int], bool] = retry_crashed_parent,
) -> Report:
    """Make the ledger right about jobs whose runs ended without telling it.

    A job not yet terminal, silent for ``reaper_stale_s``, is reaped when its run is gone or final:
    Cancelled becomes CANCELED; Failed/Crashed become FAILED with the code in Prefect's state
    message (``[resource_limit_exceeded]`` from the container supervisor, ``[worker_timeout]``
    from the heartbeat automation), else ``worker_timeout``. A job silent for
    ``reaper_dead_after_s`` is reaped whatever Prefect says (its automation did not fire), except
    a QUEUED job whose run is still scheduled: it may wait in its pool's queue for a long time.
    A media job whose run Crashed (not for memory) is run again instead while it has a retry left
    (``media.crash_retries``; where Prefect ran no crash hook: a Docker worker, a lost host).
    """
    now = now or datetime.now(UTC)
    cfg = settings.maintenance
    report: Report = {"failed": [], "canceled": [], "alive": [], "retried": []}
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
        elif (
            name == "Crashed"
            and job.kind == "media"
            and job.flow_run_id
            and code_from_message(message) != "resource_limit_exceeded"
            and run_again(job.id, job.flow_run_id, settings.media.crash_retries)
        ):
            report["retried"].append(job.id)
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


def _by_job(objects: list[ObjectInfo]) -> dict[str, list[ObjectInfo]]:
    grouped: dict[str, list[ObjectInfo]] = defaultdict(list)
    for obj in objects:
        parts = obj.key.split("/")
        if len(parts) > 2:
            grouped[parts[1]].append(obj)
    return grouped


def _sweep_work_dirs(
    jobs: dict[str, Job], settings: Settings, now: datetime, grace: timedelta, execute: bool
) -> Report:
    report: Report = defaultdict(list)
    root = settings.work_dir_root
    for folder in sorted(root.iterdir()) if root.exists() else []:
        if not _valid(folder.name):
            report["foreign_work_dirs"].append(folder.name)  # not ours to remove
            continue
        job = jobs.get(folder.name)
        age = now - datetime.fromtimestamp(folder.lstat().st_mtime, UTC)
        if (job is not None and job.status in TERMINAL) or (job is None and age > grace):
            report["work_dirs"].append(folder.name)
            if execute:
                remove_work_dir(root, folder.name)
    return report


def sweep(ledger: JobLedger, store: ArtifactStore, settings: Settings, *, execute: bool) -> Report:
    """Remove what finished or dead jobs left behind; report orphans both ways.

    - work folders of terminal jobs, and of unknown ones older than the grace period;
    - ``jobs/<id>/`` without a manifest (uncommitted) once old and not running, and of unknown jobs;
    - ``scratch/<id>/`` (chunk outputs) of jobs no longer running;
    - ``inbox/<id>/`` uploads of unknown jobs (a submission that never happened);
    - stale multipart uploads; ledger rows of SUCCEEDED jobs whose objects are gone (annotated).
    """
    now = datetime.now(UTC)
    grace = timedelta(seconds=settings.maintenance.sweep_grace_s)
    jobs = {job.id: job for job in ledger.list_jobs(limit=1_000_000, include_deleted=True)}
    report = _sweep_work_dirs(jobs, settings, now, grace, execute)

    def remove(area: Area, job_id: str, bucket: str) -> None:
        report[bucket].append(job_id)
        if execute:
            try:
                delete_job_objects(store, job_id, (area,))
            except ReelflowError:
                log.exception("sweeper: could not remove %s%s/", area_prefix(area), job_id)

    committed_ids: set[str] = set()
    for job_id, objects in sorted(_by_job(store.list_objects(area_prefix(Area.JOBS))).items()):
        if not _valid(job_id):
            report["foreign_prefixes"].append(f"jobs/{job_id}/")
            continue
        job = jobs.get(job_id)
        old = now - max(o.modified for o in objects) > grace
        committed = any(o.key == job_prefix(job_id) + MANIFEST for o in objects)
        if committed:
            committed_ids.add(job_id)
        if not committed and old and (job is None or job.status != JobStatus.RUNNING):
            remove(Area.JOBS, job_id, "uncommitted")
        elif job is None and old:
            remove(Area.JOBS, job_id, "orphaned_objects")
    for area, bucket in ((Area.SCRATCH, "scratch"), (Area.INBOX, "orphaned_uploads")):
        for job_id, objects in sorted(_by_job(store.list_objects(area_prefix(area))).items()):
            if not _valid(job_id):
                report["foreign_prefixes"].append(f"{area.value}/{job_id}/")
                continue
            job = jobs.get(job_id)
            old = now - max(o.modified for o in objects) > grace
            if area == Area.SCRATCH and old and (job is None or job.status in TERMINAL):
                remove(area, job_id, bucket)
            elif area == Area.INBOX and old and job is None:
                remove(area, job_id, bucket)
    for job in jobs.values():
        if (
            job.status == JobStatus.SUCCEEDED
            and job.artifacts
            and job.deleted_at is None
            and job.id not in committed_ids
        ):
            report["missing_objects"].append(job.id)
            if execute:
                ledger.annotate(
                    job.id, f"sweeper {now:%Y-%m-%d %H:%M}: outputs missing", drop_artifacts=True
                )
    report["stale_uploads_aborted"] = store.abort_stale_uploads(now - grace) if execute else 0
    return dict(report)


def enforce_retention(
    ledger: JobLedger, store: ArtifactStore, settings: Settings, days: int, *, execute: bool
) -> Report:
    """Jobs finished more than ``days`` ago: their objects (outputs, scratch, inbox), work
    folders and ledger rows. A row whose id is not a valid job id is reported, never acted on."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    report: Report = {"expired": [], "refused": []}
    for job in ledger.list_finished_before(cutoff):
        if not _valid(job.id):
            report["refused"].append(job.id)
            log.error("retention: ledger row %r is not a valid job id; left alone", job.id)
            continue
        report["expired"].append(job.id)
        if execute:
            try:
                delete_job_objects(store, job.id, (Area.JOBS, Area.SCRATCH, Area.INBOX))
                remove_work_dir(settings.work_dir_root, job.id)
            except ReelflowError:
                log.exception("retention: could not remove job %s; kept for the next run", job.id)
                report["expired"].remove(job.id)
    if execute:
        ledger.delete(report["expired"])
    return report


def _with_ledger(fn: Callable[[JobLedger, Settings], Any]) -> Any:
    settings = get_settings()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        return fn(ledger, settings)
    finally:
        ledger.dispose()


@task(name="reap", cache_policy=NO_CACHE)
def reap_task() -> Report:
    return _with_ledger(reap_jobs)


@task(name="sweep", cache_policy=NO_CACHE)
def sweep_task(execute: bool) -> Report:
    return _with_ledger(
        lambda ledger, settings: sweep(ledger, open_store(settings), settings, execute=execute)
    )


@task(name="retention", cache_policy=NO_CACHE)
def retention_task(days: int | None, execute: bool) -> Report:
    return _with_ledger(
        lambda ledger, settings: enforce_retention(
            ledger,
            open_store(settings),
            settings,
            days if days is not None else settings.maintenance.retention_days,
            execute=execute,
        )
    )


@task(name="ledger-maintenance", cache_policy=NO_CACHE)
def ledger_maintenance_task() -> str:
    return _with_ledger(lambda ledger, _settings: ledger.maintain())
