"""The job's domain models, shared by the flow, the stage tasks and the CLI.

``JobRequest`` is the ``video-job`` flow's one parameter: a pydantic model, so the Prefect UI
renders it as a form and the API validates it.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from infra.documents.model import Document
from infra.settings.tts import EngineName
from infra.store.layout import JOB_ID_PATTERN

__all__ = [
    "DocumentInput",
    "JobKind",
    "JobLimits",
    "JobRequest",
    "JobResult",
    "PresetName",
    "RenderOutputs",
    "Script",
    "Slide",
    "SubtitleSource",
    "SlideTable",
]


class JobKind(enum.StrEnum):
    AUTO = "auto"
    DOCUMENT = "document"
    MEDIA = "media"


# The output presets (infra/media/presets.py; a test keeps the two lists equal). A Literal, so the
# Prefect UI's form shows a select and the JSON schema lists the choices.
PresetName = Literal["hd", "sd", "tiny"]
# Voice names: espeak-ng's (en-us, en-gb-x-rp, zh-yue, en+f3), packaged Piper voices
# (en_US-joe-medium) and remote ones (alloy): never a path. Membership in the engine's allowlist is
# checked when the job is validated (infra/tts/choice.py).
VOICE_PATTERN = (
    r"^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}(\+[A-Za-z0-9]{1,12})?"  # espeak-ng
    r"|[A-Za-z0-9][A-Za-z0-9_-]{0,63})$"  # Piper, remote
)
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$"


class JobLimits(BaseModel):
    """Per-job resource limits; ``None`` takes the operator's limit from settings.

    A request may only lower the operator's limits: a value above them is refused
    (``input_invalid``) when the job is validated (infra/jobs/limits.py).
    """

    model_config = ConfigDict(extra="forbid")

    max_cpu_percent: int | None = Field(None, ge=1, description="CPU cap, % of one core.")
    max_memory_mb: int | None = Field(None, ge=16, description="Resident memory cap, MB.")
    max_disk_mb: int | None = Field(None, ge=1, description="Work directory size cap, MB.")
    max_duration_s: int | None = Field(None, ge=1, description="Wall-clock cap for the job, s.")


class SubtitleSource(BaseModel):
    """A sidecar subtitle file (SRT or WebVTT) given with a media job."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        ..., min_length=1, max_length=4096, description="Where it is: the rules of `source`."
    )
    language: str = Field("und", pattern=LANGUAGE_PATTERN, description="BCP 47 language tag.")
    name: str | None = Field(
        None,
        max_length=64,
        pattern=r'^[^\x00-\x1f\x7f\x85\u2028\u2029",]+$',
        description="Name shown in players' menus (default: the language).",
    )


class JobRequest(BaseModel):
    """One job as a client asks for it. Every field is hostile until the job is validated."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        ...,
        min_length=1,
        max_length=4096,
        description=(
            "The input: an absolute path inside the input folders (REELFLOW_INPUT__ROOTS), "
            "s3://BUCKET/inbox/..., or an https:// URL."
        ),
    )
    timeline: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Media jobs only: more sources, same rules as `source`, joined after it in order "
            "(a timeline)."
        ),
    )
    subtitles: list[SubtitleSource] = Field(
        default_factory=list,
        max_length=8,
        description="Media jobs only: sidecar subtitles, each a WebVTT track of the HLS master.",
    )
    kind: JobKind = Field(JobKind.AUTO, description="document, media, or auto (by content).")
    preset: PresetName | None = Field(
        None, description="Output preset (default: REELFLOW_RENDER__DEFAULT_PRESET)."
    )
    voice: str | None = Field(
        None,
        pattern=VOICE_PATTERN,
        description=(
            "Voice: an espeak-ng voice (`espeak-ng --voices`), a packaged Piper voice "
            "(en_US-joe-medium) or an allowed remote voice (default: from the language)."
        ),
    )
    engine: EngineName | None = Field(
        None,
        description=(
            "Voice engine: espeak (espeak-ng), piper (natural, offline; languages without a "
            "packaged voice fall back to espeak-ng) or remote (/v1/audio/speech). Default: "
            "REELFLOW_TTS__DEFAULT_ENGINE."
        ),
    )
    language: str = Field(
        "en", pattern=LANGUAGE_PATTERN, description="Language of the narration (en, ar, ...)."
    )
    job_id: str | None = Field(
        None,
        pattern=JOB_ID_PATTERN,
        description="Job id (letters, digits, '_', '-'; claimed once); default: the flow run id.",
    )
    limits: JobLimits = Field(default_factory=JobLimits)
    client: str | None = Field(
        None,
        max_length=128,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description=(
            "Who asked for the job, for runs started in Prefect (the UI, a hook's automation). "
            "The job API ignores it and records the API key's name."
        ),
    )


class DocumentInput(BaseModel):
    """What the probe stage hands the script stage.

    ``document`` is the structure (infra/documents) the narration is built from; ``text`` and
    ``sections`` (title, body) stay for text-only consumers such as the LLM prompt.
    """

    path: str
    name: str = ""  # as the client named it
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
    """What a render/encode stage produced: every file to publish (key under the job's prefix ->
    path in the work folder) and the named outputs a client sees (name -> key). The upload stage
    ships exactly these; it keeps no list of its own."""

    files: dict[str, str]
    outputs: dict[str, str] = Field(default_factory=dict)
    duration_s: float
    narration_s: float
    slide_durations_s: list[float]
    manifest: dict[str, Any] = Field(
        default_factory=dict, description="More manifest fields: probe facts, plan, gate report."
    )


class JobResult(BaseModel):
    job_id: str
    status: str
    outputs: dict[str, str] = Field(default_factory=dict)
    manifest_key: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
