"""``create_app``: the FastAPI gateway, built from what the entry point passes down.

Versioned routes under ``/v1``, OpenAPI at ``/openapi.json`` and ``/docs``, ``/healthz``,
``/readyz`` and ``/metrics``. One app per process (its metrics registry is scraped per process).
The app never imports ``flows/``: jobs reach Prefect through deployments.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from infra.api import health, hls, hooks, jobs
from infra.api.access import Gateway
from infra.api.errors import install_error_handlers
from infra.api.health import ReadinessChecks
from infra.api.observe import GatewayMiddleware, watch
from infra.api.playback import PlaybackTokens
from infra.api.ratelimit import Buckets, open_buckets
from infra.api.schemas import ErrorBody, JobSubmission
from infra.jobs.service import JobService
from infra.metrics import ReelflowMetrics
from infra.prefect.bootstrap import WORK_POOLS
from infra.settings import Settings
from infra.store.api_keys import ApiKeyStore
from infra.store.artifacts import ArtifactStore
from infra.store.ledger import JobLedger

__all__ = ["API_VERSION", "create_app"]

log = logging.getLogger("reelflow.api")
API_VERSION = "1.0.0"


def create_app(
    settings: Settings,
    ledger: JobLedger,
    *,
    store: ArtifactStore | None = None,
    buckets: Buckets | None = None,
    metrics: ReelflowMetrics | None = None,
    pools: Iterable[str] = tuple(WORK_POOLS),
) -> FastAPI:
    """The gateway over ``ledger`` (and ``store``, opened from settings when None).

    ``buckets``: the rate-limit buckets (default: Redis when ``REELFLOW_REDIS_URL`` is set, else
    memory). ``metrics``: the registry ``/metrics`` renders (default: a fresh one).
    """
    secret = settings.api.playback_secret.get_secret_value().encode()
    if not secret:
        secret = secrets.token_bytes(32)
        log.info("playback tokens use a per-process secret (set REELFLOW_API__PLAYBACK_SECRET)")
    gateway = Gateway(
        settings=settings,
        service=JobService(settings, ledger, store),
        keys=ApiKeyStore(ledger),
        buckets=buckets or open_buckets(settings.redis_url, settings.api.redis_prefix),
        tokens=PlaybackTokens(secret, settings.api.playback_expiry_s),
        metrics=metrics or ReelflowMetrics(),
        submit_slots=threading.BoundedSemaphore(settings.api.submit_concurrency),
    )
    app = FastAPI(
        title="reelflow job API",
        version=API_VERSION,
        description=(
            "Submit, follow, cancel and delete video jobs. Errors are always "
            '`{"error": {"code", "message", "retryable"}}` (docs/ERRORS.md).'
        ),
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.gateway = gateway
    app.state.readiness = ReadinessChecks(gateway)
    install_error_handlers(app, gateway.metrics)
    for router in (jobs.router, hooks.router, hls.router, health.router):
        app.include_router(router)
    paths = (str(getattr(route, "path", "{")) for route in app.routes)
    static = frozenset(path for path in paths if "{" not in path)
    app.add_middleware(GatewayMiddleware, gateway=gateway, static_paths=static)
    if settings.api.cors_origins:  # outermost: preflights and refusals carry CORS headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Location", "Retry-After", "X-RateLimit-Limit"]
            + ["X-RateLimit-Remaining", "X-RateLimit-Reset"],
        )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    watch(gateway, pools)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the models the hand-read submit body and the errors use."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (JobSubmission, ErrorBody):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in found.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components[model.__name__] = found
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    schema["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "rf_<id>_<secret>"}
    }
    schema["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema
