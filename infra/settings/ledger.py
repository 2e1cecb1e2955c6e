"""The job ledger database."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["LedgerSettings"]


class LedgerSettings(BaseModel):
    url: str | None = Field(
        None, description="SQLAlchemy URL of the job ledger (default: SQLite <home>/ledger.db)."
    )
    busy_timeout_ms: int = Field(10_000, description="SQLite busy timeout.")
    write_retries: int = Field(5, description="Retries of a ledger write on a locked database.")
    heartbeat_s: float = Field(30.0, description="How often a running job touches its row.")
