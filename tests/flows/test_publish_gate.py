"""The publish gate in both flows: a broken output fails the job with output_invalid, naming the
check and what it measured, and nothing is committed (no manifest, no object)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tasks.media.encode as media_encode
import tasks.render.document as document_render
from flows.document_job import document_job
from flows.media_job import media_job
from infra.jobs.models import JobRequest
from infra.settings import Settings
from infra.store.artifacts import open_store
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.ledgers import ledger
from tests.support.media_clips import av_clip

pytestmark = [pytest.mark.prefect, pytest.mark.media]


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _assert_refused(settings: Settings, state, check: str) -> None:
    assert state.is_failed()
    assert "[output_invalid]" in state.message and f"check '{check}'" in state.message
    job = ledger().list_jobs()[0]
    assert (job.status, job.error_code, job.stage) == ("FAILED", "output_invalid", "gate")
    assert open_store(settings).list_keys("jobs/") == []  # nothing published, not even in part
    root = settings.work_dir_root
    assert not root.exists() or not any(root.iterdir())


def test_media_job_with_a_truncated_rendition_fails_the_gate(
    prefect_server: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real = media_encode.make_pictures

    def pictures_then_break(top: Path, *args, **kwargs):
        made = real(top, *args, **kwargs)
        _cut_in_half(top)  # the published MP4 (top rendition) loses its second half
        return made

    monkeypatch.setattr(media_encode, "make_pictures", pictures_then_break)
    source = av_clip(tmp_path / "clip.mp4", seconds=2.0)
    state = media_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    _assert_refused(settings, state, "mp4_structure")
    assert "truncated" in state.message


def test_media_job_with_a_missing_segment_fails_the_gate(
    prefect_server: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real = media_encode.make_pictures

    def pictures_then_drop(top: Path, small: Path, out: Path, *args, **kwargs):
        made = real(top, small, out, *args, **kwargs)
        next(
            iter(sorted((out / "hls").rglob("*.ts")) or sorted((out / "hls").rglob("*.m4s")))
        ).unlink()
        return made

    monkeypatch.setattr(media_encode, "make_pictures", pictures_then_drop)
    source = av_clip(tmp_path / "clip.mp4", seconds=2.0)
    state = media_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    _assert_refused(settings, state, "media_playlists")


def test_document_job_with_a_truncated_video_fails_the_gate(
    prefect_server: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real = document_render._write_hls

    def hls_then_break(renditions, *args, **kwargs):
        made = real(renditions, *args, **kwargs)
        _cut_in_half(renditions[0])  # the published video.mp4
        return made

    monkeypatch.setattr(document_render, "_write_hls", hls_then_break)
    source = tmp_path / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    state = document_job(JobRequest(source=str(source), preset="tiny"), return_state=True)
    _assert_refused(settings, state, "mp4_structure")
