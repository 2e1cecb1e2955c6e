"""The publish gate: every job verifies what it is about to publish before its manifest exists.

:func:`run_gate` checks an output folder against :class:`GateExpectations` (built from a media
plan by :func:`media_expectations` or for a document job by :func:`document_expectations`, both
in :mod:`infra.media.expectations` and re-exported here) and
returns a :class:`GateReport` for the manifest, or raises ``OutputInvalid`` whose message names
the failed check and the measured value: ``publish gate check 'duration' failed: ...``.

Checks, in order: ``files`` (every output exists, none empty), ``mp4_structure`` (top-level boxes
are whole: a cut file fails), ``mp4_faststart`` (``moov`` before ``mdat``), ``mp4_streams``
(codecs, upright top-rung size, every indexed sample readable: ffprobe ``-count_packets``,
demux only), ``master_playlist`` (parses; the variants, CODECS claims, resolutions and subtitle
tracks are the expected ones), ``media_playlists`` (parse, end with ``#EXT-X-ENDLIST``, every
segment exists and is not empty), ``duration`` (MP4 and each rendition within one segment of
the plan), ``segment_alignment`` (video variants cut on the same frames), ``decode`` (each
variant playlist decodes without one error, to the duration its playlist lists: a cut segment
shows here), ``frame_count`` (decoded frames within the tolerance), ``audio_present`` (audio
exactly where planned, in the MP4 and in HLS) and ``av_alignment`` (the MP4's audio starts
within one frame of its video).

Cost: the MP4 is never decoded. HLS segments are stream copies of the rendition MP4s, so decoding
every variant playlist decodes every rendition once, the top one included; the MP4 itself is
proved by its structure and a demux of every packet (decoding it too would add about half of the
gate again: benchmarks/gate_cost.py prints it). Audio is decoded once (first variant); video is
decoded without the deblocking filter. What remains is one decode of every rung, which costs
about a tenth of an x264 ``veryfast`` encode of the same ladder (benchmarks/gate_cost.py).
"""

from __future__ import annotations

import os
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

from infra.errors import OutputInvalid
from infra.media.expectations import (
    GateExpectations,
    RenditionExpectation,
    document_expectations,
    media_expectations,
)
from infra.media.ffprobe import probe_json
from infra.media.hls import PlaylistError, parse_master_playlist, parse_media_playlist
from infra.media.safety import INPUT_SAFETY
from infra.process.runner import (
    FFMPEG_BASE_ARGS,
    Deadlines,
    ProcessGuard,
    ProcessResult,
    run_process,
)

__all__ = [
    "GateExpectations",
    "GateReport",
    "RenditionExpectation",
    "document_expectations",
    "media_expectations",
    "mp4_boxes",
    "run_gate",
]


# Decoded audio may end up to two AAC frames (2 x 1024 samples) away from the listed duration.
AUDIO_SLACK_S = 0.05


class GateReport(BaseModel):
    """For the manifest: the checks passed, in order, and what they measured."""

    passed: list[str]
    measured: dict[str, float | int | str]
    elapsed_s: float


def _fail(check: str, what: str, detail: str | None = None) -> OutputInvalid:
    return OutputInvalid(f"publish gate check '{check}' failed: {what}", detail=detail)


def mp4_boxes(path: Path) -> list[str]:
    """Top-level box types of an MP4; raises OutputInvalid (``mp4_structure``) if a box claims
    more bytes than the file has (a truncated file) or a header is malformed."""
    boxes: list[str] = []
    with path.open("rb") as fh:
        total = fh.seek(0, 2)
        pos = 0
        while pos < total:
            fh.seek(pos)
            header = fh.read(16)
            if len(header) < 8:
                raise _fail("mp4_structure", f"{path.name} ends inside a box header at byte {pos}")
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 1 and len(header) == 16:
                size = struct.unpack(">Q", header[8:16])[0]
            elif size == 0:
                size = total - pos
            if size < 8 or pos + size > total:
                raise _fail(
                    "mp4_structure",
                    f"{path.name}: box '{kind.decode('latin-1')}' at byte {pos} claims {size} bytes"
                    f" but the file has {total - pos} left (truncated)",
                )
            boxes.append(kind.decode("latin-1"))
            pos += size
    return boxes


class _Gate:
    def __init__(
        self,
        out: Path,
        expect: GateExpectations,
        *,
        ffmpeg: str,
        ffprobe: str,
        deadlines: Deadlines,
        guard: ProcessGuard | None,
    ) -> None:
        self.out, self.expect = out, expect
        self.ffmpeg, self.ffprobe = ffmpeg, ffprobe
        self.deadlines, self.guard = deadlines, guard
        self.passed: list[str] = []
        self.measured: dict[str, float | int | str] = {}
        self.playlists: dict[str, list[tuple[float, str]]] = {}

    def ok(self, check: str) -> None:
        if check not in self.passed:
            self.passed.append(check)

    def probe(self, path: Path, *extra: str) -> dict:
        return probe_json(
            path, *extra, ffprobe=self.ffprobe, deadlines=self.deadlines, guard=self.guard
        )

    def files(self) -> None:
        e = self.expect
        names = [e.mp4, e.master, *(r.playlist for r in e.renditions), *e.files]
        for name in names:
            path = self.out / name
            if not path.is_file() or path.stat().st_size == 0:
                raise _fail("files", f"{name} is missing or empty")
        self.measured["files"] = len(names)
        self.ok("files")

    def mp4(self) -> None:
        e, path = self.expect, self.out / self.expect.mp4
        boxes = mp4_boxes(path)
        self.ok("mp4_structure")
        if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
            raise _fail(
                "mp4_faststart", f"{e.mp4} box order is {','.join(boxes)}: moov must precede mdat"
            )
        self.measured["mp4_boxes"] = ",".join(boxes)
        self.ok("mp4_faststart")
        data = self.probe(path, "-count_packets")
        streams = data.get("streams") or []
        video = next((s for s in streams if s.get("codec_type") == "video"), None)
        audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
        if e.video:
            top = e.renditions[0]
            if video is None or video.get("codec_name") != "h264":
                raise _fail("mp4_streams", f"{e.mp4} has no H.264 video stream")
            size = (int(video.get("width") or 0), int(video.get("height") or 0))
            if top.width and size != (top.width, top.height):
                raise _fail(
                    "mp4_streams",
                    f"{e.mp4} is {size[0]}x{size[1]}, planned {top.width}x{top.height}",
                )
            if any("rotation" in sd for sd in video.get("side_data_list") or []):
                raise _fail("mp4_streams", f"{e.mp4} still carries a rotation (not upright)")
        for stream in (video, audio):
            if stream is None:
                continue
            read, indexed = stream.get("nb_read_packets"), stream.get("nb_frames")
            if read is not None and indexed is not None and int(read) != int(indexed):
                raise _fail(
                    "mp4_streams",
                    f"{e.mp4} {stream.get('codec_type')} has {read} readable of {indexed} samples",
                )
        self.ok("mp4_streams")
        duration = float((data.get("format") or {}).get("duration") or 0.0)
        self.measured["duration_s:mp4"] = round(duration, 3)
        self._duration("mp4", duration)
        self._audio_present(e.mp4, audio is not None)
        if e.video and audio is not None and video is not None:
            offset = abs(float(audio.get("start_time") or 0) - float(video.get("start_time") or 0))
            self.measured["av_offset_ms"] = round(offset * 1000, 1)
            if e.fps and offset > 1 / e.fps + 1e-3:
                raise _fail(
                    "av_alignment",
                    f"{e.mp4} audio starts {offset * 1000:.0f} ms from its video (> one frame)",
                )
            self.ok("av_alignment")
        if e.video and video is not None and e.frames is not None:
            self._frames("mp4", int(video.get("nb_frames") or video.get("nb_read_packets") or 0))

    def _duration(self, subject: str, seconds: float) -> None:
        e = self.expect
        if abs(seconds - e.duration_s) > e.segment_s:
            raise _fail(
                "duration",
                f"{subject} lasts {seconds:.3f} s, planned {e.duration_s:.3f} s "
                f"(allowed: one segment, {e.segment_s:g} s)",
            )
        self.ok("duration")

    def _frames(self, subject: str, frames: int) -> None:
        e = self.expect
        assert e.frames is not None
        self.measured[f"frames:{subject}"] = frames
        if abs(frames - e.frames) > e.frame_tolerance:
            raise _fail(
                "frame_count",
                f"{subject} has {frames} frames, planned {e.frames} ± {e.frame_tolerance}",
            )
        self.ok("frame_count")

    def _audio_present(self, subject: str, present: bool) -> None:
        if present != self.expect.audio:
            planned = "planned" if self.expect.audio else "not planned"
            raise _fail(
                "audio_present",
                f"{subject} has {'an' if present else 'no'} audio stream; audio is {planned}",
            )
        self.ok("audio_present")

    def master(self) -> None:
        e = self.expect
        master_path = self.out / e.master
        try:
            master = parse_master_playlist(master_path.read_text(encoding="utf-8"))
        except (PlaylistError, UnicodeDecodeError, ValueError) as exc:
            raise _fail("master_playlist", f"{e.master}: {exc}") from exc
        base = master_path.parent
        uris = [str((base / uri).relative_to(self.out)) for _, uri in master.variants]
        wanted = [r.playlist for r in e.renditions]
        if uris != wanted:
            raise _fail("master_playlist", f"variants are {uris}, expected {wanted}")
        for (attrs, uri), rendition in zip(master.variants, e.renditions, strict=True):
            codecs = attrs["CODECS"]
            if ("mp4a" in codecs) != e.audio or ("avc1" in codecs) != e.video:
                raise _fail("master_playlist", f"{uri} claims CODECS={codecs!r}")
            if (
                rendition.width
                and attrs.get("RESOLUTION") != f"{rendition.width}x{rendition.height}"
            ):
                raise _fail("master_playlist", f"{uri} claims RESOLUTION={attrs.get('RESOLUTION')}")
        tracks = [m for m in master.media if m.get("TYPE") == "SUBTITLES"]
        if len(tracks) != e.subtitles:
            raise _fail("master_playlist", f"{len(tracks)} subtitle tracks, expected {e.subtitles}")
        self.ok("master_playlist")
        for track in tracks:
            self._media_playlist(base / track.get("URI", ""), f"subtitles {track.get('NAME')}")

    def _media_playlist(self, path: Path, subject: str) -> list[tuple[float, str]]:
        try:
            playlist = parse_media_playlist(path.read_text(encoding="utf-8"))
        except (OSError, PlaylistError, UnicodeDecodeError, ValueError) as exc:
            raise _fail("media_playlists", f"{subject}: {exc}") from exc
        if not playlist.endlist:
            raise _fail("media_playlists", f"{subject} does not end with #EXT-X-ENDLIST")
        if not playlist.segments:
            raise _fail("media_playlists", f"{subject} lists no segment")
        for _, uri in playlist.segments:
            segment = path.parent / uri
            if not segment.is_file() or segment.stat().st_size == 0:
                raise _fail("media_playlists", f"{subject} lists {uri}, which is missing or empty")
        self.ok("media_playlists")
        return playlist.segments

    def renditions(self) -> None:
        e = self.expect
        for r in e.renditions:
            segments = self._media_playlist(self.out / r.playlist, r.name)
            self.playlists[r.name] = segments
            total = sum(d for d, _ in segments)
            self.measured[f"duration_s:{r.name}"] = round(total, 3)
            self._duration(r.name, total)
        if e.video and e.fps:
            cuts = {name: [d for d, _ in segs] for name, segs in self.playlists.items()}
            first_name, first = next(iter(cuts.items()))
            for name, durations in cuts.items():
                if len(durations) != len(first) or any(
                    abs(a - b) > 1 / e.fps + 1e-3 for a, b in zip(durations, first, strict=True)
                ):
                    raise _fail(
                        "segment_alignment",
                        f"{name} is cut into {len(durations)} segments unlike {first_name} "
                        f"({len(first)})",
                    )
            self.ok("segment_alignment")

    def decode(self) -> None:
        e = self.expect
        # Every rendition decodes at once (at most one ffmpeg per core): the checks then read
        # the results in rendition order, so the report and the first failure stay the same.
        with ThreadPoolExecutor(
            max_workers=max(1, min(len(e.renditions), os.cpu_count() or 1))
        ) as pool:
            running = [pool.submit(self._decode_one, i, r) for i, r in enumerate(e.renditions)]
            outcomes = [job.result() for job in running]
        for (i, r), result in zip(enumerate(e.renditions), outcomes, strict=True):
            if isinstance(result, OutputInvalid):
                raise _fail(
                    "decode", f"{r.name}: {result.message}", detail=result.detail
                ) from result
            errors = [line for line in result.stderr_tail.splitlines() if line.strip()]
            if errors:
                raise _fail(
                    "decode",
                    f"{r.name} decodes with errors: {errors[0][:200]}",
                    detail=result.stderr_tail,
                )
            progress = result.last_progress
            listed = sum(d for d, _ in self.playlists[r.name])
            if e.video and e.fps:
                frames = (progress.frame if progress else None) or 0
                decoded, slack = frames / e.fps, 1.5 / e.fps
            else:
                decoded, slack = (progress.out_time_s if progress else None) or 0.0, AUDIO_SLACK_S
            self.measured[f"decoded_s:{r.name}"] = round(decoded, 3)
            if abs(decoded - listed) > slack:
                raise _fail(
                    "decode",
                    f"{r.name} decodes to {decoded:.3f} s but its playlist lists {listed:.3f} s "
                    "(a segment is cut short or damaged)",
                    detail=result.stderr_tail,
                )
            self.ok("decode")
            if e.video and e.frames is not None:
                self._frames(r.name, frames)
            if i == 0:
                self._hls_audio(r)

    def _decode_one(self, i: int, r: RenditionExpectation) -> ProcessResult | OutputInvalid:
        maps = ["-map", "0"] if i == 0 else ["-map", "0:v"]
        argv = [
            self.ffmpeg,
            *FFMPEG_BASE_ARGS,
            "-loglevel",
            "error",
            # Deblocking is a post-process on reconstructed pixels with no error path of its
            # own: skipping it keeps every parse and reconstruction error visible, ~15 % less.
            "-skip_loop_filter",
            "all",
            *INPUT_SAFETY,
            "-i",
            str(self.out / r.playlist),
            *maps,
            "-f",
            "null",
            "-",
        ]
        try:
            return run_process(
                argv,
                deadlines=self.deadlines,
                guard=self.guard,
                ffmpeg_progress=True,
                error=OutputInvalid,
            )
        except OutputInvalid as exc:
            return exc

    def _hls_audio(self, rendition: RenditionExpectation) -> None:
        first = self.out / Path(rendition.playlist).parent / self.playlists[rendition.name][0][1]
        streams = self.probe(first).get("streams") or []
        present = any(s.get("codec_type") == "audio" for s in streams)
        self._audio_present(f"{rendition.name} segments", present)


def run_gate(
    out: Path,
    expect: GateExpectations,
    *,
    ffmpeg: str,
    ffprobe: str,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> GateReport:
    """Verify ``out`` against ``expect``; raises OutputInvalid naming the first failed check."""
    started = time.monotonic()
    gate = _Gate(out, expect, ffmpeg=ffmpeg, ffprobe=ffprobe, deadlines=deadlines, guard=guard)
    gate.files()
    gate.mp4()
    gate.master()
    gate.renditions()
    gate.decode()
    return GateReport(
        passed=gate.passed, measured=gate.measured, elapsed_s=round(time.monotonic() - started, 3)
    )
