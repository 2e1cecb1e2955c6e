"""Media jobs end to end on tiny real clips: facts → checks → plan → encode → HLS → pictures → gate.

Each test checks the published files the way a user would (ffprobe, the playlists, the images)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from infra.media.outputs import safe_key_name
from infra.media.subtitles import SubtitleTrack
from tests.support.media_clips import (
    av_clip,
    beep_onsets,
    encode_media_job,
    flash_beep,
    flash_times,
    frame_pts,
    hdr10,
    interlaced,
    portrait_phone,
    probe,
    stream,
    surround_audio,
    ten_bit_odd,
    vfr_clip,
)

pytestmark = pytest.mark.media

ALL_CHECKS = {
    "files",
    "mp4_structure",
    "mp4_faststart",
    "mp4_streams",
    "duration",
    "master_playlist",
    "media_playlists",
    "segment_alignment",
    "decode",
    "frame_count",
    "audio_present",
}


def _job(tmp_path: Path, *sources: Path, **kwargs):
    out = tmp_path / "out"
    plan, report = encode_media_job(list(sources), out, tmp_path / "work", **kwargs)
    return out, plan, report


def _video(out: Path) -> tuple[dict, dict, dict | None]:
    data = probe(out / "video.mp4")
    video = stream(data, "video")
    assert video is not None
    return data, video, stream(data, "audio")


def _master(out: Path) -> str:
    return (out / "hls" / "master.m3u8").read_text()


def _loudness(path: Path) -> float:
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:a:0",
         "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stderr  # fmt: skip
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", err)[-1])


def test_ten_bit_odd_sized_video_without_audio(tmp_path: Path):
    out, plan, report = _job(tmp_path, ten_bit_odd(tmp_path / "odd.mp4"))
    _, video, audio = _video(out)
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert (video["width"], video["height"]) == (254, 144)  # 320:181 displayed, even, 144 rung
    assert audio is None and plan.audio is None
    assert int(video["nb_read_frames"]) == 25
    master = _master(out)
    assert "mp4a" not in master and 'CODECS="avc1.64' in master and "RESOLUTION=254x144" in master
    assert set(report.passed) >= ALL_CHECKS - {"av_alignment"}


def test_rotated_portrait_phone_video_comes_out_upright(tmp_path: Path):
    out, plan, _ = _job(tmp_path, portrait_phone(tmp_path / "phone.mp4"))
    data, video, audio = _video(out)
    assert (video["width"], video["height"]) == (144, 256)
    assert not any("rotation" in sd for sd in video.get("side_data_list", []))
    assert "rotate" not in video.get("tags", {})
    assert "location" not in data["format"].get("tags", {})  # no GPS tag published
    assert audio is not None and audio["codec_name"] == "aac"
    assert (audio["channels"], audio["sample_rate"]) == (2, "48000")
    assert "RESOLUTION=144x256" in _master(out)
    sheet = probe(out / "storyboard" / "sheet_000.jpg")["streams"][0]
    assert sheet["height"] > sheet["width"]  # the storyboard is portrait too


def test_variable_frame_rate_becomes_constant(tmp_path: Path):
    out, plan, _ = _job(tmp_path, vfr_clip(tmp_path / "vfr.mp4"))
    _, video, _ = _video(out)
    assert video["r_frame_rate"] == video["avg_frame_rate"] == "30/1"
    pts = frame_pts(out / "video.mp4")
    steps = {round(b - a, 4) for a, b in zip(pts, pts[1:], strict=False)}
    assert steps == {round(1 / 30, 4)}
    assert abs(len(pts) - plan.frames) <= plan.frame_tolerance
    assert 1.9 <= len(pts) / 30 <= 2.05


def test_surround_audio_only_gets_m4a_audio_hls_and_a_waveform(tmp_path: Path):
    out, plan, report = _job(tmp_path, surround_audio(tmp_path / "surround.m4a", seconds=3))
    assert plan.kind == "audio"
    audio = stream(probe(out / "audio.m4a"), "audio")
    assert audio is not None and audio["codec_name"] == "aac"
    assert (audio["channels"], audio["channel_layout"], audio["sample_rate"]) == (
        2,
        "stereo",
        "48000",
    )
    assert abs(_loudness(out / "audio.m4a") - plan.audio.loudness_lufs) < 2.0
    master = _master(out)
    assert 'CODECS="mp4a.40.2"' in master and "RESOLUTION" not in master
    assert "audio/index.m3u8" in master
    poster = probe(out / "thumb.jpg")["streams"][0]
    assert (poster["width"], poster["height"]) == (1280, 240)
    assert "decode" in report.passed and not (out / "video.mp4").exists()


def test_names_with_spaces_quotes_and_unicode_and_sidecar_subtitles(tmp_path: Path):
    name = "my clip 'final' \"v2\" — ünïcødé 日本.mp4"
    source = av_clip(tmp_path / name, seconds=2.0)
    sidecar = tmp_path / 'sous-titres "fr" é.srt'
    sidecar.write_text(
        "1\n00:00:00,200 --> 00:00:01,000\nBonjour « monde »\n\n"
        "2\n00:00:01,200 --> 00:00:01,900\nAu revoir\n",
        encoding="utf-8",
    )
    out, plan, report = _job(
        tmp_path, source, subtitles=(SubtitleTrack(path=sidecar, language="fr", name="Français"),)
    )
    assert plan.sources[0].name == name  # the original, for the manifest
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe_key_name(name))
    master = _master(out)
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français",LANGUAGE="fr"' in master
    assert 'SUBTITLES="subs"' in master
    vtt = (out / "hls" / "subs_0_fr" / "0_fr.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:") and "Bonjour « monde »" in vtt
    assert (out / "subtitles" / "0_fr.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    assert "master_playlist" in report.passed


def test_a_clip_shorter_than_a_second(tmp_path: Path):
    out, plan, _ = _job(tmp_path, av_clip(tmp_path / "short.mp4", seconds=0.4))
    _, video, audio = _video(out)
    assert int(video["nb_read_frames"]) == plan.frames == 10
    assert abs(float(video["duration"]) - 0.4) < 0.05 and audio is not None
    vtt = (out / "storyboard" / "thumbnails.vtt").read_text()
    assert vtt.count("#xywh=") == 1


def test_interlaced_source_is_deinterlaced(tmp_path: Path):
    out, plan, _ = _job(tmp_path, interlaced(tmp_path / "interlaced.mp4"))
    assert plan.sources[0].deinterlace
    _, video, _ = _video(out)
    assert video.get("field_order", "progressive") == "progressive"
    assert int(video["nb_read_frames"]) == 25 and video["r_frame_rate"] == "25/1"


def test_hdr_source_is_tone_mapped_to_8_bit_sdr(tmp_path: Path):
    out, plan, _ = _job(tmp_path, hdr10(tmp_path / "hdr.mp4"))
    assert plan.sources[0].hdr_transfer == "smpte2084"
    _, video, _ = _video(out)
    assert (video["pix_fmt"], video["profile"]) == ("yuv420p", "High")
    assert (video["color_transfer"], video["color_primaries"]) == ("bt709", "bt709")


def test_storyboard_track_points_at_real_tiles(tmp_path: Path):
    out, plan, _ = _job(tmp_path, av_clip(tmp_path / "six.mp4", size="426x240", seconds=6))
    assert [r.name for r in plan.rungs] == ["240p", "144p"]
    vtt = (out / "storyboard" / "thumbnails.vtt").read_text()
    cues = re.findall(r"(sheet_\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)", vtt)
    assert len(cues) == 2  # every 5 s: 0 s and 5 s
    for sheet, x, y, w, h in cues:
        image = probe(out / "storyboard" / sheet)["streams"][0]
        assert int(x) + int(w) <= image["width"] and int(y) + int(h) <= image["height"]
    thumb = probe(out / "thumb.jpg")["streams"][0]
    assert thumb["width"] == 426  # the top rung: never upscaled to 640
    segments = json.dumps(sorted(p.name for p in (out / "hls" / "144p").glob("*.ts")))
    assert segments == json.dumps(sorted(p.name for p in (out / "hls" / "240p").glob("*.ts")))


def test_audio_stays_in_sync_and_a_late_audio_start_is_padded(tmp_path: Path):
    clip = flash_beep(tmp_path / "clip.mp4", seconds=2, flash_frame=25)
    late = tmp_path / "late audio.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-itsoffset", "0.2", "-i",
         str(clip), "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)],
        check=True, timeout=60,
    )  # fmt: skip
    for source, lag in ((clip, 0.0), (late, 0.2)):
        out = tmp_path / source.stem
        encode_media_job([source], out, tmp_path / f"{source.stem} work")
        _, video, audio = _video(out)
        assert audio is not None
        assert float(audio["start_time"]) == float(video["start_time"]) == 0.0
        (flash,) = flash_times(out / "video.mp4", 25)
        (beep,) = beep_onsets(out / "video.mp4")
        assert flash == 1.0
        assert abs(beep - flash - lag) < 1 / 25  # the source's own A/V relation, within a frame
