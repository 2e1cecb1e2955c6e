"""``reelflow serve``: the job API gateway under uvicorn.

Embedded default (no ``PREFECT_API_URL``): the local Prefect server is started (or found), the
pools, job limit and automations are bootstrapped, the process-pool deployments registered, and a
process worker for jobs plus one for maintenance (reaper, sweeper, retention, webhook delivery)
run as long as the gateway does, so one command accepts a job, runs it to SUCCEEDED and calls
its callback. With ``PREFECT_API_URL`` set (production) it only serves, submitting to the
deployments named in settings (the Docker pool's in the compose stack).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import coded, console, prefect_api, settings_for_cli

__all__ = ["register"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _bound_malloc() -> None:
    """Large buffers (an upload's part, a download's chunk) go back to the OS when freed.

    glibc raises its mmap threshold after the first large free, after which such buffers come
    from per-thread heaps that rarely shrink: a gateway would keep tens of MB after each upload.
    A fixed threshold (which also disables the dynamic one) keeps its memory flat."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _embedded() -> bool:
    """True when no Prefect API is configured (env or profile): the local server is ours."""
    if os.environ.get("PREFECT_API_URL"):
        return False
    from prefect.settings import get_current_settings

    return not get_current_settings().api.url


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: settings).")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run a process worker with the gateway (default: only in the embedded mode).",
        ),
    ] = None,
) -> None:
    """Serve the job API (OpenAPI at /docs)."""
    import uvicorn

    from infra.api import create_app
    from infra.metrics import METRICS
    from infra.store.ledger import JobLedger

    settings = settings_for_cli()
    _bound_malloc()
    embedded = _embedded()
    api_url = prefect_api(settings)
    if embedded:
        from infra.prefect.bootstrap import bootstrap
        from infra.prefect.embedded import process_deployments

        console.print(f"embedded mode: Prefect at {api_url}; registering deployments …")
        bootstrap(settings, project_dir=PROJECT_ROOT, deployments=process_deployments(PROJECT_ROOT))
    run_worker = embedded if worker is None else worker
    ledger = JobLedger.from_settings(settings.ledger)
    app = create_app(settings, ledger, metrics=METRICS)
    with contextlib.ExitStack() as stack:
        if run_worker:
            from infra.prefect.embedded import MAINTENANCE_POOL, process_worker

            stack.enter_context(
                process_worker(
                    PROJECT_ROOT,
                    api_url,
                    log_file=settings.home / "worker.log",
                    limit=settings.prefect.job_concurrency,
                )
            )
            if embedded:  # a configured install runs its own maintenance worker (compose does)
                stack.enter_context(
                    process_worker(
                        PROJECT_ROOT,
                        api_url,
                        log_file=settings.home / "maintenance.log",
                        limit=2,
                        pool=MAINTENANCE_POOL,
                    )
                )
        stack.callback(ledger.dispose)
        uvicorn.run(
            app,
            host=host or settings.api.host,
            port=port or settings.api.port,
            log_level=settings.log.level.lower(),
            access_log=False,
            timeout_graceful_shutdown=10,
        )


def register(app: typer.Typer) -> None:
    app.command()(coded(serve))
