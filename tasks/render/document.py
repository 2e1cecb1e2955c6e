"""Render stage: speech per slide, slide images, one encode pass, HLS by stream copy, captions.

Everything is written inside the job's work directory; the upload stage ships ``out/``. Media
processes go through ``infra.process.runner`` (deadlines, stop on cancel); the encode's progress
moves the job's progress bar.
"""

from __future__ import annotations

import json
import logging
import wave
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import FFmpegFailed, TTSFailed
from infra.jobs.models import JobRequest, RenderOutputs, Script
from infra.jobs.stages import Stage
from infra.media.hls import avc_codec_string, hls_argv, master_playlist, variant_bandwidth
from infra.media.presets import PRESETS, Preset
from infra.media.slideshow import audio_argv, concat_list, encode_argv
from infra.process.runner import Deadlines, ProcessGuard, Progress, atomic_outputs, run_process
from infra.process.watchdog import JobWatchdog
from infra.settings import Settings
from infra.store.layout import DOCUMENT_OUTPUTS
from tasks.render.captions import build_vtt
from tasks.render.slides import render_slide
from tasks.render.speech import choose_voicing, speak_slides
from tasks.stage import JobContext

__all__ = [
    "concat_wavs",
    "media_deadlines",
    "render_document",
    "render_stage",
]

log = logging.getLogger("reelflow.render")


def media_deadlines(settings: Settings) -> Deadlines:
    cfg = settings.render
    return Deadlines(
        timeout_s=cfg.process_timeout_s,
        startup_s=cfg.process_startup_s,
        stall_s=cfg.process_stall_s,
        finish_s=cfg.process_finish_s,
        kill_grace_s=cfg.kill_grace_s,
    )


def concat_wavs(parts: list[Path], target: Path) -> float:
    """Join WAVs of one format (espeak-ng's) into ``target``; returns its duration."""
    frames = 0
    with wave.open(str(target), "wb") as out:
        for i, part in enumerate(parts):
            with wave.open(str(part), "rb") as src:
                if i == 0:
                    out.setparams(src.getparams())
                elif src.getframerate() != out.getframerate():
                    raise TTSFailed(f"{part.name} has a different sample rate")
                data = src.readframes(src.getnframes())
                frames += src.getnframes()
                out.writeframes(data)
        rate = out.getframerate()
    return frames / rate


def _write_hls(
    renditions: list[Path], preset: Preset, hls_dir: Path, settings: Settings, guard: ProcessGuard
) -> list[Path]:
    cfg = settings.render
    playlists = []
    for rendition in preset.renditions:
        (hls_dir / rendition.name).mkdir(parents=True, exist_ok=True)
        playlists.append(hls_dir / rendition.name / "index.m3u8")
    run_process(
        hls_argv(cfg.ffmpeg_bin, renditions, playlists, cfg.hls_segment_s),
        deadlines=media_deadlines(settings),
        ffmpeg_progress=True,
        guard=guard,
    )
    variants = []
    for rendition, playlist in zip(preset.renditions, playlists, strict=True):
        peak, average = variant_bandwidth(playlist)
        variants.append(
            {
                "uri": f"{rendition.name}/index.m3u8",
                "bandwidth": peak,
                "average": average,
                "width": rendition.width,
                "height": rendition.height,
                "fps": cfg.slide_fps,
                "codecs": f"{avc_codec_string('High', rendition.h264_level)},mp4a.40.2",
            }
        )
    (hls_dir / "master.m3u8").write_text(master_playlist(variants))
    return playlists


def render_document(
    script: Script,
    request: JobRequest,
    root: Path,
    settings: Settings,
    guard: JobWatchdog,
    on_progress: Callable[[float], None] | None = None,
) -> RenderOutputs:
    """Turn a validated script into the job's output files under ``<root>/out``.

    Every external process runs under ``guard`` (the job's watchdog); the Python work between
    them (slide drawing) checks it too, so the job's duration limit holds throughout.
    """
    cfg = settings.render
    preset = PRESETS[request.preset or settings.render.default_preset]
    slides_dir, audio_dir, tmp_dir, out = (
        root / "slides",
        root / "audio",
        root / "renditions",
        root / "out",
    )
    for folder in (slides_dir, audio_dir, tmp_dir, out / "hls"):
        folder.mkdir(parents=True, exist_ok=True)

    voicing = choose_voicing(request, script, settings)
    durations, voicing = speak_slides(
        script,
        audio_dir,
        voicing,
        settings,
        guard,
        media_deadlines(settings),
        cpu_percent=guard.limits.max_cpu_percent,
    )
    narration_s = concat_wavs(
        [audio_dir / f"slide_{i:03d}.wav" for i in range(len(durations))], root / "narration.wav"
    )
    audio = root / "narration.m4a"
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The narration encodes on one core while the slides are drawn on the other.
        audio_done = pool.submit(
            run_process,
            audio_argv(cfg.ffmpeg_bin, root / "narration.wav", audio, preset.audio_kbps),
            deadlines=media_deadlines(settings),
            ffmpeg_progress=True,
            guard=guard,
        )
        images = []
        for i, slide in enumerate(script.slides):
            guard.check()
            images.append(
                render_slide(
                    slide,
                    slides_dir / f"slide_{i:03d}.png",
                    preset.top.width,
                    preset.top.height,
                    str(cfg.font_path),
                    request.language,
                )
            )
        audio_done.result()
    concat_file = slides_dir / "slides.ffconcat"
    concat_file.write_text(concat_list(images, durations))

    video = out / "video.mp4"
    rendition_paths = [video] + [tmp_dir / f"{r.name}.mp4" for r in preset.renditions[1:]]
    thumb = out / "thumb.jpg"

    def progress(p: Progress) -> None:
        if on_progress is not None and p.out_time_s is not None:
            on_progress(min(1.0, p.out_time_s / max(narration_s, 0.1)))

    with atomic_outputs(*rendition_paths, thumb) as temps:
        run_process(
            encode_argv(
                cfg.ffmpeg_bin,
                concat_file,
                audio,
                preset,
                temps[:-1],
                temps[-1],
                total_s=narration_s,
                fps=cfg.slide_fps,
                segment_s=cfg.hls_segment_s,
                threads=cfg.ffmpeg_threads,
            ),
            deadlines=media_deadlines(settings),
            ffmpeg_progress=True,
            on_progress=progress,
            guard=guard,
        )
        for temp in temps:
            if not temp.is_file() or temp.stat().st_size == 0:
                raise FFmpegFailed(f"ffmpeg finished but wrote no {temp.name}")

    _write_hls(rendition_paths, preset, out / "hls", settings, guard)
    (out / "captions.vtt").write_text(
        build_vtt([s.narration for s in script.slides], durations), encoding="utf-8"
    )
    (out / "script.json").write_text(
        json.dumps(
            {
                **script.model_dump(),
                "voice": voicing.voice,
                "voice_engine": voicing.engine,
                "voice_engine_requested": voicing.requested,
                "slide_durations_s": durations,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    files = {p.relative_to(out).as_posix(): str(p) for p in sorted(out.rglob("*")) if p.is_file()}
    missing = [key for key in DOCUMENT_OUTPUTS.values() if key not in files]
    if missing:
        raise FFmpegFailed(f"the render finished without {', '.join(missing)}")
    duration = narration_s  # the video is cut to the narration (-t); the tests probe it
    log.info(
        "rendered %d slides, %.1fs of narration (%s voice %s), %d files",
        len(images),
        narration_s,
        voicing.engine,
        voicing.voice,
        len(files),
    )
    return RenderOutputs(
        files=files,
        outputs=dict(DOCUMENT_OUTPUTS),
        duration_s=duration,
        narration_s=narration_s,
        slide_durations_s=durations,
    )


@task(name="render", cache_policy=NO_CACHE)
def render_stage(ctx: JobContext, script: Script, request: JobRequest) -> RenderOutputs:
    return render_document(
        script,
        request,
        ctx.work_dir,
        ctx.settings,
        ctx.guard,
        on_progress=lambda fraction: ctx.progress(Stage.RENDER, fraction),
    )
