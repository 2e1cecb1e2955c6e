"""`reelflow cancel` and the upload guard: cancel is immediate, idempotent, and stops uploads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from infra.errors import UserCanceled
from infra.jobs.models import JobRequest, RenderOutputs
from infra.settings import Settings
from infra.store.artifacts import open_store
from tasks.upload import upload_outputs
from tests.support.ledgers import ledger

runner = CliRunner()


def _outputs(tmp_path: Path) -> RenderOutputs:
    files = {}
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(name)
        files[name] = str(tmp_path / name)
    return RenderOutputs(
        files=files, outputs={"a": "a.txt"}, duration_s=1, narration_s=1, slide_durations_s=[1]
    )


@pytest.mark.parametrize("cancel_after", [0, 2, 3])
def test_nothing_is_uploaded_after_a_cancel(settings: Settings, tmp_path: Path, cancel_after: int):
    """Cancel before the first object, mid-way, and just before the manifest."""
    store = open_store(settings)
    asked = []

    def canceled() -> bool:
        asked.append(1)
        return len(asked) > cancel_after

    with pytest.raises(UserCanceled):
        upload_outputs(
            store, "j1", JobRequest(source="/x.md"), _outputs(tmp_path), settings, "x.md", canceled
        )
    keys = store.list_keys("jobs/j1/")
    assert len(keys) == cancel_after  # nothing after the cancel
    assert "jobs/j1/manifest.json" not in keys  # never committed


@pytest.mark.prefect
def test_cancel_command_is_immediate_and_idempotent(process_pool: str, settings: Settings):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    run = run_deployment(
        "video-job/video-job-process", parameters={"request": {"source": "/x.md"}}, timeout=0
    )
    job_id = str(run.id)
    ledger().claim_job(job_id, flow_run_id=job_id)  # as the flow would

    first = runner.invoke(app, ["cancel", job_id])
    assert first.exit_code == 0 and "CANCELED" in first.output and "no change" not in first.output
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state is not None and state.name in {"Cancelling", "Cancelled"}
    second = runner.invoke(app, ["cancel", job_id])
    assert second.exit_code == 0 and "no change" in second.output
    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("CANCELED", "user_canceled")
    # A late success cannot overwrite it.
    assert not ledger().mark_succeeded(job_id, {})
    shown = json.loads(runner.invoke(app, ["show", job_id]).output)
    assert shown["status"] == "CANCELED"
