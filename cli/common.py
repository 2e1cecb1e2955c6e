"""What every command shares: settings, the ledger, the job service, Prefect's API URL, output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from infra.errors import ReelflowError
from infra.logs import configure_logging
from infra.settings import Settings, get_settings

if TYPE_CHECKING:
    from infra.jobs.service import JobService

__all__ = [
    "coded",
    "console",
    "err_console",
    "print_json",
    "PREFECT_DEFAULTS",
    "prefect_api",
    "service",
    "settings_for_cli",
]
P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Before Prefect is imported: no telemetry (a CLI run must not phone home), heartbeats every 30 s
# (what the crash automation of `reelflow bootstrap` expects), reelflow's own lines say enough.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}
for _key, _value in PREFECT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)


def settings_for_cli() -> Settings:
    settings = get_settings()
    configure_logging(settings.log.level, settings.log.json_format)
    return settings


@contextlib.contextmanager
def service(settings: Settings) -> Iterator[JobService]:
    """A job service over a ledger opened (and migrated if behind) for this command.

    Imported here, not at the top: a refused input must not pay for SQLAlchemy's import.
    """
    from infra.jobs.service import JobService
    from infra.store.ledger import JobLedger

    ledger = JobLedger.from_settings(settings.ledger)
    try:
        yield JobService(settings, ledger)
    finally:
        ledger.dispose()


def prefect_api(settings: Settings) -> str:
    """Prefect's API URL: ``PREFECT_API_URL`` (or a Prefect profile) when set, else the local
    server, started on first use and kept running between commands."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return configured
    if "prefect" in sys.modules:  # already loaded: its settings context (a profile, a harness)
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url
        if url:
            return str(url)
    # Prefect reads its settings when it is imported: the URL goes into the environment first.
    from infra.prefect.server import LocalServer

    cfg = settings.prefect
    url = LocalServer(settings.home, cfg.local_server_port, cfg.server_startup_timeout_s).ensure()
    os.environ["PREFECT_API_URL"] = url
    # Prefect read its settings when it was imported (above): without a refresh, its clients in
    # this process would still start a temporary server of their own.
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
    return url


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


def coded(command: Callable[P, R]) -> Callable[P, R]:
    """A command whose ReelflowError is printed as ``code: message`` and exits 2 (refused)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ReelflowError as exc:
            err_console.print(f"[red]{exc.code}[/red]: ", end="")
            err_console.print(exc.message, markup=False)
            raise typer.Exit(2) from exc

    return wrapper
