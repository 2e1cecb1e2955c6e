"""Three sources of different sizes and rates joined, with and without crossfade, in sync."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.errors import InputInvalid, InputTooLarge
from infra.media.facts import probe_facts
from infra.media.presets import MEDIA_PRESETS
from infra.media.timeline import plan_timeline
from infra.process.runner import Deadlines
from infra.settings.media import MediaSettings
from tests.support.media_clips import (
    beep_onsets,
    encode_media_job,
    flash_beep,
    flash_times,
    probe,
    stream,
    surround_audio,
)

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """2 s each, a flash (and a beep, where there is audio) one second in."""
    base = tmp_path_factory.mktemp("timeline")
    return [
        flash_beep(base / "landscape 25.mp4", size="320x180", rate=25, flash_frame=25),
        flash_beep(base / "carré « 30 ».mp4", size="240x240", rate=30, flash_frame=30, audio=False),
        flash_beep(base / "portrait '24'.mp4", size="180x320", rate=24, flash_frame=24),
    ]


def _mean_luma(path: Path, at_s: float, crop: str) -> float:
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-ss", str(at_s), "-i", str(path), "-frames:v", "1",
         "-vf", f"crop={crop},format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return sum(raw) / len(raw)


@pytest.mark.parametrize("crossfade_s", [0.0, 0.4])
def test_three_part_timeline_keeps_audio_in_sync_across_every_cut(
    parts: list[Path], tmp_path: Path, crossfade_s: float
):
    settings = MediaSettings(crossfade_s=crossfade_s)
    plan, report = encode_media_job(
        parts, tmp_path / "out", tmp_path / "work", settings=settings, threads=1
    )
    fps = 30
    fade = round(crossfade_s * fps)
    assert plan.fps == "30/1" and plan.crossfade_frames == fade
    assert [(r.width, r.height) for r in plan.rungs] == [(426, 240), (256, 144)]
    assert plan.frames == 3 * 60 - 2 * fade
    video_mp4 = tmp_path / "out" / "video.mp4"
    data = probe(video_mp4)
    video, audio = stream(data, "video"), stream(data, "audio")
    assert video is not None and audio is not None
    assert (video["width"], video["height"], video["r_frame_rate"]) == (426, 240, "30/1")
    assert int(video["nb_read_frames"]) == plan.frames
    expected_s = 6.0 - 2 * crossfade_s
    assert abs(float(video["duration"]) - expected_s) <= 2 / fps  # ± one frame per cut
    assert abs(float(audio["duration"]) - expected_s) <= 2 / fps
    assert (audio["channels"], audio["sample_rate"]) == (2, "48000")
    starts = [0.0, 2.0 - crossfade_s, 4.0 - 2 * crossfade_s]
    flashes = flash_times(video_mp4, fps)
    assert flashes == pytest.approx([s + 1.0 for s in starts], abs=0.5 / fps)
    beeps = beep_onsets(video_mp4)
    assert len(beeps) == 2  # the middle part has no audio: silence, not a beep
    for beep, flash in zip(beeps, [flashes[0], flashes[2]], strict=True):
        assert abs(beep - flash) < 1 / fps
    # The square part is pillar-boxed into the 16:9 canvas: black bars, picture in the middle.
    assert _mean_luma(video_mp4, starts[1] + 0.5, "40:240:0:0") < 20
    assert "decode" in report.passed and "frame_count" in report.passed


def test_timeline_needs_pictures_long_enough_for_the_crossfade(parts: list[Path], tmp_path: Path):
    d = Deadlines(60.0)
    facts = [(p.name, probe_facts(p, ffprobe="ffprobe", deadlines=d, guard=None)) for p in parts]
    with pytest.raises(InputInvalid, match="too short"):
        plan_timeline(
            facts, MEDIA_PRESETS["tiny"], segment_s=1, settings=MediaSettings(), crossfade_s=1.0
        )
    with pytest.raises(InputTooLarge, match="MAX_DURATION_S"):
        plan_timeline(
            facts, MEDIA_PRESETS["tiny"], segment_s=1, settings=MediaSettings(max_duration_s=5)
        )
    sound = surround_audio(tmp_path / "sound.m4a")
    only_sound = probe_facts(sound, ffprobe="ffprobe", deadlines=d, guard=None)
    with pytest.raises(InputInvalid, match="no video"):
        plan_timeline(
            [*facts, ("sound.m4a", only_sound)],
            MEDIA_PRESETS["tiny"],
            segment_s=1,
            settings=MediaSettings(),
        )
