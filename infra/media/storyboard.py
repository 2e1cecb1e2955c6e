"""The poster thumbnail and the scrubbing storyboard: sprite sheets plus a WebVTT thumbnails track.

One ffmpeg process with two cheap inputs: the poster is one frame of the top rendition (input
seek, so only a GOP is decoded); the storyboard samples the smallest rendition every
``interval_s`` (``select`` on the frame time, the first frame at or after each multiple) and tiles
the small pictures ``columns x rows`` per JPEG sheet. The thumbnails track maps each interval to
its tile: ``sheet_000.jpg#xywh=x,y,w,h`` (the W3C media-fragment form players understand).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from infra.errors import FFmpegFailed
from infra.media.outputs import STORYBOARD_SHEET, STORYBOARD_VTT, THUMB
from infra.media.safety import INPUT_SAFETY
from infra.process.runner import FFMPEG_BASE_ARGS, Deadlines, ProcessGuard, run_process

__all__ = [
    "StoryboardLayout",
    "make_pictures",
    "pictures_argv",
    "storyboard_layout",
    "storyboard_vtt",
]

# Seconds of the top rendition read for the poster (past the seek): a frame is always inside.
THUMB_READ_S = 2.0


@dataclass(frozen=True)
class StoryboardLayout:
    count: int  # thumbnails
    interval_s: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    @property
    def sheets(self) -> int:
        return math.ceil(self.count / self.per_sheet)


def storyboard_layout(
    *,
    frames: int,
    fps: Fraction,
    width: int,
    height: int,
    interval_s: float,
    tile_width: int,
    columns: int,
    rows: int,
) -> StoryboardLayout:
    """The layout for a video of ``frames`` at ``fps`` and ``width`` x ``height``: one thumbnail
    per interval that has a frame (the last frame starts at ``(frames - 1) / fps``)."""
    last_t = (frames - 1) / fps
    tile_height = max(2, 2 * round(tile_width * height / width / 2))
    return StoryboardLayout(
        count=math.floor(last_t / Fraction(interval_s)) + 1 if frames > 0 else 0,
        interval_s=interval_s,
        tile_width=tile_width,
        tile_height=tile_height,
        columns=columns,
        rows=rows,
    )


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def storyboard_vtt(layout: StoryboardLayout, duration_s: float) -> str:
    """WebVTT thumbnails track: one cue per thumbnail, pointing at its tile."""
    lines = ["WEBVTT", ""]
    sheet_name = Path(STORYBOARD_SHEET).name
    for k in range(layout.count):
        start = k * layout.interval_s
        end = min((k + 1) * layout.interval_s, duration_s)
        if end <= start:
            break
        sheet, cell = divmod(k, layout.per_sheet)
        row, column = divmod(cell, layout.columns)
        x, y = column * layout.tile_width, row * layout.tile_height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sheet_name % sheet}#xywh={x},{y},{layout.tile_width},{layout.tile_height}",
            "",
        ]
    return "\n".join(lines)


def pictures_argv(
    ffmpeg: str,
    top: Path,
    small: Path,
    thumb_out: Path,
    sheet_pattern: Path,
    layout: StoryboardLayout,
    *,
    thumb_at_s: float,
    thumb_width: int,
) -> list[str]:
    graph = (
        f"[0:v:0]scale='min({thumb_width},iw)':-2:flags=bicubic,setsar=1[thumb];"
        f"[1:v:0]select='gte(t,{layout.interval_s}*selected_n)',"
        f"scale={layout.tile_width}:{layout.tile_height}:flags=bicubic,setsar=1,"
        f"tile={layout.columns}x{layout.rows}[sheets]"
    )
    return [
        ffmpeg,
        *FFMPEG_BASE_ARGS,
        "-loglevel",
        "error",
        "-y",
        "-ss",
        f"{thumb_at_s:.3f}",
        "-t",
        str(THUMB_READ_S),  # the poster needs one frame: read no further than this
        *INPUT_SAFETY,
        "-i",
        str(top),
        *INPUT_SAFETY,
        "-i",
        str(small),
        "-filter_complex",
        graph,
        "-map",
        "[thumb]",
        "-frames:v",
        "1",
        "-update",
        "1",
        "-q:v",
        "3",
        "-f",
        "image2",
        str(thumb_out),
        "-map",
        "[sheets]",
        "-fps_mode",
        "passthrough",
        "-q:v",
        "5",
        "-start_number",
        "0",
        "-f",
        "image2",
        str(sheet_pattern),
    ]


def make_pictures(
    top: Path,
    small: Path,
    out: Path,
    *,
    frames: int,
    fps: Fraction,
    width: int,
    height: int,
    duration_s: float,
    ffmpeg: str,
    thumb_at_s: float,
    thumb_width: int,
    interval_s: float,
    tile_width: int,
    columns: int,
    rows: int,
    deadlines: Deadlines,
    guard: ProcessGuard | None,
) -> list[Path]:
    """Write ``thumb.jpg``, the storyboard sheets and their thumbnails track under ``out``.

    ``small`` is the smallest rendition (``width`` x ``height``, ``frames`` at ``fps``); the poster
    is taken at ``thumb_at_s``, clamped to the middle of short media, ``thumb_width`` wide at most
    (never wider than the top rendition). Returns the files written;
    on failure the storyboard folder is removed.
    """
    layout = storyboard_layout(
        frames=frames,
        fps=fps,
        width=width,
        height=height,
        interval_s=interval_s,
        tile_width=tile_width,
        columns=columns,
        rows=rows,
    )
    folder = (out / STORYBOARD_VTT).parent
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    thumb = out / THUMB
    try:
        run_process(
            pictures_argv(
                ffmpeg,
                top,
                small,
                thumb,
                out / STORYBOARD_SHEET,
                layout,
                thumb_at_s=min(thumb_at_s, duration_s / 2),
                thumb_width=thumb_width,
            ),
            deadlines=deadlines,
            guard=guard,
            ffmpeg_progress=True,
        )
        sheets = sorted(folder.glob("sheet_*.jpg"))
        if len(sheets) != layout.sheets or not thumb.is_file():
            raise FFmpegFailed(
                f"the storyboard pass wrote {len(sheets)} sheets (expected {layout.sheets})"
                f"{'' if thumb.is_file() else ' and no thumbnail'}"
            )
        (out / STORYBOARD_VTT).write_text(storyboard_vtt(layout, duration_s), encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        thumb.unlink(missing_ok=True)
        raise
    return [thumb, *sheets, out / STORYBOARD_VTT]
