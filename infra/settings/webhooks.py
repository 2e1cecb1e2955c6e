"""Webhooks: signed callbacks to clients (the outbox and its deliverer) and inbound hooks."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

__all__ = ["WebhookSettings"]


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
