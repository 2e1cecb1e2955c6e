"""Chunked encodes: split a long source at segment starts, encode chunks anywhere, join by copy.

A chunk is output frames [start, end) of the plan, for every rung, video only. Boundaries are
first frames of HLS segments (:meth:`MediaPlan.segment_start_frame`), where every encode forces
a keyframe anyway, so chunk joins are segment boundaries and segments align across rungs; among
the segment starts near each target, the one closest after a source keyframe is chosen, so a
chunk pass decodes little that it then throws away (keyframe-safe points).

A chunk pass seeks a few frames before its first frame (``-copyts -start_at_zero`` keeps the
source's timestamps, so the frame grid is the single pass's), warms the deinterlacer and the
``fps`` filter on that margin and keeps its frames by grid number (:mod:`infra.media.filters`).
Hence: joined frame count == single-pass frame count, timestamps continue without gap or
duplicate at every join. Audio is never chunked: it is encoded once for the whole file
(:func:`infra.media.transcode.audio_track_argv`) so AAC priming never lands inside the video,
and muxed at the join. A chunk in scratch is reused after a crash only if its sha256 and its
frame count (ffprobe, demux only) match the record written when it was made.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from infra.errors import FFmpegFailed, InputInvalid, InputUnreadable, OutputInvalid
from infra.media.facts import MediaFacts
from infra.media.ffprobe import probe_json
from infra.media.filters import chunk_seek_frame, rung_scalers, video_chain, x264_args
from infra.media.plan import MediaPlan
from infra.media.safety import INPUT_SAFETY
from infra.media.transcode import progress_fraction
from infra.process.runner import (
    FFMPEG_BASE_ARGS,
    Deadlines,
    ProcessGuard,
    atomic_outputs,
    run_process,
)
from infra.store.artifacts import sha256_file

__all__ = [
    "ChunkRecord",
    "ChunkSpec",
    "chunk_argv",
    "chunk_files",
    "chunk_reusable",
    "concat_list",
    "encode_chunk",
    "join_argv",
    "join_chunks",
    "record_chunk",
    "source_keyframes",
    "split_chunks",
]


class ChunkSpec(BaseModel):
    index: int
    start: int  # first output frame (global), the first frame of a segment
    end: int | None  # exclusive; None: to the end of the source
    seek_s: float | None = None  # where the chunk pass seeks (None: the default margin)

    @property
    def name(self) -> str:
        return f"chunk_{self.index:04d}"

    @property
    def frames(self) -> int | None:
        return None if self.end is None else self.end - self.start


class ChunkRecord(BaseModel):
    """What was verified about one chunk file when it was made (kept beside it in scratch)."""

    chunk: int
    rung: str
    file: str
    sha256: str
    frames: int
    bytes: int


def _seek_s(plan: MediaPlan, start: int, keyframes_s: Sequence[float] = ()) -> float:
    """Where a chunk pass seeks: half a frame before its first margin frame; or, for a
    progressive source with a keyframe inside that margin, right at the keyframe (seeking before
    it would decode from the previous keyframe; the deinterlacer needs its margin, fps does not).
    """
    src = plan.sources[0]
    fps = plan.fps_value
    default = float((chunk_seek_frame(src, plan, start) - Fraction(1, 2)) / fps)
    if keyframes_s and not src.deinterlace:
        first = float((src.origin_frame + start) / fps)
        before = bisect.bisect_right(keyframes_s, first + 1e-6)
        if before and keyframes_s[before - 1] >= default:
            return max(0.0, keyframes_s[before - 1] - 1e-6)
    return default


def _preroll_s(plan: MediaPlan, start: int, keyframes_s: Sequence[float]) -> float:
    """Seconds decoded and thrown away before a chunk starting at ``start``: from the source
    keyframe at or before the seek point (ffmpeg seeks there) to the seek point."""
    seek = _seek_s(plan, start, keyframes_s)
    before = bisect.bisect_right(keyframes_s, seek + 1e-6)
    return seek - keyframes_s[before - 1] if before else seek


def split_chunks(
    plan: MediaPlan, *, chunk_s: float, keyframes_s: Sequence[float] = ()
) -> list[ChunkSpec]:
    """Chunks of about ``chunk_s`` (whole segments) covering the plan.

    Each boundary is a segment start within a quarter chunk of its target; with the source's
    keyframe times (:func:`source_keyframes`) the one with the least pre-roll decode is chosen
    (keyframe-safe). The last chunk is open-ended and never shorter than half a chunk.
    """
    if plan.kind != "video" or len(plan.sources) != 1:
        raise InputInvalid("only a single-source video plan can be encoded in chunks")
    per_chunk = max(1, round(chunk_s / plan.segment_s))
    segments = 0
    while plan.segment_start_frame(segments) < plan.frames:
        segments += 1
    keyframes = sorted(keyframes_s)
    boundaries = [0]
    target = per_chunk
    while (segments - target) * 2 >= per_chunk:
        reach = max(1, per_chunk // 4)  # keeps chunks within ±25 % of each other's length
        low = max(boundaries[-1] + 1, target - reach)
        high = min(segments - 1, target + reach)
        candidates = range(low, high + 1) if keyframes else range(target, target + 1)
        best = min(
            candidates,
            key=lambda m: (
                round(_preroll_s(plan, plan.segment_start_frame(m), keyframes), 3)
                if keyframes
                else 0.0,
                abs(m - target),
            ),
        )
        boundaries.append(best)
        target += per_chunk
    starts = [plan.segment_start_frame(m) for m in boundaries]
    ends: list[int | None] = [*starts[1:], None]
    return [
        ChunkSpec(index=i, start=s, end=e, seek_s=_seek_s(plan, s, keyframes) if s else None)
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]


def source_keyframes(
    path: Path,
    facts: MediaFacts,
    *,
    ffprobe: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> list[float]:
    """Keyframe times of the source's video on ffmpeg's timeline (demux only, no decode)."""
    assert facts.video is not None
    argv = [
        ffprobe,
        "-v",
        "error",
        *INPUT_SAFETY,
        "-select_streams",
        str(facts.video.index),
        "-show_entries",
        "packet=pts_time,flags",
        "-of",
        "csv=p=0",
        str(path),
    ]
    result = run_process(argv, deadlines=deadlines, guard=guard, error=InputUnreadable)
    times = []
    for line in result.stdout.decode("ascii", "replace").splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags and pts not in ("", "N/A"):
            times.append(float(pts) - facts.start_s)
    return sorted(times)


def chunk_files(plan: MediaPlan, chunk: ChunkSpec, folder: Path) -> list[Path]:
    """One file per rung; names are portable (the concat demuxer's ``-safe 1`` rule)."""
    return [folder / f"{chunk.name}_{rung.name}.mp4" for rung in plan.rungs]


def chunk_argv(
    ffmpeg: str,
    source: Path,
    plan: MediaPlan,
    chunk: ChunkSpec,
    outputs: Sequence[Path],
    *,
    threads: int = 0,
) -> list[str]:
    """Every rung of the plan for the chunk's frames, video only."""
    src = plan.sources[0]
    assert src.video_index is not None
    argv = [ffmpeg, *FFMPEG_BASE_ARGS, "-loglevel", "error", "-y", "-copyts", "-start_at_zero"]
    if chunk.start:
        seek = chunk.seek_s if chunk.seek_s is not None else _seek_s(plan, chunk.start)
        argv += ["-ss", f"{seek:.6f}"]
    chain = video_chain(src, plan, start=chunk.start, end=chunk.end)
    graph = [f"[0:{src.video_index}]{chain}[vin]", *rung_scalers("vin", plan.rungs)]
    argv += [*INPUT_SAFETY, "-i", str(source), "-filter_complex", ";".join(graph)]
    for i, (rung, out) in enumerate(zip(plan.rungs, outputs, strict=True)):
        argv += [
            "-map",
            f"[v{i}]",
            *x264_args(plan, rung, first_frame=chunk.start, threads=threads),
            "-map_metadata",
            "-1",
            "-f",
            "mp4",
            str(out),
        ]
    return argv


def concat_list(files: Sequence[Path]) -> str:
    """An ffconcat list of chunk files (names relative to the list, portable characters)."""
    return "ffconcat version 1.0\n" + "".join(f"file '{f.name}'\n" for f in files)


def join_argv(
    ffmpeg: str, lists: Sequence[Path], outputs: Sequence[Path], *, audio: Path | None
) -> list[str]:
    """Each rung's chunks concatenated by stream copy; the top also gets the one audio track
    (``audio``) and faststart. ``lists[i]`` is the ffconcat list of rung ``i``."""
    argv = [ffmpeg, *FFMPEG_BASE_ARGS, "-loglevel", "error", "-y"]
    for listing in lists:
        argv += [*INPUT_SAFETY, "-f", "concat", "-safe", "1", "-i", str(listing)]
    if audio is not None:
        argv += [*INPUT_SAFETY, "-i", str(audio)]
    for i, out in enumerate(outputs):
        argv += ["-map", f"{i}:v:0"]
        if i == 0 and audio is not None:
            argv += ["-map", f"{len(lists)}:a:0"]
        argv += [
            "-c",
            "copy",
            "-map_metadata",
            "-1",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(out),
        ]
    return argv


def _count_frames(
    path: Path, *, ffprobe: str, deadlines: Deadlines, guard: ProcessGuard | None
) -> int:
    data = probe_json(path, "-count_packets", ffprobe=ffprobe, deadlines=deadlines, guard=guard)
    streams: list[dict[str, Any]] = data.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    return int(video.get("nb_read_packets") or 0)


def record_chunk(
    path: Path,
    chunk: ChunkSpec,
    rung: str,
    *,
    ffprobe: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> ChunkRecord:
    """Measure a freshly encoded chunk file; raises FFmpegFailed if its frame count is wrong."""
    frames = _count_frames(path, ffprobe=ffprobe, deadlines=deadlines, guard=guard)
    if chunk.frames is not None and frames != chunk.frames:
        raise FFmpegFailed(f"{path.name} has {frames} frames, expected {chunk.frames}")
    return ChunkRecord(
        chunk=chunk.index,
        rung=rung,
        file=path.name,
        sha256=sha256_file(path),
        frames=frames,
        bytes=path.stat().st_size,
    )


def chunk_reusable(
    path: Path,
    record: ChunkRecord,
    *,
    ffprobe: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> bool:
    """True if ``path`` is exactly the chunk ``record`` describes (size, sha256, frame count)."""
    if not path.is_file() or path.stat().st_size != record.bytes:
        return False
    if sha256_file(path) != record.sha256:
        return False
    try:
        return (
            _count_frames(path, ffprobe=ffprobe, deadlines=deadlines, guard=guard) == record.frames
        )
    except OutputInvalid:
        return False


def encode_chunk(
    source: Path,
    plan: MediaPlan,
    chunk: ChunkSpec,
    folder: Path,
    *,
    ffmpeg: str,
    ffprobe: str,
    threads: int,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
    on_progress: Callable[[float], None] | None = None,
) -> list[ChunkRecord]:
    """Encode one chunk into ``folder`` (atomically) and return the records to keep with it."""
    files = chunk_files(plan, chunk, folder)
    fps = plan.fps_value
    frames = chunk.frames if chunk.frames is not None else max(1, plan.frames - chunk.start)
    with atomic_outputs(*files) as temps:
        run_process(
            chunk_argv(ffmpeg, source, plan, chunk, temps, threads=threads),
            deadlines=deadlines,
            guard=guard,
            ffmpeg_progress=True,
            on_progress=progress_fraction(float(frames / fps), on_progress),
        )
        records = [
            record_chunk(temp, chunk, rung.name, ffprobe=ffprobe, deadlines=deadlines, guard=guard)
            for temp, rung in zip(temps, plan.rungs, strict=True)
        ]
    return [r.model_copy(update={"file": f.name}) for r, f in zip(records, files, strict=True)]


def join_chunks(
    plan: MediaPlan,
    chunks: Sequence[ChunkSpec],
    folder: Path,
    outputs: Sequence[Path],
    *,
    audio: Path | None,
    ffmpeg: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> list[Path]:
    """Join every rung's chunk files from ``folder`` into ``outputs`` (top first) by copy."""
    lists = []
    for i, rung in enumerate(plan.rungs):
        files = [chunk_files(plan, chunk, folder)[i] for chunk in chunks]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise FFmpegFailed(f"cannot join {rung.name}: missing chunk files {missing[:3]}")
        listing = folder / f"join_{rung.name}.ffconcat"
        listing.write_text(concat_list(files), encoding="utf-8")
        lists.append(listing)
    try:
        with atomic_outputs(*outputs) as temps:
            run_process(
                join_argv(ffmpeg, lists, temps, audio=audio),
                deadlines=deadlines,
                guard=guard,
                ffmpeg_progress=True,
            )
    finally:
        for listing in lists:
            listing.unlink(missing_ok=True)
    return list(outputs)
