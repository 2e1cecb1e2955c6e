"""Input files: sizes, pages, text, and the folders sources may come from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

__all__ = ["InputSettings"]


class InputSettings(BaseModel):
    roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description=(
            "Folders a job's local source must resolve inside (symlinks followed, then checked), "
            "separated by ':' or ','; default: <home>/inbox. `reelflow run FILE` adds FILE's "
            "folder for that run only."
        ),
    )
    s3_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["inbox/", "uploads/"],
        description=(
            "Key prefixes an s3://<bucket>/<key> source may name, separated by ','; inbox/ holds "
            "API uploads, uploads/ is the default drop area of the bucket-notification hook."
        ),
    )
    max_bytes: int = Field(
        20 * 1024 * 1024, description="Largest accepted document (PDF, Markdown, text), in bytes."
    )
    max_media_bytes: int = Field(
        4 * 1024**3, description="Largest accepted media file (video or audio), in bytes."
    )
    max_pdf_pages: int = Field(200, description="Largest accepted PDF, in pages.")
    max_text_chars: int = Field(50_000, description="Text kept from a document; the rest is cut.")
    min_text_chars: int = Field(50, description="Less extractable text than this is unreadable.")
    probe_timeout_s: float = Field(30.0, description="Wall-clock limit for one ffprobe call.")

    @field_validator("roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.replace(",", ":").split(":")
            return [part.strip() for part in parts if part.strip()]
        return value

    @field_validator("s3_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
