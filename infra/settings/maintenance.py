"""The reaper, the sweeper and retention."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["MaintenanceSettings"]


class MaintenanceSettings(BaseModel):
    reaper_stale_s: float = Field(
        120.0, description="A job silent this long whose flow run is gone or final is reaped."
    )
    reaper_dead_after_s: float = Field(
        900.0, description="A job silent this long is reaped whatever Prefect says."
    )
    sweep_grace_s: float = Field(
        3600.0, description="Age before uncommitted objects, orphans and temp uploads go."
    )
    retention_days: int = Field(7, description="Finished jobs older than this are removed.")
