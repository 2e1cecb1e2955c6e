"""The process runner and the watchdog with real processes (ffmpeg, sh): every deadline and limit
ends the process within its bound + 2 s, with its documented code, no process and no temp file left.
"""

from __future__ import annotations

import logging
import os
import resource
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from infra.errors import (
    ConfigError,
    FFmpegFailed,
    FFmpegStalled,
    FFmpegTimeout,
    ReelflowError,
    ResourceLimitExceeded,
)
from infra.process.runner import (
    FFMPEG_BASE_ARGS,
    Deadlines,
    FramePipe,
    Progress,
    atomic_outputs,
    redact_argv,
    run_process,
)
from infra.process.watchdog import JobWatchdog, Limits, dir_size_bytes

pytestmark = pytest.mark.media

FF = ["ffmpeg", *FFMPEG_BASE_ARGS, "-loglevel", "error", "-y"]
TESTSRC = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"]


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)  # a zombie is dead; its reaper is init, not us
        except (ProcessLookupError, psutil.Error):
            continue
    return members


class Clean:
    """Asserts a call ended in time and left no child process and no file behind."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.before = _children()
        self.files_before = set(folder.rglob("*"))
        self.started = time.monotonic()

    def check(self, bound_s: float) -> None:
        assert time.monotonic() - self.started < bound_s + 2
        assert _children() - self.before == set()
        assert set(self.folder.rglob("*")) - self.files_before == set()


def _expect(
    error: type[ReelflowError], folder: Path, bound_s: float, argv: list[str], **kwargs
) -> ReelflowError:
    """Run ``argv`` writing its output through atomic_outputs; expect ``error``."""
    clean = Clean(folder)
    with pytest.raises(error) as err, atomic_outputs(folder / "out.bin") as (tmp,):
        run_process([a.replace("{out}", str(tmp)) for a in argv], **kwargs)
    clean.check(bound_s)
    assert str(err.value).startswith(f"[{err.value.code}]")
    return err.value


def test_missing_binary_is_config_error_at_once(tmp_path: Path):
    err = _expect(
        ConfigError, tmp_path, 0, ["/nonexistent/ffmpeg", "{out}"], deadlines=Deadlines(5)
    )
    assert err.code == "config_error" and "not installed" in err.message


def test_nonzero_exit_keeps_a_bounded_stderr_tail(tmp_path: Path):
    err = _expect(
        FFmpegFailed,
        tmp_path,
        5,
        ["ffmpeg", "-hide_banner", "-i", "/nonexistent.mp4", "{out}"],
        deadlines=Deadlines(10),
    )
    assert "exited with code" in err.message
    assert "No such file" in (err.detail or "")
    many = ["sh", "-c", "for i in $(seq 500); do echo line $i >&2; done; exit 3"]
    err = _expect(FFmpegFailed, tmp_path, 5, many, deadlines=Deadlines(10))
    assert err.detail is not None and len(err.detail.splitlines()) == 40
    assert err.detail.splitlines()[-1] == "line 500"


def test_hang_before_first_progress_hits_the_startup_timeout(tmp_path: Path):
    fifo = tmp_path / "never.fifo"
    os.mkfifo(fifo)
    # ffmpeg blocks opening a FIFO nobody writes: no progress line ever arrives.
    err = _expect(
        FFmpegStalled,
        tmp_path,
        1,
        [*FF, "-f", "s16le", "-ar", "8000", "-i", str(fifo), "-f", "s16le", "{out}"],
        deadlines=Deadlines(30, startup_s=1, stall_s=10, kill_grace_s=0.5),
        ffmpeg_progress=True,
    )
    assert "no output within 1 s of starting" in err.message


def test_stall_midway_is_detected(tmp_path: Path):
    fifo = tmp_path / "slow.fifo"
    os.mkfifo(fifo)
    release = threading.Event()

    def writer() -> None:
        with fifo.open("wb") as fh:  # two seconds of audio, then silence with the pipe open
            fh.write(b"\0" * 32000)
            fh.flush()
            release.wait(20)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    seen: list[Progress] = []
    try:
        err = _expect(
            FFmpegStalled,
            tmp_path,
            1.5 + 1,
            [*FF, "-f", "s16le", "-ar", "8000", "-i", str(fifo), "-f", "s16le", "{out}"],
            deadlines=Deadlines(30, startup_s=10, stall_s=1.5, kill_grace_s=0.5),
            ffmpeg_progress=True,
            on_progress=seen.append,
        )
    finally:
        release.set()
        thread.join(5)
    assert seen, "ffmpeg made progress before it stalled"
    assert "no progress for 2 s" in err.message or "no progress for 1 s" in err.message


def test_wall_clock_deadline(tmp_path: Path):
    err = _expect(
        FFmpegTimeout,
        tmp_path,
        1.5,
        [*FF, "-re", *TESTSRC, "-t", "60", "-f", "rawvideo", "{out}"],
        deadlines=Deadlines(1.5, kill_grace_s=0.5),
        ffmpeg_progress=True,
    )
    assert "longer than its 2 s limit" in err.message or "1 s limit" in err.message


def test_wall_clock_kills_the_whole_process_group(tmp_path: Path):
    pidfile = tmp_path / "pid"
    clean = Clean(tmp_path)
    with pytest.raises(FFmpegTimeout):
        # A background grandchild: an orphan would not show up as our child any more.
        run_process(
            ["sh", "-c", f"echo $$ > {pidfile}; sleep 30 & sleep 30"],
            deadlines=Deadlines(1, kill_grace_s=0.5),
        )
    pgid = int(pidfile.read_text())
    pidfile.unlink()
    clean.check(1)
    assert _group_members(pgid) == []


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, record_property
):
    """Stop = SIGTERM, grace, SIGKILL: a process that traps SIGTERM still goes, by SIGKILL."""
    pidfile = tmp_path / "pid"
    clean = Clean(tmp_path)
    script = f"trap '' TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done"
    with caplog.at_level(logging.WARNING, logger="reelflow.runner"):
        with pytest.raises(FFmpegTimeout):
            run_process(["sh", "-c", script], deadlines=Deadlines(1, kill_grace_s=1))
    pid = int(pidfile.read_text())
    pidfile.unlink()
    kills = [
        (r.signal, r.created)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", None) == "process_kill"
    ]
    assert [sig for sig, _ in kills] == ["SIGTERM", "SIGKILL"]  # SIGTERM alone did not do it
    record_property("sigterm_to_sigkill_s", round(kills[1][1] - kills[0][1], 3))
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    clean.check(1 + 1)


def test_finish_timeout_after_input_ends(tmp_path: Path):
    frames = FramePipe([b"x" * 1000] * 3, write_timeout_s=5)
    err = _expect(
        FFmpegTimeout,
        tmp_path,
        1,
        ["sh", "-c", "cat > /dev/null; sleep 30", "{out}"],
        deadlines=Deadlines(30, finish_s=1, kill_grace_s=0.5),
        frames=frames,
    )
    assert "after its input ended" in err.message


@pytest.fixture()
def watchdog_dir(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "work"
    work.mkdir()
    yield work


def test_memory_cap_stops_the_encoder(watchdog_dir: Path):
    watchdog = JobWatchdog(Limits(max_memory_mb=120), watchdog_dir, interval_s=0.2)
    with watchdog:
        # `reverse` buffers every frame: resident memory grows ~35 MB/s until stopped.
        err = _expect(
            ResourceLimitExceeded,
            watchdog_dir,
            6,
            [*FF, *TESTSRC, "-t", "30", "-vf", "reverse", "-f", "rawvideo", "{out}"],
            deadlines=Deadlines(60, kill_grace_s=0.5),
            ffmpeg_progress=True,
            guard=watchdog,
        )
    assert err.message.startswith("memory limit exceeded: measured")
    assert "limit 120 MB" in err.message
    assert not watchdog._thread.is_alive()
    # A job whose limit broke starts no further media process.
    with pytest.raises(ResourceLimitExceeded):
        run_process(["true"], deadlines=Deadlines(5), guard=watchdog)


def test_disk_cap_stops_the_encoder(watchdog_dir: Path):
    watchdog = JobWatchdog(Limits(max_disk_mb=20), watchdog_dir, interval_s=0.2)
    with watchdog:
        err = _expect(
            ResourceLimitExceeded,
            watchdog_dir,
            2,
            [*FF, *TESTSRC, "-t", "60", "-f", "rawvideo", "{out}"],
            deadlines=Deadlines(60, kill_grace_s=0.5),
            ffmpeg_progress=True,
            guard=watchdog,
        )
    assert err.message.startswith("disk limit exceeded") and "limit 20 MB" in err.message
    assert dir_size_bytes(watchdog_dir) == 0


def test_duration_cap_stops_the_job_wherever_it_is(watchdog_dir: Path):
    """The job's wall-clock limit (``max_duration_s``): a media process running past it is
    stopped by the watchdog (the process's own deadline is far away), and Python work between
    processes sees the breach at its next ``check``."""
    watchdog = JobWatchdog(Limits(max_duration_s=1), watchdog_dir, interval_s=0.2)
    with watchdog:
        err = _expect(
            ResourceLimitExceeded,
            watchdog_dir,
            1,
            ["sh", "-c", "sleep 60", "{out}"],
            deadlines=Deadlines(120, kill_grace_s=0.5),
            guard=watchdog,
        )
    assert err.message.startswith("duration limit exceeded") and "limit 1 s" in err.message
    with pytest.raises(ResourceLimitExceeded, match="duration limit exceeded"):
        watchdog.check()
    fresh = JobWatchdog(Limits(max_duration_s=1), watchdog_dir, started_at=time.monotonic() - 5)
    with pytest.raises(ResourceLimitExceeded, match="duration limit exceeded"):
        fresh.check()  # no thread, no process: the check alone enforces it


def test_cpu_cap_throttles_by_duty_cycle(watchdog_dir: Path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    watchdog = JobWatchdog(Limits(max_cpu_percent=40), watchdog_dir, interval_s=0.2)
    started = time.monotonic()
    with watchdog, pytest.raises(FFmpegTimeout):
        run_process(
            [*FF, *TESTSRC, "-f", "null", "-"],
            deadlines=Deadlines(4, kill_grace_s=0.5),
            ffmpeg_progress=True,
            guard=watchdog,
        )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Unthrottled, this encode keeps a core or more busy; the cap holds it near 40 %.
    assert used / wall < 0.6, f"{used:.2f} CPU s in {wall:.2f} s"


def test_frame_pipe_backpressure_when_the_consumer_stops_reading(tmp_path: Path):
    frames = FramePipe((b"\0" * 256 * 1024 for _ in range(100)), write_timeout_s=1)
    err = _expect(
        FFmpegStalled,
        tmp_path,
        1,
        ["sh", "-c", "sleep 30", "{out}"],  # never reads its stdin
        deadlines=Deadlines(30, kill_grace_s=0.5),
        frames=frames,
    )
    assert "did not accept frame" in err.message and "backpressure" in err.message


def test_frame_pipe_feeds_ffmpeg_and_enforces_the_frame_budget(tmp_path: Path):
    frame = b"\x80" * (64 * 36 * 3)
    raw = [*FF, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x36", "-r", "10", "-i", "pipe:0"]
    out = tmp_path / "frames.mp4"
    with atomic_outputs(out) as (tmp,):
        result = run_process(
            [*raw, "-c:v", "libx264", str(tmp)],
            deadlines=Deadlines(30, finish_s=10),
            ffmpeg_progress=True,
            frames=FramePipe([frame] * 10, max_frames=10),
        )
    assert result.frames_written == 10 and out.stat().st_size > 0
    err = _expect(
        ResourceLimitExceeded,
        tmp_path,
        5,
        [*raw, "-f", "rawvideo", "{out}"],
        deadlines=Deadlines(30, kill_grace_s=0.5),
        ffmpeg_progress=True,
        frames=FramePipe([frame] * 11, max_frames=10),
    )
    assert "more than 10 frames" in err.message


def test_progress_callback_and_lifecycle_events(caplog: pytest.LogCaptureFixture):
    seen: list[Progress] = []
    with caplog.at_level(logging.DEBUG, logger="reelflow.runner"):
        result = run_process(
            [
                *FF,
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x90:rate=10",
                "-t",
                "2",
                "-f",
                "null",
                "-",
            ],
            deadlines=Deadlines(30, stall_s=10),
            ffmpeg_progress=True,
            on_progress=seen.append,
        )
    assert result.returncode == 0
    assert seen and seen[-1].done
    assert seen[-1].out_time_s == pytest.approx(2.0, abs=0.2)
    assert seen[-1].frame == 20
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events[0] == "process_start" and events[-1] == "process_finish"
    finish = caplog.records[-1]
    assert finish.exit_code == 0 and finish.duration_s >= 0  # type: ignore[attr-defined]


def test_a_slow_progress_callback_outliving_the_process_ends_quietly(
    monkeypatch: pytest.MonkeyPatch,
):
    """The runner stops waiting for its pipe readers and closes the pipes; a reader still in a
    slow callback (a ledger write under load) then ends without an exception in its thread."""
    import infra.process.runner as runner

    monkeypatch.setattr(runner, "DRAIN_JOIN_S", 0.2)
    release, called = threading.Event(), threading.Event()

    def slow(_progress: Progress) -> None:
        called.set()
        release.wait(30)

    before = set(threading.enumerate())
    result = run_process(
        [*FF, "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10", "-t", "1", "-f", "null", "-"],
        deadlines=Deadlines(30, stall_s=10),
        ffmpeg_progress=True,
        on_progress=slow,
    )
    assert result.returncode == 0 and called.is_set()
    readers = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert readers  # still in the callback, its pipe closed under it
    release.set()
    for thread in readers:
        thread.join(10)
        assert not thread.is_alive()


def test_argv_is_redacted_in_events():
    argv = [
        "ffmpeg",
        "-headers",
        "Authorization: Bearer abc",
        "-i",
        "https://user:pw@example.invalid/a.m3u8?X-Amz-Signature=deadbeef&part=1",
    ]
    shown = " ".join(redact_argv(argv))
    assert "abc" not in shown and "pw@" not in shown and "deadbeef" not in shown
    assert "part=1" in shown and "***" in shown


def test_atomic_outputs_rename_on_success_and_delete_on_failure(tmp_path: Path):
    target = tmp_path / "out.txt"
    with atomic_outputs(target) as (tmp,):
        tmp.write_text("done")
    assert target.read_text() == "done"
    other = tmp_path / "other.txt"
    with pytest.raises(RuntimeError), atomic_outputs(other) as (tmp,):
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert not other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_oom_killed_process_is_resource_limit_exceeded(monkeypatch: pytest.MonkeyPatch):
    """A SIGKILL while the cgroup's OOM counter rose is the kernel enforcing the memory limit;
    a SIGKILL without it stays a plain failure. (The counter is read from the cgroup files;
    tests/flows/test_docker_pool.py shows the real thing in a container.)"""
    import infra.process.runner as runner

    counter = iter([4, 5])
    monkeypatch.setattr(runner, "oom_kills", lambda: next(counter))
    monkeypatch.setattr(runner, "memory_limit_bytes", lambda: 400 * 2**20)
    suicide = ["sh", "-c", "kill -9 $$"]
    with pytest.raises(ResourceLimitExceeded, match="OOM killer.*400 MB"):
        run_process(suicide, deadlines=Deadlines(10), error=FFmpegFailed)
    monkeypatch.setattr(runner, "oom_kills", lambda: 4)
    with pytest.raises(FFmpegFailed, match="code -9"):
        run_process(suicide, deadlines=Deadlines(10), error=FFmpegFailed)


def test_a_process_that_fills_the_disk_is_resource_limit_exceeded(tmp_path: Path):
    """An ffmpeg (here dd) that hits ENOSPC is the job's disk, not an ffmpeg bug (issue 9, #11)."""
    from infra.errors import ResourceLimitExceeded
    from tests.support.full_disk import tiny_tmpfs

    with tiny_tmpfs(tmp_path / "full") as full:
        with pytest.raises(ResourceLimitExceeded, match="ran out of disk space") as err:
            run_process(
                ["dd", "if=/dev/zero", f"of={full / 'f'}", "bs=1M", "count=4"],
                deadlines=Deadlines(30),
            )
    assert "No space left on device" in (err.value.detail or "")
