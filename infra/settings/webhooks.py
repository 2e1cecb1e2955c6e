"""Webhooks: signed callbacks to clients (the outbox and its deliverer) and inbound hooks."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

__all__ = ["GenericHook", "WatchRule", "WebhookSettings"]


class WatchRule(BaseModel):
    """Objects created under ``prefix`` of the bucket start a job on ``deployment``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    prefix: str = Field(min_length=1)
    kind: str = "auto"
    preset: str | None = None
    deployment: str = "video-job/video-job-docker"


class GenericHook(BaseModel):
    """A system that starts jobs with signed requests to /v1/hooks/generic/<name>."""

    secret: SecretStr
    deployment: str = "video-job/video-job-docker"


class WebhookSettings(BaseModel):
    signing_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "Signs callbacks of jobs without an API key of their own (the CLI, the Prefect UI); "
            "an API key's own secret signs its jobs' callbacks."
        ),
    )
    retry_base_s: float = Field(30.0, description="First retry delay of a failed delivery.")
    retry_max_s: float = Field(3600.0, description="Longest delay between two attempts.")
    retry_jitter: float = Field(0.2, description="Random jitter factor on each retry delay.")
    max_age_s: float = Field(
        24 * 3600.0, description="A delivery still failing this long after its event gives up."
    )
    timeout_s: float = Field(10.0, description="Deadline of one delivery attempt.")
    lease_s: float = Field(
        120.0, description="A deliverer owns a due delivery this long (others skip it)."
    )
    batch: int = Field(100, description="Deliveries handled per deliverer run.")
    s3_token: SecretStr = Field(
        SecretStr(""),
        description=(
            "Token MinIO sends in Authorization with bucket notifications (its notify_webhook "
            "auth_token, set to 'Bearer <token>'); empty: /v1/hooks/s3 is off."
        ),
    )
    watch: list[WatchRule] = Field(
        default_factory=list,
        description=(
            'Watch rules as JSON: [{"name": "uploads", "prefix": "uploads/", "kind": "auto", '
            '"preset": "hd", "deployment": "video-job/video-job-docker"}].'
        ),
    )
    generic_hooks: dict[str, GenericHook] = Field(
        default_factory=dict,
        description='Generic hooks as JSON: {"billing": {"secret": "...", "deployment": "..."}}.',
    )
    replay_window_s: float = Field(
        300.0, description="Signed inbound requests older than this (or reused) are refused."
    )
