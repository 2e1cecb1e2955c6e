"""Prefect as reelflow uses it: the deployments jobs go to, the job limit, the local server."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["PrefectSettings"]


class PrefectSettings(BaseModel):
    document_deployment: str = Field(
        "video-job/video-job-process", description="Deployment that runs document jobs."
    )
    media_deployment: str = Field(
        "media-job/media-job-process", description="Deployment that runs media jobs."
    )
    job_concurrency: int = Field(
        4, ge=1, description="Jobs running at once across all pools (the reelflow-jobs limit)."
    )
    local_server_port: int = Field(
        4210, description="Port of the local Prefect server the CLI starts when none is set."
    )
    server_startup_timeout_s: float = Field(
        240.0,
        description=(
            "How long the first start of the local Prefect server may take (it creates and "
            "migrates its database; slow on a busy machine)."
        ),
    )
    warm_runner: bool = Field(
        True,
        description=(
            "On the embedded default, keep a warm runner beside the local server so that a "
            "`reelflow run` does not import Prefect and the flows again (cli/warm.py)."
        ),
    )
    warm_runner_idle_s: float = Field(
        1800.0, gt=0, description="The warm runner exits after this long without a run."
    )
