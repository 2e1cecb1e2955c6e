"""bootstrap() against a real Prefect server (test harness) and moto's S3 server.

The automations are deleted after each test: with a tiny heartbeat window they would crash the
flow runs of the tests that share the session's server.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from infra.prefect.bootstrap import (
    HEARTBEAT_AUTOMATION,
    JOB_CONCURRENCY_LIMIT,
    JOB_POOLS,
    PENDING_AUTOMATION,
    WORK_POOLS,
    bootstrap,
    crash_window,
)
from infra.prefect.client import PRIORITY_QUEUES
from infra.prefect.docker_template import docker_base_job_template
from infra.settings import Settings
from infra.store.artifacts import S3Store, open_store

pytestmark = pytest.mark.prefect

AUTOMATIONS = (HEARTBEAT_AUTOMATION, PENDING_AUTOMATION)


@pytest.mark.s3
def test_bootstrap_creates_everything_once(clean_automations: None, s3_settings: Settings):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    first = bootstrap(s3_settings, heartbeat_s=30, pending_timeout_s=900)
    second = bootstrap(s3_settings, heartbeat_s=30, pending_timeout_s=900)
    # Other parameters do not touch what exists: the windows below are still those of run one.
    third = bootstrap(s3_settings, heartbeat_s=180, pending_timeout_s=60)

    bucket = f"bucket:{s3_settings.storage.bucket}"
    queues = {f"{pool}/{queue}" for pool in JOB_POOLS for queue, _ in PRIORITY_QUEUES.values()}
    everything = {*WORK_POOLS, *queues, JOB_CONCURRENCY_LIMIT, *AUTOMATIONS, bucket}
    # Pools may already exist: other tests on this server create them with the CLI.
    assert {*AUTOMATIONS, bucket} <= set(first["created"])
    assert set(first["created"]) | set(first["existing"]) | set(first["updated"]) == everything
    assert second == {"created": [], "existing": second["existing"], "updated": []}
    assert set(second["existing"]) == everything
    assert third["created"] == [] and third["updated"] == []

    with get_client(sync_client=True) as client:
        for name, kind in WORK_POOLS.items():
            pool = client.read_work_pool(name)
            assert pool.type == kind
        docker = client.read_work_pool("reelflow-docker").base_job_template
        assert docker == docker_base_job_template(s3_settings)  # the locked template
        assert docker["job_configuration"]["privileged"] is False
        limit = client.read_global_concurrency_limit_by_name(JOB_CONCURRENCY_LIMIT)
        assert limit.limit == s3_settings.prefect.job_concurrency
        found = {name: client.read_automations_by_name(name) for name in AUTOMATIONS}

    assert {name: len(automations) for name, automations in found.items()} == {
        HEARTBEAT_AUTOMATION: 1,
        PENDING_AUTOMATION: 1,
    }
    heartbeat = found[HEARTBEAT_AUTOMATION][0]
    trigger: Any = heartbeat.trigger
    assert trigger.posture == "Proactive"
    assert trigger.for_each == {"prefect.resource.id"}
    assert trigger.after == {
        "prefect.flow-run.heartbeat",
        "prefect.flow-run.Running",
        "prefect.flow-run.Retrying",
    }
    assert trigger.expect == {"prefect.flow-run.*"}  # a heartbeat, or any state change
    assert trigger.within == crash_window(30) >= timedelta(seconds=3 * 30)
    (action,) = heartbeat.actions
    assert action.type == "change-flow-run-state"
    assert action.state == StateType.CRASHED and not action.force
    assert action.message and "heartbeats stopped" in action.message

    pending = found[PENDING_AUTOMATION][0]
    trigger = pending.trigger
    assert trigger.posture == "Proactive"
    assert "prefect.flow-run.Pending" in trigger.after
    assert trigger.expect == {"prefect.flow-run.*"}  # Running or any later state
    assert trigger.within == timedelta(seconds=900)
    (action,) = pending.actions
    assert action.state == StateType.CRASHED and "Pending" in (action.message or "")

    store = open_store(s3_settings)
    assert isinstance(store, S3Store)
    assert store.client.bucket_exists(s3_settings.storage.bucket)


def _new_run(client: Any, state: Any) -> UUID:
    """A flow run that starts in ``state`` and that no process runs: only the test acts on it."""
    from prefect import flow

    @flow(name="bootstrap-probe")
    def probe() -> None:  # never called
        return None

    return UUID(str(client.create_flow_run(probe, state=state).id))


def _heartbeat(flow_run_id: UUID) -> None:
    from prefect.events import emit_event

    emit_event(
        event="prefect.flow-run.heartbeat",
        resource={"prefect.resource.id": f"prefect.flow-run.{flow_run_id}"},
    )


def test_automations_crash_silent_and_stuck_runs_only(clean_automations: None, settings: Settings):
    """Heartbeat every 1 s: window 13 s; Pending for 10 s (Prefect's proactive minimum)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Pending, Running

    bootstrap(settings, heartbeat_s=1, pending_timeout_s=10)
    with get_client(sync_client=True) as client:
        zombie = _new_run(client, Running())
        _heartbeat(zombie)  # it heartbeat once, then its worker died
        healthy = _new_run(client, Running())
        finished = _new_run(client, Running())
        client.set_flow_run_state(finished, Completed())
        stuck = _new_run(client, Pending())

        # A proactive trigger is evaluated at most once per window: it fires between one and two
        # windows after the last event, plus the server's 5 s evaluation granularity.
        started = time.monotonic()
        deadline = started + 2 * 13 + 20
        while time.monotonic() < deadline:
            _heartbeat(healthy)
            states = {run: client.read_flow_run(run).state for run in (zombie, stuck)}
            if all(s is not None and s.is_crashed() for s in states.values()):
                if time.monotonic() - started > 2 * 13 + 5:  # the healthy run had its chance
                    break
            time.sleep(1)
        final = {
            name: client.read_flow_run(run).state
            for name, run in (
                ("zombie", zombie),
                ("healthy", healthy),
                ("finished", finished),
                ("stuck", stuck),
            )
        }

    summary = {name: (s.type.value, s.message) if s else None for name, s in final.items()}
    assert summary["zombie"] == (
        "CRASHED",
        "[worker_timeout] flow run heartbeats stopped: none for 13s (expected every 1s)",
    ), summary
    assert summary["stuck"] == (
        "CRASHED",
        "[worker_timeout] flow run stuck in Pending for 10s: its infrastructure never started",
    ), summary
    assert summary["healthy"] is not None and summary["healthy"][0] == "RUNNING", summary
    assert summary["finished"] is not None and summary["finished"][0] == "COMPLETED", summary


def test_bootstrap_locks_a_docker_pool_made_with_the_default_template(settings: Settings):
    """A pool created by hand (`prefect work-pool create --type docker`) gets the locked template,
    and a changed job limit is applied: both are security and capacity controls."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate
    from prefect_docker.worker import DockerWorker

    with get_client(sync_client=True) as client:
        bootstrap(settings)
        client.update_work_pool(
            "reelflow-docker",
            WorkPoolUpdate(base_job_template=DockerWorker.get_default_base_job_template()),
        )
    settings.prefect.job_concurrency = 3
    report = bootstrap(settings)
    assert set(report["updated"]) == {"reelflow-docker", JOB_CONCURRENCY_LIMIT}
    with get_client(sync_client=True) as client:
        locked = client.read_work_pool("reelflow-docker").base_job_template
        assert locked == docker_base_job_template(settings)
        assert client.read_global_concurrency_limit_by_name(JOB_CONCURRENCY_LIMIT).limit == 3
