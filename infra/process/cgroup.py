"""Read this process's memory cgroup: its limit and how many times the kernel's OOM killer fired.

Why: in a Docker work pool the kernel enforces a job's memory limit, and its OOM killer sends a
plain SIGKILL. Only the cgroup's counter tells "killed for memory" apart from any other kill, so
the runner (ffmpeg killed) and the container supervisor (the job process killed) read it to fail
the job with ``resource_limit_exceeded`` instead of a bare crash.

Stdlib only (infra.errors is too): the supervisor imports this module in a container that may
have a few MB to spare.
Works with cgroup v2 (``memory.events``, ``memory.max``) and v1 (``memory.oom_control``,
``memory.limit_in_bytes``), inside a container (the cgroup is mounted at the root) or on a host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infra.errors import ResourceLimitExceeded

__all__ = ["memory_limit_bytes", "oom_kills", "oom_message", "oom_report"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
MB = 1024 * 1024
# v1 reports "no limit" as a huge page-aligned number; anything above 2**60 B means none.
_UNLIMITED = 1 << 60


def _memory_dirs(root: Path, proc_cgroup: Path) -> list[Path]:
    """Candidate folders of this process's memory cgroup, most specific first."""
    dirs: list[Path] = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.lstrip("/")
        if controllers == "":  # v2 unified hierarchy
            dirs.append(root / rel)
        elif "memory" in controllers.split(","):  # v1 memory controller
            dirs.append(root / "memory" / rel)
    dirs += [root, root / "memory"]  # a container's own cgroup is mounted at the root
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def _texts(root: Path, proc_cgroup: Path, *names: str) -> Iterator[str]:
    """The contents of the first readable of ``names`` in each of this cgroup's folders."""
    for folder in _memory_dirs(root, proc_cgroup):
        for name in names:
            try:
                yield (folder / name).read_text()
            except OSError:
                continue
            break


def _key(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def oom_kills(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """How many processes the OOM killer has killed in this cgroup; None if it cannot tell."""
    for text in _texts(root, proc_cgroup, "memory.events", "memory.oom_control"):
        count = _key(text, "oom_kill")
        if count is not None:
            return count
    return None


def memory_limit_bytes(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """This cgroup's memory limit in bytes; None when there is none or it cannot tell."""
    for text in _texts(root, proc_cgroup, "memory.max", "memory.limit_in_bytes"):
        raw = text.strip()
        if raw == "max":
            return None
        if raw.isdigit():
            return None if int(raw) >= _UNLIMITED else int(raw)
    return None


def oom_message(limit_bytes: int | None, kills: int) -> str:
    """What a user reads when the kernel enforced a job's memory limit."""
    limit = f"{limit_bytes / MB:.0f} MB" if limit_bytes else "its memory limit"
    return str(
        ResourceLimitExceeded(
            f"the job's container reached its memory limit of {limit}: the kernel's OOM killer "
            f"stopped the job ({kills} kill(s) in the container). Raise the job's max_memory_mb "
            "(Prefect's executor and engine alone need about 250 MB) or use a smaller preset."
        )
    )


def oom_report(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> str | None:
    """:func:`oom_message` when this process's cgroup has a memory limit and has seen OOM kills.

    Only a memory-limited cgroup counts (a job container): a host's unlimited cgroup mixes every
    job's kills and says nothing about this one.
    """
    limit = memory_limit_bytes(root, proc_cgroup)
    kills = oom_kills(root, proc_cgroup)
    if limit is None or not kills:
        return None
    return oom_message(limit, kills)
