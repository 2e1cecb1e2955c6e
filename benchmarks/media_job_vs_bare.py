"""The ``media-job`` flow vs the same ffmpeg commands typed by hand, side by side; and the publish
gate's share of the job.

(a) is the whole flow through a real Prefect server (test harness, SQLite): the private copy,
probe and input checks (decoding the first and last seconds), plan, the one-pass ladder encode,
HLS by stream copy, thumbnail + storyboard, the publish gate, upload to the local store (sha256),
ledger writes, artifacts, cleanup. (b) is the ladder encode, the HLS cut and the pictures pass
with the very argv the flow builds, run with ``subprocess.run`` (no runner, no gate, no Prefect).
The gate's own time comes from the job's manifest (``gate.elapsed_s``). Target: (a)/(b) <= 1.05;
gate <= 10 % of the job. Rounds alternate the two; medians are reported.

    .venv/bin/python benchmarks/media_job_vs_bare.py [--seconds 60] [--size 1280x720] \
        [--preset sd] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from benchmarks.clock import Clock  # noqa: E402


def make_source(path: Path, seconds: float, size: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30,noise=alls=12:allf=t",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-g", "60",
         "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def bare(source: Path, out: Path, preset: str, settings) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The flow's encode, HLS and pictures commands, by hand; (wall, children's CPU) seconds."""
    from infra.media.facts import probe_facts
    from infra.media.hls import hls_argv
    from infra.media.outputs import STORYBOARD_SHEET, THUMB, VIDEO_MP4, hls_variant_playlist
    from infra.media.plan import plan_media
    from infra.media.presets import MEDIA_PRESETS
    from infra.media.storyboard import pictures_argv, storyboard_layout
    from infra.media.transcode import ladder_argv, rendition_paths
    from infra.process.runner import Deadlines

    cfg, render = settings.media, settings.render
    facts = probe_facts(source, ffprobe="ffprobe", deadlines=Deadlines(60.0), guard=None)
    plan = plan_media(
        facts, MEDIA_PRESETS[preset], name=source.name, segment_s=render.hls_segment_s,
        settings=cfg,
    )  # fmt: skip
    work = out / "renditions"
    work.mkdir(parents=True)
    renditions = rendition_paths(plan, out / VIDEO_MP4, work)
    playlists = [out / hls_variant_playlist(r.name) for r in plan.rungs]
    for playlist in playlists:
        playlist.parent.mkdir(parents=True, exist_ok=True)
    (out / STORYBOARD_SHEET).parent.mkdir(parents=True, exist_ok=True)
    small = plan.rungs[-1]
    layout = storyboard_layout(
        frames=plan.frames, fps=plan.fps_value, width=small.width, height=small.height,
        interval_s=cfg.storyboard_interval_s, tile_width=cfg.storyboard_tile_width,
        columns=cfg.storyboard_columns, rows=cfg.storyboard_rows,
    )  # fmt: skip
    commands = [
        ladder_argv("ffmpeg", source, plan, renditions, threads=render.ffmpeg_threads),
        hls_argv("ffmpeg", renditions, playlists, plan.segment_s, audio="top"),
        pictures_argv(
            "ffmpeg", renditions[0], renditions[-1], out / THUMB, out / STORYBOARD_SHEET, layout,
            thumb_at_s=min(cfg.thumbnail_at_s, plan.duration_s / 2),
            thumb_width=cfg.thumbnail_width,
        ),
    ]  # fmt: skip
    with Clock() as clock:
        for argv in commands:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return clock.wall, clock.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="sd")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reelflow-media-bench-"))
    os.environ["REELFLOW_HOME"] = str(tmp / "home")
    os.environ["REELFLOW_INPUT__ROOTS"] = str(tmp)

    from prefect.testing.utilities import prefect_test_harness

    from flows.media_job import media_job
    from infra.jobs.models import JobRequest
    from infra.settings import get_settings
    from infra.store.artifacts import open_store

    settings = get_settings()
    source = make_source(tmp / "source.mp4", args.seconds, args.size)
    full, bare_s, gate, full_cpu, bare_cpu = [], [], [], [], []
    warm = make_source(tmp / "warm.mp4", 1.0, "320x180")
    with prefect_test_harness(server_startup_timeout=180):
        media_job(JobRequest(source=str(warm), preset="tiny"))  # warm-up: imports, first run
        for round_no in range(args.rounds):
            with Clock() as clock:
                result = media_job(JobRequest(source=str(source), preset=args.preset))
            full.append(clock.wall)
            full_cpu.append(clock.cpu)
            manifest = json.loads(open_store(settings).get_bytes(result.manifest_key or ""))
            gate.append(float(manifest["gate"]["elapsed_s"]))
            wall, cpu = bare(source, tmp / f"bare{round_no}", args.preset, settings)
            bare_s.append(wall)
            bare_cpu.append(cpu)
            print(
                f"round {round_no}: media-job {full[-1]:.2f} s wall, {full_cpu[-1]:.2f} s cpu "
                f"(gate {gate[-1]:.2f} s); bare {bare_s[-1]:.2f} s wall, {bare_cpu[-1]:.2f} s cpu",
                flush=True,
            )
    f, b, g = statistics.median(full), statistics.median(bare_s), statistics.median(gate)
    print(f"source {args.seconds:.0f} s {args.size} 30 fps, preset {args.preset}")
    fc, bc = statistics.median(full_cpu), statistics.median(bare_cpu)
    print(f"media-job {f:.2f} s  bare ffmpeg {b:.2f} s  ratio media-job/bare = {f / b:.3f} (wall)")
    print(
        f"media-job {fc:.2f} s  bare ffmpeg {bc:.2f} s  ratio media-job/bare = {fc / bc:.3f} (cpu)"
    )
    print(f"gate {g:.2f} s = {100 * g / f:.1f} % of the job; job without the gate / bare = "
          f"{(f - g) / b:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
