"""Probe facts: pure parsing of ffprobe JSON, and real files read the way a user's would be."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import InputInvalid, InputUnreadable
from infra.media.facts import MediaFacts, facts_from_probe, probe_facts
from infra.process.runner import Deadlines
from tests.support.media_clips import (
    hdr10,
    interlaced,
    portrait_phone,
    surround_audio,
    ten_bit_odd,
    vfr_clip,
)

D = Deadlines(60.0)


def _video(**overrides):
    stream = {
        "index": 0,
        "codec_type": "video",
        "codec_name": "h264",
        "width": 1920,
        "height": 1080,
        "sample_aspect_ratio": "1:1",
        "r_frame_rate": "30000/1001",
        "avg_frame_rate": "30000/1001",
        "pix_fmt": "yuv420p",
        "start_time": "0.000000",
        "duration": "10.010000",
        "nb_frames": "300",
    }
    stream.update(overrides)
    return stream


def _raw(*streams, duration="10.01"):
    return {"format": {"format_name": "mov,mp4", "duration": duration}, "streams": list(streams)}


def test_display_size_applies_sar_and_rotation():
    facts = facts_from_probe(
        _raw(
            _video(
                width=1440,
                height=1080,
                sample_aspect_ratio="4:3",
                side_data_list=[{"side_data_type": "Display Matrix", "rotation": -90}],
            )
        )
    )
    assert facts.video is not None
    assert (facts.video.rotation, facts.video.display_width, facts.video.display_height) == (
        90,
        1080,
        1920,
    )


def test_legacy_rotate_tag_and_json_round_trip():
    facts = facts_from_probe(_raw(_video(tags={"rotate": "270"})))
    assert facts.video is not None and facts.video.rotation == 270
    assert (facts.video.display_width, facts.video.display_height) == (1080, 1920)
    assert MediaFacts.model_validate_json(facts.model_dump_json()) == facts


def test_vfr_hdr_interlace_and_bit_depth():
    facts = facts_from_probe(
        _raw(
            _video(
                r_frame_rate="30/1",
                avg_frame_rate="2400/100",
                pix_fmt="yuv420p10le",
                color_transfer="arib-std-b67",
                field_order="bb",
            )
        )
    )
    video = facts.video
    assert video is not None
    assert (video.vfr, video.hdr, video.interlaced, video.bit_depth) == (True, True, True, 10)
    assert video.fps == "30/1" and video.avg_fps == "24/1"


def test_timebase_like_nominal_rate_falls_back_to_average():
    facts = facts_from_probe(_raw(_video(r_frame_rate="90000/1", avg_frame_rate="25/1")))
    assert facts.video is not None and facts.video.fps == "25/1" and not facts.video.vfr


def test_cover_art_is_not_video():
    cover = _video(index=1, codec_name="mjpeg", disposition={"attached_pic": 1})
    audio = {
        "index": 0,
        "codec_type": "audio",
        "codec_name": "mp3",
        "channels": 2,
        "channel_layout": "stereo",
        "sample_rate": "44100",
    }
    facts = facts_from_probe(_raw(audio, cover))
    assert facts.kind == "audio" and facts.video is None and facts.audio is not None


def test_no_decodable_stream_is_unreadable():
    data = _raw({"index": 0, "codec_type": "data", "codec_name": "bin_data"})
    with pytest.raises(InputUnreadable):
        facts_from_probe(data)
    with pytest.raises(InputUnreadable):
        facts_from_probe(_raw(_video(codec_name=None)))


@pytest.mark.media
def test_real_fixtures(tmp_path: Path):
    def facts(path: Path) -> MediaFacts:
        return probe_facts(path, ffprobe="ffprobe", deadlines=D, guard=None)

    odd = facts(ten_bit_odd(tmp_path / "odd.mp4"))
    assert odd.video is not None and odd.audio is None
    assert (odd.video.width, odd.video.height, odd.video.bit_depth) == (321, 181, 10)

    phone = facts(portrait_phone(tmp_path / "phone.mp4"))
    assert phone.video is not None and phone.video.rotation in (90, 270)
    assert phone.video.display_height > phone.video.display_width

    vfr = facts(vfr_clip(tmp_path / "vfr.mp4"))
    assert vfr.video is not None and vfr.video.vfr and vfr.video.fps == "30/1"

    surround = facts(surround_audio(tmp_path / "surround.m4a"))
    assert surround.kind == "audio" and surround.audio is not None
    assert (surround.audio.channels, surround.audio.layout) == (6, "5.1")

    woven = facts(interlaced(tmp_path / "interlaced.mp4"))
    assert woven.video is not None and woven.video.interlaced and woven.video.fps == "25/1"

    pq = facts(hdr10(tmp_path / "hdr.mp4"))
    assert pq.video is not None and pq.video.hdr and pq.video.bit_depth == 10


@pytest.mark.media
def test_not_media_and_escaping_playlists_are_refused(tmp_path: Path):
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"\x00\x01 not a video " * 100)
    with pytest.raises(InputUnreadable):
        probe_facts(junk, ffprobe="ffprobe", deadlines=D, guard=None)
    playlist = tmp_path / "job" / "in.m3u8"
    playlist.parent.mkdir()
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n../secret.ts\n")
    with pytest.raises(InputInvalid):
        probe_facts(playlist, ffprobe="ffprobe", deadlines=D, guard=None)
