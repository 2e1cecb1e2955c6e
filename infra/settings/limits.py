"""Per-job resource limits: the operator's defaults, also the ceilings a request may only lower."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["LimitSettings"]


class LimitSettings(BaseModel):
    """Defaults for ``JobRequest.limits``; a job may set its own."""

    max_cpu_percent: int | None = Field(
        200, description="CPU cap per job, % of one core (200 = two cores); empty = none."
    )
    max_memory_mb: int | None = Field(
        2048, description="Resident memory cap of a job's media processes, MB."
    )
    max_disk_mb: int | None = Field(4096, description="Cap on a job's work directory, MB.")
    max_duration_s: int | None = Field(3600, description="Wall-clock cap per job, seconds.")
    watchdog_interval_s: float = Field(0.5, description="How often the watchdog samples.")
    disk_reserve_mb: int = Field(
        256, description="Free space a job start must leave on the work root, MB."
    )
