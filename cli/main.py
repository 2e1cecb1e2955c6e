"""The ``reelflow`` command line: run a job, list jobs, show one job.

The CLI is the composition root for local use: ``run`` calls the ``video-job`` flow in this process
(against ``PREFECT_API_URL`` when set, else Prefect's local ephemeral API on SQLite), so it is the
one infra module that reaches a flow, and it does so lazily.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.status import Status
from rich.table import Table

from infra.errors import ReelflowError
from infra.logs import configure_logging
from infra.settings import get_settings

__all__ = ["app"]

app = typer.Typer(
    help="reelflow: documents and media to delivery-ready video.", no_args_is_help=True
)
console = Console()


def _ledger():
    from tasks.stage import ledger

    return ledger()


def _show_progress(job_id: str, status: Status, done: threading.Event) -> None:
    """Show the job's stage and progress from the ledger while the flow runs."""
    while not done.wait(0.5):
        try:
            job = _ledger().get(job_id)
        except Exception:  # the display must never break the run
            continue
        if job is not None and job.stage:
            status.update(f"{job.stage} … {job.progress or 0:.0f}%")


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="PDF, Markdown or text file.")],
    preset: Annotated[str, typer.Option(help="Output preset: hd, sd or tiny.")] = "hd",
    voice: Annotated[str | None, typer.Option(help="espeak-ng voice, e.g. en-us.")] = None,
    language: Annotated[str, typer.Option(help="Narration language.")] = "en",
) -> None:
    """Run one document job end to end and print where its outputs are."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")
    settings = get_settings()
    configure_logging(settings.log.level, settings.log.json_format)
    from flows.document_job import document_job
    from infra.jobs.models import JobRequest

    job_id = uuid.uuid4().hex
    request = JobRequest(
        source=str(file.resolve()), preset=preset, voice=voice, language=language, job_id=job_id
    )
    console.print(f"[bold]job[/bold] {job_id}  source={file}  preset={preset}")
    with console.status("starting …") as status:
        done = threading.Event()
        watcher = threading.Thread(target=_show_progress, args=(job_id, status, done), daemon=True)
        watcher.start()
        try:
            state = document_job(request, return_state=True)
        finally:
            done.set()
            watcher.join(timeout=2)
    job = _ledger().get(job_id)
    console.print(f"[bold]state[/bold] {job.status if job else 'UNKNOWN'} (Prefect: {state.name})")
    if state.is_completed():
        result = state.result()
        for name, url in result.outputs.items():
            console.print(f"{name:<10} {url}", soft_wrap=True, highlight=False)
        return
    code = job.error_code if job else None
    console.print(
        f"[red]{code or 'internal_error'}[/red]: {job.error_message if job else state.message}"
    )
    raise typer.Exit(1)


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="Input file, readable by the worker.")],
    deployment: Annotated[str, typer.Option(help="flow/deployment")] = "video-job/video-job-docker",
    preset: Annotated[str, typer.Option(help="Output preset: hd, sd or tiny.")] = "hd",
    max_memory_mb: Annotated[int | None, typer.Option(help="Memory cap, MB.")] = None,
    max_cpu_percent: Annotated[int | None, typer.Option(help="CPU cap, % of a core.")] = None,
    max_disk_mb: Annotated[int | None, typer.Option(help="Work dir cap, MB.")] = None,
    max_duration_s: Annotated[int | None, typer.Option(help="Wall-clock cap, s.")] = None,
) -> None:
    """Queue a job on a deployment (needs PREFECT_API_URL); prints the flow run id."""
    from infra.jobs.models import JobLimits, JobRequest
    from infra.prefect.client import submit_job

    request = JobRequest(
        source=str(file),
        preset=preset,
        limits=JobLimits(
            max_memory_mb=max_memory_mb,
            max_cpu_percent=max_cpu_percent,
            max_disk_mb=max_disk_mb,
            max_duration_s=max_duration_s,
        ),
    )
    console.print(str(submit_job(request, deployment, get_settings())))


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a job: CANCELED at once in the ledger, its flow run set Cancelling. Idempotent."""
    from infra.prefect.client import cancel_job

    changed = cancel_job(job_id, _ledger())
    job = _ledger().get(job_id)
    console.print(
        f"{job_id}: {job.status if job else 'UNKNOWN'}" + ("" if changed else " (no change)")
    )


@app.command()
def bootstrap(
    heartbeat_s: Annotated[int, typer.Option(help="Workers' flow heartbeat interval.")] = 30,
    pending_timeout_s: Annotated[int, typer.Option(help="Crash runs Pending this long.")] = 900,
) -> None:
    """Create the work pools, the job concurrency limit, the automations and the bucket.

    Idempotent: what exists is reported and left alone.
    """
    from infra.prefect.bootstrap import bootstrap as run_bootstrap

    report = run_bootstrap(
        get_settings(), heartbeat_s=heartbeat_s, pending_timeout_s=pending_timeout_s
    )
    console.print_json(json.dumps(report))


@app.command()
def cleanup(
    days: Annotated[int, typer.Option(help="Remove jobs finished more than N days ago.")] = 7,
    execute: Annotated[bool, typer.Option(help="Delete; without it, only report.")] = False,
    orphaned: Annotated[bool, typer.Option(help="Also sweep leftovers and orphans.")] = False,
) -> None:
    """Retention (and with --orphaned the sweeper) from the CLI; a dry run unless --execute."""
    from infra.store.artifacts import open_store
    from tasks.maintenance import enforce_retention, sweep

    settings = get_settings()
    store = open_store(settings)
    report: dict[str, object] = {
        "dry_run": not execute,
        "retention": enforce_retention(_ledger(), store, settings, days, execute=execute),
    }
    if orphaned:
        report["sweep"] = sweep(_ledger(), store, settings, execute=execute)
    console.print_json(json.dumps(report))


@app.command()
def jobs(
    limit: Annotated[int, typer.Option(help="How many jobs to list.")] = 20,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
) -> None:
    """List recent jobs from the ledger."""
    table = Table("status", "stage", "error", "created")
    table.add_column("job", no_wrap=True, min_width=32)
    for job in _ledger().list_jobs(limit=limit, status=status):
        table.add_row(
            job.status,
            job.stage or "",
            job.error_code or "",
            job.created_at.isoformat(timespec="seconds") if job.created_at else "",
            job.id,
        )
    console.print(table)


@app.command()
def show(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Show one job's ledger record as JSON."""
    job = _ledger().get(job_id)
    if job is None:
        console.print(f"[red]no job {job_id}[/red]")
        raise typer.Exit(2)
    console.print_json(json.dumps(job.as_dict(), default=str))


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except ReelflowError as exc:
        logging.getLogger("reelflow").error("%s", exc)
        raise SystemExit(2) from exc
