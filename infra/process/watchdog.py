"""The per-job resource watchdog: memory, disk, wall clock and CPU of a job's media processes.

A thread samples, every ``interval_s``, the process trees the runner attached (each ffmpeg or
espeak-ng and its descendants) and the job's work directory. On a breach it records a
ResourceLimitExceeded naming the limit and the measured value; the runner polls it and stops the
process (SIGTERM, grace, SIGKILL), and any later media call of the job refuses to start. The CPU
cap is enforced by duty cycling: a tree that used more than its share in the last interval is
paused with SIGSTOP for the excess, then resumed. ``stop()`` (or leaving the ``with`` block) always
ends the thread and resumes anything it paused.

Memory is the resident set of the media processes (the Python job process streams files and keeps
no frames); in a Docker work pool the kernel's cgroup limit covers the whole container as well.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from infra.errors import ReelflowError, ResourceLimitExceeded

__all__ = ["Limits", "JobWatchdog", "dir_size_bytes"]

log = logging.getLogger("reelflow.watchdog")
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Effective limits of one job; ``None`` means unlimited."""

    max_memory_mb: int | None = None
    max_disk_mb: int | None = None
    max_duration_s: float | None = None
    max_cpu_percent: int | None = None  # percent of one core: 150 = one and a half cores


def dir_size_bytes(path: Path) -> int:
    """Bytes used by the files under ``path`` (files vanishing meanwhile are skipped)."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


class JobWatchdog:
    """Watches one job; implements the runner's ``ProcessGuard`` protocol."""

    def __init__(
        self,
        limits: Limits,
        work_dir: Path,
        *,
        interval_s: float = 0.5,
        started_at: float | None = None,
    ) -> None:
        self.limits = limits
        self.work_dir = work_dir
        self.interval_s = interval_s
        self.started_at = time.monotonic() if started_at is None else started_at
        self.breach: ReelflowError | None = None
        self.last_process: str | None = None  # name of the newest process attached
        self.peak_memory_mb = 0.0
        self.peak_disk_mb = 0.0
        self._pids: set[int] = set()
        self._procs: dict[int, psutil.Process] = {}
        self._paused: set[int] = set()
        self._cpu_credit = 0.0  # CPU seconds the job may still use before it is paused
        self._last_sample = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reelflow-watchdog", daemon=True)

    # -- ProcessGuard -------------------------------------------------------------------------

    def attach(self, pid: int, name: str = "process") -> None:
        with self._lock:
            self._pids.add(pid)
            self.last_process = name

    def detach(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)
            if pid in self._paused:
                self._resume(pid)

    def check(self) -> None:
        """Raise the breach, if any: long Python work (slide layout, text processing) calls this
        between steps, so the job's duration limit holds where no media process runs."""
        if self.breach is None and self.limits.max_duration_s is not None:
            elapsed = time.monotonic() - self.started_at
            if elapsed > self.limits.max_duration_s:
                self._trip("duration", self.limits.max_duration_s, elapsed, "s")
        if self.breach is not None:
            raise self.breach

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> JobWatchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            for pid in list(self._paused):
                self._resume(pid)

    def __enter__(self) -> JobWatchdog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- sampling -----------------------------------------------------------------------------

    def _tree(self, pid: int) -> list[psutil.Process]:
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]

    def _sample(self) -> tuple[float, float]:
        """(resident MB, CPU seconds) over the attached trees."""
        rss = 0
        cpu = 0.0
        with self._lock:
            pids = list(self._pids)
        for pid in pids:
            try:
                for proc in self._tree(pid):
                    with contextlib.suppress(psutil.Error):
                        rss += proc.memory_info().rss
                        times = proc.cpu_times()
                        cpu += times.user + times.system
            except psutil.Error:
                self._procs.pop(pid, None)
        return rss / MB, cpu

    def _trip(self, what: str, limit: float, measured: float, unit: str) -> None:
        if self.breach is None:
            self.breach = ResourceLimitExceeded(
                f"{what} limit exceeded: measured {measured:.0f} {unit}, limit {limit:.0f} {unit}"
            )
            log.warning("watchdog breach: %s", self.breach.message)

    def check_once(self, cpu_before: float | None = None) -> float:
        """One sample: record peaks, trip on a breach; returns the CPU seconds seen."""
        memory_mb, cpu = self._sample()
        self.peak_memory_mb = max(self.peak_memory_mb, memory_mb)
        limits = self.limits
        if limits.max_memory_mb is not None and memory_mb > limits.max_memory_mb:
            self._trip("memory", limits.max_memory_mb, memory_mb, "MB")
        if limits.max_disk_mb is not None:
            disk_mb = dir_size_bytes(self.work_dir) / MB
            self.peak_disk_mb = max(self.peak_disk_mb, disk_mb)
            if disk_mb > limits.max_disk_mb:
                self._trip("disk", limits.max_disk_mb, disk_mb, "MB")
        now = time.monotonic()
        elapsed = now - self.started_at
        if limits.max_duration_s is not None and elapsed > limits.max_duration_s:
            self._trip("duration", limits.max_duration_s, elapsed, "s")
        wall, self._last_sample = now - self._last_sample, now
        if limits.max_cpu_percent is not None and cpu_before is not None:
            self._throttle(max(0.0, cpu - cpu_before), wall, limits.max_cpu_percent / 100)
        return cpu

    def _throttle(self, used_s: float, wall_s: float, share: float) -> None:
        """Token bucket: ``share`` CPU seconds per wall second, at most one second banked."""
        self._cpu_credit = min(self._cpu_credit + share * wall_s - used_s, share)
        if self._cpu_credit >= 0:
            return
        with self._lock:
            pids = list(self._pids)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGSTOP)
                    self._paused.add(pid)
        # Paused, the job earns ``share`` seconds of credit per second: pause until it is even.
        self._stop.wait(min(-self._cpu_credit / share, self.interval_s * 10))
        with self._lock:
            for pid in list(self._paused):
                self._resume(pid)

    def _resume(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGCONT)
        self._paused.discard(pid)

    def _loop(self) -> None:
        cpu_before: float | None = None
        while not self._stop.wait(self.interval_s):
            try:
                cpu_before = self.check_once(cpu_before)
            except Exception:  # the watchdog must outlive any sampling hiccup
                log.exception("watchdog sample failed")
