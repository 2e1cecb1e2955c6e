"""Full video job vs the bare espeak-ng + ffmpeg commands for the same outputs, side by side.

For a 3-slide and a 20-slide document (preset ``hd``: 1080p/720p/480p ladder), runs
(a) the whole ``video-job`` flow through a real Prefect server (probe, script, TTS, slides, encode,
    HLS, captions, upload to the local store, ledger writes, artifacts, cleanup), and
(b) the commands a person would type for the same outputs: espeak-ng per slide, sox-free WAV join,
    one ffmpeg encode into the renditions + thumbnail, one ffmpeg HLS cut. Slide PNGs for (b) are
    drawn before its clock starts (a person would need them too; this only favours (b)).
Rounds alternate (a) and (b); medians are reported with the ratio a/b and the real-time factor
(seconds of video per second of wall time). A third column times an empty Prefect flow on the same
server: the fixed cost of one flow run that no reelflow change can remove.

    .venv/bin/python benchmarks/render_vs_bare.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

# About 17 words a slide: 20 slides are ~340 words, about two minutes of espeak-ng speech. Each
# section's sentence names its own topic: the script never repeats a sentence it already said.
WORDS = (
    "Reelflow renders narrated slides about topic {n} from documents with clear stages and "
    "strict limits, so operators know what happened."
)
TOPICS = (
    "probes scripts speech slides encoding ladders thumbnails captions uploads cleanup retries "
    "timeouts cancels heartbeats reapers sweepers retention metrics alerts budgets"
).split()


def make_doc(path: Path, slides: int) -> Path:
    parts = [
        f"# Benchmark topic {i + 1}\n\n{WORDS.format(n=TOPICS[i % len(TOPICS)])}\n"
        for i in range(slides)
    ]
    path.write_text("\n".join(parts))
    return path


def bare(script, workdir: Path, preset_name: str, settings) -> float:
    """The plain command sequence; returns wall seconds (slides pre-drawn, not timed)."""
    from infra.media.hls import hls_argv
    from infra.media.presets import PRESETS
    from infra.media.slideshow import audio_argv, concat_list, encode_argv
    from tasks.render.slides import render_slide

    preset = PRESETS[preset_name]
    cfg = settings.render
    workdir.mkdir(parents=True)
    images = [
        render_slide(
            s, workdir / f"s{i:03d}.png", preset.top.width, preset.top.height, str(cfg.font_path)
        )
        for i, s in enumerate(script.slides)
    ]
    started = time.perf_counter()
    wavs = []
    for i, slide in enumerate(script.slides):
        wav = workdir / f"a{i:03d}.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                cfg.default_voice,
                "-s",
                str(cfg.speech_rate_wpm),
                "-w",
                str(wav),
                slide.narration,
            ],
            check=True,
            capture_output=True,
        )
        wavs.append(wav)
    durations = []
    with wave.open(str(workdir / "narration.wav"), "wb") as out:
        for i, wav in enumerate(wavs):
            with wave.open(str(wav), "rb") as src:
                if i == 0:
                    out.setparams(src.getparams())
                out.writeframes(src.readframes(src.getnframes()))
                durations.append(src.getnframes() / src.getframerate())
    total = sum(durations)
    subprocess.run(
        audio_argv("ffmpeg", workdir / "narration.wav", workdir / "n.m4a", preset.audio_kbps),
        check=True,
        capture_output=True,
    )
    (workdir / "s.ffconcat").write_text(concat_list(images, durations))
    mp4s = [workdir / f"{r.name}.mp4" for r in preset.renditions]
    subprocess.run(
        encode_argv(
            "ffmpeg",
            workdir / "s.ffconcat",
            workdir / "n.m4a",
            preset,
            mp4s,
            workdir / "thumb.jpg",
            total_s=total,
            fps=cfg.slide_fps,
            segment_s=cfg.hls_segment_s,
            threads=cfg.ffmpeg_threads,
        ),
        check=True,
        capture_output=True,
    )
    playlists = []
    for r in preset.renditions:
        (workdir / "hls" / r.name).mkdir(parents=True)
        playlists.append(workdir / "hls" / r.name / "index.m3u8")
    subprocess.run(
        hls_argv("ffmpeg", mp4s, playlists, cfg.hls_segment_s), check=True, capture_output=True
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="hd")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="reelflow-bench-"))
    os.environ["REELFLOW_HOME"] = str(tmp / "home")
    os.environ["REELFLOW_INPUT__ROOTS"] = str(tmp)

    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from flows.document_job import document_job
    from infra.jobs.models import JobRequest
    from infra.settings import get_settings
    from tasks.probe import inspect_document
    from tasks.script.extractive import write_script

    @flow(name="empty")
    def empty_flow() -> None:
        return None

    settings = get_settings()
    rows = []
    floors: list[float] = []
    with prefect_test_harness(server_startup_timeout=120):
        empty_flow()  # warm-up
        for slides in (3, 20):
            doc_path = make_doc(tmp / f"doc{slides}.md", slides)
            script = write_script(inspect_document(doc_path, settings), "en", settings.script)
            full_times, bare_times, video_s = [], [], 0.0
            for round_no in range(args.rounds):
                started = time.perf_counter()
                result = document_job(JobRequest(source=str(doc_path), preset=args.preset))
                full_times.append(time.perf_counter() - started)
                video_s = float(result.details["duration_s"])
                bare_times.append(
                    bare(script, tmp / f"bare{slides}-{round_no}", args.preset, settings)
                )
                started = time.perf_counter()
                empty_flow()
                floors.append(time.perf_counter() - started)
            full, plain = statistics.median(full_times), statistics.median(bare_times)
            rows.append((slides, video_s, full, plain))

    print(f"\npreset={args.preset} rounds={args.rounds} cores={os.cpu_count()}")
    print(f"empty Prefect flow run (fixed floor): median {statistics.median(floors):.2f} s")
    print(
        f"{'slides':>6} {'video s':>8} {'full s':>7} {'bare s':>7} {'full/bare':>9} "
        f"{'RTF full':>8} {'RTF bare':>8}"
    )
    for slides, video_s, full, plain in rows:
        print(
            f"{slides:>6} {video_s:>8.1f} {full:>7.2f} {plain:>7.2f} {full / plain:>9.2f} "
            f"{video_s / full:>8.1f} {video_s / plain:>8.1f}"
        )


if __name__ == "__main__":
    main()
