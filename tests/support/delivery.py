"""What a delivered job must look like, checked the way a user would (ffprobe, checksums)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from infra.media.hls import avc_codec_string
from infra.media.presets import PRESETS
from infra.settings import Settings
from infra.store.artifacts import open_store

__all__ = ["assert_delivered", "ffprobe_json"]


def ffprobe_json(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return json.loads(out.stdout)


def _last_cue_end(vtt: str) -> float:
    h, m, s = re.findall(r"--> (\d+):(\d+):([\d.]+)", vtt)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def assert_delivered(job_id: str, settings: Settings, tmp_path: Path) -> None:
    """What a user checks of a committed job: checksums, playable MP4, captions, HLS ladder."""
    store = open_store(settings)
    prefix = f"jobs/{job_id}/"
    manifest = json.loads(store.get_bytes(prefix + "manifest.json"))
    # Every object in the manifest is stored with the recorded checksum, and nothing else is.
    for obj in manifest["objects"]:
        assert hashlib.sha256(store.get_bytes(obj["key"])).hexdigest() == obj["sha256"], obj["key"]
    stored = set(store.list_keys(prefix))
    assert stored == {o["key"] for o in manifest["objects"]} | {prefix + "manifest.json"}

    video = tmp_path / "video.mp4"
    video.write_bytes(store.get_bytes(prefix + "video.mp4"))
    info = ffprobe_json(video)
    codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    narration = sum(manifest["slide_durations_s"])
    assert float(info["format"]["duration"]) == pytest.approx(narration, rel=0.05)

    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    video_stream = next(s for s in info["streams"] if s["codec_type"] == "video")
    codecs_attr = avc_codec_string(video_stream["profile"], int(video_stream["level"]))
    vtt = store.get_bytes(prefix + "captions.vtt").decode()
    assert vtt.startswith("WEBVTT")
    assert abs(_last_cue_end(vtt) - float(audio["duration"])) <= 0.5

    master = store.get_bytes(prefix + "hls/master.m3u8").decode()
    assert f'CODECS="{codecs_attr},mp4a.40.2"' in master  # what the stream really is
    for rendition in PRESETS[manifest["preset"]].renditions:
        uri = f"{rendition.name}/index.m3u8"
        assert uri in master
        assert f"RESOLUTION={rendition.width}x{rendition.height}" in master
        variant = store.get_bytes(prefix + "hls/" + uri).decode()
        segments = [ln for ln in variant.splitlines() if ln.endswith(".ts")]
        assert segments and "#EXT-X-ENDLIST" in variant
        for seg in segments:
            assert store.exists(f"{prefix}hls/{rendition.name}/{seg}")
    assert store.exists(prefix + "thumb.jpg")
