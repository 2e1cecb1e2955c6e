"""Chunked encode (chunks one after another, plus the audio pass and the join) vs one single pass,
on one core, side by side.

The whole benchmark pins itself (and so every ffmpeg it starts) to CPU 0 and x264 runs with
``-threads 1``: the ratio is the chunked path's own overhead (each chunk re-decodes a second of
margin, the audio is a pass of its own, the join copies every rung), not a parallel speed-up.
The source has a 2 s GOP (a camera's or a streaming service's; chunk boundaries are picked just
after source keyframes). Target: chunked / single <= 1.10. Rounds alternate the two; medians are
reported.

    .venv/bin/python benchmarks/chunked_vs_single.py [--seconds 30] [--chunks 3] [--rounds 1]

``--flow`` measures the real path instead: the ``media-job`` flow (in this process, against a
Prefect test server) once with the source under the chunk threshold and once over it, the chunks
then being ``media-chunk`` flow runs taken by one process worker (``--limit 1``) on the same core:
the ratio then includes each chunk run's process start, its source download from scratch and
its re-probe, the parent's fetch and verification of every chunk, and the publish gate (both).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clock import Clock  # noqa: E402


def make_source(path: Path, seconds: float) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-g", "60",
         "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def flow_mode(args: argparse.Namespace) -> None:
    """Single pass vs chunked through the media-job flow and media-chunk flow runs."""
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="reelflow-chunk-bench-"))
    try:  # (a 360 s source is 3 GB: never left behind)
        _flow_rounds(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _flow_rounds(args: argparse.Namespace, tmp: Path) -> None:
    import json

    os.environ.update(
        REELFLOW_HOME=str(tmp / "home"),
        REELFLOW_INPUT__ROOTS=str(tmp),
        REELFLOW_RENDER__HLS_SEGMENT_S="2",
        REELFLOW_RENDER__FFMPEG_THREADS="1",
        REELFLOW_MEDIA__CHUNK_S=str(2 * round(args.seconds / args.chunks / 2)),
        REELFLOW_MEDIA__CHUNK_POLL_S="0.2",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    from prefect.testing.utilities import prefect_test_harness

    from flows.media_job import media_job
    from infra.jobs.models import JobRequest
    from infra.settings import get_settings
    from infra.store.artifacts import open_store
    from tests.support.tools import pool_worker

    source = make_source(tmp / "source.mp4", args.seconds)
    warm = make_source(tmp / "warm.mp4", 1.0)
    single: list[Clock] = []
    chunked: list[Clock] = []
    with prefect_test_harness(server_startup_timeout=180) as _:
        from prefect.settings import PREFECT_API_URL

        api = str(PREFECT_API_URL.value())
        with pool_worker(
            api, "reelflow-process", "process", "media-chunk-process", log=tmp / "worker.log"
        ):
            for n in range(args.rounds):
                for mode, clocks in (("single", single), ("chunked", chunked)):
                    threshold = "100000" if mode == "single" else "1"
                    os.environ["REELFLOW_MEDIA__CHUNK_THRESHOLD_S"] = threshold
                    get_settings.cache_clear()
                    if n == 0 and mode == "single":
                        media_job(JobRequest(source=str(warm), preset="tiny"))  # warm-up
                    with Clock() as clock:
                        result = media_job(JobRequest(source=str(source), preset="sd"))
                    clocks.append(clock)
                    manifest = json.loads(
                        open_store(get_settings()).get_bytes(result.manifest_key or "")
                    )
                    print(
                        f"round {n} {mode}: wall {clock.wall:.2f} s, gate "
                        f"{manifest['gate']['elapsed_s']:.2f} s",
                        flush=True,
                    )
            wall_single = statistics.median(c.wall for c in single)
            wall_chunked = statistics.median(c.wall for c in chunked)
            print(
                f"source: {args.seconds:g} s 1280x720@30 -> sd ladder, {args.chunks} chunks, "
                "one core, media-job flow; media-chunk runs on one process worker"
            )
            print(f"  single pass job  wall {wall_single:7.2f} s")
            print(f"  chunked job      wall {wall_chunked:7.2f} s")
            print(f"ratio chunked / single (flow path): wall {wall_chunked / wall_single:.3f}x")
            sys.stdout.flush()


def main() -> None:
    from infra.media.chunks import encode_chunk, join_chunks, source_keyframes, split_chunks
    from infra.media.facts import probe_facts
    from infra.media.plan import plan_media
    from infra.media.presets import MEDIA_PRESETS
    from infra.media.transcode import audio_track_argv, encode_ladder, rendition_paths
    from infra.process.runner import Deadlines, run_process
    from infra.settings.media import MediaSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--flow", action="store_true", help="Through the real flows.")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.flow:
        flow_mode(args)
        return
    tools = {"deadlines": Deadlines(3600.0), "guard": None}
    with tempfile.TemporaryDirectory(prefix="chunked-") as tmp:
        base = Path(tmp)
        source = make_source(base / "source.mp4", args.seconds)
        facts = probe_facts(source, ffprobe="ffprobe", **tools)
        segment_s = 2
        plan = plan_media(
            facts, MEDIA_PRESETS["sd"], name="source.mp4", segment_s=segment_s,
            settings=MediaSettings(),
        )  # fmt: skip
        chunk_s = segment_s * round(args.seconds / args.chunks / segment_s)
        keyframes = source_keyframes(source, facts, ffprobe="ffprobe", **tools)
        chunks = split_chunks(plan, chunk_s=chunk_s, keyframes_s=keyframes)
        single: list[Clock] = []
        chunked: list[Clock] = []
        chunk_cpu: list[float] = []
        for n in range(args.rounds):
            work = base / f"round{n}"
            one, joined, scratch = work / "single", work / "chunked", work / "scratch"
            for folder in (one, joined, scratch):
                folder.mkdir(parents=True)
            with Clock() as clock:
                encode_ladder(
                    source, plan, rendition_paths(plan, one / "video.mp4", one),
                    ffmpeg="ffmpeg", threads=1, **tools,
                )  # fmt: skip
            single.append(clock)
            with Clock() as clock:
                for chunk in chunks:
                    with Clock() as part:
                        encode_chunk(
                            source, plan, chunk, scratch, ffmpeg="ffmpeg", ffprobe="ffprobe",
                            threads=1, **tools,
                        )  # fmt: skip
                    chunk_cpu.append(part.cpu)
                audio = scratch / "audio.m4a"
                run_process(audio_track_argv("ffmpeg", source, plan, audio), **tools)
                join_chunks(
                    plan, chunks, scratch, rendition_paths(plan, joined / "video.mp4", joined),
                    audio=audio, ffmpeg="ffmpeg", **tools,
                )  # fmt: skip
            chunked.append(clock)

    def median(clocks: list[Clock], field: str) -> float:
        return statistics.median(getattr(c, field) for c in clocks)

    print(
        f"source: {args.seconds:g} s 1280x720@30 (2 s GOP) -> sd ladder ({len(plan.rungs)} rungs),"
        f" {len(chunks)} chunks of about {chunk_s} s, one core, x264 -threads 1,"
        f" {args.rounds} round(s)"
    )
    for name, clocks in (("single pass", single), ("chunked + audio + join", chunked)):
        print(
            f"  {name:<24} cpu {median(clocks, 'cpu'):7.2f} s"
            f"   wall {median(clocks, 'wall'):7.2f} s"
        )
    costs = ", ".join(f"{c:.1f}" for c in chunk_cpu[: len(chunks)])
    print(f"  chunk cpu: {costs} s")
    print(
        f"ratio chunked / single: cpu {median(chunked, 'cpu') / median(single, 'cpu'):.3f}x, "
        f"wall {median(chunked, 'wall') / median(single, 'wall'):.3f}x (target <= 1.10x)"
    )


if __name__ == "__main__":
    main()
