"""Chunked encodes join into what a single pass makes: frames, timestamps, pictures, sync."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.media.chunks import (
    chunk_argv,
    chunk_files,
    chunk_reusable,
    concat_list,
    encode_chunk,
    source_keyframes,
    split_chunks,
)
from infra.media.facts import MediaFacts, VideoFacts, probe_facts
from infra.media.plan import plan_media
from infra.media.presets import MEDIA_PRESETS
from infra.process.runner import Deadlines
from infra.settings.media import MediaSettings
from tests.support.media_clips import (
    beep_onsets,
    encode_media_job,
    flash_beep,
    flash_times,
    frame_pts,
    probe,
    stream,
)

D = Deadlines(120.0)


def _plan(seconds: float, fps: str = "25/1", segment_s: int = 2):
    facts = MediaFacts(
        container="mov,mp4",
        duration_s=seconds,
        video=VideoFacts(
            index=0,
            codec="h264",
            width=426,
            height=240,
            display_width=426,
            display_height=240,
            fps=fps,
            duration_s=seconds,
        ),
    )
    settings = MediaSettings()
    return plan_media(
        facts, MEDIA_PRESETS["tiny"], name="x", segment_s=segment_s, settings=settings
    )


def test_chunks_start_on_segment_starts_and_cover_every_frame():
    plan = _plan(60.0, fps="30000/1001")
    chunks = split_chunks(plan, chunk_s=20)
    assert [c.start for c in chunks] == [0, 600, 1199]  # ceil(20 s x 29.97), ceil(40 s x 29.97)
    assert [c.end for c in chunks] == [600, 1199, None]
    assert all(plan.segment_start_frame(k) in {c.start for c in chunks} for k in (0, 10, 20))
    # A tail shorter than half a chunk joins the previous chunk.
    assert [c.end for c in split_chunks(_plan(45.0), chunk_s=20)] == [500, None]
    assert len(split_chunks(_plan(5.0), chunk_s=20)) == 1


def test_boundaries_move_to_the_segment_start_just_after_a_source_keyframe():
    plan = _plan(60.0)  # 25 fps, 2 s segments
    keyframes = [0.0, 7.0, 17.1, 37.5, 50.0]
    chunks = split_chunks(plan, chunk_s=20, keyframes_s=keyframes)
    # Targets 20 s and 40 s, each boundary within ±4 s: a chunk at 18 s seeks to 17.74 s, just
    # after the keyframe at 17.1 s; one at 38 s seeks to 37.74 s, just after 37.5 s.
    assert [c.start / 25 for c in chunks] == [0.0, 18.0, 38.0]
    assert [c.start / 25 for c in split_chunks(plan, chunk_s=20)] == [0.0, 20.0, 40.0]
    assert chunks[-1].end is None


def test_chunk_argv_seeks_before_its_first_frame_and_forces_global_keyframes(tmp_path: Path):
    plan = _plan(60.0)
    chunk = split_chunks(plan, chunk_s=20)[1]
    outs = chunk_files(plan, chunk, tmp_path)
    argv = chunk_argv("ffmpeg", tmp_path / "in put 'x'.mp4", plan, chunk, outs)
    assert argv[argv.index("-ss") + 1] == "19.740000"  # 6 frames of margin, half a frame early
    assert "-copyts" in argv and str(tmp_path / "in put 'x'.mp4") in argv
    graph = argv[argv.index("-filter_complex") + 1]
    assert "trim=start_pts=500:end_pts=1000" in graph and "setpts=PTS-500" in graph
    assert "expr:gte(n+500,ceil((n_forced+10)*50/1))" in argv
    assert concat_list(outs[:1]) == "ffconcat version 1.0\nfile 'chunk_0001_240p.mp4'\n"


def _psnr(a: Path, b: Path, shift: int = 0) -> list[float]:
    first = f"[0:v]trim=start_frame={shift},setpts=PTS-STARTPTS[a]" if shift else "[0:v]null[a]"
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(a), "-i", str(b), "-lavfi",
         f"{first};[a][1:v]psnr=stats_file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    values = [
        line.split("psnr_avg:")[1].split()[0] for line in out.splitlines() if "psnr_avg" in line
    ]
    return [99.0 if v == "inf" else float(v) for v in values]


@pytest.mark.media
def test_three_chunks_join_into_the_single_pass_frame_for_frame(tmp_path: Path):
    # A 1 s GOP: the chunk passes seek right to the source keyframes at their first frames.
    source = flash_beep(
        tmp_path / "source.mp4", size="426x240", rate=25, seconds=6, flash_frame=75, moving=True,
        gop=25,
    )  # fmt: skip
    single_plan, _ = encode_media_job([source], tmp_path / "single", tmp_path / "w1", threads=1)
    plan, report = encode_media_job(
        [source], tmp_path / "chunked", tmp_path / "w2", chunk_s=2, threads=1
    )
    assert plan == single_plan
    facts = probe_facts(source, ffprobe="ffprobe", deadlines=D, guard=None)
    keyframes = source_keyframes(source, facts, ffprobe="ffprobe", deadlines=D, guard=None)
    assert keyframes == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    chunks = split_chunks(plan, chunk_s=2, keyframes_s=keyframes)
    assert [(c.start, c.seek_s) for c in chunks] == [(0, None), (50, 2.0 - 1e-6), (100, 4.0 - 1e-6)]
    assert "decode" in report.passed  # the joined HLS decodes without one error
    pairs = [
        (tmp_path / "single" / "video.mp4", tmp_path / "chunked" / "video.mp4"),
        (tmp_path / "w1" / "144p.mp4", tmp_path / "w2" / "144p.mp4"),
    ]
    fps = float(plan.fps_value)
    for single, chunked in pairs:
        pts_single, pts_chunked = frame_pts(single), frame_pts(chunked)
        assert len(pts_chunked) == len(pts_single) == plan.frames == 150
        assert pts_chunked == pts_single  # no duplicated or missing timestamp at the joins
        steps = {round(b - a, 6) for a, b in zip(pts_chunked, pts_chunked[1:], strict=False)}
        assert steps == {round(1 / fps, 6)}
        # Same picture in every frame (only encoder noise differs); a one-frame slip would not be.
        assert min(_psnr(single, chunked)) > 32
        assert min(_psnr(single, chunked, shift=1)) < 25
    joined = tmp_path / "chunked" / "video.mp4"
    audio = stream(probe(joined), "audio")
    assert audio is not None and float(audio["start_time"]) == 0.0
    flashes, beeps = flash_times(joined, fps, threshold=200), beep_onsets(joined)
    assert flashes == [3.0] and len(beeps) == 1
    assert abs(beeps[0] - flashes[0]) < 1 / fps  # A/V in sync within one frame


@pytest.mark.media
def test_a_chunk_in_scratch_is_reused_only_if_it_is_exactly_the_recorded_one(tmp_path: Path):
    source = flash_beep(tmp_path / "s.mp4", size="426x240", seconds=4, audio=False, moving=True)
    facts = probe_facts(source, ffprobe="ffprobe", deadlines=D, guard=None)
    plan = plan_media(
        facts, MEDIA_PRESETS["tiny"], name="s.mp4", segment_s=1, settings=MediaSettings()
    )
    chunk = split_chunks(plan, chunk_s=2)[0]
    tools = {"ffmpeg": "ffmpeg", "ffprobe": "ffprobe", "deadlines": D, "guard": None}
    records = encode_chunk(source, plan, chunk, tmp_path, threads=1, **tools)
    assert [(r.file, r.frames) for r in records] == [
        ("chunk_0000_240p.mp4", 50),
        ("chunk_0000_144p.mp4", 50),
    ]
    check = {"ffprobe": "ffprobe", "deadlines": D, "guard": None}
    path = tmp_path / records[0].file
    assert chunk_reusable(path, records[0], **check)
    assert not chunk_reusable(path, records[0].model_copy(update={"frames": 49}), **check)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not chunk_reusable(path, records[0], **check)
    assert not chunk_reusable(tmp_path / "gone.mp4", records[0], **check)
