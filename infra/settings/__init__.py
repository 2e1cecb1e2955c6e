"""Typed settings for reelflow, read from ``REELFLOW_*`` environment variables.

Groups are nested models; an environment variable names the group and the field joined by a double
underscore, e.g. ``REELFLOW_STORAGE__BACKEND=s3``. Build them through :func:`get_settings` (cached,
never at import time); tests call ``get_settings.cache_clear()`` after changing the environment.
Every field is documented in docs/CONFIGURATION.md (a test enforces it).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from infra.errors import ConfigError
from infra.settings.secret_files import SecretFileSource

__all__ = [
    "InputSettings",
    "LedgerSettings",
    "LimitSettings",
    "LogSettings",
    "MaintenanceSettings",
    "RenderSettings",
    "ScriptSettings",
    "Settings",
    "StageSettings",
    "StorageSettings",
    "get_settings",
]

PLACEHOLDER_SECRETS = {"", "changeme", "minioadmin", "testing"}


class InputSettings(BaseModel):
    max_bytes: int = Field(20 * 1024 * 1024, description="Largest accepted input file, in bytes.")
    max_pdf_pages: int = Field(200, description="Largest accepted PDF, in pages.")
    max_text_chars: int = Field(50_000, description="Text kept from a document; the rest is cut.")
    min_text_chars: int = Field(50, description="Less extractable text than this is unreadable.")
    probe_timeout_s: float = Field(30.0, description="Wall-clock limit for one ffprobe call.")


class ScriptSettings(BaseModel):
    min_words: int = Field(50, description="Fewest narration words a script may have.")
    max_words: int = Field(400, description="Most narration words a script may have.")
    max_slides: int = Field(20, description="Most slides one script may have.")
    max_bullets: int = Field(5, description="Most bullets on one slide.")
    min_alnum_ratio: float = Field(
        0.3, description="Least share of letters/digits among visible characters (gibberish)."
    )
    words_per_minute_en: int = Field(150, description="Speaking rate estimate for English.")
    words_per_minute_ar: int = Field(120, description="Speaking rate estimate for Arabic.")
    provider: Literal["extractive", "llm"] = Field(
        "extractive", description="Script writer: extractive (offline) or llm (OpenAI-compatible)."
    )
    llm_base_url: str = Field(
        "http://127.0.0.1:11434/v1",
        description="OpenAI-compatible API root; /chat/completions is appended (Ollama default).",
    )
    llm_model: str = Field("llama3.1:8b", description="Model name sent to the LLM provider.")
    llm_api_key: SecretStr = Field(
        SecretStr("changeme"), description="Bearer API key of the LLM provider."
    )
    llm_timeout_s: float = Field(
        120.0, description="Limit for connecting to the LLM and for the wait for its answer."
    )


class RenderSettings(BaseModel):
    default_preset: str = Field("hd", description="Preset used when a job names none.")
    default_voice: str = Field("en-us", description="espeak-ng voice used when a job names none.")
    speech_rate_wpm: int = Field(160, description="espeak-ng speaking rate (words per minute).")
    slide_fps: int = Field(2, description="Frame rate of slide videos (static content).")
    hls_segment_s: int = Field(6, description="Target HLS segment length in seconds.")
    font_path: Path = Field(
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        description="TrueType font for slides; Pillow's built-in font if missing.",
    )
    ffmpeg_bin: str = Field("ffmpeg", description="ffmpeg executable.")
    ffprobe_bin: str = Field("ffprobe", description="ffprobe executable.")
    espeak_bin: str = Field("espeak-ng", description="espeak-ng executable.")
    ffmpeg_threads: int = Field(
        1, description="x264 threads per rendition encoder (renditions already run in parallel)."
    )
    process_timeout_s: float = Field(900.0, description="Wall-clock limit for one media process.")
    process_startup_s: float = Field(
        30.0, description="Kill an ffmpeg that shows no progress this long after starting."
    )
    process_stall_s: float = Field(60.0, description="Kill a media process silent this long.")
    process_finish_s: float = Field(
        30.0, description="Kill an ffmpeg still running this long after its input ended."
    )
    kill_grace_s: float = Field(3.0, description="SIGTERM to SIGKILL grace period.")


class StageSettings(BaseModel):
    """Per-stage timeouts and the retry policy for retryable errors."""

    probe_timeout_s: float = Field(120, description="Timeout of the probe stage.")
    script_timeout_s: float = Field(300, description="Timeout of the script stage.")
    render_timeout_s: float = Field(1800, description="Timeout of the render stage.")
    upload_timeout_s: float = Field(900, description="Timeout of the upload stage.")
    cleanup_timeout_s: float = Field(120, description="Timeout of the cleanup stage.")
    retries: int = Field(3, description="Retries of a stage that failed with a retryable error.")
    retry_backoff_s: float = Field(
        2.0, description="First retry delay; doubles each retry (exponential backoff)."
    )
    retry_jitter: float = Field(0.5, description="Random jitter factor on each retry delay.")


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


class StorageSettings(BaseModel):
    backend: Literal["local", "s3"] = Field("local", description="Artifact store: local or s3.")
    local_root: Path | None = Field(
        None, description="Root folder of the local store (default: <home>/artifacts)."
    )
    bucket: str = Field("reelflow", description="Bucket (a folder for the local store).")
    s3_endpoint: str = Field("127.0.0.1:9000", description="S3/MinIO host:port.")
    s3_secure: bool = Field(False, description="Use HTTPS for the S3 endpoint.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key: str = Field("minioadmin", description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr("minioadmin"), description="S3 secret key.")
    part_size_mb: int = Field(16, description="Multipart part size in MiB (at least 5).")
    presign_expiry_s: int = Field(3600, description="Lifetime of presigned GET URLs.")


class LedgerSettings(BaseModel):
    url: str | None = Field(
        None, description="SQLAlchemy URL of the job ledger (default: SQLite <home>/ledger.db)."
    )
    busy_timeout_ms: int = Field(10_000, description="SQLite busy timeout.")
    write_retries: int = Field(5, description="Retries of a ledger write on a locked database.")
    heartbeat_s: float = Field(30.0, description="How often a running job touches its row.")


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


class LogSettings(BaseModel):
    level: str = Field("INFO", description="Log level of reelflow's loggers.")
    json_format: bool = Field(False, description="One JSON object per log line.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REELFLOW_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["development", "production"] = Field(
        "development", description="production refuses placeholder secrets."
    )
    home: Path = Field(
        Path.home() / ".reelflow", description="Data folder for the embedded defaults."
    )
    work_root: Path | None = Field(
        None, description="Parent of per-job work folders (default: <home>/work)."
    )
    input: InputSettings = InputSettings()
    script: ScriptSettings = ScriptSettings()
    render: RenderSettings = RenderSettings()
    stages: StageSettings = StageSettings()
    limits: LimitSettings = LimitSettings()
    storage: StorageSettings = StorageSettings()
    ledger: LedgerSettings = LedgerSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if self.work_root is None:
            self.work_root = self.home / "work"
        if self.storage.local_root is None:
            self.storage.local_root = self.home / "artifacts"
        if self.ledger.url is None:
            self.ledger.url = f"sqlite:///{self.home / 'ledger.db'}"
        return self

    @property
    def work_dir_root(self) -> Path:
        assert self.work_root is not None
        return self.work_root

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then ``REELFLOW_*_FILE`` secret files (infra/secret_files.py)."""
        return (
            init_settings,
            env_settings,
            SecretFileSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    def check_production(self) -> None:
        """Refuse placeholder secrets of the services in use outside development (ConfigError)."""
        if self.env != "production":
            return
        in_use = {
            "REELFLOW_STORAGE__S3_SECRET_KEY": (
                self.storage.backend == "s3",
                self.storage.s3_secret_key,
            ),
            "REELFLOW_SCRIPT__LLM_API_KEY": (
                self.script.provider == "llm",
                self.script.llm_api_key,
            ),
        }
        for name, (used, secret) in in_use.items():
            if used and secret.get_secret_value() in PLACEHOLDER_SECRETS:
                raise ConfigError(f"{name} is a placeholder; set a real secret in production")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production()
    return settings
