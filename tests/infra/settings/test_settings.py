from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from infra.errors import ConfigError
from infra.settings import Settings, get_settings


def _env_names(model: type[BaseModel], prefix: str = "REELFLOW_") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented():
    doc = (Path(__file__).parents[3] / "docs" / "CONFIGURATION.md").read_text()
    documented = set(re.findall(r"`(REELFLOW_[A-Z0-9_]+)`", doc))
    names = _env_names(Settings)
    assert len(names) > 30
    assert [n for n in names if n not in documented] == []
    assert sorted(documented - set(names)) == []  # nothing documented that does not exist


def test_nested_env_override(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REELFLOW_SCRIPT__MAX_WORDS", "123")
    monkeypatch.setenv("REELFLOW_STORAGE__BACKEND", "s3")
    get_settings.cache_clear()
    fresh = get_settings()
    assert fresh.script.max_words == 123
    assert fresh.storage.backend == "s3"
    assert fresh.work_root == settings.home / "work"


def test_production_refuses_placeholder_secret(settings: Settings, monkeypatch):
    monkeypatch.setenv("REELFLOW_ENV", "production")
    monkeypatch.setenv("REELFLOW_STORAGE__BACKEND", "s3")
    get_settings.cache_clear()
    with pytest.raises(ConfigError):
        get_settings()
    monkeypatch.setenv("REELFLOW_STORAGE__S3_SECRET_KEY", "a-real-secret-value")
    get_settings.cache_clear()
    assert get_settings().env == "production"


def test_secret_files_fill_nested_settings(settings: Settings, tmp_path: Path, monkeypatch):
    """REELFLOW_<GROUP>__<FIELD>_FILE: the value is the file's content (Docker secrets)."""
    (tmp_path / "sk").write_text("s3cr3t-value\n")
    (tmp_path / "url").write_text("postgresql+psycopg2://u:pw@127.0.0.1:5432/db")
    monkeypatch.setenv("REELFLOW_ENV", "production")
    monkeypatch.setenv("REELFLOW_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_SECRET_KEY_FILE", str(tmp_path / "sk"))
    monkeypatch.setenv("REELFLOW_LEDGER__URL_FILE", str(tmp_path / "url"))
    get_settings.cache_clear()
    loaded = get_settings()
    assert loaded.storage.s3_secret_key.get_secret_value() == "s3cr3t-value"
    assert loaded.storage.backend == "s3"  # merged with the plain variables of the same group
    assert loaded.ledger.url == "postgresql+psycopg2://u:pw@127.0.0.1:5432/db"
    assert loaded.ledger.busy_timeout_ms == 10_000  # the group's other fields keep defaults


@pytest.mark.parametrize("case", ["both", "missing", "placeholder"])
def test_secret_files_refuse_what_is_wrong(settings, tmp_path: Path, monkeypatch, case: str):
    (tmp_path / "sk").write_text("minioadmin")
    monkeypatch.setenv("REELFLOW_ENV", "production")
    monkeypatch.setenv("REELFLOW_STORAGE__BACKEND", "s3")
    path = tmp_path / ("nope" if case == "missing" else "sk")
    monkeypatch.setenv("REELFLOW_STORAGE__S3_SECRET_KEY_FILE", str(path))
    if case == "both":
        monkeypatch.setenv("REELFLOW_STORAGE__S3_SECRET_KEY", "another")
    get_settings.cache_clear()
    expected = {"both": "both set", "missing": "cannot be read", "placeholder": "placeholder"}
    with pytest.raises(ConfigError, match=expected[case]):
        get_settings()
    get_settings.cache_clear()
