"""Cancelling a running job through Prefect: a real server, a real process worker, real ffmpeg.

The worker turns the Cancelling state into SIGTERM for the flow-run process; Prefect raises its
TerminationSignal in the job's thread; the runner's ``finally`` stops ffmpeg; the cancellation
hook marks the ledger and removes the work directory and any uploaded object.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from infra.settings import Settings
from infra.storage import open_store
from tasks.common import ledger
from tests.tools import LONG_DOC, encoder_of, process_worker

pytestmark = [pytest.mark.prefect, pytest.mark.media]


def test_cancel_during_render_kills_ffmpeg_and_cleans_up(
    prefect_server: str, settings: Settings, tmp_path: Path, record_property
):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    source = tmp_path / "long.md"
    source.write_text(LONG_DOC)

    with process_worker(prefect_server, settings.home):
        run = run_deployment(
            "video-job/video-job-process",
            parameters={"request": {"source": str(source), "preset": "hd"}},
            timeout=0,
        )
        job_id = str(run.id)
        deadline = time.monotonic() + 90
        encoder = None
        while encoder is None and time.monotonic() < deadline:
            encoder = encoder_of(job_id)
            time.sleep(0.05)
        assert encoder is not None, "the job never reached its encode"

        with get_client(sync_client=True) as client:
            requested = time.monotonic()
            client.set_flow_run_state(run.id, Cancelling(message="test cancel"), force=True)
            while encoder.is_running() and encoder.status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() - requested < 2.0, "ffmpeg outlived the cancel by 2 s"
                time.sleep(0.02)
            killed_after = time.monotonic() - requested

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                state = client.read_flow_run(run.id).state
                if state is not None and state.is_final():
                    break
                time.sleep(0.2)
        assert state is not None and state.name == "Cancelled", state
        record_property("cancel_to_ffmpeg_dead_s", round(killed_after, 3))

        deadline = time.monotonic() + 20  # the hook runs right after the final state
        while time.monotonic() < deadline and ledger().get(job_id).status != "CANCELED":
            time.sleep(0.2)
        job = ledger().get(job_id)
        assert (job.status, job.error_code) == ("CANCELED", "user_canceled")
        assert not (settings.work_dir_root / job_id).exists()
        assert open_store(settings).list_keys(f"jobs/{job_id}/") == []
        assert encoder_of(job_id) is None
