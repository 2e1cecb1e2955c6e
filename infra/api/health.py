"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer), ``/metrics``.

``/readyz`` asks the ledger, the artifact store and Prefect's API, each within
``REELFLOW_API__READY_TIMEOUT_S`` and all at once, and answers 503 naming every one that did not
answer (a load balancer takes the replica out; Kubernetes-style probes read the same).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from infra.api.access import Gateway, gateway_of
from infra.api.schemas import ErrorDetail, Health, Readiness
from infra.errors import ReelflowError
from infra.metrics import BoundedCall
from infra.store.artifacts import ArtifactStore, LocalStore, S3Store

__all__ = ["ReadinessChecks", "router"]

router = APIRouter(tags=["health"])

# The error code a failing dependency is reported with (docs/ERRORS.md).
_CODES = {
    "ledger": "ledger_unavailable",
    "store": "storage_unavailable",
    "prefect": "prefect_unavailable",
}


def _store_ready(store: ArtifactStore) -> None:
    if isinstance(store, S3Store):
        if not store.client.bucket_exists(store.bucket):
            raise RuntimeError(f"bucket {store.bucket} does not exist")
    elif isinstance(store, LocalStore):
        store.base.mkdir(parents=True, exist_ok=True)
        probe = store.base / ".ready"
        probe.write_bytes(b"")
        probe.unlink()


def _prefect_ready(timeout_s: float) -> None:
    from prefect.settings import get_current_settings  # imported by ReadinessChecks already

    url = get_current_settings().api.url
    if not url:
        raise RuntimeError("PREFECT_API_URL is not set")
    response = httpx.get(f"{str(url).rstrip('/')}/health", timeout=timeout_s)
    response.raise_for_status()


class ReadinessChecks:
    """One bounded call per dependency, made once per app (a hung dependency is not asked
    again while its last call still runs)."""

    def __init__(self, gw: Gateway) -> None:
        import prefect.settings  # noqa: F401  (seconds to import: not inside the first probe)

        timeout = gw.settings.api.ready_timeout_s
        ledger = gw.service.ledger

        def ledger_ready() -> None:
            ledger.read(lambda s: s.execute(text("SELECT 1")).scalar(), "ready")

        checks: dict[str, Callable[[], Any]] = {
            "ledger": ledger_ready,
            "store": lambda: _store_ready(gw.service.store),
            "prefect": lambda: _prefect_ready(timeout),
        }
        self._calls = {
            name: BoundedCall(fn, timeout, f"ready-{name}") for name, fn in checks.items()
        }

    async def run(self) -> dict[str, str]:
        results: dict[str, str] = {}

        async def one(name: str, call: BoundedCall[Any]) -> None:
            try:
                await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
                results[name] = "ok"
            except ReelflowError as exc:
                results[name] = exc.message[:300]
            except Exception as exc:
                results[name] = f"{type(exc).__name__}: {str(exc)[:300]}"

        async with anyio.create_task_group() as group:
            for name, call in self._calls.items():
                group.start_soon(one, name, call)
        return {name: results[name] for name in self._calls}


@router.get("/healthz", response_model=Health, summary="The gateway process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Ledger, store and Prefect API reachable",
    responses={503: {"model": Readiness, "description": "Names what is not reachable."}},
)
async def readyz(request: Request) -> Response:
    checks: ReadinessChecks = request.app.state.readiness
    results = await checks.run()
    failing = [name for name, result in results.items() if result != "ok"]
    if not failing:
        return JSONResponse(Readiness(status="ok", checks=results).model_dump(mode="json"))
    error = ErrorDetail(
        code=_CODES[failing[0]],
        message="not ready: " + "; ".join(f"{n}: {results[n]}" for n in failing),
        retryable=True,
    )
    body = Readiness(status="unavailable", checks=results, error=error)
    return JSONResponse(body.model_dump(mode="json"), status_code=503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    body, content_type = gateway_of(request).metrics.render()
    return Response(body, media_type=content_type)
