"""``REELFLOW_<GROUP>__<FIELD>_FILE=/path``: read a setting from a file, as Docker secrets are.

Why: a Docker work pool's job variables are stored in Prefect's database and shown in its UI, so
secrets (the S3 secret key, a ledger URL with a password, an LLM key) must not travel there. The
deployment names files instead, mounted read-only into the job container from the worker host
(the ``volumes`` job variable), the same convention as the official images' ``*_FILE``
variables. Contract: the file's content, stripped of surrounding whitespace, is the value; a
variable set both ways is a ConfigError, and so is a file that cannot be read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from infra.errors import ConfigError

__all__ = ["SecretFileSource", "read_secret_files"]

PREFIX = "REELFLOW_"
SUFFIX = "_FILE"


def read_secret_files(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested settings values (``{"storage": {"s3_secret_key": ...}}``) from ``*_FILE`` vars."""
    values: dict[str, Any] = {}
    for key, path in sorted(environ.items()):
        if not (key.startswith(PREFIX) and key.endswith(SUFFIX)):
            continue
        direct = key[: -len(SUFFIX)]
        if direct in environ:
            raise ConfigError(f"{direct} and {key} are both set; keep one")
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key} names {path}, which cannot be read ({exc})") from exc
        *groups, field = direct[len(PREFIX) :].lower().split("__")
        target = values
        for group in groups:
            target = target.setdefault(group, {})
        target[field] = value
    return values


class SecretFileSource(PydanticBaseSettingsSource):
    """A pydantic-settings source over :func:`read_secret_files` of the process environment."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return None, field_name, False  # unused: __call__ builds the whole mapping at once

    def __call__(self) -> dict[str, Any]:
        return read_secret_files(os.environ)
