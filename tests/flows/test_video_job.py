"""The video-job flow end to end through a real Prefect server, real media tools and stores."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from flows.video_job import video_job
from infra.models import JobRequest
from infra.presets import PRESETS
from infra.settings import Settings, get_settings
from infra.storage import open_store
from tasks.common import ledger
from tasks.encode import avc_codec_string
from tests.documents import (
    SAMPLE_MARKDOWN,
    make_encrypted_pdf,
    make_image_only_pdf,
    make_many_page_pdf,
    make_pdf,
)

pytestmark = [pytest.mark.prefect, pytest.mark.media]


def _ffprobe(path: Path) -> dict:
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


def _assert_delivered(job_id: str, settings: Settings, tmp_path: Path) -> None:
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
    info = _ffprobe(video)
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


def _work_root_empty(settings: Settings) -> bool:
    root = settings.work_dir_root
    return not root.exists() or not any(root.iterdir())


@pytest.mark.parametrize("store_kind", ["local", pytest.param("s3", marks=pytest.mark.s3)])
@pytest.mark.parametrize("doc_kind", ["pdf", "markdown"])
def test_document_job_delivers_playable_outputs(
    request: pytest.FixtureRequest,
    prefect_server: str,
    tmp_path: Path,
    store_kind: str,
    doc_kind: str,
):
    settings = request.getfixturevalue("settings" if store_kind == "local" else "s3_settings")
    if doc_kind == "pdf":
        source = make_pdf(tmp_path / "doc.pdf")
    else:
        source = tmp_path / "doc.md"
        source.write_text(SAMPLE_MARKDOWN)
    state = video_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    job = ledger().get(result.job_id)
    assert job.status == "SUCCEEDED" and job.stage == "upload" and job.progress == 100.0
    assert job.flow_run_id == str(state.state_details.flow_run_id)
    assert job.artifacts["video"] == f"jobs/{result.job_id}/video.mp4"
    _assert_delivered(result.job_id, settings, tmp_path)
    assert _work_root_empty(settings)
    _assert_artifacts(state.state_details.flow_run_id)


def _assert_artifacts(flow_run_id) -> None:
    """The UI shows progress (at 100 %) and a table of the outputs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    by_type = {a.type: a for a in artifacts}
    assert float(by_type["progress"].data) == 100.0
    table = by_type["table"].data
    assert "video" in str(table) and "manifest" in str(table)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


GIBBERISH = ("@@## $$%% ^^&& **(( ))__ ++== {{}} || ;;:: <<>> ?? !! " * 10).encode()
RUN_ON = ("Intro\n\n" + "word " * 450).encode()

BAD_INPUTS = {
    "empty": (lambda d: _write(d / "empty.pdf", b""), "input_invalid"),
    "random-bytes": (lambda d: _write(d / "random.pdf", os.urandom(8192)), "input_invalid"),
    "encrypted": (lambda d: make_encrypted_pdf(d / "locked.pdf"), "input_unreadable"),
    "image-only": (lambda d: make_image_only_pdf(d / "scan.pdf"), "input_unreadable"),
    "21mb": (lambda d: _write(d / "big.txt", b"a" * (21 * 1024 * 1024)), "input_too_large"),
    "300-pages": (lambda d: make_many_page_pdf(d / "long.pdf", 300), "input_too_large"),
    "gibberish": (lambda d: _write(d / "noise.txt", GIBBERISH), "script_invalid"),
    "over-word-cap": (lambda d: _write(d / "runon.txt", RUN_ON), "script_invalid"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_with_its_code_and_leaves_nothing(
    prefect_server: str, settings: Settings, tmp_path: Path, case: str
):
    make, code = BAD_INPUTS[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    source = make(inputs)
    assert get_settings().input.max_bytes == 20 * 1024 * 1024
    state = video_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    assert state.is_failed()
    assert f"[{code}]" in state.message
    job = ledger().list_jobs()[0]
    assert (job.status, job.error_code) == ("FAILED", code)
    assert job.error_message and f"[{code}]" in job.error_message
    assert _work_root_empty(settings)
    assert open_store(settings).list_keys("jobs/") == []
    assert source.exists()  # the input is never consumed or damaged


def test_job_refused_before_any_work_without_free_disk(
    prefect_server: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REELFLOW_LIMITS__DISK_RESERVE_MB", str(10**9))
    get_settings.cache_clear()
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    state = video_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    assert state.is_failed() and "[resource_limit_exceeded]" in state.message
    job = ledger().list_jobs()[0]
    assert (job.status, job.error_code, job.stage) == ("FAILED", "resource_limit_exceeded", "probe")
    assert "not enough free disk space" in job.error_message
    assert _work_root_empty(settings)


def test_job_limits_are_enforced_by_the_watchdog(
    prefect_server: str, settings: Settings, tmp_path: Path
):
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    request = JobRequest(source=str(source), preset="tiny", limits={"max_disk_mb": 1})
    state = video_job(request, return_state=True)
    assert state.is_failed() and "[resource_limit_exceeded]" in state.message
    job = ledger().list_jobs()[0]
    assert (job.error_code, job.stage) == ("resource_limit_exceeded", "render")
    assert job.progress == 20.0  # probe and script done; render never got to encode
    assert "disk limit exceeded" in job.error_message and "limit 1 MB" in job.error_message
    assert _work_root_empty(settings)
    assert open_store(settings).list_keys("jobs/") == []


def test_stage_past_its_timeout_fails_with_its_code(
    prefect_server: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import psutil

    monkeypatch.setenv("REELFLOW_STAGES__RENDER_TIMEOUT_S", "1")
    get_settings.cache_clear()
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    state = video_job(JobRequest(source=str(source), preset="hd"), return_state=True)
    assert state.is_failed() and "[ffmpeg_timeout]" in state.message
    job = ledger().list_jobs()[0]
    assert (job.error_code, job.stage) == ("ffmpeg_timeout", "render")
    assert "REELFLOW_STAGES__RENDER_TIMEOUT_S" in job.error_message
    assert not [p for p in psutil.Process().children(recursive=True) if p.name() == "ffmpeg"]
    assert _work_root_empty(settings)
