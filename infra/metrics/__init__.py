"""reelflow's Prometheus metrics: definitions, recording calls and the ``/metrics`` body.

Contracts
- Every metric lives on the registry of one :class:`ReelflowMetrics` (``METRICS`` for the
  process), never on prometheus-client's global registry. Names: ``reelflow_`` prefix, ``_total``
  counters, ``_seconds`` / ``_bytes`` units. The list is :data:`METRIC_NAMES`; rules.yml, the
  Grafana dashboard and docs/RUNBOOKS.md only use names from it (a test checks).
- Labels are bounded (:mod:`infra.metrics.labels`): route *templates*, never raw paths; client
  names up to 100, then ``other``; error codes from ``infra.errors.ERROR_CODES``.
- Recording never raises and never blocks on a dependency. Data sources read at scrape time
  (ledger, Prefect API) are callables run under a deadline (:mod:`infra.metrics.deadline`).

Where the calls go (the gateway is the process Prometheus scrapes)
- gateway middleware: ``observe_request(route_template, method, status, seconds)``; refusals
  (429/401/413/422 SSRF/503 backpressure): ``refused(error_code)``.
- gateway start-up: ``watch_ledger(snapshot)``, ``follow_jobs(read_changes)``,
  ``watch_prefect(prefect_reader(pools))``, ``watch_work_root(path)``.
- ledger and store wrappers: ``with ledger_op("create_job"): ...``, ``with store_op("put"): ...``.
- ``GET /metrics``: ``body, content_type = render_latest()``.

Pitfall: job containers live seconds and are never scraped, so job counters and durations are
*not* moved inside flows or tasks: :class:`JobEventFeed` derives them from the ledger in the
scraped process. ``job_submitted`` / ``job_finished`` are what the feed calls; call them directly
only from a long-lived process that is scraped and is the only one to see those jobs.
Several gateway replicas expose identical job series: aggregate with ``max without (instance)``.
One registry lives in one process: run each gateway replica as a single uvicorn process (scale
with replicas, each its own scrape target), never ``--workers N`` behind one port, or every scrape
reads another process's counters. A scrape waits at most ~7 s for its sources (ledger snapshot
2 s, job feed 2 s, Prefect 3 s), under prometheus.yml's 10 s scrape timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from infra.metrics.deadline import BoundedCall, SourceTimeout
from infra.metrics.instruments import (
    SLO_MIN_OUTPUT_MINUTES,
    SLO_TARGET_S_PER_OUTPUT_MINUTE,
    ReelflowMetrics,
)
from infra.metrics.ledger import (
    JOB_STATES,
    WEBHOOK_STATES,
    JobEventFeed,
    JobRecord,
    LedgerCollector,
    LedgerSnapshot,
)
from infra.metrics.prefect import (
    FLOW_RUN_STATES,
    PrefectCollector,
    PrefectSnapshot,
    WorkerSeen,
    prefect_reader,
    prefect_snapshot,
)

__all__ = [
    "FLOW_RUN_STATES",
    "JOB_STATES",
    "METRICS",
    "METRIC_NAMES",
    "SLO_MIN_OUTPUT_MINUTES",
    "SLO_TARGET_S_PER_OUTPUT_MINUTE",
    "WEBHOOK_STATES",
    "BoundedCall",
    "JobEventFeed",
    "JobRecord",
    "LedgerCollector",
    "LedgerSnapshot",
    "PrefectCollector",
    "PrefectSnapshot",
    "ReelflowMetrics",
    "SourceTimeout",
    "WorkerSeen",
    "follow_jobs",
    "job_finished",
    "job_started",
    "job_submitted",
    "ledger_op",
    "observe_request",
    "prefect_reader",
    "prefect_snapshot",
    "refused",
    "render_latest",
    "store_op",
    "watch_ledger",
    "watch_prefect",
    "watch_work_root",
]

# Every metric family reelflow exposes (counters without their ``_total``, as Prometheus'
# metadata names them; series of a histogram add _bucket, _sum and _count).
METRIC_NAMES: frozenset[str] = frozenset(
    {
        "reelflow_http_requests",
        "reelflow_http_request_duration_seconds",
        "reelflow_http_refused",
        "reelflow_jobs_submitted",
        "reelflow_jobs_finished",
        "reelflow_stage_duration_seconds",
        "reelflow_job_duration_seconds",
        "reelflow_job_queue_wait_seconds",
        "reelflow_job_seconds_per_output_minute",
        "reelflow_encode_speed_ratio",
        "reelflow_stored_bytes",
        "reelflow_ledger_operation_seconds",
        "reelflow_ledger_errors",
        "reelflow_store_operation_seconds",
        "reelflow_store_errors",
        "reelflow_work_root_free_bytes",
        "reelflow_build_info",
        # LedgerCollector
        "reelflow_ledger_up",
        "reelflow_jobs",
        "reelflow_queue_depth",
        "reelflow_oldest_running_job_age_seconds",
        "reelflow_running_job_over_limit",
        "reelflow_webhook_deliveries",
        # PrefectCollector
        "reelflow_prefect_up",
        "reelflow_workers_online",
        "reelflow_work_pool_paused",
        "reelflow_worker_last_heartbeat_age_seconds",
        "reelflow_flow_runs",
    }
)

METRICS = ReelflowMetrics()
"""The process's metrics. Pass it down where you can; the functions below record on it."""

observe_request = METRICS.observe_request
refused = METRICS.refused
job_submitted = METRICS.job_submitted
job_started = METRICS.job_started
job_finished = METRICS.job_finished
ledger_op = METRICS.ledger_op
store_op = METRICS.store_op
watch_work_root = METRICS.watch_work_root


def render_latest() -> tuple[bytes, str]:
    """``(body, content_type)`` of ``METRICS`` for ``GET /metrics``."""
    return METRICS.render()


def watch_ledger(
    snapshot: Callable[[], LedgerSnapshot],
    *,
    deadline_s: float = 2.0,
    metrics: ReelflowMetrics = METRICS,
) -> LedgerCollector:
    """Expose the ledger's state gauges, read by ``snapshot()`` at every scrape."""
    collector = LedgerCollector(metrics, snapshot, deadline_s)
    metrics.before_scrape(collector.refresh)
    metrics.registry.register(collector)
    return collector


def follow_jobs(
    read_changes: Callable[[datetime], Iterable[JobRecord]],
    *,
    lag_s: float = 120.0,
    deadline_s: float = 2.0,
    metrics: ReelflowMetrics = METRICS,
) -> JobEventFeed:
    """Count jobs submitted, started and finished, from the ledger, before every scrape."""
    feed = JobEventFeed(metrics, read_changes, lag_s=lag_s, deadline_s=deadline_s)
    metrics.before_scrape(feed.poll)
    return feed


def watch_prefect(
    read: Callable[[], PrefectSnapshot] | None = None,
    *,
    pools: Collection[str] | None = None,
    deadline_s: float = 3.0,
    metrics: ReelflowMetrics = METRICS,
) -> PrefectCollector:
    """Expose workers, pools and flow runs read from Prefect at every scrape (by default with
    :func:`prefect_reader` over ``pools``)."""
    collector = PrefectCollector(read or prefect_reader(pools), deadline_s)
    metrics.registry.register(collector)
    return collector
