"""Inputs are refused with the code a user can act on before any encode runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import InputInvalid, InputTooLarge, InputUnreadable
from infra.media.facts import probe_facts
from infra.media.input_checks import check_media_input
from infra.process.runner import Deadlines
from tests.support.media_clips import av_clip, surround_audio, truncate

pytestmark = pytest.mark.media

D = Deadlines(60.0)


def _check(path: Path, *, max_duration_s: float = 3600.0, facts=None) -> None:
    facts = facts or probe_facts(path, ffprobe="ffprobe", deadlines=D, guard=None)
    check_media_input(
        path,
        facts,
        ffmpeg="ffmpeg",
        max_duration_s=max_duration_s,
        span_s=1.0,
        deadlines=D,
        guard=None,
    )


def test_good_clips_pass(tmp_path: Path):
    _check(av_clip(tmp_path / "ok.mp4", seconds=3))
    _check(av_clip(tmp_path / "short.mp4", seconds=0.4))
    _check(surround_audio(tmp_path / "surround.m4a"))


def test_truncated_mp4_with_its_index_in_front_is_unreadable(tmp_path: Path):
    whole = av_clip(tmp_path / "whole.mp4", seconds=3, vargs=("-movflags", "+faststart"))
    cut = truncate(whole, tmp_path / "cut.mp4", 0.7)
    facts = probe_facts(cut, ffprobe="ffprobe", deadlines=D, guard=None)  # the header survives
    assert facts.duration_s == pytest.approx(3.0, abs=0.1)
    with pytest.raises(InputUnreadable, match="truncated") as caught:
        _check(cut, facts=facts)
    assert caught.value.code == "input_unreadable"


def test_truncated_mp4_without_its_index_is_unreadable(tmp_path: Path):
    cut = truncate(av_clip(tmp_path / "whole.mp4", seconds=3), tmp_path / "cut.mp4", 0.5)
    with pytest.raises(InputUnreadable):
        _check(cut)


def test_longer_than_the_maximum_is_too_large(tmp_path: Path):
    clip = av_clip(tmp_path / "long.mp4", seconds=3)
    with pytest.raises(InputTooLarge, match="MAX_DURATION_S") as caught:
        _check(clip, max_duration_s=2.0)
    assert caught.value.code == "input_too_large"


def test_shorter_than_one_frame_is_invalid(tmp_path: Path):
    clip = av_clip(tmp_path / "one.mp4", seconds=1)
    facts = probe_facts(clip, ffprobe="ffprobe", deadlines=D, guard=None)
    assert facts.video is not None
    blink = facts.model_copy(
        update={
            "duration_s": 0.01,
            "video": facts.video.model_copy(update={"duration_s": 0.01}),
        }
    )
    with pytest.raises(InputInvalid, match="less than one frame"):
        _check(clip, facts=blink)


def test_corrupt_stream_is_unreadable(tmp_path: Path):
    clip = av_clip(tmp_path / "clip.mp4", seconds=2, vargs=("-movflags", "+faststart"))
    data = bytearray(clip.read_bytes())
    start = len(data) // 3
    data[start : start + 20000] = bytes(20000)  # zero a stretch of the media data
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputUnreadable):
        _check(bad)
