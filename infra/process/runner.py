"""The one runner for external media processes (ffmpeg, ffprobe, espeak-ng).

Contract: argv lists only (never a shell); stdin closed unless frames are piped; stdout and stderr
drained concurrently; only a bounded tail of stderr is kept. The runner enforces its own deadlines
(start-up, stall, wall clock, finish), because Prefect's task timeout cannot interrupt a blocking
call in a worker thread. A resource guard (the job's watchdog) can stop the process too. Every exit
path, including Prefect's cancellation (a BaseException), goes through ``finally``: SIGTERM to the
process group, a grace period, SIGKILL, reap. No zombie, no orphan. Every call logs structured
lifecycle events (start, progress, backpressure, timeout, kill, finish) with the job id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from infra.errors import (
    ConfigError,
    FFmpegFailed,
    FFmpegStalled,
    FFmpegTimeout,
    ReelflowError,
    ResourceLimitExceeded,
)
from infra.process.cgroup import memory_limit_bytes, oom_kills

__all__ = [
    "FFMPEG_BASE_ARGS",
    "Deadlines",
    "FramePipe",
    "ProcessGuard",
    "ProcessResult",
    "Progress",
    "atomic_outputs",
    "redact_argv",
    "redact_text",
    "run_process",
]

log = logging.getLogger("reelflow.runner")

# ffmpeg flags every call gets: no stdin, no banner, machine-readable progress on stdout.
FFMPEG_BASE_ARGS: tuple[str, ...] = ("-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1")
STDERR_TAIL_LINES = 40
MAX_STDOUT_BYTES = 16 * 1024 * 1024
POLL_S = 0.05
PROGRESS_LOG_EVERY_S = 5.0
DRAIN_JOIN_S = 5.0  # how long the runner waits for its pipe readers after the process ended


# If the job's process dies without running its ``finally`` (SIGKILL, OOM kill), its media
# processes must not live on as orphans: util-linux's setpriv sets PR_SET_PDEATHSIG before it
# execs the tool, so the kernel kills the child with its parent.
_SETPRIV = shutil.which("setpriv")
_DEATH_PACT: tuple[str, ...] = (_SETPRIV, "--pdeathsig", "KILL", "--") if _SETPRIV else ()


class ProcessGuard(Protocol):
    """Something that watches running processes and may demand they stop (the job watchdog).

    Passed explicitly by whoever runs a process on a job's behalf: it follows the call into any
    thread or pool without context copying.
    """

    breach: ReelflowError | None

    def attach(self, pid: int, name: str) -> None: ...

    def detach(self, pid: int) -> None: ...


@dataclass(frozen=True)
class Deadlines:
    """When the runner stops a process: ``None`` disables a deadline."""

    timeout_s: float  # wall clock for the whole call
    startup_s: float | None = None  # first output/progress must come within this
    stall_s: float | None = None  # no output/progress for this long after the first
    finish_s: float | None = None  # exit within this after the input ended
    kill_grace_s: float = 3.0  # SIGTERM -> SIGKILL


@dataclass
class FramePipe:
    """Frames streamed into the process's stdin, with backpressure and a frame budget."""

    frames: Iterable[bytes]
    write_timeout_s: float = 10.0
    max_frames: int | None = None


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
    frames_written: int = 0


@dataclass
class _Watch:
    """State shared between the drain/feed threads and the waiting thread."""

    first_activity: float | None = None
    last_activity: float = field(default_factory=time.monotonic)
    input_done_at: float | None = None
    last_progress: Progress | None = None
    frames_written: int = 0
    failure: ReelflowError | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_TAIL_LINES))

    def active(self) -> None:
        now = time.monotonic()
        self.last_activity = now
        if self.first_activity is None:
            self.first_activity = now


_SECRET_FLAGS = {"-headers", "-password", "-auth", "-cookies", "-key", "-decryption_key"}
_SECRET_PATTERNS = (
    (re.compile(r"(?<=://)[^/@\s]+:[^/@\s]+(?=@)"), "***:***"),
    (
        re.compile(r"(?i)((?:key|secret|token|password|signature|credential)[^=&]*=)[^&\s]+"),
        r"\1***",
    ),
)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """argv fit for logs: values of secret flags, URL credentials and secret query params hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        hide_next = arg in _SECRET_FLAGS
        for pattern, replacement in _SECRET_PATTERNS:
            arg = pattern.sub(replacement, arg)
        out.append(arg)
    return out


def redact_text(text: str) -> str:
    """``text`` (an stderr tail, a message) with URL credentials and secret parameters hidden."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _event(level: int, event: str, name: str, pid: int, **fields: object) -> None:
    detail = " ".join(f"{k}={v}" for k, v in fields.items())
    log.log(
        level,
        "process %s name=%s pid=%d %s",
        event,
        name,
        pid,
        detail,
        extra={"event": f"process_{event}", "proc_name": name, "pid": pid, **fields},
    )


def _parse_progress(block: dict[str, str]) -> Progress:
    def _num(key: str) -> float | None:
        raw = block.get(key, "").strip().rstrip("x")
        try:
            return float(raw)
        except ValueError:
            return None

    out_us = _num("out_time_us") or _num("out_time_ms")  # both are microseconds
    frame = _num("frame")
    return Progress(
        out_time_s=None if out_us is None else out_us / 1_000_000,
        frame=None if frame is None else int(frame),
        speed=_num("speed"),
        done=block.get("progress") == "end",
    )


def _lines(stream) -> Iterator[bytes]:
    """The stream's lines until EOF, or until the runner closed it: a drain thread still busy
    (a slow progress callback) when the runner stopped waiting for it ends quietly."""
    with contextlib.suppress(ValueError, OSError):
        yield from iter(stream.readline, b"")


def _drain_progress(
    stream, watch: _Watch, on_progress: Callable[[Progress], None] | None, name: str, pid: int
) -> None:
    block: dict[str, str] = {}
    last_logged = 0.0
    for raw in _lines(stream):
        key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
        block[key] = value
        if key != "progress":
            continue
        progress = _parse_progress(block)
        block = {}
        watch.last_progress = progress
        watch.active()
        if progress.done and watch.input_done_at is None:
            watch.input_done_at = time.monotonic()
        if time.monotonic() - last_logged >= PROGRESS_LOG_EVERY_S:
            last_logged = time.monotonic()
            _event(
                logging.DEBUG,
                "progress",
                name,
                pid,
                out_time_s=progress.out_time_s,
                speed=progress.speed,
                frame=progress.frame,
            )
        if on_progress is not None:
            try:
                on_progress(progress)
            except Exception:  # a broken callback must not kill the encode
                log.exception("progress callback failed")


def _drain_stdout(stream, watch: _Watch) -> None:
    with contextlib.suppress(ValueError, OSError):  # closed by the runner (see _lines)
        for chunk in iter(lambda: stream.read(65536), b""):
            watch.active()
            if len(watch.stdout) + len(chunk) <= MAX_STDOUT_BYTES:
                watch.stdout += chunk  # beyond the cap: keep draining so the child never blocks


def _drain_stderr(stream, watch: _Watch) -> None:
    for raw in _lines(stream):
        watch.stderr.append(raw.decode("utf-8", "replace").rstrip())


def _feed_frames(
    proc: subprocess.Popen[bytes],
    pipe: FramePipe,
    watch: _Watch,
    stop: threading.Event,
    name: str,
) -> None:
    """Write frames to stdin; a frame not accepted within its timeout is backpressure."""
    assert proc.stdin is not None
    fd = proc.stdin.fileno()
    os.set_blocking(fd, False)
    try:
        for number, frame in enumerate(pipe.frames, start=1):
            if pipe.max_frames is not None and number > pipe.max_frames:
                watch.failure = ResourceLimitExceeded(
                    f"frame limit exceeded: more than {pipe.max_frames} frames for {name}"
                )
                return
            view = memoryview(frame)
            deadline = time.monotonic() + pipe.write_timeout_s
            while view:
                if stop.is_set():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _event(
                        logging.WARNING,
                        "backpressure",
                        name,
                        proc.pid,
                        frame=number,
                        write_timeout_s=pipe.write_timeout_s,
                    )
                    watch.failure = FFmpegStalled(
                        f"{name} did not accept frame {number} within "
                        f"{pipe.write_timeout_s:.0f} s (backpressure) and was stopped"
                    )
                    return
                _, writable, _ = select.select([], [fd], [], min(remaining, 0.1))
                if not writable:
                    continue
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    return  # the consumer exited; its exit code tells why
            watch.frames_written = number
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        watch.input_done_at = time.monotonic()


def _stop(proc: subprocess.Popen[bytes], grace_s: float, name: str) -> None:
    """SIGTERM the process group, wait ``grace_s``, SIGKILL, reap."""
    if proc.poll() is None:
        _event(logging.WARNING, "kill", name, proc.pid, signal="SIGTERM")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _event(logging.WARNING, "kill", name, proc.pid, signal="SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Descendants that outlived the group's leader go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _deadline_failure(
    name: str, started: float, watch: _Watch, deadlines: Deadlines, guard: ProcessGuard | None
) -> ReelflowError | None:
    now = time.monotonic()
    if watch.failure is not None:
        return watch.failure
    if guard is not None and guard.breach is not None:
        return guard.breach
    if now - started > deadlines.timeout_s:
        return FFmpegTimeout(f"{name} ran longer than its {deadlines.timeout_s:.0f} s limit")
    if watch.first_activity is None:
        if deadlines.startup_s is not None and now - started > deadlines.startup_s:
            return FFmpegStalled(
                f"{name} produced no output within {deadlines.startup_s:.0f} s of starting"
            )
    elif deadlines.stall_s is not None and now - watch.last_activity > deadlines.stall_s:
        return FFmpegStalled(f"{name} made no progress for {deadlines.stall_s:.0f} s")
    if (
        deadlines.finish_s is not None
        and watch.input_done_at is not None
        and now - watch.input_done_at > deadlines.finish_s
    ):
        return FFmpegTimeout(
            f"{name} did not exit within {deadlines.finish_s:.0f} s after its input ended"
        )
    return None


def _oom_killed_since(before: int | None) -> bool:
    after = oom_kills()
    return before is not None and after is not None and after > before


class _ExitWaiter:
    """Waits for a child's exit: woken the moment it exits through a pidfd (Linux 5.3+), where
    ``Popen.wait(timeout)`` sleeps in steps of up to 50 ms (a job runs a dozen processes one
    after another: up to half a second of nothing). Falls back to ``wait`` without pidfds."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.fd = os.pidfd_open(proc.pid)

    def __call__(self, timeout: float) -> bool:
        """True once the child has exited (and is reaped), after at most ``timeout`` s."""
        if self.fd is None:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        readable, _, _ = select.select([self.fd], [], [], timeout)
        if not readable:
            return False
        self.proc.wait()
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def run_process(
    argv: Sequence[str],
    *,
    deadlines: Deadlines,
    ffmpeg_progress: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    frames: FramePipe | None = None,
    guard: ProcessGuard | None = None,
    error: type[ReelflowError] = FFmpegFailed,
    cwd: Path | None = None,
) -> ProcessResult:
    """Run ``argv`` to completion under ``deadlines`` and the job's guard.

    ``ffmpeg_progress``: stdout carries ffmpeg's ``-progress`` blocks; they feed ``on_progress``
    and the stall clock. Otherwise stdout is captured (bounded) and any output is activity.
    ``frames``: stream them into stdin. ``guard``: the job's watchdog (None: unguarded).
    Raises ConfigError (binary missing), FFmpegStalled (no start-up,
    stall, backpressure), FFmpegTimeout (wall clock, finish), ResourceLimitExceeded (the guard or
    the frame budget), and ``error`` on a non-zero exit; the stderr tail is the error's ``detail``.
    """
    argv = [str(a) for a in argv]
    name = Path(argv[0]).name
    if guard is not None and guard.breach is not None:
        raise guard.breach
    if shutil.which(argv[0]) is None:  # detected here: under setpriv, exec errors come late
        where = "is not executable" if Path(argv[0]).exists() else "is not installed or not on PATH"
        raise ConfigError(f"{name} {where} ({argv[0]})")
    started = time.monotonic()
    ooms_before = oom_kills()
    try:
        proc = subprocess.Popen(
            [*_DEATH_PACT, *argv],
            stdin=subprocess.PIPE if frames is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,  # own process group: the stop reaches every descendant
        )
    except FileNotFoundError as exc:
        raise ConfigError(f"{name} is not installed or not on PATH ({argv[0]})") from exc
    except PermissionError as exc:
        raise ConfigError(f"{name} is not executable ({argv[0]})") from exc

    _event(logging.INFO, "start", name, proc.pid, argv=redact_argv(argv))
    watch = _Watch()
    stop = threading.Event()
    assert proc.stdout is not None and proc.stderr is not None
    threads = [
        threading.Thread(
            target=_drain_progress,
            args=(proc.stdout, watch, on_progress, name, proc.pid),
            daemon=True,
        )
        if ffmpeg_progress
        else threading.Thread(target=_drain_stdout, args=(proc.stdout, watch), daemon=True),
        threading.Thread(target=_drain_stderr, args=(proc.stderr, watch), daemon=True),
    ]
    if frames is not None:
        threads.append(
            threading.Thread(
                target=_feed_frames, args=(proc, frames, watch, stop, name), daemon=True
            )
        )
    for thread in threads:
        thread.start()
    if guard is not None:
        guard.attach(proc.pid, name)

    failure: ReelflowError | None = None
    exited = _ExitWaiter(proc)
    try:
        while True:
            if exited(POLL_S):
                break
            failure = _deadline_failure(name, started, watch, deadlines, guard)
            if failure is not None:
                break
    finally:
        exited.close()
        stop.set()
        if guard is not None:
            guard.detach(proc.pid)
        _stop(proc, deadlines.kill_grace_s, name)
        for thread in threads:
            thread.join(timeout=DRAIN_JOIN_S)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    duration = time.monotonic() - started
    tail = "\n".join(watch.stderr)
    if failure is None and watch.failure is not None:
        failure = watch.failure  # the feeder failed and the consumer exited on its own
    if failure is not None:
        _event(
            logging.WARNING,
            "timeout" if "timeout" in failure.code else "fail",
            name,
            proc.pid,
            code=failure.code,
            duration_s=round(duration, 3),
        )
        raise type(failure)(failure.message, detail=tail)
    _event(
        logging.INFO,
        "finish",
        name,
        proc.pid,
        exit_code=proc.returncode,
        duration_s=round(duration, 3),
    )
    if proc.returncode == -signal.SIGKILL and _oom_killed_since(ooms_before):
        limit = memory_limit_bytes()
        raise ResourceLimitExceeded(
            f"{name} was killed by the kernel's OOM killer: the job reached its memory limit"
            + (f" of {limit / 2**20:.0f} MB" if limit else "")
            + "; raise the job's max_memory_mb or use a smaller preset",
            detail=tail,
        )
    if proc.returncode != 0 and "No space left on device" in tail:
        raise ResourceLimitExceeded(
            f"{name} ran out of disk space: the work disk is full; free space on the work root "
            "(REELFLOW_WORK_ROOT) or lower the job's size",
            detail=tail,
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
        frames_written=watch.frames_written,
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
