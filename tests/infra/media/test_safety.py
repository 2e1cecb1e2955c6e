"""Crafted playlists and concat lists cannot read outside the job's folder or reach the network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.errors import InputInvalid
from infra.media.ffprobe import probe_argv, probe_media_file
from infra.media.safety import INPUT_SAFETY
from tests.support.tools import make_clip

pytestmark = pytest.mark.media


@pytest.fixture()
def job_dir(tmp_path: Path) -> Path:
    outside = tmp_path / "secret.ts"
    make_clip(outside.with_suffix(".ts"), size="64x36")
    job = tmp_path / "job"
    job.mkdir()
    make_clip(job / "seg0.ts", size="64x36")
    return job


def _hls(job: Path, segment: str) -> Path:
    playlist = job / "in.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
        f"#EXTINF:1.0,\n{segment}\n#EXT-X-ENDLIST\n"
    )
    return playlist


def test_local_playlist_inside_the_job_is_probed(job_dir: Path):
    info = probe_media_file(_hls(job_dir, "seg0.ts"))
    assert info.video_codec == "h264"


@pytest.mark.parametrize(
    "segment", ["../secret.ts", "/etc/passwd", "http://127.0.0.1:9/seg.ts", "file:../secret.ts"]
)
def test_crafted_hls_playlist_is_refused(job_dir: Path, segment: str):
    with pytest.raises(InputInvalid, match="outside the job's directory|references a URL"):
        probe_media_file(_hls(job_dir, segment))


@pytest.mark.parametrize("target", ["../secret.ts", "/etc/passwd", "http://127.0.0.1:9/a.ts"])
def test_crafted_concat_list_is_refused(job_dir: Path, target: str):
    concat = job_dir / "list.txt"
    concat.write_text(f"ffconcat version 1.0\nfile 'seg0.ts'\nfile '{target}'\n")
    with pytest.raises(InputInvalid):
        probe_media_file(concat)


def test_ffmpeg_itself_refuses_network_and_unsafe_paths(job_dir: Path):
    """Defense in depth: the flags reelflow always passes stop what the check would miss."""
    playlist = _hls(job_dir, "http://127.0.0.1:9/seg.ts")
    out = subprocess.run(
        probe_argv("ffprobe", playlist), capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode != 0 and "not on whitelist" in out.stderr
    concat = job_dir / "list.txt"
    concat.write_text("ffconcat version 1.0\nfile '../secret.ts'\n")
    out = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            *INPUT_SAFETY,
            "-f",
            "concat",
            "-safe",
            "1",
            "-i",
            str(concat),
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode != 0 and "Unsafe file name" in out.stderr
