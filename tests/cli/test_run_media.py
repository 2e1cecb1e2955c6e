"""``reelflow run`` routes by content: a media file (or several, a timeline) runs the media job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from infra.settings import Settings
from tests.support.ledgers import ledger
from tests.support.media_clips import av_clip

runner = CliRunner()
pytestmark = [pytest.mark.prefect, pytest.mark.media]


def test_run_a_clip_runs_a_media_job(prefect_server: str, settings: Settings, tmp_path: Path):
    clip = av_clip(tmp_path / "clip one.mp4", seconds=1.0)
    result = runner.invoke(app, ["run", str(clip), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    job_id = re.search(r"^job (\S+)", result.output, re.M).group(1)
    assert "kind=media" in result.output and "SUCCEEDED" in result.output
    for name in ("video", "hls", "thumbnail", "storyboard", "manifest"):
        assert name in result.output
    job = ledger().get(job_id)
    assert (job.status, job.kind) == ("SUCCEEDED", "media")


def test_run_several_clips_joins_them(prefect_server: str, settings: Settings, tmp_path: Path):
    first = av_clip(tmp_path / "a.mp4", seconds=1.0)
    second = av_clip(tmp_path / "b.mp4", size="240x240", seconds=1.0)
    result = runner.invoke(app, ["run", str(first), str(second), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    job_id = re.search(r"^job (\S+)", result.output, re.M).group(1)
    assert ledger().get(job_id).status == "SUCCEEDED"


def test_kind_document_on_a_clip_is_refused(
    prefect_server: str, settings: Settings, tmp_path: Path
):
    clip = av_clip(tmp_path / "clip.mp4", seconds=1.0)
    result = runner.invoke(app, ["run", str(clip), "--kind", "document"])
    assert result.exit_code == 2
    assert "input_invalid" in result.output and "not document" in result.output
    assert ledger().list_jobs() == []
