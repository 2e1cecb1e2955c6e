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
from infra.store.artifacts import open_store
from tests.support.ledgers import ledger
from tests.support.tools import encoder_of, process_worker, start_long_job, wait_for_run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.prefect, pytest.mark.media]


def test_cancel_during_render_kills_ffmpeg_and_cleans_up(
    process_pool: str, settings: Settings, tmp_path: Path, record_property
):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    with process_worker(process_pool, settings.home):
        run_id, encoder = start_long_job(tmp_path / "long.md")
        job_id = str(run_id)

        with get_client(sync_client=True) as client:
            requested = time.monotonic()
            client.set_flow_run_state(run_id, Cancelling(message="test cancel"), force=True)
        # A generous bound: the 20-slide encode would run for minutes; how long ffmpeg took to
        # die is recorded, not asserted (1.4 s was measured on a loaded machine).
        wait_until(lambda: _dead(encoder), 60, "ffmpeg to die after the cancel", poll=0.02)
        record_property("cancel_to_ffmpeg_dead_s", round(time.monotonic() - requested, 3))
        state = wait_for_run(run_id, 60)
    assert state.name == "Cancelled", state

    # the hook runs right after the final state
    wait_until(lambda: ledger().get(job_id).status == "CANCELED", 20, "CANCELED in the ledger")
    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("CANCELED", "user_canceled")
    assert not (settings.work_dir_root / job_id).exists()
    assert open_store(settings).list_keys(f"jobs/{job_id}/") == []
    assert encoder_of(job_id) is None


def _dead(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
