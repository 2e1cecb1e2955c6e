"""``reelflow loadtest``: drive a running job API (loopback only) and write its reports."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.common import coded, console, settings_for_cli
from infra.errors import ConfigError

__all__ = ["register"]


def loadtest(
    profile: Annotated[
        str, typer.Option(help="quick | standard | stress | scale (docs/CAPACITY.md).")
    ] = "quick",
    url: Annotated[str, typer.Option(help="The gateway, on loopback.")] = "http://127.0.0.1:8080",
    key: Annotated[
        str | None,
        typer.Option(
            envvar="REELFLOW_LOADTEST_KEY",
            help="API key to submit with (default: a new key in the configured ledger).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder of the JSON and Markdown reports.")] = Path(
        "loadtest-reports"
    ),
    prefect_db: Annotated[
        str | None,
        typer.Option(
            envvar="PREFECT_API_DATABASE_CONNECTION_URL",
            help="Prefect server's database URL, to report its growth.",
        ),
    ] = None,
    preset: Annotated[str, typer.Option(help="Preset of every job.")] = "tiny",
) -> None:
    """Submit a profile's tiny jobs, drain, report; exit 1 when a job was lost."""
    from infra.loadtest import PROFILES, measure_load, require_loopback, write_reports

    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
    url = require_loopback(url)  # before anything else: nothing off this machine is a target
    chosen = PROFILES[profile]
    settings = settings_for_cli()
    if key is None:
        from infra.store.api_keys import ApiKeyStore
        from infra.store.ledger import JobLedger

        ledger = JobLedger.from_settings(settings.ledger)
        try:
            name = f"loadtest-{datetime.now(UTC):%Y%m%d%H%M%S}-{os.getpid()}"
            _, key = ApiKeyStore(ledger).create(
                name, rate_per_min=100_000, max_active=chosen.jobs + 10
            )
        finally:
            ledger.dispose()
        console.print(f"submitting as a new key: {name}")
    console.print(
        f"profile {chosen.name}: {chosen.jobs} jobs, {chosen.clients} clients, "
        f"{chosen.idle_clients} idle clients, against {url}"
    )
    report = measure_load(
        url, key, chosen, ledger_url=settings.ledger.url, prefect_db_url=prefect_db, preset=preset
    )
    json_path, md_path = write_reports(report, out)
    console.print(report.to_markdown(), markup=False)
    console.print(f"reports: {json_path} {md_path}")
    if report.lost:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(coded(loadtest))
