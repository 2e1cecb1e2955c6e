"""Per-job resource limits: defaults, the start-up disk check, and the Docker mapping.

A job's ``JobRequest.limits`` override the ``REELFLOW_LIMITS__*`` defaults field by field. In a
process work pool the watchdog enforces them; in a Docker work pool they also become the
container's ``mem_limit``/``memswap_limit`` and CPU quota (``nano_cpus``), so the kernel enforces
them even if the job's own process misbehaves.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from infra.errors import InputInvalid, ResourceLimitExceeded
from infra.jobs.models import JobLimits
from infra.media.presets import PRESETS
from infra.process.watchdog import Limits
from infra.settings import Settings

__all__ = ["check_free_space", "docker_job_variables", "effective_limits"]

MB = 1024 * 1024


def effective_limits(requested: JobLimits, settings: Settings) -> Limits:
    """The job's limits: the operator's (``REELFLOW_LIMITS__*``), lowered where the request asks.

    A request can only lower them: asking for more than the operator allows is ``input_invalid``
    (naming the field and the ceiling) — a request could otherwise give itself 1e12 MB of memory,
    which would become its container's ``mem_limit``.
    """
    ceilings = settings.limits
    values: dict[str, int | None] = {}
    for name in ("max_memory_mb", "max_disk_mb", "max_duration_s", "max_cpu_percent"):
        asked = getattr(requested, name)
        ceiling = getattr(ceilings, name)
        if asked is not None and ceiling is not None and asked > ceiling:
            raise InputInvalid(
                f"limits.{name}={asked} is above the operator's limit of {ceiling} "
                f"(REELFLOW_LIMITS__{name.upper()}); a job may only lower its limits"
            )
        values[name] = asked if asked is not None else ceiling
    return Limits(**values)


def check_free_space(work_root: Path, preset: str, settings: Settings) -> int:
    """Refuse a job before any work when the work root lacks the space its preset needs.

    Returns the free MB. Raises ResourceLimitExceeded naming the needed and the free space.
    """
    work_root.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(work_root).free // MB
    need_mb = PRESETS[preset].work_disk_mb + settings.limits.disk_reserve_mb
    if free_mb < need_mb:
        raise ResourceLimitExceeded(
            f"not enough free disk space on {work_root}: {free_mb} MB free, a {preset} job needs "
            f"{need_mb} MB (preset {PRESETS[preset].work_disk_mb} MB + reserve "
            f"{settings.limits.disk_reserve_mb} MB); free space or move REELFLOW_WORK_ROOT"
        )
    return int(free_mb)


def docker_job_variables(limits: Limits) -> dict[str, Any]:
    """Job variables for the locked Docker pool template that make the kernel enforce ``limits``.

    Memory: ``mem_limit`` and an equal ``memswap_limit`` (no swap beyond the limit); in a
    container the cap covers the whole job, Python included. CPU: ``nano_cpus`` (1e9 = one core).
    These are the only per-run knobs the template accepts (infra/prefect/docker_template.py).
    """
    variables: dict[str, Any] = {}
    if limits.max_memory_mb is not None:
        variables["mem_limit"] = f"{limits.max_memory_mb}m"
        variables["memswap_limit"] = f"{limits.max_memory_mb}m"
    if limits.max_cpu_percent is not None:
        variables["nano_cpus"] = int(limits.max_cpu_percent / 100 * 1_000_000_000)
    return variables
