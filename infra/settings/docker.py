"""The Docker work pool's locked job template (``reelflow bootstrap`` writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

__all__ = ["DockerSettings"]


class DockerSettings(BaseModel):
    image: str = Field("reelflow-worker:latest", description="Job container image (never pulled).")
    network_mode: str = Field(
        "host",
        description=(
            "Job containers' network mode; empty to use REELFLOW_DOCKER__NETWORKS instead (the "
            "production stack's jobs-only network)."
        ),
    )
    networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Docker networks job containers join (',' separated)."
    )
    secrets_dir: Path = Field(
        Path("/etc/reelflow/secrets"),
        description="Host folder of the job secrets, mounted read-only at /run/secrets/reelflow.",
    )
    job_api_url: str = Field(
        "http://127.0.0.1:4200/api", description="Prefect API URL as job containers reach it."
    )
    job_s3_endpoint: str = Field(
        "127.0.0.1:9000", description="S3/MinIO endpoint (host:port) as job containers reach it."
    )

    @field_validator("networks", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
