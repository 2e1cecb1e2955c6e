"""What the load costs the machine: peak RSS of the gateway and the workers, database sizes."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import psutil

__all__ = ["ProcessSampler", "database_bytes", "gateway_pids", "worker_pids"]


def gateway_pids(port: int) -> list[int]:
    """Processes listening on ``port`` (the gateway under test)."""
    found = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid:
                found.add(conn.pid)
    return sorted(found)


def worker_pids() -> list[int]:
    """Prefect workers on this machine (``prefect worker start``)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "prefect" in cmdline and "worker start" in cmdline and "setpriv" not in cmdline:
            found.append(proc.pid)
    return found


def _tree_rss(pid: int) -> int:
    """RSS of ``pid`` and its children (a worker's flow-run processes and their ffmpeg)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


class ProcessSampler:
    """Samples the RSS of process groups (name -> pids, each with its children) every
    ``every_s`` in a thread; ``peak[name]`` is the largest sum seen."""

    def __init__(self, groups: dict[str, list[int]], every_s: float = 0.5) -> None:
        self.groups = groups
        self.every_s = every_s
        self.peak: dict[str, int] = dict.fromkeys(groups, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadtest-rss", daemon=True)

    def sample(self) -> None:
        for name, pids in self.groups.items():
            self.peak[name] = max(self.peak[name], sum(_tree_rss(pid) for pid in pids))

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def __enter__(self) -> ProcessSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()


def database_bytes(url: str | None) -> int | None:
    """Size of a SQLite file (with its WAL) or a PostgreSQL database; None when unknown."""
    if not url:
        return None
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if not path or path == ":memory:":
            return None
        return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if Path(p).exists()) or None
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        sync_url = url.replace("+asyncpg", "+psycopg2")
        engine = create_engine(sync_url, pool_size=1)
        try:
            with engine.connect() as conn:
                return int(conn.scalar(text("SELECT pg_database_size(current_database())")))
        except Exception:  # a size we cannot read is reported as unknown, not a failed test
            return None
        finally:
            engine.dispose()
    return None
