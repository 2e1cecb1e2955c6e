"""Workers, pools and flow runs from Prefect's API: the reader's filters, the collector's series,
and one read against a real Prefect server (the test harness)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.client.schemas.objects import StateType, Worker, WorkerStatus

from infra.metrics import (
    FLOW_RUN_STATES,
    PrefectSnapshot,
    ReelflowMetrics,
    WorkerSeen,
    prefect_snapshot,
    watch_prefect,
)
from tests.infra.metrics.scrape import scrape, value

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture()
def metrics() -> ReelflowMetrics:
    return ReelflowMetrics()


def test_collector_renders_a_snapshot(metrics: ReelflowMetrics):
    snap = PrefectSnapshot(
        pools={"reelflow-docker": False, "reelflow-process": True},
        workers=[
            WorkerSeen("reelflow-docker", "docker-a", True, 4.5),
            WorkerSeen("reelflow-docker", "docker-b", False, 400.0),
            WorkerSeen("reelflow-docker", "docker-c", False, None),
        ],
        flow_runs={"Late": 2, "Running": 3, "Crashed": 1},
    )
    watch_prefect(lambda: snap, metrics=metrics)
    series = scrape(metrics)
    assert value(series, "reelflow_prefect_up") == 1
    assert value(series, "reelflow_workers_online", pool="reelflow-docker") == 1
    assert value(series, "reelflow_workers_online", pool="reelflow-process") == 0
    assert value(series, "reelflow_work_pool_paused", pool="reelflow-process") == 1
    assert value(series, "reelflow_work_pool_paused", pool="reelflow-docker") == 0
    age = "reelflow_worker_last_heartbeat_age_seconds"
    assert value(series, age, pool="reelflow-docker", worker="docker-a") == 4.5
    assert value(series, age, pool="reelflow-docker", worker="docker-b") == 400.0
    assert value(series, age, pool="reelflow-docker", worker="docker-c") is None
    assert value(series, "reelflow_flow_runs", state="Late") == 2
    assert value(series, "reelflow_flow_runs", state="Pending") == 0
    states = {dict(k[1])["state"] for k in series if k[0] == "reelflow_flow_runs"}
    assert states == set(FLOW_RUN_STATES)


def test_collector_reports_prefect_down_without_stale_series(metrics: ReelflowMetrics):
    def refused() -> PrefectSnapshot:
        raise ConnectionRefusedError("no Prefect")

    watch_prefect(refused, metrics=metrics)
    series = scrape(metrics)
    assert value(series, "reelflow_prefect_up") == 0
    assert not [k for k in series if k[0] == "reelflow_workers_online"]


def test_collector_does_not_wait_for_a_hung_prefect(metrics: ReelflowMetrics):
    release = threading.Event()

    def hung() -> PrefectSnapshot:
        release.wait(30)
        return PrefectSnapshot({}, [], {})

    watch_prefect(hung, deadline_s=0.05, metrics=metrics)
    try:
        assert value(scrape(metrics), "reelflow_prefect_up") == 0
    finally:
        release.set()


class FakeClient:
    """The three calls prefect_snapshot makes, answering from fixed data."""

    def __init__(self, pools: dict[str, bool], workers: dict[str, list[Worker]]) -> None:
        self.pools = pools
        self.workers = workers
        self.worker_calls: list[tuple[str, Any, Any]] = []
        self.run_filters: dict[str, Any] = {}

    def read_work_pools(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=n, is_paused=p) for n, p in self.pools.items()]

    def read_workers_for_work_pool(self, name: str, worker_filter=None, limit=None):
        self.worker_calls.append((name, worker_filter, limit))
        return self.workers.get(name, [])

    def count_flow_runs(self, *, flow_run_filter) -> int:
        state = flow_run_filter.state
        if state.type is None:
            key = "Late" if state.name.any_ == ["Late"] else "?"
        else:
            key = {
                StateType.SCHEDULED: "Scheduled",
                StateType.PENDING: "Pending",
                StateType.RUNNING: "Running",
                StateType.CRASHED: "Crashed",
            }[state.type.any_[0]]
        self.run_filters[key] = flow_run_filter
        return {"Scheduled": 5, "Late": 1, "Pending": 2, "Running": 3, "Crashed": 4}[key]


def worker(name: str, age_s: float | None, status=WorkerStatus.ONLINE, interval=30) -> Worker:
    return Worker(
        name=name,
        work_pool_id=uuid.uuid4(),
        last_heartbeat_time=None if age_s is None else NOW - timedelta(seconds=age_s),
        heartbeat_interval_seconds=interval,
        status=status,
    )


def test_snapshot_counts_online_workers_by_status_and_heartbeat_age():
    client = FakeClient(
        {"reelflow-docker": False, "reelflow-process": True, "default": False},
        {
            "reelflow-docker": [
                worker("fresh", 10),
                worker("stale-but-online", 91),  # 3 x 30 s missed: offline for us
                worker("offline", 5, status=WorkerStatus.OFFLINE),
                worker("never", None),
            ],
            "reelflow-process": [worker("p", 2, interval=1)],
        },
    )
    snap = prefect_snapshot(
        client,  # type: ignore[arg-type]
        pools=["reelflow-docker", "reelflow-process", "not-created-yet"],
        now=NOW,
    )
    assert snap.pools == {
        "reelflow-docker": False,
        "reelflow-process": True,
        "not-created-yet": False,
    }
    online = {w.name: w.online for w in snap.workers}
    assert online == {
        "fresh": True,
        "stale-but-online": False,
        "offline": False,
        "never": False,
        "p": True,
    }
    assert {w.name: w.heartbeat_age_s for w in snap.workers}["fresh"] == 10
    # Only watched pools that exist are read, for workers seen within the horizon, capped.
    assert [c[0] for c in client.worker_calls] == ["reelflow-docker", "reelflow-process"]
    name, flt, limit = client.worker_calls[0]
    assert flt.last_heartbeat_time.after_ == NOW - timedelta(hours=1)
    assert limit == 50
    assert snap.flow_runs == {"Scheduled": 5, "Late": 1, "Pending": 2, "Running": 3, "Crashed": 4}
    # Scheduled leaves Late out; Crashed counts only runs that ended within the last hour.
    assert client.run_filters["Scheduled"].state.name.not_any_ == ["Late"]
    assert client.run_filters["Crashed"].end_time.after_ == NOW - timedelta(hours=1)


def test_snapshot_of_all_pools_when_none_named():
    client = FakeClient({"b": False, "a": False}, {})
    snap = prefect_snapshot(client, now=NOW)  # type: ignore[arg-type]
    assert list(snap.pools) == ["a", "b"]


@pytest.mark.prefect
def test_snapshot_from_a_real_prefect_server(prefect_server: str):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.states import Crashed, State

    @flow(name="metrics-snapshot-probe")
    def probe() -> None:
        pass

    pool = f"metrics-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        try:
            before = prefect_snapshot(client, pools=[pool])
            assert before.pools == {pool: False}
            assert before.workers == []
            client.send_worker_heartbeat(pool, "worker-1", heartbeat_interval_seconds=30)
            client.create_flow_run(probe, state=State(type=StateType.SCHEDULED, name="Late"))
            client.create_flow_run(probe, state=Crashed(message="test"))
            client.update_work_pool(pool, WorkPoolUpdate(is_paused=True))
            after = prefect_snapshot(client, pools=[pool])
        finally:
            client.delete_work_pool(pool)
    assert after.pools == {pool: True}
    assert [(w.pool, w.name, w.online) for w in after.workers] == [(pool, "worker-1", True)]
    assert after.workers[0].heartbeat_age_s is not None
    assert after.flow_runs["Late"] == before.flow_runs["Late"] + 1
    assert after.flow_runs["Crashed"] == before.flow_runs["Crashed"] + 1
    assert after.flow_runs["Scheduled"] == before.flow_runs["Scheduled"]
