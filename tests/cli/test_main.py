"""The reelflow CLI: run a job, list jobs, show a job (through a real Prefect server)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from infra.settings import Settings
from tests.support.ledgers import ledger

runner = CliRunner()


@pytest.mark.prefect
@pytest.mark.media
def test_run_prints_job_state_and_outputs(prefect_server: str, settings: Settings):
    sample = Path(__file__).resolve().parents[2] / "samples" / "sample.md"
    result = runner.invoke(app, ["run", str(sample), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    job_id = re.search(r"^job (\S+)", result.output, re.M).group(1)
    assert "SUCCEEDED" in result.output
    for name in ("video", "hls", "thumbnail", "captions", "manifest"):
        assert name in result.output
    assert ledger().get(job_id).status == "SUCCEEDED"

    listed = runner.invoke(app, ["jobs"])
    assert listed.exit_code == 0 and job_id in listed.output
    shown = runner.invoke(app, ["show", job_id])
    assert shown.exit_code == 0
    assert json.loads(shown.output)["status"] == "SUCCEEDED"


@pytest.mark.prefect
def test_run_failure_exits_non_zero_with_code(
    prefect_server: str,
    settings: Settings,
    tmp_path: Path,
):
    empty = tmp_path / "empty.md"
    empty.write_text("")
    result = runner.invoke(app, ["run", str(empty), "--preset", "tiny"])
    assert result.exit_code == 2  # refused before any work: no flow run, no ledger row
    assert "input_invalid: empty.md is empty" in result.output
    assert ledger().list_jobs() == []


def test_show_unknown_job(settings: Settings):
    result = runner.invoke(app, ["show", "nope"])
    assert result.exit_code == 2 and "no job nope" in result.output
