"""Workers, work pools and flow runs as Prefect's API reports them, read at scrape time.

:func:`prefect_snapshot` reads Prefect 3.8.8's API with a sync client; :class:`PrefectCollector`
turns a snapshot into gauges, reading it within a deadline (``reelflow_prefect_up 0`` when the API
fails or is slow, and no other Prefect gauge, which would be stale).

A worker counts as online when Prefect says ONLINE *and* its last heartbeat is younger than three
of its heartbeat intervals (Prefect's own foreman rule, checked here too so a server whose foreman
service lags does not report dead workers alive). Old offline workers are left out after
``worker_horizon_s`` (worker names change at every restart; keeping them all would grow series
without bound), and at most ``max_workers_per_pool`` are reported per pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.metrics.deadline import BoundedCall

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = [
    "FLOW_RUN_STATES",
    "PrefectCollector",
    "PrefectSnapshot",
    "WorkerSeen",
    "prefect_reader",
    "prefect_snapshot",
]

log = logging.getLogger("reelflow.metrics")

FLOW_RUN_STATES: tuple[str, ...] = ("Scheduled", "Late", "Pending", "Running", "Crashed")
HEARTBEAT_MULTIPLE = 3  # Prefect's default foreman inactivity multiple
DEFAULT_HEARTBEAT_S = 30  # a worker's heartbeat interval when it reported none


@dataclass(frozen=True)
class WorkerSeen:
    pool: str
    name: str
    online: bool
    heartbeat_age_s: float | None  # None: the worker never sent one


@dataclass(frozen=True)
class PrefectSnapshot:
    """``pools`` maps every watched pool to whether it is paused (a drained pool)."""

    pools: Mapping[str, bool]
    workers: Sequence[WorkerSeen]
    flow_runs: Mapping[str, int]


def _flow_run_filters(now: datetime, crashed_within_s: float) -> dict[str, Any]:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterEndTime,
        FlowRunFilterState,
        FlowRunFilterStateName,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    def of_type(kind: StateType, **extra: Any) -> FlowRunFilter:
        return FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[kind]), **extra)
        )

    return {
        "Scheduled": of_type(StateType.SCHEDULED, name=FlowRunFilterStateName(not_any_=["Late"])),
        "Late": FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"]))),
        "Pending": of_type(StateType.PENDING),
        "Running": of_type(StateType.RUNNING),
        # Crashed is final: only the recent ones say something about now.
        "Crashed": FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CRASHED])),
            end_time=FlowRunFilterEndTime(after_=now - timedelta(seconds=crashed_within_s)),
        ),
    }


def prefect_snapshot(
    client: SyncPrefectClient,
    *,
    pools: Collection[str] | None = None,
    crashed_within_s: float = 3600.0,
    worker_horizon_s: float = 3600.0,
    max_workers_per_pool: int = 50,
    now: datetime | None = None,
) -> PrefectSnapshot:
    """Read pools, their workers and flow-run counts from Prefect's API.

    ``pools``: the pools to watch (all pools when None; a watched pool that does not exist is
    reported with no worker, so a missing pool alerts like an empty one). Raises whatever the
    client raises (the collector reports it as ``reelflow_prefect_up 0``).
    """
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterLastHeartbeatTime
    from prefect.client.schemas.objects import WorkerStatus

    now = now or datetime.now(UTC)
    found = {pool.name: pool for pool in client.read_work_pools()}
    names = sorted(found) if pools is None else sorted(pools)
    horizon = WorkerFilter(
        last_heartbeat_time=WorkerFilterLastHeartbeatTime(
            after_=now - timedelta(seconds=worker_horizon_s)
        )
    )
    workers: list[WorkerSeen] = []
    for name in names:
        if name not in found:
            continue
        for worker in client.read_workers_for_work_pool(
            name, worker_filter=horizon, limit=max_workers_per_pool
        ):
            beat = worker.last_heartbeat_time
            age = (now - beat).total_seconds() if beat is not None else None
            interval = worker.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_S
            online = (
                worker.status == WorkerStatus.ONLINE
                and age is not None
                and age <= HEARTBEAT_MULTIPLE * interval
            )
            workers.append(WorkerSeen(name, worker.name, online, age))
    flow_runs = {
        state: client.count_flow_runs(flow_run_filter=flow_filter)
        for state, flow_filter in _flow_run_filters(now, crashed_within_s).items()
    }
    return PrefectSnapshot(
        pools={name: bool(found[name].is_paused) if name in found else False for name in names},
        workers=workers,
        flow_runs=flow_runs,
    )


def prefect_reader(
    pools: Collection[str] | None = None, **options: Any
) -> Callable[[], PrefectSnapshot]:
    """A snapshot source for :class:`PrefectCollector`: a fresh sync client per read, talking to
    the configured ``PREFECT_API_URL``."""

    def read() -> PrefectSnapshot:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return prefect_snapshot(client, pools=pools, **options)

    return read


class PrefectCollector(Collector):
    """Gauges from ``read()`` at every scrape, within ``deadline_s``."""

    def __init__(self, read: Callable[[], PrefectSnapshot], deadline_s: float = 3.0) -> None:
        self._read = BoundedCall(read, deadline_s, "prefect-snapshot")
        self._was_up = True

    def describe(self) -> Iterator[Metric]:
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        snap: PrefectSnapshot | None = None
        try:
            snap = self._read()
        except Exception as exc:
            if self._was_up:
                log.warning("metrics: cannot read Prefect's API: %s", exc)
        else:
            if not self._was_up:
                log.info("metrics: Prefect's API answers again")
        self._was_up = snap is not None
        yield from self._families(snap)

    @staticmethod
    def _families(snap: PrefectSnapshot | None) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "reelflow_prefect_up", "1 when the last scrape could read Prefect's API."
        )
        online = GaugeMetricFamily(
            "reelflow_workers_online", "Workers online per work pool.", labels=["pool"]
        )
        paused = GaugeMetricFamily(
            "reelflow_work_pool_paused",
            "1 when the work pool is paused (drained).",
            labels=["pool"],
        )
        age = GaugeMetricFamily(
            "reelflow_worker_last_heartbeat_age_seconds",
            "Seconds since a worker's last heartbeat.",
            labels=["pool", "worker"],
        )
        runs = GaugeMetricFamily(
            "reelflow_flow_runs",
            "Flow runs by state (Crashed: ended within the last hour).",
            labels=["state"],
        )
        if snap is not None:
            up.add_metric([], 1)
            for pool, is_paused in snap.pools.items():
                online.add_metric([pool], sum(w.online for w in snap.workers if w.pool == pool))
                paused.add_metric([pool], int(is_paused))
            for worker in snap.workers:
                if worker.heartbeat_age_s is not None:
                    age.add_metric([worker.pool, worker.name], worker.heartbeat_age_s)
            for state in FLOW_RUN_STATES:
                runs.add_metric([state], snap.flow_runs.get(state, 0))
        else:
            up.add_metric([], 0)
        yield from (up, online, paused, age, runs)
