"""Logging."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["LogSettings"]


class LogSettings(BaseModel):
    level: str = Field("INFO", description="Log level of reelflow's loggers.")
    json_format: bool = Field(False, description="One JSON object per log line.")
