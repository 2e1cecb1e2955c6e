"""The media-job flow end to end: real ffmpeg, a real Prefect test server, the local store.

Each case downloads what the job committed and checks it the way a user would (ffprobe of the
published MP4/M4A, the manifest's checksums, the facts and the plan kept there).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from flows.media_job import media_job
from infra.jobs.models import JobRequest
from infra.settings import Settings
from infra.store.artifacts import open_store
from tests.support.ledgers import ledger
from tests.support.media_clips import (
    av_clip,
    frame_pts,
    interlaced,
    portrait_phone,
    probe,
    stream,
    surround_audio,
    ten_bit_odd,
    truncate,
    vfr_clip,
)

pytestmark = [pytest.mark.prefect, pytest.mark.media]


def _delivered(settings: Settings, job_id: str, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """The committed manifest (every object's checksum verified) and a folder of the objects."""
    store = open_store(settings)
    prefix = f"jobs/{job_id}/"
    manifest = json.loads(store.get_bytes(prefix + "manifest.json"))
    got = tmp_path / "got"
    for obj in manifest["objects"]:
        data = store.get_bytes(obj["key"])
        assert hashlib.sha256(data).hexdigest() == obj["sha256"], obj["key"]
        target = got / obj["key"].removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    assert set(store.list_keys(prefix)) == {o["key"] for o in manifest["objects"]} | {
        prefix + "manifest.json"
    }
    return manifest, got


def _run(source: Path, **fields: Any):
    state = media_job(JobRequest(source=str(source), preset="tiny", **fields), return_state=True)
    return state


def _succeeded(state) -> str:
    assert state.is_completed(), state.message
    job_id = state.result().job_id
    job = ledger().get(job_id)
    assert (job.status, job.kind, job.progress) == ("SUCCEEDED", "media", 100.0)
    return job_id


def _work_root_empty(settings: Settings) -> bool:
    root = settings.work_dir_root
    return not root.exists() or not any(root.iterdir())


def test_ten_bit_odd_sized_video_without_audio(prefect_server: str, settings: Settings, tmp_path):
    source = ten_bit_odd(tmp_path / "odd.mp4", seconds=1.0)
    job_id = _succeeded(_run(source))
    manifest, got = _delivered(settings, job_id, tmp_path)
    video = probe(got / "video.mp4")
    v = stream(video, "video")
    assert v is not None and stream(video, "audio") is None
    assert (v["codec_name"], v["pix_fmt"]) == ("h264", "yuv420p")
    top = manifest["plan"]["rungs"][0]
    assert (v["width"], v["height"]) == (top["width"], top["height"])
    assert v["width"] % 2 == 0 and v["height"] % 2 == 0 and v["height"] <= 181  # no upscale
    assert abs(v["width"] / v["height"] - 321 / 181) < 0.02  # the display aspect is kept
    assert int(v["nb_read_frames"]) == manifest["plan"]["frames"] == 25
    master = (got / "hls" / "master.m3u8").read_text()
    assert "mp4a" not in master and "avc1" in master  # video-only renditions, said so
    assert manifest["outputs"]["storyboard"] == f"jobs/{job_id}/storyboard/thumbnails.vtt"
    assert "decode" in manifest["gate"]["passed"]
    assert manifest["sources"][0]["facts"]["video"]["bit_depth"] == 10
    assert _work_root_empty(settings)


def test_rotated_portrait_phone_video_comes_out_upright(
    prefect_server: str, settings: Settings, tmp_path
):
    source = portrait_phone(tmp_path / "phone.mp4", seconds=1.0)
    job_id = _succeeded(_run(source))
    manifest, got = _delivered(settings, job_id, tmp_path)
    data = probe(got / "video.mp4")
    v, a = stream(data, "video"), stream(data, "audio")
    assert v is not None and a is not None
    assert v["height"] > v["width"]  # portrait stays portrait
    assert not any("rotation" in sd for sd in v.get("side_data_list", []))
    assert "location" not in json.dumps(data["format"].get("tags", {}))  # no GPS tag leaks
    assert (a["codec_name"], a["channels"], a["sample_rate"]) == ("aac", 2, "48000")
    assert abs(float(data["format"]["duration"]) - 1.0) < 0.1


def test_surround_audio_only_becomes_stereo_m4a_and_audio_hls(
    prefect_server: str, settings: Settings, tmp_path
):
    source = surround_audio(tmp_path / "five one.m4a", seconds=2.0)
    job_id = _succeeded(_run(source))
    manifest, got = _delivered(settings, job_id, tmp_path)
    data = probe(got / "audio.m4a")
    a = stream(data, "audio")
    assert stream(data, "video") is None and a is not None
    assert (a["codec_name"], a["channels"]) == ("aac", 2)
    assert abs(float(data["format"]["duration"]) - 2.0) < 0.1
    assert set(manifest["outputs"]) == {"audio", "hls", "thumbnail", "manifest"} - {"manifest"}
    assert (got / "thumb.jpg").stat().st_size > 0  # the waveform poster
    assert manifest["sources"][0]["facts"]["audio"]["channels"] == 6


def test_hostile_file_name_keeps_its_name_in_the_manifest_only(
    prefect_server: str, settings: Settings, tmp_path
):
    name = "my \"holiday\" 'clip' – été 日本.mp4"
    source = av_clip(tmp_path / name, seconds=1.0)
    job_id = _succeeded(_run(source))
    manifest, got = _delivered(settings, job_id, tmp_path)
    assert manifest["source"] == name and manifest["sources"][0]["name"] == name
    for obj in manifest["objects"]:
        assert obj["key"].isascii() and " " not in obj["key"] and '"' not in obj["key"]
    assert stream(probe(got / "video.mp4"), "audio") is not None


def test_truncated_mp4_fails_input_unreadable_and_publishes_nothing(
    prefect_server: str, settings: Settings, tmp_path
):
    whole = av_clip(tmp_path / "whole.mp4", seconds=2.0, vargs=("-movflags", "+faststart"))
    source = truncate(whole, tmp_path / "cut.mp4", 0.6)
    state = _run(source)
    assert state.is_failed() and "[input_unreadable]" in state.message
    job = ledger().list_jobs()[0]
    assert (job.status, job.error_code, job.stage) == ("FAILED", "input_unreadable", "probe")
    assert open_store(settings).list_keys("jobs/") == []
    assert _work_root_empty(settings)


def test_three_part_timeline_of_different_sizes_and_rates(
    prefect_server: str, settings: Settings, tmp_path
):
    parts = [
        av_clip(tmp_path / "a.mp4", size="320x180", rate="25", seconds=1.0),
        av_clip(tmp_path / "b.mp4", size="240x240", rate="30", seconds=1.0),
        av_clip(tmp_path / "c.mp4", size="428x240", rate="24", seconds=1.0),
    ]
    job_id = _succeeded(_run(parts[0], timeline=[str(p) for p in parts[1:]]))
    manifest, got = _delivered(settings, job_id, tmp_path)
    data = probe(got / "video.mp4")
    v = stream(data, "video")
    assert v is not None and stream(data, "audio") is not None
    assert [s["name"] for s in manifest["sources"]] == ["a.mp4", "b.mp4", "c.mp4"]
    assert abs(float(data["format"]["duration"]) - 3.0) < 3 / 25 + 0.05
    assert abs(int(v["nb_read_frames"]) - manifest["plan"]["frames"]) <= 3


def test_timeline_part_outside_the_input_roots_is_refused(
    prefect_server: str, settings: Settings, tmp_path
):
    source = av_clip(tmp_path / "a.mp4", seconds=1.0)
    state = _run(source, timeline=["/etc/passwd"])
    assert state.is_failed() and "[input_invalid]" in state.message
    assert open_store(settings).list_keys("jobs/") == []


SRT = (
    "1\n00:00:00,000 --> 00:00:00,800\nBonjour « été »\n\n2\n00:00:01,000 --> 00:00:01,800\nsalut\n"
)


def test_sidecar_subtitles_become_webvtt_tracks_of_the_master(
    prefect_server: str, settings: Settings, tmp_path
):
    from infra.jobs.models import SubtitleSource

    source = av_clip(tmp_path / "clip.mp4", seconds=2.0)
    sidecar = tmp_path / "sous titres é.srt"
    sidecar.write_text(SRT, encoding="utf-8")
    subs = [SubtitleSource(source=str(sidecar), language="fr", name="Français")]
    job_id = _succeeded(_run(source, subtitles=subs))
    manifest, got = _delivered(settings, job_id, tmp_path)
    master = (got / "hls" / "master.m3u8").read_text()
    assert "TYPE=SUBTITLES" in master and 'LANGUAGE="fr"' in master and "Français" in master
    vtts = list((got / "hls").rglob("*.vtt"))
    assert vtts and "Bonjour « été »" in vtts[0].read_text(encoding="utf-8")
    assert "X-TIMESTAMP-MAP" in vtts[0].read_text(encoding="utf-8")


def test_subtitle_outside_the_input_roots_is_refused(
    prefect_server: str, settings: Settings, tmp_path
):
    from infra.jobs.models import SubtitleSource

    source = av_clip(tmp_path / "clip.mp4", seconds=1.0)
    state = _run(source, subtitles=[SubtitleSource(source="/etc/passwd")])
    assert state.is_failed() and "[input_invalid]" in state.message
    assert open_store(settings).list_keys("jobs/") == []


def test_media_longer_than_the_limit_fails_input_too_large(
    prefect_server: str, settings: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    from infra.settings import get_settings

    monkeypatch.setenv("REELFLOW_MEDIA__MAX_DURATION_S", "1.5")
    get_settings.cache_clear()
    source = av_clip(tmp_path / "long.mp4", seconds=3.0)
    state = _run(source)
    assert state.is_failed() and "[input_too_large]" in state.message
    assert "REELFLOW_MEDIA__MAX_DURATION_S" in state.message
    assert ledger().list_jobs()[0].error_code == "input_too_large"
    assert open_store(settings).list_keys("jobs/") == []


def test_variable_frame_rate_becomes_constant_through_the_flow(
    prefect_server: str, settings: Settings, tmp_path
):
    job_id = _succeeded(_run(vfr_clip(tmp_path / "vfr.mp4")))
    manifest, got = _delivered(settings, job_id, tmp_path)
    video = stream(probe(got / "video.mp4"), "video")
    assert video is not None and video["r_frame_rate"] == video["avg_frame_rate"] == "30/1"
    pts = frame_pts(got / "video.mp4")
    assert {round(b - a, 4) for a, b in zip(pts, pts[1:], strict=False)} == {round(1 / 30, 4)}
    plan = manifest["plan"]
    assert abs(len(pts) - plan["frames"]) <= plan["frame_tolerance"]


def test_interlaced_source_is_deinterlaced_through_the_flow(
    prefect_server: str, settings: Settings, tmp_path
):
    job_id = _succeeded(_run(interlaced(tmp_path / "interlaced.mp4")))
    manifest, got = _delivered(settings, job_id, tmp_path)
    assert manifest["plan"]["sources"][0]["deinterlace"] is True
    video = stream(probe(got / "video.mp4"), "video")
    assert video is not None and video.get("field_order", "progressive") == "progressive"
    assert int(video["nb_read_frames"]) == manifest["plan"]["frames"] == 25


def test_a_clip_shorter_than_a_second_through_the_flow(
    prefect_server: str, settings: Settings, tmp_path
):
    job_id = _succeeded(_run(av_clip(tmp_path / "short.mp4", seconds=0.4)))
    manifest, got = _delivered(settings, job_id, tmp_path)
    data = probe(got / "video.mp4")
    video, audio = stream(data, "video"), stream(data, "audio")
    assert video is not None and audio is not None
    assert int(video["nb_read_frames"]) == manifest["plan"]["frames"] == 10
    assert abs(float(video["duration"]) - 0.4) < 0.05
    assert (got / "storyboard" / "thumbnails.vtt").read_text().count("#xywh=") == 1
