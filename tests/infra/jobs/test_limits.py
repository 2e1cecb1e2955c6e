from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import ResourceLimitExceeded
from infra.jobs.limits import check_free_space, docker_job_variables, effective_limits
from infra.jobs.models import JobLimits
from infra.process.watchdog import Limits
from infra.settings import Settings


def test_job_limits_override_settings_field_by_field(settings: Settings):
    limits = effective_limits(JobLimits(max_memory_mb=300), settings)
    assert limits == Limits(
        max_memory_mb=300,
        max_disk_mb=settings.limits.max_disk_mb,
        max_duration_s=settings.limits.max_duration_s,
        max_cpu_percent=settings.limits.max_cpu_percent,
    )


def test_docker_job_variables():
    assert docker_job_variables(Limits(max_memory_mb=512, max_cpu_percent=150)) == {
        "mem_limit": "512m",
        "memswap_limit": "512m",
        "nano_cpus": 1_500_000_000,  # the locked template puts it in container_create_kwargs
    }
    assert docker_job_variables(Limits()) == {}


def test_free_space_check(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert check_free_space(tmp_path / "work", "hd", settings) > 0
    monkeypatch.setattr(settings.limits, "disk_reserve_mb", 10**9)
    with pytest.raises(ResourceLimitExceeded, match="not enough free disk space"):
        check_free_space(tmp_path / "work", "hd", settings)
