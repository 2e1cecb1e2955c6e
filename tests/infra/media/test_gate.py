"""The publish gate passes good output and names the check that broken output fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infra.errors import OutputInvalid
from infra.media.gate import document_expectations, media_expectations, mp4_boxes, run_gate
from infra.media.hls import avc_codec_string, hls_argv, master_playlist, variant_bandwidth
from infra.media.presets import PRESETS
from infra.media.slideshow import audio_argv, concat_list, encode_argv
from infra.process.runner import Deadlines
from tests.support.media_clips import av_clip, encode_media_job

pytestmark = pytest.mark.media

D = Deadlines(60.0)


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory):
    """A 4 s 426x240 clip with audio through the media job: 240p + 144p, 1 s segments."""
    base = tmp_path_factory.mktemp("gate")
    source = av_clip(base / "source.mp4", size="426x240", seconds=4)
    plan, report = encode_media_job([source], base / "out", base / "work")
    return base, plan, report


@pytest.fixture()
def out(good, tmp_path: Path) -> Path:
    base, _, _ = good
    copy = tmp_path / "out"
    shutil.copytree(base / "out", copy)
    return copy


def _gate(folder: Path, expect):
    return run_gate(folder, expect, ffmpeg="ffmpeg", ffprobe="ffprobe", deadlines=D, guard=None)


def _fails(folder: Path, expect, check: str) -> OutputInvalid:
    with pytest.raises(OutputInvalid) as caught:
        _gate(folder, expect)
    assert caught.value.code == "output_invalid"
    assert f"check '{check}' failed" in caught.value.message, caught.value.message
    return caught.value


def test_good_output_passes_every_check(good, out: Path):
    _, plan, _ = good
    report = _gate(out, media_expectations(plan))
    assert report.passed == [
        "files",
        "mp4_structure",
        "mp4_faststart",
        "mp4_streams",
        "duration",
        "audio_present",
        "av_alignment",
        "frame_count",
        "master_playlist",
        "media_playlists",
        "segment_alignment",
        "decode",
    ]
    assert report.measured["frames:240p"] == report.measured["frames:144p"] == plan.frames == 100
    assert report.measured["av_offset_ms"] <= 40
    assert mp4_boxes(out / "video.mp4")[:2] == ["ftyp", "moov"]


def test_truncated_segment_fails_decode(good, out: Path):
    segment = out / "hls" / "144p" / "seg_0001.ts"
    segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2 + 77])
    error = _fails(out, media_expectations(good[1]), "decode")
    assert "144p decodes to" in error.message and "playlist lists 4.000 s" in error.message


def test_missing_segment_fails_media_playlists(good, out: Path):
    (out / "hls" / "240p" / "seg_0002.ts").unlink()
    error = _fails(out, media_expectations(good[1]), "media_playlists")
    assert "seg_0002.ts" in error.message


def test_playlist_without_endlist_fails(good, out: Path):
    playlist = out / "hls" / "240p" / "index.m3u8"
    playlist.write_text(playlist.read_text().replace("#EXT-X-ENDLIST\n", ""))
    _fails(out, media_expectations(good[1]), "media_playlists")


def test_mp4_without_faststart_fails(good, out: Path, tmp_path: Path):
    slow = tmp_path / "slow.mp4"
    _ffmpeg("-i", str(out / "video.mp4"), "-map", "0", "-c", "copy", str(slow))
    shutil.move(slow, out / "video.mp4")
    error = _fails(out, media_expectations(good[1]), "mp4_faststart")
    assert "mdat,moov" in error.message.replace("free,", "")


def test_truncated_mp4_fails_its_structure(good, out: Path):
    mp4 = out / "video.mp4"
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size * 2 // 3])
    _fails(out, media_expectations(good[1]), "mp4_structure")


def test_rendition_three_seconds_short_fails_duration(good, out: Path):
    playlist = out / "hls" / "144p" / "index.m3u8"
    head = playlist.read_text().partition("#EXTINF")[0]
    playlist.write_text(head + "#EXTINF:1.000000,\nseg_0000.ts\n#EXT-X-ENDLIST\n")  # 4 s -> 1 s
    error = _fails(out, media_expectations(good[1]), "duration")
    assert "144p lasts 1.000 s, planned 4.000 s" in error.message


def test_missing_audio_fails_audio_present(good, out: Path, tmp_path: Path):
    silent = tmp_path / "silent.mp4"
    _ffmpeg(
        "-i",
        str(out / "video.mp4"),
        "-map",
        "0:v",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        str(silent),
    )
    shutil.move(silent, out / "video.mp4")
    error = _fails(out, media_expectations(good[1]), "audio_present")
    assert "video.mp4 has no audio stream" in error.message


def test_audio_late_by_more_than_a_frame_fails_av_alignment(good, out: Path, tmp_path: Path):
    late = tmp_path / "late.mp4"
    _ffmpeg(
        "-i", str(out / "video.mp4"), "-itsoffset", "0.2", "-i", str(out / "video.mp4"),
        "-map", "0:v", "-map", "1:a", "-c", "copy", "-movflags", "+faststart", str(late),
    )  # fmt: skip
    shutil.move(late, out / "video.mp4")
    error = _fails(out, media_expectations(good[1]), "av_alignment")
    assert "ms from its video" in error.message


def test_master_claiming_no_audio_fails(good, out: Path):
    master = out / "hls" / "master.m3u8"
    master.write_text(master.read_text().replace(",mp4a.40.2", ""))
    _fails(out, media_expectations(good[1]), "master_playlist")


def test_misaligned_segments_fail(good, out: Path):
    base = good[0]
    low = out / "hls" / "144p"
    shutil.rmtree(low)
    low.mkdir()
    subprocess.run(
        hls_argv("ffmpeg", [base / "work" / "144p.mp4"], [low / "index.m3u8"], 2, audio="none"),
        check=True,
        capture_output=True,
        timeout=60,
    )
    _fails(out, media_expectations(good[1]), "segment_alignment")


def test_wrong_frame_count_fails(good, out: Path):
    plan = good[1]
    expect = media_expectations(plan).model_copy(update={"frames": plan.frames + 10})
    error = _fails(out, expect, "frame_count")
    assert f"has {plan.frames} frames, planned {plan.frames + 10} ± 2" in error.message


def test_document_job_output_passes_its_gate(tmp_path: Path):
    """The document job's real encode functions (tiny preset, two slides, 3.2 s of narration)."""
    preset = PRESETS["tiny"]
    out, work = tmp_path / "out", tmp_path / "work"
    (out / "hls").mkdir(parents=True)
    work.mkdir()
    images = []
    for i, color in enumerate(("navy", "teal")):
        image = work / f"slide_{i}.png"
        _ffmpeg("-f", "lavfi", "-i", f"color=c={color}:s=640x360", "-frames:v", "1", str(image))
        images.append(image)
    (work / "slides.ffconcat").write_text(concat_list(images, [1.5, 1.7]))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=3.2", str(work / "narration.wav"))
    run = {"check": True, "capture_output": True, "timeout": 60}
    audio = work / "narration.m4a"
    subprocess.run(audio_argv("ffmpeg", work / "narration.wav", audio, 96), **run)
    mp4s = [out / "video.mp4", work / "240p.mp4"]
    subprocess.run(
        encode_argv(
            "ffmpeg", work / "slides.ffconcat", audio, preset, mp4s, out / "thumb.jpg",
            total_s=3.2, fps=2, segment_s=1,
        ),
        **run,
    )  # fmt: skip
    playlists = []
    for r in preset.renditions:
        (out / "hls" / r.name).mkdir()
        playlists.append(out / "hls" / r.name / "index.m3u8")
    subprocess.run(hls_argv("ffmpeg", mp4s, playlists, 1), **run)
    variants = []
    for r, playlist in zip(preset.renditions, playlists, strict=True):
        peak, average = variant_bandwidth(playlist)
        variants.append(
            {
                "uri": f"{r.name}/index.m3u8",
                "bandwidth": peak,
                "average": average,
                "width": r.width,
                "height": r.height,
                "fps": 2,
                "codecs": f"{avc_codec_string('High', r.h264_level)},mp4a.40.2",
            }
        )
    (out / "hls" / "master.m3u8").write_text(master_playlist(variants))
    (out / "captions.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.500\nOne\n")
    expect = document_expectations(preset, narration_s=3.2, fps=2, segment_s=1)
    report = _gate(out, expect)
    assert (
        "decode" in report.passed and report.measured["frames:360p"] == expect.frames == 6
    )  # round(3.2 * 2)
    (out / "captions.vtt").unlink()
    _fails(out, expect, "files")
