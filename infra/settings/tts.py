"""Speech: the voice engine a job uses when it names none, Piper's packaged voices, the bound on
slides synthesized at once, and the remote OpenAI-compatible ``/v1/audio/speech`` provider."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

__all__ = ["EngineName", "TTSSettings"]

EngineName = Literal["espeak", "piper", "remote"]


class TTSSettings(BaseModel):
    default_engine: EngineName = Field(
        "espeak",
        description=(
            "Voice engine of a job that names none: espeak (espeak-ng), piper (neural, offline) "
            "or remote (/v1/audio/speech). Chosen from docs/PERFORMANCE.md's side-by-side."
        ),
    )
    piper_voices: dict[str, str] = Field(
        default_factory=lambda: {"en": "en_US-joe-medium"},
        description=(
            "Language -> packaged Piper voice, as JSON; a language without one is spoken by "
            "espeak-ng (infra/tts/piper.py lists the packaged voices)."
        ),
    )
    piper_length_scale: float = Field(
        1.2,
        gt=0.3,
        lt=3.0,
        description=(
            "Piper's phoneme length (< 1 faster, > 1 slower). 1.2 brings en_US-joe-medium from "
            "~186 to ~155 words per minute, English's rate target, so the estimate holds."
        ),
    )
    max_parallel: int = Field(
        2,
        ge=1,
        description=(
            "Most slides synthesized at once (Piper: processes of about 250 MB each), further "
            "bounded by the CPUs the job may use."
        ),
    )
    remote_base_url: str = Field(
        "http://127.0.0.1:8880/v1",
        description=(
            "OpenAI-compatible API root of the remote voice provider; /audio/speech is appended. "
            "Under the SSRF rules: a loopback/private host must be in REELFLOW_NET__ALLOW_HOSTS."
        ),
    )
    remote_model: str = Field("tts-1", description="Model name sent to the remote voice provider.")
    remote_voice: str = Field("alloy", description="Remote voice of a job that names none.")
    remote_voices: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["alloy", "echo", "fable", "onyx", "nova", "shimmer"],
        description="Remote voices a job may name (',' separated).",
    )
    remote_api_key: SecretStr = Field(
        SecretStr("changeme"), description="Bearer API key of the remote voice provider."
    )
    remote_format: Literal["wav", "mp3"] = Field(
        "wav", description="Audio format asked of the remote provider (converted to WAV here)."
    )
    remote_timeout_s: float = Field(
        60.0, gt=0, description="Limit for one remote speech request (connect and answer)."
    )
    remote_retries: int = Field(
        2, ge=0, description="Retries of a remote speech request after a 429, 5xx or timeout."
    )
    remote_backoff_s: float = Field(
        1.0, ge=0, description="First retry delay (doubles, with jitter; Retry-After wins)."
    )
    remote_max_bytes: int = Field(
        50_000_000, ge=1000, description="Largest audio answer accepted for one slide."
    )

    @field_validator("remote_voices", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
