"""The process runner + watchdog against bare ffmpeg on the same encode, side by side.

Encode: N seconds of 720p testsrc2 to H.264 (veryfast), (a) with ``subprocess.run`` as a person
would, (b) through ``run_process`` with progress parsing, deadlines and a JobWatchdog (memory, disk,
duration and CPU checks every 0.5 s). Rounds alternate; medians are compared. The watchdog's own
CPU is read from its thread's counters (psutil), as a percent of one core over the encode.

    .venv/bin/python benchmarks/runner_overhead.py [--seconds 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.process.runner import FFMPEG_BASE_ARGS, Deadlines, run_process  # noqa: E402
from infra.process.watchdog import JobWatchdog, Limits  # noqa: E402


def encode_args(seconds: int, out: Path) -> list[str]:
    return [
        "-y",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=30",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        str(out),
    ]


def thread_cpu_s(native_id: int | None) -> float:
    for thread in psutil.Process().threads():
        if thread.id == native_id:
            return thread.user_time + thread.system_time
    return 0.0


def cpu_now() -> tuple[float, float]:
    """(children CPU s, own CPU s) so far."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return kids.ru_utime + kids.ru_stime, me.ru_utime + me.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelflow-runner-bench-"))
    bare_times, runner_times, watchdog_pct = [], [], []
    bare_cpu, runner_cpu, runner_self = [], [], []
    for _ in range(args.rounds):
        kids0, _self0 = cpu_now()
        started = time.perf_counter()
        subprocess.run(
            ["ffmpeg", "-nostdin", *encode_args(args.seconds, work / "a.mp4")], check=True
        )
        bare_times.append(time.perf_counter() - started)
        kids1, self1 = cpu_now()
        bare_cpu.append(kids1 - kids0)

        watchdog = JobWatchdog(
            Limits(max_memory_mb=4096, max_disk_mb=4096, max_duration_s=3600, max_cpu_percent=400),
            work,
            interval_s=0.5,
        )
        with watchdog:
            started = time.perf_counter()
            run_process(
                ["ffmpeg", *FFMPEG_BASE_ARGS, *encode_args(args.seconds, work / "b.mp4")],
                deadlines=Deadlines(3600, startup_s=30, stall_s=60, finish_s=30),
                ffmpeg_progress=True,
                guard=watchdog,
            )
            elapsed = time.perf_counter() - started
            wd_cpu = thread_cpu_s(watchdog._thread.native_id)
        kids2, self2 = cpu_now()
        runner_cpu.append(kids2 - kids1)
        runner_self.append(self2 - self1)
        runner_times.append(elapsed)
        watchdog_pct.append(100 * wd_cpu / elapsed)

    bare, runner = statistics.median(bare_times), statistics.median(runner_times)
    print(f"\nencode: {args.seconds} s of 720p testsrc2, libx264 veryfast; rounds={args.rounds}")
    print(f"bare ffmpeg      median {bare:7.2f} s  {[round(t, 2) for t in bare_times]}")
    print(f"run_process+wd   median {runner:7.2f} s  {[round(t, 2) for t in runner_times]}")
    print(f"overhead         {100 * (runner / bare - 1):+.2f} %  (ratio {runner / bare:.4f})")
    print(f"watchdog CPU     median {statistics.median(watchdog_pct):.3f} % of one core")
    med_bare_cpu, med_run_cpu = statistics.median(bare_cpu), statistics.median(runner_cpu)
    print(f"ffmpeg CPU       bare {med_bare_cpu:.2f} s, under the runner {med_run_cpu:.2f} s")
    print(
        f"runner's own CPU median {statistics.median(runner_self):.3f} s "
        f"({100 * statistics.median(runner_self) / med_bare_cpu:.2f} % of the encode's CPU)"
    )


if __name__ == "__main__":
    main()
