"""The job's domain models, shared by the flow, the stage tasks and the CLI.

``JobRequest`` is the ``video-job`` flow's one parameter: a pydantic model, so the Prefect UI
renders it as a form and the API validates it.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from infra.documents.model import Document
from infra.media.presets import PRESETS

__all__ = [
    "DocumentInput",
    "JobKind",
    "JobLimits",
    "JobRequest",
    "JobResult",
    "RenderOutputs",
    "Script",
    "Slide",
    "SlideTable",
]


class JobKind(enum.StrEnum):
    AUTO = "auto"
    DOCUMENT = "document"
    MEDIA = "media"


class JobLimits(BaseModel):
    """Per-job resource limits; ``None`` takes the default from settings."""

    max_cpu_percent: int | None = Field(None, ge=1, description="CPU cap, % of one core.")
    max_memory_mb: int | None = Field(None, ge=16, description="Resident memory cap.")
    max_disk_mb: int | None = Field(None, ge=1, description="Work directory size cap.")
    max_duration_s: int | None = Field(None, ge=1, description="Wall-clock cap for the job.")


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(..., description="Path of the input file, readable by the worker.")
    kind: JobKind = Field(JobKind.AUTO, description="document, media, or auto (sniffed).")
    preset: str = Field("hd", description="Output preset: " + ", ".join(sorted(PRESETS)) + ".")
    voice: str | None = Field(None, description="espeak-ng voice (default from settings).")
    language: str = Field("en", description="Language of the narration (en, ar, ...).")
    job_id: str | None = Field(
        None, description="Job id; defaults to the flow run id.", pattern=r"^[A-Za-z0-9_.-]{1,64}$"
    )
    limits: JobLimits = Field(default_factory=JobLimits)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; choose one of {sorted(PRESETS)}")
        return value


class DocumentInput(BaseModel):
    """What the probe stage hands the script stage.

    ``document`` is the structure (infra/documents) the narration is built from; ``text`` and
    ``sections`` (title, body) stay for text-only consumers such as the LLM prompt.
    """

    path: str
    doc_type: str  # pdf | markdown | text
    sha256: str
    size: int
    pages: int | None = None
    text: str
    sections: list[tuple[str, str]] = Field(default_factory=list)
    document: Document | None = None


class SlideTable(BaseModel):
    """A table drawn on a slide (already cut to what a slide can show)."""

    header: list[str] = Field(default_factory=list)
    rows: list[list[str]] = Field(default_factory=list)


class Slide(BaseModel):
    title: str
    bullets: list[str]
    narration: str
    table: SlideTable | None = None


class Script(BaseModel):
    language: str
    slides: list[Slide]
    word_count: int
    estimated_duration_s: float
    voice: str | None = Field(None, description="espeak-ng voice of the narration language.")


class RenderOutputs(BaseModel):
    """Files the render stage produced in the work directory, relative keys -> paths."""

    files: dict[str, str]
    duration_s: float
    narration_s: float
    slide_durations_s: list[float]


class JobResult(BaseModel):
    job_id: str
    status: str
    outputs: dict[str, str] = Field(default_factory=dict)
    manifest_key: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
