"""Outbound HTTP to hosts a request names (https sources, webhook callbacks): the SSRF rules."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

__all__ = ["NetSettings"]


class NetSettings(BaseModel):
    allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Hosts (names or IPs, ',' separated) a request may name although they resolve to "
            "loopback/private addresses; plain http:// is accepted only for these."
        ),
    )
    fetch_timeout_s: float = Field(120.0, description="Deadline for fetching one https source.")
    connect_timeout_s: float = Field(10.0, description="Connect timeout of outbound requests.")
    max_redirects: int = Field(3, description="Redirects followed (each one re-checked).")

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value
