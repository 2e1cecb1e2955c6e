"""Logging for reelflow: every record carries the job id of the job it belongs to.

The job id lives in a context variable that the flow and each task set (:func:`job_context`);
a filter copies it onto every record, so infra modules log with plain ``logging`` and %-style
arguments and still say which job they worked for. ``REELFLOW_LOG__JSON_FORMAT=true`` switches the
handler installed by :func:`configure_logging` to one JSON object per line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator

__all__ = [
    "JobIdFilter",
    "JsonFormatter",
    "configure_logging",
    "current_job_id",
    "job_context",
    "stage_context",
]

current_job_id: contextvars.ContextVar[str] = contextvars.ContextVar("reelflow_job_id", default="-")
_fields: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "reelflow_log_fields", default=()
)


@contextlib.contextmanager
def job_context(
    job_id: str, *, flow_run_id: str | None = None, client: str | None = None
) -> Iterator[None]:
    """Every record logged inside carries the job id (and flow run id and client when known)."""
    token = current_job_id.set(job_id)
    extra = {"flow_run_id": flow_run_id or "-", "client": client or "-"}
    fields_token = _fields.set(tuple({**dict(_fields.get()), **extra}.items()))
    try:
        yield
    finally:
        _fields.reset(fields_token)
        current_job_id.reset(token)


@contextlib.contextmanager
def stage_context(stage: str) -> Iterator[None]:
    token = _fields.set(tuple({**dict(_fields.get()), "stage": stage}.items()))
    try:
        yield
    finally:
        _fields.reset(token)


class JobIdFilter(logging.Filter):
    """Copies the job id, flow run id, stage and client of the current context onto records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            record.job_id = current_job_id.get()
        fields = dict(_fields.get())
        for name in ("flow_run_id", "stage", "client"):
            if not hasattr(record, name):
                setattr(record, name, fields.get(name, "-"))
        return True


class JsonFormatter(logging.Formatter):
    _SKIP = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in self._SKIP})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO", json_format: bool = False) -> None:
    """Install one handler on the ``reelflow`` logger (idempotent)."""
    logger = logging.getLogger("reelflow")
    logger.setLevel(level.upper())
    logger.propagate = False  # one line per record, not a second copy from Prefect's root handler
    for handler in logger.handlers:
        if getattr(handler, "_reelflow", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._reelflow = True  # type: ignore[attr-defined]
    handler.addFilter(JobIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_format
        else logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s job=%(job_id)s stage=%(stage)s %(message)s"
        )
    )
    logger.addHandler(handler)
