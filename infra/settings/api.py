"""The HTTP job API (``reelflow serve``): clients, limits, CORS, playback links."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

__all__ = ["ApiSettings"]


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `reelflow serve` listens on.")
    port: int = Field(8080, description="Port `reelflow serve` listens on.")
    public_url: str | None = Field(
        None,
        description=(
            "Base URL clients reach the gateway at (Location and playback links); default: the "
            "URL of each request."
        ),
    )
    key_rate_per_min: int = Field(
        120, ge=1, description="Requests per minute of a new API key (`keys create --rate`)."
    )
    key_max_active: int = Field(
        2, ge=1, description="Active (QUEUED or RUNNING) jobs per new API key (`--max-active`)."
    )
    ip_rate_per_min: int = Field(
        600, ge=1, description="Requests per minute from one client IP address, keys or not."
    )
    anonymous: bool = Field(
        False, description="Accept requests without an API key (client `anonymous:<ip>`)."
    )
    anonymous_submissions: int = Field(
        5, ge=1, description="Job submissions per IP per window when anonymous use is on."
    )
    anonymous_window_s: int = Field(
        600, ge=1, description="Window of REELFLOW_API__ANONYMOUS_SUBMISSIONS, seconds."
    )
    max_queue_depth: int = Field(
        200,
        ge=1,
        description="Admission limit: QUEUED jobs of all clients above which a submit gets 503.",
    )
    submit_concurrency: int = Field(
        4,
        ge=1,
        description=(
            "Submissions talking to Prefect's API at once per gateway process; more wait (a "
            "local Prefect server on SQLite answers 503 under a burst)."
        ),
    )
    submit_wait_s: float = Field(
        60.0, gt=0, description="How long a submission waits for its turn before 503 overloaded."
    )
    overload_retry_after_s: int = Field(
        30, ge=1, description="Retry-After of a 503 overloaded answer, seconds."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS, ',' separated (none)."
    )
    redis_prefix: str = Field(
        "reelflow:ratelimit:", description="Key prefix of the rate-limit buckets in Redis."
    )
    playback_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "HMAC secret of playback tokens (HLS links); replicas must share it. Empty: a random "
            "secret per process."
        ),
    )
    playback_expiry_s: int = Field(
        3600, ge=60, le=7 * 24 * 3600, description="Lifetime of a playback link, seconds."
    )
    ready_timeout_s: float = Field(
        3.0, gt=0, description="How long /readyz waits for each dependency."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
