"""The HTTP job API gateway (``reelflow serve``). Contracts per module:

- app: ``create_app(settings, ledger, ...)`` builds the FastAPI app; the entry point passes
  settings and the ledger down and runs it with uvicorn.
- errors: every error body is ``{"error": {"code", "message", "retryable"}}``, status by code.
- access: keys, rate limits (ratelimit), concurrency and admission; jobs / hls / health: routes;
  uploads: streamed multipart; playback: signed playlists; observe: middleware and metrics.
- Routes hold no job logic: they call ``infra.jobs.service.JobService``. No module imports
  ``flows/`` or ``tasks/``.
"""

from infra.api.app import API_VERSION, create_app

__all__ = ["API_VERSION", "create_app"]
