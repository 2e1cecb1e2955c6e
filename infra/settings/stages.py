"""Per-stage timeouts and the retry policy for retryable errors."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["StageSettings"]


class StageSettings(BaseModel):
    """Per-stage timeouts and the retry policy for retryable errors."""

    probe_timeout_s: float = Field(120, description="Timeout of the probe stage.")
    script_timeout_s: float = Field(300, description="Timeout of the script stage.")
    render_timeout_s: float = Field(1800, description="Timeout of the render stage.")
    plan_timeout_s: float = Field(120, description="Timeout of the plan stage (media jobs).")
    encode_timeout_s: float = Field(
        7200, description="Timeout of the encode stage (media jobs; chunks wait inside it)."
    )
    gate_timeout_s: float = Field(900, description="Timeout of the publish gate stage.")
    upload_timeout_s: float = Field(900, description="Timeout of the upload stage.")
    cleanup_timeout_s: float = Field(120, description="Timeout of the cleanup stage.")
    retries: int = Field(3, description="Retries of a stage that failed with a retryable error.")
    retry_backoff_s: float = Field(
        2.0, description="First retry delay; doubles each retry (exponential backoff)."
    )
    retry_jitter: float = Field(0.5, description="Random jitter factor on each retry delay.")
