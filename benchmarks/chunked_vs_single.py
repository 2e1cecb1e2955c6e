"""Chunked encode (chunks one after another, plus the audio pass and the join) vs one single pass,
on one core, side by side.

The whole benchmark pins itself (and so every ffmpeg it starts) to CPU 0 and x264 runs with
``-threads 1``: the ratio is the chunked path's own overhead (each chunk re-decodes a second of
margin, the audio is a pass of its own, the join copies every rung), not a parallel speed-up.
The source has a 2 s GOP (a camera's or a streaming service's; chunk boundaries are picked just
after source keyframes). Target: chunked / single <= 1.10. Rounds alternate the two; medians are
reported.

    .venv/bin/python benchmarks/chunked_vs_single.py [--seconds 30] [--chunks 3] [--rounds 1]
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
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
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
