"""SIGKILL mid-encode: no orphan, the run ends Crashed, the ledger FAILED ``worker_timeout``, and
the sweeper removes what the dead job left.

Two cases: the job process alone dies (its worker reports Crashed), and the whole host dies (the
worker with it: nobody reports, and the heartbeat automation from ``reelflow bootstrap`` crashes
the run once three 30 s heartbeats are missing, Prefect's floor being 30 s).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from infra.prefect.bootstrap import bootstrap
from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from tasks.maintenance import reap_jobs, sweep
from tests.support.ledgers import ledger
from tests.support.tools import encoder_of, process_worker, start_long_job, wait_for_run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.prefect, pytest.mark.media]


def test_killed_job_process_is_reaped_and_swept(
    process_pool: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property,
):

    monkeypatch.setenv("REELFLOW_MAINTENANCE__REAPER_STALE_S", "3")
    monkeypatch.setenv("REELFLOW_MAINTENANCE__SWEEP_GRACE_S", "0")
    get_settings.cache_clear()

    with process_worker(process_pool, settings.home):
        run_id, encoder = start_long_job(tmp_path / "long.md")
        job_id = str(run_id)
        job_process = encoder.parent()
        assert job_process is not None and "python" in job_process.name()

        killed = time.monotonic()
        os.kill(job_process.pid, signal.SIGKILL)  # no finally, no hook runs in the job
        # The kernel kills the encoder with its parent (PDEATHSIG); without it ffmpeg would run
        # on for the rest of its encode (well past this wait).
        encoder.wait(timeout=5)
        assert encoder_of(job_id) is None

        state = wait_for_run(run_id, 60, poll_s=0.5)
        assert state.name == "Crashed", state

    # The scheduled reaper, run here: the ledger becomes right within seconds.
    def reaped() -> bool:
        reap_jobs(ledger(), get_settings())
        return ledger().get(job_id).status != "RUNNING"

    wait_until(reaped, 120, "the reaper to end the job", poll=1)
    record_property("kill_to_failed_s", round(time.monotonic() - killed, 1))
    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("FAILED", "worker_timeout")

    # The job process died without its finally; Prefect's runner in the worker may have run the
    # crash hook (a fresh process) meanwhile. Either way the sweeper leaves nothing behind.
    work = get_settings().work_dir_root / job_id
    left = work.exists()
    report = sweep(ledger(), open_store(get_settings()), get_settings(), execute=True)
    assert (job_id in report.get("work_dirs", [])) == left
    assert not work.exists()
    assert open_store(get_settings()).list_keys(f"jobs/{job_id}/") == []
    assert not [
        p
        for p in psutil.process_iter(["name"])
        if p.info["name"] == "ffmpeg" and any(job_id in a for a in (p.cmdline() or []))
    ]


def _descendants(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


@pytest.mark.slow  # about 100 s by design: three missed 30 s heartbeats, then the automation
@pytest.mark.timeout(400)
def test_host_loss_is_detected_by_the_heartbeat_automation(
    clean_automations: None,
    process_pool: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property,
):
    """Worker and job SIGKILLed together: Crashed by the automation and FAILED in the ledger,
    then swept. How long that took is recorded (about 100 s by design), not asserted."""
    from prefect.client.orchestration import get_client

    bootstrap(settings, heartbeat_s=30)  # the production automations, 30 s heartbeats
    monkeypatch.setenv("REELFLOW_MAINTENANCE__REAPER_STALE_S", "5")
    monkeypatch.setenv("REELFLOW_MAINTENANCE__SWEEP_GRACE_S", "0")
    get_settings.cache_clear()

    with process_worker(process_pool, settings.home, REELFLOW_LEDGER__HEARTBEAT_S="1") as worker:
        run_id, encoder = start_long_job(tmp_path / "long.md")
        job_id = str(run_id)
        doomed = _descendants(worker.pid)
        killed = time.monotonic()
        for proc in doomed:  # the host is gone: nothing of it runs a finally or reports
            proc.kill()
        psutil.wait_procs(doomed, timeout=5)
        encoder.wait(timeout=5)

    with get_client(sync_client=True) as client:

        def settled() -> Any:
            state = client.read_flow_run(run_id).state
            reap_jobs(ledger(), get_settings())  # the scheduled reaper, run here
            final = state is not None and state.is_final()
            return state if final and ledger().get(job_id).status != "RUNNING" else None

        # A generous bound over the ~100 s design; the time taken is the property below.
        state = wait_until(settled, 300, "Crashed in Prefect and FAILED in the ledger", poll=1)
    record_property("kill_to_crashed_and_failed_s", round(time.monotonic() - killed, 1))
    assert state.name == "Crashed", state
    assert "[worker_timeout] flow run heartbeats stopped" in (state.message or "")
    job = ledger().get(job_id)
    assert (job.status, job.error_code) == ("FAILED", "worker_timeout")

    report = sweep(ledger(), open_store(get_settings()), get_settings(), execute=True)
    assert job_id in report["work_dirs"]
    assert not (get_settings().work_dir_root / job_id).exists()
    assert open_store(get_settings()).list_keys(f"jobs/{job_id}/") == []
