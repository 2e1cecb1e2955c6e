"""The one runner for external media processes (ffmpeg, ffprobe, espeak-ng).

Contract: argv lists only (never a shell); stdin closed; stdout and stderr drained concurrently by
two threads; only a bounded tail of stderr is kept; the runner enforces its own wall-clock and
no-progress (stall) deadlines, because Prefect's task timeout cannot interrupt a blocking call in a
worker thread. Every exit path, including Prefect's cancellation (a BaseException), goes through
``finally``: SIGTERM to the process group, a grace period, SIGKILL, reap. No zombie, no orphan.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.errors import ConfigError, FFmpegFailed, FFmpegStalled, FFmpegTimeout, ReelflowError

__all__ = [
    "FFMPEG_BASE_ARGS",
    "ProcessResult",
    "Progress",
    "atomic_outputs",
    "run_process",
]

log = logging.getLogger("reelflow.runner")

# ffmpeg flags every call gets: no stdin, no banner, machine-readable progress on stdout.
FFMPEG_BASE_ARGS: tuple[str, ...] = ("-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1")
STDERR_TAIL_LINES = 40
MAX_STDOUT_BYTES = 16 * 1024 * 1024
POLL_S = 0.05


@dataclass(frozen=True)
class Progress:
    """One block of ffmpeg's ``-progress`` output."""

    out_time_s: float | None
    frame: int | None
    speed: float | None
    done: bool


@dataclass
class ProcessResult:
    argv: list[str]
    returncode: int
    duration_s: float
    stdout: bytes = b""
    stderr_tail: str = ""
    last_progress: Progress | None = None


@dataclass
class _Watch:
    """State shared between the drain threads and the waiting thread."""

    last_activity: float = field(default_factory=time.monotonic)
    last_progress: Progress | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_TAIL_LINES))


def _parse_progress(block: dict[str, str]) -> Progress:
    def _num(key: str, cast: Callable[[str], float | int]) -> float | int | None:
        raw = block.get(key, "").strip().rstrip("x")
        try:
            return cast(raw)
        except ValueError:
            return None

    out_us = _num("out_time_us", int) or _num("out_time_ms", int)  # both are microseconds
    frame = _num("frame", int)
    speed = _num("speed", float)
    return Progress(
        out_time_s=None if out_us is None else float(out_us) / 1_000_000,
        frame=None if frame is None else int(frame),
        speed=None if speed is None else float(speed),
        done=block.get("progress") == "end",
    )


def _drain_progress(stream, watch: _Watch, on_progress: Callable[[Progress], None] | None) -> None:
    block: dict[str, str] = {}
    for raw in iter(stream.readline, b""):
        key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
        block[key] = value
        if key == "progress":
            progress = _parse_progress(block)
            watch.last_progress = progress
            watch.last_activity = time.monotonic()
            block = {}
            if on_progress is not None:
                try:
                    on_progress(progress)
                except Exception:  # a broken callback must not kill the encode
                    log.exception("progress callback failed")


def _drain_stdout(stream, watch: _Watch) -> None:
    for chunk in iter(lambda: stream.read(65536), b""):
        if len(watch.stdout) + len(chunk) > MAX_STDOUT_BYTES:
            continue  # keep draining so the child never blocks; drop the excess
        watch.stdout += chunk
        watch.last_activity = time.monotonic()


def _drain_stderr(stream, watch: _Watch) -> None:
    for raw in iter(stream.readline, b""):
        watch.stderr.append(raw.decode("utf-8", "replace").rstrip())


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the process group, wait ``grace_s``, SIGKILL, reap."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # Children that left the group's leader behind (rare) go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_process(
    argv: Sequence[str],
    *,
    timeout_s: float,
    stall_s: float | None = None,
    ffmpeg_progress: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    kill_grace_s: float = 3.0,
    error: type[ReelflowError] = FFmpegFailed,
    cwd: Path | None = None,
) -> ProcessResult:
    """Run ``argv`` to completion under the runner's deadlines.

    ``ffmpeg_progress`` means stdout carries ffmpeg's ``-progress`` blocks: they feed
    ``on_progress`` and the stall clock. Otherwise stdout is captured (bounded) and any output
    counts as activity. Raises ConfigError when the binary is missing, FFmpegTimeout past
    ``timeout_s``, FFmpegStalled after ``stall_s`` without activity, and ``error`` on a non-zero
    exit, each with the stderr tail attached as ``detail``.
    """
    argv = [str(a) for a in argv]
    name = Path(argv[0]).name
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,  # own process group: the stop reaches every descendant
        )
    except FileNotFoundError as exc:
        raise ConfigError(f"{name} is not installed or not on PATH ({argv[0]})") from exc
    except PermissionError as exc:
        raise ConfigError(f"{name} is not executable ({argv[0]})") from exc

    log.info("process start name=%s pid=%d argv=%s", name, proc.pid, argv)
    watch = _Watch()
    assert proc.stdout is not None and proc.stderr is not None
    out_target = (
        (_drain_progress, (proc.stdout, watch, on_progress))
        if ffmpeg_progress
        else (_drain_stdout, (proc.stdout, watch))
    )
    threads = [
        threading.Thread(target=out_target[0], args=out_target[1], daemon=True),
        threading.Thread(target=_drain_stderr, args=(proc.stderr, watch), daemon=True),
    ]
    for thread in threads:
        thread.start()

    failure: ReelflowError | None = None
    try:
        while True:
            try:
                proc.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now - started > timeout_s:
                failure = FFmpegTimeout(
                    f"{name} ran longer than its {timeout_s:.0f} s limit and was stopped"
                )
                break
            if stall_s is not None and now - watch.last_activity > stall_s:
                failure = FFmpegStalled(
                    f"{name} made no progress for {stall_s:.0f} s and was stopped"
                )
                break
    finally:
        _stop(proc, kill_grace_s)
        for thread in threads:
            thread.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()

    duration = time.monotonic() - started
    tail = "\n".join(watch.stderr)
    if failure is not None:
        log.warning("process %s name=%s pid=%d after=%.2fs", failure.code, name, proc.pid, duration)
        failure.detail = tail
        raise failure
    log.info(
        "process finish name=%s pid=%d rc=%d duration=%.2fs",
        name,
        proc.pid,
        proc.returncode,
        duration,
    )
    if proc.returncode != 0:
        last = next((line for line in reversed(watch.stderr) if line.strip()), "no error output")
        raise error(f"{name} exited with code {proc.returncode}: {last}", detail=tail)
    return ProcessResult(
        argv=argv,
        returncode=proc.returncode,
        duration_s=duration,
        stdout=bytes(watch.stdout),
        stderr_tail=tail,
        last_progress=watch.last_progress,
    )


@contextlib.contextmanager
def atomic_outputs(*targets: Path) -> Iterator[list[Path]]:
    """Temp paths beside ``targets``; renamed onto them on success, deleted on any failure."""
    temps = [t.with_name(f".{t.stem}.partial{t.suffix}") for t in targets]
    try:
        yield temps
        for temp, target in zip(temps, targets, strict=True):
            os.replace(temp, target)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
