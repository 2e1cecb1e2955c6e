"""Every error the gateway answers, as ``{"error": {"code", "message", "retryable"}}``.

The HTTP status is the error class's ``http_status`` (infra/errors.py); ``Retry-After`` is set
when the error carries ``retry_after_s``. Validation errors are ``input_invalid`` (422), unknown
routes ``not_found`` (404), a wrong method ``method_not_allowed`` (405), and anything unexpected
``internal_error`` (500) with a reference to the log line, never the exception's text.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from infra.errors import (
    InputInvalid,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ReelflowError,
    Unauthorized,
)
from infra.metrics import ReelflowMetrics
from infra.metrics.labels import REFUSAL_REASONS

__all__ = ["ERROR_RESPONSES", "documented_error", "error_response", "install_error_handlers"]

log = logging.getLogger("reelflow.api")

_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}


def documented_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


# The answers every /v1 route may give besides its success (OpenAPI ``responses``).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: documented_error("No valid API key (`unauthorized`)."),
    422: documented_error("The request is not valid (`input_invalid`, `url_refused`)."),
    429: documented_error("Rate or concurrency limit (`rate_limited`, `concurrency_limited`)."),
    "default": documented_error("Any other error; the body carries its code (docs/ERRORS.md)."),
}


def error_response(exc: ReelflowError, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": exc.code, "message": exc.message, "retryable": exc.retryable}}
    out = dict(headers or {})
    if exc.retry_after_s is not None:
        out["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, Unauthorized):
        out["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=exc.http_status, headers=out)


def install_error_handlers(app: FastAPI, metrics: ReelflowMetrics) -> None:
    """Register the handlers that give every error the one body shape."""

    async def reelflow_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ReelflowError)
        if exc.code in REFUSAL_REASONS:
            metrics.refused(exc.code)
        if exc.http_status >= 500:
            log.warning("answered %s: %s", exc.http_status, exc)
        return error_response(exc)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
            for error in exc.errors()
        )
        return error_response(InputInvalid(f"the request is not valid: {problems}"[:2000]))

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        mapped: ReelflowError
        if exc.status_code == 404:
            mapped = NotFound("no such route; see /docs for the API")
        elif exc.status_code == 405:
            mapped = MethodNotAllowed(f"this route does not take that method ({exc.detail})")
        elif exc.status_code == 413:
            mapped = PayloadTooLarge("the request body is too large")
        elif exc.status_code < 500:
            mapped = InputInvalid(f"the request is not valid: {exc.detail}")
        else:
            mapped = InternalError("the gateway failed to answer; try again")
        return error_response(mapped, headers={k: v for k, v in headers.items() if k == "Allow"})

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error("unexpected error (ref %s)", ref, exc_info=exc)
        return error_response(
            InternalError(f"an unexpected error happened; the gateway's log has it as ref {ref}")
        )

    app.add_exception_handler(ReelflowError, reelflow_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
