"""Job commands: run (in-process), submit (to a deployment), jobs, show, cancel, delete."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cli import warm
from cli.common import coded, console, prefect_api, print_json, service, settings_for_cli
from infra.errors import InputInvalid, JobIdTaken
from infra.jobs.models import JobKind, JobLimits, JobRequest
from infra.jobs.outcome import listen
from infra.jobs.preflight import preflight
from infra.settings import Settings, use_settings

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

    from infra.jobs.service import JobService
    from infra.store.ledger import JobLedger

TERMINAL_NAMES = ("SUCCEEDED", "FAILED", "CANCELED")

__all__ = ["register"]

PresetOption = Annotated[str | None, typer.Option(help="Output preset: hd, sd or tiny.")]


def _show_progress(ledger: JobLedger, job_id: str, status: object, done: threading.Event) -> None:
    """Show the job's stage and progress from the ledger while the flow runs."""
    while not done.wait(0.5):
        try:
            job = ledger.get(job_id)
        except Exception:  # the display must never break the run
            continue
        if job is not None and job.stage:
            status.update(f"{job.stage} … {job.progress or 0:.0f}%")  # type: ignore[attr-defined]


def _request(source: str, **fields: object) -> JobRequest:
    try:
        return JobRequest(source=source, **{k: v for k, v in fields.items() if v is not None})
    except ValueError as exc:  # pydantic's ValidationError: a coded refusal, not a traceback
        raise InputInvalid(f"invalid request: {exc}") from exc


def _with_file_roots(settings: Settings, paths: list[Path]) -> Settings:
    """These settings plus the folders of the CLI's own file arguments, for this run only."""
    run_settings = settings.model_copy(deep=True)
    extra = [p.parent.resolve() for p in paths]
    run_settings.input.roots = [*settings.input.roots, *dict.fromkeys(extra)]
    return run_settings


def _file(file: str) -> Path:
    path = Path(file).expanduser().absolute()
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise InputInvalid(f"{file} {what}")
    return path


def run(
    files: Annotated[
        list[str],
        typer.Argument(
            help="A document (PDF, Markdown, text) or a media file; several media files are "
            "joined in order (a timeline)."
        ),
    ],
    preset: PresetOption = None,
    voice: Annotated[
        str | None,
        typer.Option(help="Voice: espeak-ng (en-us), Piper (en_US-joe-medium) or remote (alloy)."),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="Voice engine: espeak, piper or remote (default: settings).")
    ] = None,
    language: Annotated[str, typer.Option(help="Narration language.")] = "en",
    kind: Annotated[JobKind, typer.Option(help="document, media or auto.")] = JobKind.AUTO,
    job_id: Annotated[str | None, typer.Option(help="Job id (default: a new one).")] = None,
) -> None:
    """Run one job end to end in this process and print where its outputs are."""
    settings = settings_for_cli()
    paths = [_file(file) for file in files]
    run_settings = _with_file_roots(settings, paths)
    request = _request(
        str(paths[0]),
        timeline=[str(p) for p in paths[1:]] or None,
        preset=preset,
        voice=voice,
        engine=engine,
        language=language,
        kind=kind,
        job_id=job_id,
    )
    # A fast refusal: before the ledger is opened and before Prefect is even imported.
    checked = preflight(request, run_settings)
    if len(paths) > 1 and checked.kind != JobKind.MEDIA:
        raise InputInvalid("several files make a timeline, and only media files can be joined")
    with use_settings(run_settings), service(run_settings) as jobs:
        job_id = checked.request.job_id or uuid.uuid4().hex
        if jobs.ledger.get(job_id) is not None:
            raise JobIdTaken(f"job id {job_id} is already taken; choose another id")
        request = checked.request.model_copy(update={"job_id": job_id, "kind": checked.kind})
        console.print(
            f"[bold]job[/bold] {job_id}  source={escape(checked.name)}  kind={checked.kind}  "
            f"preset={request.preset}"
        )
        with console.status("starting Prefect …") as status:
            prefect_api(run_settings)
            if run_settings.prefect.warm_runner:  # the next run skips these imports
                warm.spawn(run_settings.home, run_settings.prefect.warm_runner_idle_s)
            if checked.kind == JobKind.MEDIA:
                from flows.media_job import media_job as job_flow
            else:
                from flows.document_job import document_job as job_flow

            done = threading.Event()
            watcher = threading.Thread(
                target=_show_progress, args=(jobs.ledger, job_id, status, done), daemon=True
            )
            reported: list[int] = []

            def report(state: State) -> None:
                """The outcome, once: from the flow's final-state hook (before Prefect's
                teardown; a warm run's caller gets its exit code now) or after the flow."""
                if reported:
                    return
                done.set()
                status.stop()
                reported.append(_report(jobs, job_id, state))
                warm.detach(reported[0])

            watcher.start()
            try:
                with listen(job_id, report):
                    state = job_flow(request, return_state=True)
            finally:
                done.set()
                watcher.join(timeout=2)
            report(state)
        if reported[0]:
            raise typer.Exit(reported[0])


def _report(jobs: JobService, job_id: str, state: State) -> int:
    """Print the job's final state and its outputs or its error; the exit code (0 or 1)."""
    job = jobs.ledger.get(job_id)
    console.print(f"[bold]state[/bold] {job.status if job else 'UNKNOWN'} (Prefect: {state.name})")
    if job is not None and job.status == "SUCCEEDED":
        for name, url in jobs.view(job).outputs.items():
            console.print(f"{name:<10} {url}", soft_wrap=True, markup=False)
        return 0
    code = (job.error_code if job else None) or "internal_error"
    message = (job.error_message if job else None) or state.message or "the job failed"
    console.print(f"[red]{code}[/red]: " + escape(message.removeprefix(f"[{code}] ")))
    return 1


def submit(
    source: Annotated[str, typer.Argument(help="A path in an input folder, s3://…, https://…")],
    deployment: Annotated[
        str | None, typer.Option(help="flow/deployment (default: by the job's kind).")
    ] = None,
    preset: PresetOption = None,
    job_id: Annotated[str | None, typer.Option(help="Job id (default: a new one).")] = None,
    max_memory_mb: Annotated[int | None, typer.Option(help="Memory cap, MB.")] = None,
    max_cpu_percent: Annotated[int | None, typer.Option(help="CPU cap, % of a core.")] = None,
    max_disk_mb: Annotated[int | None, typer.Option(help="Work dir cap, MB.")] = None,
    max_duration_s: Annotated[int | None, typer.Option(help="Wall-clock cap, s.")] = None,
) -> None:
    """Queue a job on a deployment; prints the job id and its flow run id."""
    settings = settings_for_cli()
    limits = JobLimits(
        max_memory_mb=max_memory_mb,
        max_cpu_percent=max_cpu_percent,
        max_disk_mb=max_disk_mb,
        max_duration_s=max_duration_s,
    )
    request = _request(source, preset=preset, job_id=job_id, limits=limits)
    with service(settings) as jobs:
        checked = jobs.check(request)
        prefect_api(settings)
        submitted = jobs.submit(request, client="cli", deployment=deployment, checked=checked)
    console.print(f"{submitted.job.id} {submitted.job.flow_run_id}", markup=False)


def cancel(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a job: CANCELED at once in the ledger, its flow run set Cancelling. Idempotent."""
    settings = settings_for_cli()
    with service(settings) as jobs:
        job = jobs.get(job_id)
        if job.status not in TERMINAL_NAMES:
            prefect_api(settings)
        changed = jobs.cancel(job_id)
        now = jobs.get(job_id)
    console.print(f"{job_id}: {now.status}" + ("" if changed else " (no change)"), markup=False)


def delete(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    by: Annotated[str, typer.Option(help="Who deletes (kept in the audit row).")] = "cli",
) -> None:
    """Delete a job: cancel it if active, remove its objects, keep an audit row."""
    settings = settings_for_cli()
    with service(settings) as jobs:
        if jobs.get(job_id).status not in TERMINAL_NAMES:
            prefect_api(settings)
        jobs.delete(job_id, by=by)
    console.print(f"{job_id}: deleted", markup=False)


STATUSES = ("QUEUED", "RUNNING", *TERMINAL_NAMES)


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    if value.upper() not in STATUSES:
        choices = ", ".join(s.lower() for s in STATUSES)
        raise typer.BadParameter(f"{value!r} is not a job status; choose one of {choices}")
    return value.upper()


def list_jobs(
    limit: Annotated[int, typer.Option(help="How many jobs to list.")] = 20,
    status: Annotated[
        str | None, typer.Option(help="Only this status (queued, running, succeeded, ...).")
    ] = None,
) -> None:
    """List recent jobs from the ledger."""
    from rich.table import Table

    settings = settings_for_cli()
    table = Table("status", "stage", "error", "created")
    table.add_column("job", no_wrap=True, min_width=32)
    with service(settings) as jobs:
        found = jobs.ledger.list_jobs(limit=limit, status=_status(status))
    for job in found:
        table.add_row(
            job.status,
            job.stage or "",
            job.error_code or "",
            job.created_at.isoformat(timespec="seconds") if job.created_at else "",
            escape(job.id),
        )
    console.print(table)
    if not found:
        console.print("no jobs" + (f" with status {_status(status)}" if status else ""))


def show(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Show one job as JSON: status, error (with the stderr tail), outputs as presigned URLs."""
    settings = settings_for_cli()
    with service(settings) as jobs:
        job = jobs.get(job_id)
        data = jobs.view(job).as_dict()
    data["error_detail"] = job.error_detail
    data["source"] = job.source
    data["artifacts"] = job.artifacts
    print_json(data)


def register(app: typer.Typer) -> None:
    app.command()(coded(run))
    app.command()(coded(submit))
    app.command()(coded(cancel))
    app.command()(coded(delete))
    app.command(name="jobs")(coded(list_jobs))
    app.command()(coded(show))
