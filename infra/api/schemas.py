"""What the job API reads and answers: the request bodies and the documents it returns.

The submission is :class:`~infra.jobs.models.JobRequest` (the flow's own parameter, so the API and
the Prefect UI validate the same fields) plus what only the API has: a callback URL, client
metadata and a priority. Every error answer is :class:`ErrorBody`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from infra.errors import InputInvalid
from infra.jobs.models import JobRequest

__all__ = [
    "METADATA_MAX_BYTES",
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "JobDocument",
    "JobError",
    "JobLinks",
    "JobPage",
    "JobSubmission",
    "Readiness",
    "invalid",
]

METADATA_MAX_BYTES = 1024
JobState = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED"]


class ErrorDetail(BaseModel):
    code: str = Field(..., description="Stable error code (docs/ERRORS.md).")
    message: str = Field(..., description="What happened and what to do.")
    retryable: bool = Field(..., description="Whether the same request may succeed later.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class JobSubmission(JobRequest):
    """``POST /v1/jobs`` as JSON (an upload sends the same fields as form fields)."""

    callback_url: str | None = Field(
        None,
        max_length=2048,
        description="Called when the job ends (webhooks); checked against the SSRF rules now.",
    )
    metadata: dict[str, Any] | None = Field(
        None, description=f"Client data echoed back (at most {METADATA_MAX_BYTES} bytes as JSON)."
    )
    priority: Literal["high", "normal", "low"] | None = Field(
        None,
        description=(
            "high runs before normal before low (work-queue priorities); default: the API key's."
        ),
    )

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > METADATA_MAX_BYTES:
                raise ValueError(f"is {size} bytes as JSON; at most {METADATA_MAX_BYTES}")
        return value

    def job_request(self) -> JobRequest:
        return JobRequest.model_validate(
            self.model_dump(exclude={"callback_url", "metadata", "priority"})
        )


class JobError(BaseModel):
    code: str
    message: str | None = None


class JobLinks(BaseModel):
    self: str = Field(..., description="This document.")
    playback: str | None = Field(
        None, description="HLS master playlist a player can open as it is (signed, expires)."
    )


class JobDocument(BaseModel):
    """The status document of one job."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: JobState
    kind: str | None = None
    stage: str | None = None
    progress: float | None = None
    status_hint: str = Field(..., description="Where the job is, waiting included.")
    error: JobError | None = None
    client: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: dict[str, str] = Field(
        default_factory=dict, description="Output name -> presigned URL (finished jobs)."
    )
    outputs_expire_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    usage: dict[str, Any] | None = Field(
        None, description="LLM tokens and cost of the job's script (llm_calls, cost_usd, ...)."
    )
    flow_run_id: str | None = None
    links: JobLinks


class JobPage(BaseModel):
    jobs: list[JobDocument]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(..., description="Dependency -> ok, or why not.")
    error: ErrorDetail | None = None


def invalid(exc: ValidationError, what: str = "the request") -> InputInvalid:
    """A pydantic ValidationError as ``input_invalid``: where and why, never the input."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )
    return InputInvalid(f"{what} is not valid: {problems}"[:2000])
