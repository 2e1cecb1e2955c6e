"""Operator commands: bootstrap, cleanup, the local Prefect server, ledger migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import warm
from cli.common import coded, console, prefect_api, print_json, service, settings_for_cli

__all__ = ["register"]

server_app = typer.Typer(help="The local Prefect server of the embedded default.")
db_app = typer.Typer(help="The job ledger's database.")


def bootstrap(
    heartbeat_s: Annotated[int, typer.Option(help="Workers' flow heartbeat interval.")] = 30,
    pending_timeout_s: Annotated[int, typer.Option(help="Crash runs Pending this long.")] = 900,
) -> None:
    """Create the work pools, the job concurrency limit, the automations and the bucket.

    Idempotent: what exists is reported and left alone.
    """
    from infra.prefect.bootstrap import bootstrap as run_bootstrap

    settings = settings_for_cli()
    prefect_api(settings)
    report = run_bootstrap(settings, heartbeat_s=heartbeat_s, pending_timeout_s=pending_timeout_s)
    print_json(report)


def cleanup(
    days: Annotated[int, typer.Option(help="Remove jobs finished more than N days ago.")] = 7,
    execute: Annotated[bool, typer.Option(help="Delete; without it, only report.")] = False,
    orphaned: Annotated[bool, typer.Option(help="Also sweep leftovers and orphans.")] = False,
) -> None:
    """Retention (and with --orphaned the sweeper) from the CLI; a dry run unless --execute."""
    from tasks.maintenance import enforce_retention, sweep

    settings = settings_for_cli()
    with service(settings) as jobs:
        report: dict[str, object] = {
            "dry_run": not execute,
            "retention": enforce_retention(
                jobs.ledger, jobs.store, settings, days, execute=execute
            ),
        }
        if orphaned:
            report["sweep"] = sweep(jobs.ledger, jobs.store, settings, execute=execute)
    print_json(report)


def _server():  # noqa: ANN202
    from infra.prefect.server import LocalServer

    settings = settings_for_cli()
    cfg = settings.prefect
    return LocalServer(settings.home, cfg.local_server_port, cfg.server_startup_timeout_s)


def drain(
    pool: Annotated[str, typer.Argument(help="Work pool, e.g. reelflow-docker.")],
    queue: Annotated[
        str | None, typer.Option(help="Only this work queue (a worker started on its own queue).")
    ] = None,
) -> None:
    """Stop a pool (or one of its queues) from taking new jobs; running jobs finish."""
    from infra.prefect.client import set_paused

    prefect_api(settings_for_cli())
    set_paused(pool, True, queue)
    console.print(f"{pool}{'/' + queue if queue else ''}: draining (paused)", markup=False)


def resume(
    pool: Annotated[str, typer.Argument(help="Work pool.")],
    queue: Annotated[str | None, typer.Option(help="Only this work queue.")] = None,
) -> None:
    """Let a drained pool (or queue) take jobs again."""
    from infra.prefect.client import set_paused

    prefect_api(settings_for_cli())
    set_paused(pool, False, queue)
    console.print(f"{pool}{'/' + queue if queue else ''}: resumed", markup=False)


@server_app.command("start")
@coded
def server_start() -> None:
    """Start the local Prefect server and the warm runner (no-op when they run); print the API
    URL."""
    settings = settings_for_cli()
    console.print(_server().ensure(), markup=False)
    if settings.prefect.warm_runner:
        warm.spawn(settings.home, settings.prefect.warm_runner_idle_s)


@server_app.command("stop")
@coded
def server_stop() -> None:
    """Stop the local Prefect server and the warm runner."""
    runner = warm.stop(settings_for_cli().home)
    console.print("stopped" if _server().stop() or runner else "not running")


@server_app.command("status")
@coded
def server_status() -> None:
    """Whether the local Prefect server runs (pid, port, API URL, log), and the warm runner."""
    print_json({**_server().status(), "warm_runner": warm.status(settings_for_cli().home)})


@db_app.command("upgrade")
@coded
def db_upgrade() -> None:
    """Migrate the ledger to the newest schema (every entry point also does it when behind)."""
    from infra.store.ledger import JobLedger
    from infra.store.migrate import upgrade

    settings = settings_for_cli()
    assert settings.ledger.url is not None
    ledger = JobLedger(settings.ledger.url, migrate=False)
    try:
        before, after = upgrade(ledger.engine)
    finally:
        ledger.dispose()
    console.print(f"ledger: {before or 'empty'} -> {after}", markup=False)


@db_app.command("current")
@coded
def db_current() -> None:
    """Print the ledger's schema revision."""
    from infra.store.ledger import JobLedger
    from infra.store.migrate import HEAD, current_revision

    settings = settings_for_cli()
    assert settings.ledger.url is not None
    ledger = JobLedger(settings.ledger.url, migrate=False)
    try:
        console.print(f"{current_revision(ledger.engine) or 'empty'} (head {HEAD})", markup=False)
    finally:
        ledger.dispose()


def register(app: typer.Typer) -> None:
    app.command()(coded(bootstrap))
    app.command()(coded(cleanup))
    app.command()(coded(drain))
    app.command()(coded(resume))
    app.add_typer(server_app, name="server")
    app.add_typer(db_app, name="db")
