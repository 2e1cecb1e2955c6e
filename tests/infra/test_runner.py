"""The process runner with real processes: errors, deadlines, stop, and no leftovers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from infra.errors import ConfigError, FFmpegFailed, FFmpegStalled, FFmpegTimeout
from infra.runner import FFMPEG_BASE_ARGS, Progress, atomic_outputs, run_process

pytestmark = pytest.mark.media


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_missing_binary_is_config_error_at_once():
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        run_process(["/nonexistent/ffmpeg", "-version"], timeout_s=5)
    assert err.value.code == "config_error"
    assert time.monotonic() - started < 1


def test_nonzero_exit_keeps_stderr_tail():
    with pytest.raises(FFmpegFailed) as err:
        run_process(["ffmpeg", "-hide_banner", "-i", "/nonexistent.mp4"], timeout_s=10)
    assert "exited with code" in err.value.message
    assert "No such file" in (err.value.detail or "")
    assert str(err.value).startswith("[ffmpeg_failed]")


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)  # a zombie is dead; its reaper is init, not us
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def test_wall_clock_timeout_kills_the_process_group(tmp_path: Path):
    pidfile = tmp_path / "pid"
    before = _children()  # e.g. a Prefect test server another test of this worker started
    started = time.monotonic()
    with pytest.raises(FFmpegTimeout):
        # A shell with a background grandchild: the whole group must die, not just the shell
        # (an orphaned grandchild would not show up as our child any more).
        run_process(
            ["sh", "-c", f"echo $$ > {pidfile}; sleep 30 & sleep 30"],
            timeout_s=1,
            kill_grace_s=0.5,
        )
    assert time.monotonic() - started < 3
    assert _children() - before == set()
    assert _group_members(int(pidfile.read_text())) == []


def test_stall_without_progress_is_detected(tmp_path: Path):
    fifo = tmp_path / "never.fifo"
    os.mkfifo(fifo)
    before = _children()
    started = time.monotonic()
    with pytest.raises(FFmpegStalled):
        # ffmpeg blocks opening a FIFO nobody writes: no progress line ever arrives.
        run_process(
            ["ffmpeg", *FFMPEG_BASE_ARGS, "-f", "s16le", "-i", str(fifo), "-f", "null", "-"],
            timeout_s=30,
            stall_s=1,
            ffmpeg_progress=True,
            kill_grace_s=0.5,
        )
    assert time.monotonic() - started < 3
    assert _children() - before == set()


def test_progress_callback_sees_ffmpeg_progress(tmp_path: Path):
    seen: list[Progress] = []
    result = run_process(
        [
            "ffmpeg",
            *FFMPEG_BASE_ARGS,
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
        timeout_s=30,
        stall_s=10,
        ffmpeg_progress=True,
        on_progress=seen.append,
    )
    assert result.returncode == 0
    assert seen and seen[-1].done
    assert seen[-1].out_time_s == pytest.approx(2.0, abs=0.2)
    assert seen[-1].frame == 20


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
