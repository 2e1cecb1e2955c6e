"""Timelines: several sources normalised to one plan and joined, with an optional crossfade.

:func:`plan_timeline` picks one output for all parts: the highest part frame rate (divided down
to ``max_fps``), a canvas in the first part's display aspect whose short side is the largest
part's (the ladder never upscales beyond the largest part), square pixels, stereo 48 kHz. Each
part is fitted into the canvas (letter- or pillar-boxed), cut to an exact number of frames at the
output rate and given audio of exactly the same length (its own, padded or trimmed, or silence
when it has none), so audio stays in sync across every cut: duration = sum of the parts, minus
one crossfade per cut when crossfading (``xfade``/``acrossfade`` with the same overlap in frames
and samples). :func:`timeline_argv` is one pass writing the whole ladder, like the single source
ladder; loudness is normalised once over the joined audio.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from infra.errors import InputInvalid, InputTooLarge
from infra.media.facts import MediaFacts
from infra.media.filters import (
    aac_args,
    audio_chain,
    loudness_chain,
    rung_scalers,
    video_chain,
    x264_args,
)
from infra.media.plan import MediaPlan, audio_target, ladder, output_fps, source_plan
from infra.media.presets import MediaPreset
from infra.media.safety import INPUT_SAFETY
from infra.media.transcode import progress_fraction
from infra.process.runner import (
    FFMPEG_BASE_ARGS,
    Deadlines,
    ProcessGuard,
    atomic_outputs,
    run_process,
)
from infra.settings.media import MediaSettings

__all__ = ["encode_timeline", "part_samples", "plan_timeline", "timeline_argv"]


def _even_floor(value: float | Fraction) -> int:
    return max(2, 2 * math.floor(value / 2))


def plan_timeline(
    parts: Sequence[tuple[str, MediaFacts]],
    preset: MediaPreset,
    *,
    segment_s: int,
    settings: MediaSettings,
    crossfade_s: float = 0.0,
) -> MediaPlan:
    """One plan for ``parts`` ((original name, facts) in play order); InputInvalid if a part
    has no video or is too short for the crossfade, InputTooLarge if the whole is too long."""
    if len(parts) < 2:
        raise InputInvalid("a timeline needs at least two sources")
    for name, facts in parts:
        if facts.video is None:
            raise InputInvalid(f"timeline part {name} has no video; every part needs a picture")
    videos = [facts.video for _, facts in parts if facts.video is not None]
    fps = max(output_fps(v.fps_value, settings.max_fps) for v in videos)
    first = videos[0]
    short = max(min(v.display_width, v.display_height) for v in videos)
    ratio = Fraction(first.display_width, first.display_height)
    canvas = (round(short * ratio), short) if ratio >= 1 else (short, round(short / ratio))
    rungs = ladder(canvas[0], canvas[1], preset.heights, fps)
    width, height = rungs[0].width, rungs[0].height
    sources = []
    for name, facts in parts:
        assert facts.video is not None
        src = source_plan(facts, name, fps)
        dw, dh = facts.video.display_width, facts.video.display_height
        scale = min(Fraction(width, dw), Fraction(height, dh))
        fit_w, fit_h = min(width, _even_floor(dw * scale)), min(height, _even_floor(dh * scale))
        if abs(fit_w - width) <= 2 and abs(fit_h - height) <= 2:
            fit_w, fit_h = width, height  # rounding, not a different aspect: no 1-px bars
        sources.append(src.model_copy(update={"fit_width": fit_w, "fit_height": fit_h}))
    crossfade = round(crossfade_s * fps)
    for src in sources:
        if crossfade and src.frames <= 2 * crossfade:
            raise InputInvalid(
                f"timeline part {src.name} lasts {src.duration_s:.2f} s, too short for a "
                f"{crossfade_s:g} s crossfade on both sides"
            )
    frames = sum(s.frames for s in sources) - crossfade * (len(sources) - 1)
    if frames / fps > settings.max_duration_s:
        raise InputTooLarge(
            f"the timeline lasts {float(frames / fps):.0f} s; the limit is "
            f"{settings.max_duration_s:.0f} s (REELFLOW_MEDIA__MAX_DURATION_S)"
        )
    has_audio = any(facts.audio is not None for _, facts in parts)
    return MediaPlan(
        kind="video",
        preset=preset.name,
        segment_s=segment_s,
        duration_s=float(frames / fps),
        fps=f"{fps.numerator}/{fps.denominator}",
        frames=frames,
        frame_tolerance=settings.gate_frame_tolerance,
        rungs=rungs,
        audio=audio_target(settings) if has_audio else None,
        sources=sources,
        crossfade_frames=crossfade,
        crf=settings.crf,
        x264_preset=settings.x264_preset,
    )


def part_samples(frames: int, plan: MediaPlan) -> int:
    """Audio samples matching ``frames`` video frames at the plan's rate."""
    assert plan.audio is not None
    return round(frames / plan.fps_value * plan.audio.sample_rate)


def _join(plan: MediaPlan) -> list[str]:
    """Graph statements joining ``[pv{i}]``/``[pa{i}]`` into ``[vcat]`` and ``[acat]``."""
    count = len(plan.sources)
    audio = plan.audio is not None
    if not plan.crossfade_frames:
        pads = "".join(f"[pv{i}]" + (f"[pa{i}]" if audio else "") for i in range(count))
        outs = "[vcat][acat]" if audio else "[vcat]"
        return [f"{pads}concat=n={count}:v=1:a={int(audio)}{outs}"]
    fps = plan.fps_value
    fade = plan.crossfade_frames
    graph = []
    video, sound, length = "pv0", "pa0", plan.sources[0].frames
    for i in range(1, count):
        last = i == count - 1
        vout, aout = ("vcat", "acat") if last else (f"xv{i}", f"xa{i}")
        offset = float((length - fade) / fps)
        graph.append(
            f"[{video}][pv{i}]xfade=transition=fade:duration={float(fade / fps):.6f}:"
            f"offset={offset:.6f}[{vout}]"
        )
        if audio:
            graph.append(
                f"[{sound}][pa{i}]acrossfade=ns={part_samples(fade, plan)}:c1=tri:c2=tri[{aout}]"
            )
        video, sound, length = vout, aout, length + plan.sources[i].frames - fade
    return graph


def timeline_argv(
    ffmpeg: str,
    sources: Sequence[Path],
    plan: MediaPlan,
    outputs: Sequence[Path],
    *,
    threads: int = 0,
) -> list[str]:
    """One pass: every part normalised, joined, split into every rung (audio in outputs[0])."""
    top = plan.top
    graph: list[str] = []
    for i, src in enumerate(plan.sources):
        chain = video_chain(src, plan, end=src.frames, exact=True, canvas=(top.width, top.height))
        graph.append(f"[{i}:{src.video_index}]{chain}[pv{i}]")
        if plan.audio is None:
            continue
        samples = part_samples(src.frames, plan)
        if src.audio_index is None:
            graph.append(
                f"anullsrc=r={plan.audio.sample_rate}:cl=stereo,atrim=end_sample={samples},"
                f"aformat=sample_fmts=fltp[pa{i}]"
            )
        else:
            chain = audio_chain(src, plan, exact_samples=samples)
            graph.append(f"[{i}:{src.audio_index}]{chain}[pa{i}]")
    graph += _join(plan)
    graph += rung_scalers("vcat", plan.rungs)
    if plan.audio is not None:
        graph.append(f"[acat]{loudness_chain(plan.audio)}[aout]")
    argv = [ffmpeg, *FFMPEG_BASE_ARGS, "-loglevel", "error", "-y"]
    for path in sources:
        argv += [*INPUT_SAFETY, "-i", str(path)]
    argv += ["-filter_complex", ";".join(graph)]
    for i, (rung, out) in enumerate(zip(plan.rungs, outputs, strict=True)):
        argv += ["-map", f"[v{i}]", *x264_args(plan, rung, threads=threads)]
        if i == 0 and plan.audio is not None:
            argv += ["-map", "[aout]", *aac_args(plan.audio)]
        argv += ["-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(out)]
    return argv


def encode_timeline(
    sources: Sequence[Path],
    plan: MediaPlan,
    outputs: Sequence[Path],
    *,
    ffmpeg: str,
    threads: int,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
    on_progress: Callable[[float], None] | None = None,
) -> list[Path]:
    """Run :func:`timeline_argv`; each output appears complete or not at all."""
    if len(sources) != len(plan.sources):
        raise InputInvalid(f"{len(sources)} files for a timeline of {len(plan.sources)} parts")
    with atomic_outputs(*outputs) as temps:
        run_process(
            timeline_argv(ffmpeg, sources, plan, temps, threads=threads),
            deadlines=deadlines,
            guard=guard,
            ffmpeg_progress=True,
            on_progress=progress_fraction(plan.duration_s, on_progress),
        )
    return list(outputs)
