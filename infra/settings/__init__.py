"""Typed settings for reelflow, read from ``REELFLOW_*`` environment variables.

Groups are nested models; an environment variable names the group and the field joined by a double
underscore, e.g. ``REELFLOW_STORAGE__BACKEND=s3``. Build them through :func:`get_settings` (cached,
never at import time); tests call ``get_settings.cache_clear()`` after changing the environment.
Every field is documented in docs/CONFIGURATION.md (a test enforces it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from infra.errors import ConfigError
from infra.settings.api import ApiSettings
from infra.settings.docker import DockerSettings
from infra.settings.input import InputSettings
from infra.settings.ledger import LedgerSettings
from infra.settings.limits import LimitSettings
from infra.settings.log import LogSettings
from infra.settings.maintenance import MaintenanceSettings
from infra.settings.media import MediaSettings
from infra.settings.net import NetSettings
from infra.settings.prefect import PrefectSettings
from infra.settings.render import RenderSettings
from infra.settings.script import ScriptSettings
from infra.settings.secret_files import SecretFileSource
from infra.settings.stages import StageSettings
from infra.settings.storage import StorageSettings
from infra.settings.tts import TTSSettings
from infra.settings.webhooks import WebhookSettings

__all__ = [
    "DockerSettings",
    "ApiSettings",
    "InputSettings",
    "LedgerSettings",
    "LimitSettings",
    "LogSettings",
    "MaintenanceSettings",
    "MediaSettings",
    "NetSettings",
    "PrefectSettings",
    "RenderSettings",
    "ScriptSettings",
    "Settings",
    "StageSettings",
    "StorageSettings",
    "TTSSettings",
    "WebhookSettings",
    "get_settings",
    "use_settings",
]

PLACEHOLDER_SECRETS = {"", "changeme", "minioadmin", "testing"}


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
    tts: TTSSettings = TTSSettings()
    media: MediaSettings = MediaSettings()
    stages: StageSettings = StageSettings()
    limits: LimitSettings = LimitSettings()
    storage: StorageSettings = StorageSettings()
    ledger: LedgerSettings = LedgerSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    log: LogSettings = LogSettings()
    net: NetSettings = NetSettings()
    prefect: PrefectSettings = PrefectSettings()
    docker: DockerSettings = DockerSettings()
    webhooks: WebhookSettings = WebhookSettings()
    api: ApiSettings = ApiSettings()
    redis_url: str | None = Field(
        None,
        description=(
            "Redis shared by the gateway replicas (rate-limit buckets), e.g. "
            "redis://127.0.0.1:6379/0; unset: limits are kept in each process's memory."
        ),
    )

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if self.work_root is None:
            self.work_root = self.home / "work"
        if self.storage.local_root is None:
            self.storage.local_root = self.home / "artifacts"
        if self.ledger.url is None:
            self.ledger.url = f"sqlite:///{self.home / 'ledger.db'}"
        if not self.input.roots:
            self.input.roots = [self.home / "inbox"]
        for rule in self.webhooks.watch:
            if not any(rule.prefix.startswith(p) for p in self.input.s3_prefixes):
                raise ValueError(
                    f"watch rule {rule.name!r}: prefix {rule.prefix!r} is not under an allowed "
                    "source prefix (REELFLOW_INPUT__S3_PREFIXES)"
                )
        from infra.media.presets import PRESETS

        if self.render.default_preset not in PRESETS:
            raise ValueError(
                f"REELFLOW_RENDER__DEFAULT_PRESET={self.render.default_preset!r} is not a preset; "
                f"choose one of {sorted(PRESETS)}"
            )
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
            "REELFLOW_TTS__REMOTE_API_KEY": (
                self.tts.default_engine == "remote",
                self.tts.remote_api_key,
            ),
            "REELFLOW_API__PLAYBACK_SECRET": (
                bool(self.api.playback_secret.get_secret_value()),
                self.api.playback_secret,
            ),
        }
        for name, (used, secret) in in_use.items():
            if used and secret.get_secret_value() in PLACEHOLDER_SECRETS:
                raise ConfigError(f"{name} is a placeholder; set a real secret in production")


@lru_cache(maxsize=1)
def _load() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    settings.check_production()
    return settings


_OVERRIDES: list[Settings] = []


def get_settings() -> Settings:
    """The settings of this process: read once from the environment, checked at start-up.

    Raises ConfigError for a setting that does not validate (e.g. a presign expiry over 7 days)
    or a placeholder secret in production. ``get_settings.cache_clear()`` re-reads them.
    """
    if _OVERRIDES:
        return _OVERRIDES[-1]
    return _load()


get_settings.cache_clear = _load.cache_clear  # type: ignore[attr-defined]


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` what :func:`get_settings` returns inside the block.

    For composition roots that run a flow in-process with settings of their own (``reelflow run``
    adds the input file's folder to the allowed roots for that run only).
    """
    _OVERRIDES.append(settings)
    try:
        yield settings
    finally:
        _OVERRIDES.remove(settings)
