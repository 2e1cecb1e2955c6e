"""The publish gate's cost as a share of a media job, measured side by side.

A ~20 s 1280x720@30 source (testsrc2 with temporal grain, so x264 has real work) goes through the
media job's steps: probe and input checks, the one-pass encode (preset ``sd``: 720p/480p/360p),
HLS packaging and the poster/storyboard pass; then the gate runs on the outputs. Prints each
step's CPU time (children's user + system: robust on a shared machine) and wall time, the gate's
share of the whole job (target <= 10 %) and what decoding the MP4 as well would have added (the
gate does not: the top variant's segments are a stream copy of it).

The share is about the ratio of H.264 decoding to x264 encoding, so it depends on the x264
preset (``--preset``, default: MediaSettings') and a little on the content (``--grain``).

    .venv/bin/python benchmarks/gate_cost.py [--seconds 20] [--rounds 1] [--preset veryfast]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clock import Clock  # noqa: E402

STEPS = ("checks", "encode", "hls", "pictures", "gate")


def make_source(path: Path, seconds: float, grain: int) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30,noise=alls={grain}:allf=t",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-g", "60",
         "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def one_round(source: Path, work: Path, x264_preset: str) -> dict[str, Clock]:
    from infra.media.facts import probe_facts
    from infra.media.gate import media_expectations, run_gate
    from infra.media.input_checks import check_media_input
    from infra.media.outputs import VIDEO_MP4
    from infra.media.packaging import package_hls
    from infra.media.plan import plan_media
    from infra.media.presets import MEDIA_PRESETS
    from infra.media.storyboard import make_pictures
    from infra.media.transcode import encode_ladder, rendition_paths
    from infra.process.runner import Deadlines, run_process
    from infra.settings.media import MediaSettings

    cfg = MediaSettings(x264_preset=x264_preset)
    tools = {"deadlines": Deadlines(1800.0), "guard": None}
    out, tmp = work / "out", work / "renditions"
    out.mkdir(parents=True)
    tmp.mkdir()
    steps: dict[str, Clock] = {}
    with Clock() as steps["checks"]:
        facts = probe_facts(source, ffprobe="ffprobe", **tools)
        check_media_input(
            source, facts, ffmpeg="ffmpeg", max_duration_s=cfg.max_duration_s,
            span_s=cfg.probe_span_s, **tools,
        )  # fmt: skip
    plan = plan_media(facts, MEDIA_PRESETS["sd"], name=source.name, segment_s=6, settings=cfg)
    mp4s = rendition_paths(plan, out / VIDEO_MP4, tmp)
    with Clock() as steps["encode"]:
        encode_ladder(source, plan, mp4s, ffmpeg="ffmpeg", threads=0, **tools)
    with Clock() as steps["hls"]:
        package_hls(plan, mp4s, out, ffmpeg="ffmpeg", ffprobe="ffprobe", **tools)
    small = plan.rungs[-1]
    with Clock() as steps["pictures"]:
        make_pictures(
            mp4s[0], mp4s[-1], out, frames=plan.frames, fps=plan.fps_value, width=small.width,
            height=small.height, duration_s=plan.duration_s, ffmpeg="ffmpeg",
            thumb_at_s=cfg.thumbnail_at_s, thumb_width=cfg.thumbnail_width,
            interval_s=cfg.storyboard_interval_s, tile_width=cfg.storyboard_tile_width,
            columns=cfg.storyboard_columns, rows=cfg.storyboard_rows, **tools,
        )  # fmt: skip
    with Clock() as steps["gate"]:
        run_gate(out, media_expectations(plan), ffmpeg="ffmpeg", ffprobe="ffprobe", **tools)
    with Clock() as steps["mp4_decode_avoided"]:
        run_process(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(mp4s[0]), "-map", "0", "-f", "null",
             "-"],
            **tools,
        )  # fmt: skip
    return steps


def main() -> None:
    from infra.settings.media import MediaSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--preset", default=MediaSettings().x264_preset, help="x264 preset")
    parser.add_argument("--grain", type=int, default=12, help="temporal noise (0: clean)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-cost-") as tmp:
        base = Path(tmp)
        source = make_source(base / "source.mp4", args.seconds, args.grain)
        rounds = [one_round(source, base / f"round{i}", args.preset) for i in range(args.rounds)]
    keys = (*STEPS, "mp4_decode_avoided")
    cpu = {k: statistics.median(r[k].cpu for r in rounds) for k in keys}
    wall = {k: statistics.median(r[k].wall for r in rounds) for k in keys}
    print(
        f"source: {args.seconds:g} s 1280x720@30, grain {args.grain} -> sd ladder "
        f"(720p/480p/360p), x264 {args.preset}; {args.rounds} round(s), medians"
    )
    for key in STEPS:
        print(f"  {key:<9} cpu {cpu[key]:7.2f} s   wall {wall[key]:7.2f} s")
    job_cpu, job_wall = sum(cpu[k] for k in STEPS), sum(wall[k] for k in STEPS)
    print(
        f"gate share of the job: cpu {cpu['gate'] / job_cpu:.1%}, "
        f"wall {wall['gate'] / job_wall:.1%} (target <= 10 %)"
    )
    print(
        f"decoding video.mp4 as well would add cpu {cpu['mp4_decode_avoided']:.2f} s "
        f"({cpu['mp4_decode_avoided'] / job_cpu:.1%} of the job)"
    )


if __name__ == "__main__":
    main()
