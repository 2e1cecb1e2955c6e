"""Job metrics read from the ledger, so they are right across many workers and hosts.

Job containers live seconds and are never scraped: a counter moved inside one is lost. The
numbers about jobs therefore come from the ledger, read by the long-lived process Prometheus
scrapes (the gateway):

- :class:`LedgerCollector` calls ``snapshot()`` at scrape time and exposes the state gauges
  (jobs per state, queue depth, the oldest running job, jobs past their limit, webhook outbox).
- :class:`JobEventFeed` calls ``read_changes(since)`` before each scrape and turns every job
  submitted, started or finished since the last read into counter and histogram observations
  (exactly once per process: a seen-set over a ``lag_s`` overlap absorbs late commits and clock
  skew between hosts). Counters start at zero when the process starts, like any counter.

Several gateway replicas each expose the same job series: aggregate them with
``max without (instance)``, never ``sum`` (rules.yml does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.metrics.deadline import BoundedCall
from infra.store.ledger import JobStatus

if TYPE_CHECKING:
    from infra.metrics.instruments import ReelflowMetrics

__all__ = [
    "JOB_STATES",
    "WEBHOOK_STATES",
    "JobEventFeed",
    "JobRecord",
    "LedgerCollector",
    "LedgerSnapshot",
]

log = logging.getLogger("reelflow.metrics")

JOB_STATES: tuple[str, ...] = tuple(s.value for s in JobStatus)
WEBHOOK_STATES: tuple[str, ...] = ("pending", "failed", "delivered")
_OUTCOME = {
    JobStatus.SUCCEEDED.value: "succeeded",
    JobStatus.FAILED.value: "failed",
    JobStatus.CANCELED.value: "canceled",
}


@dataclass(frozen=True)
class LedgerSnapshot:
    """What the ledger says now. Missing states count 0.

    ``queue_depth``: jobs admitted and not started (what the admission limit compares).
    ``running_over_limit``: RUNNING jobs whose run time is past their ``max_duration_s``.
    ``webhook_deliveries``: outbox rows by state (pending, failed, delivered).
    """

    jobs_by_state: Mapping[str, int]
    queue_depth: int
    oldest_running_age_s: float = 0.0
    running_over_limit: int = 0
    webhook_deliveries: Mapping[str, int] = field(default_factory=dict)


class LedgerCollector(Collector):
    """State gauges from ``snapshot()``, read at every scrape within ``deadline_s``.

    A failed or slow read exposes ``reelflow_ledger_up 0`` (and no state gauges, which would be
    stale) and counts as a ledger error of op ``snapshot``.
    """

    def __init__(
        self,
        metrics: ReelflowMetrics,
        snapshot: Callable[[], LedgerSnapshot],
        deadline_s: float = 2.0,
    ) -> None:
        self._metrics = metrics
        self._read = BoundedCall(snapshot, deadline_s, "ledger-snapshot")
        self._lock = threading.Lock()
        self._snap: LedgerSnapshot | None = None
        self._fresh = False
        self._was_up = True

    def refresh(self) -> None:
        """Read the snapshot now (``watch_ledger`` runs this before each scrape, so the read's
        own timing and errors are in the same scrape)."""
        snap: LedgerSnapshot | None = None
        try:
            with self._metrics.ledger_op("snapshot"):
                snap = self._read()
        except Exception as exc:
            if self._was_up:
                log.warning("metrics: cannot read the ledger snapshot: %s", exc)
        else:
            if not self._was_up:
                log.info("metrics: ledger snapshot readable again")
        with self._lock:
            self._was_up = snap is not None
            self._snap, self._fresh = snap, True

    def describe(self) -> Iterator[Metric]:
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        if not self._fresh:  # collected without a refresh hook: read now
            self.refresh()
        with self._lock:
            snap, self._fresh = self._snap, False
        yield from self._families(snap)

    @staticmethod
    def _families(snap: LedgerSnapshot | None) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "reelflow_ledger_up", "1 when the last scrape could read the ledger snapshot."
        )
        jobs = GaugeMetricFamily("reelflow_jobs", "Jobs in the ledger by state.", labels=["state"])
        depth = GaugeMetricFamily("reelflow_queue_depth", "Jobs admitted and not yet started.")
        oldest = GaugeMetricFamily(
            "reelflow_oldest_running_job_age_seconds",
            "Run time of the longest-running RUNNING job (0 when none runs).",
        )
        over = GaugeMetricFamily(
            "reelflow_running_job_over_limit",
            "RUNNING jobs whose run time is past their duration limit.",
        )
        hooks = GaugeMetricFamily(
            "reelflow_webhook_deliveries", "Webhook outbox rows by state.", labels=["state"]
        )
        if snap is not None:
            up.add_metric([], 1)
            for state in JOB_STATES:
                jobs.add_metric([state], snap.jobs_by_state.get(state, 0))
            depth.add_metric([], snap.queue_depth)
            oldest.add_metric([], snap.oldest_running_age_s)
            over.add_metric([], snap.running_over_limit)
            for state in WEBHOOK_STATES:
                hooks.add_metric([state], snap.webhook_deliveries.get(state, 0))
        else:
            up.add_metric([], 0)
        yield from (up, jobs, depth, oldest, over, hooks)


@dataclass(frozen=True)
class JobRecord:
    """One ledger row as the feed needs it. Timestamps are UTC (naive ones are taken as UTC).

    ``status`` is the ledger's (QUEUED ... CANCELED); ``output_s`` the length of the video a
    success produced; ``stage_seconds`` the wall time of each stage that ran; ``encode_speed``
    seconds of media encoded per second of encoding; ``stored_bytes`` the committed outputs.
    """

    job_id: str
    kind: str | None
    preset: str | None
    client: str | None
    status: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    output_s: float | None = None
    stored_bytes: int = 0
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    encode_speed: float | None = None


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class JobEventFeed:
    """Observes each job's submission, start and end once, from ``read_changes(since)``.

    ``read_changes(since)`` returns the rows whose ``created_at``, ``started_at`` or
    ``finished_at`` is at or after ``since`` (one indexed query). Events older than the feed's
    own start are never counted. A read that fails or passes ``deadline_s`` counts as a ledger
    error of op ``feed`` and is retried from the same point at the next scrape.
    """

    def __init__(
        self,
        metrics: ReelflowMetrics,
        read_changes: Callable[[datetime], Iterable[JobRecord]],
        *,
        lag_s: float = 120.0,
        deadline_s: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._metrics = metrics
        self._lag = timedelta(seconds=lag_s)
        self._clock = clock
        self._start = clock()
        self._watermark = self._start
        self._since = self._start
        self._seen: dict[tuple[str, str], datetime] = {}
        self._read = BoundedCall(lambda: list(read_changes(self._since)), deadline_s, "job-feed")
        self._lock = threading.Lock()
        self._was_up = True

    def poll(self) -> int:
        """Observe what changed since the last poll; returns the number of events observed."""
        if not self._lock.acquire(blocking=False):
            return 0  # another scrape is polling right now
        try:
            now = self._clock()
            self._since = self._watermark - self._lag
            try:
                with self._metrics.ledger_op("feed"):
                    records = self._read()
            except Exception as exc:  # counted as a ledger error; read again next scrape
                if self._was_up:
                    log.warning("metrics: cannot read job changes from the ledger: %s", exc)
                self._was_up = False
                return 0
            self._was_up = True
            observed = sum(self._observe(record) for record in records)
            self._watermark = now
            horizon = now - self._lag
            self._seen = {key: at for key, at in self._seen.items() if at >= horizon}
            return observed
        finally:
            self._lock.release()

    def _first_time(self, job_id: str, event: str, at: datetime | None) -> bool:
        # An event older than this read's window was observed (or given up on, past the lag)
        # by an earlier read, and its key may have been pruned: a row comes back whenever any of
        # its other events is new, and must not count this one again.
        if at is None or at < self._start or at < self._since or (job_id, event) in self._seen:
            return False
        self._seen[(job_id, event)] = at
        return True

    def _observe(self, job: JobRecord) -> int:
        m = self._metrics
        created, started, finished = (
            _utc(job.created_at),
            _utc(job.started_at),
            _utc(job.finished_at),
        )
        count = 0
        if self._first_time(job.job_id, "submitted", created):
            m.job_submitted(job.kind, job.preset, job.client)
            count += 1
        if self._first_time(job.job_id, "started", started):
            wait = (started - created).total_seconds() if started and created else None
            m.job_started(job.kind, wait)
            count += 1
        outcome = _OUTCOME.get(job.status)
        if outcome is not None and self._first_time(job.job_id, "finished", finished):
            m.job_finished(
                job.kind,
                job.preset,
                job.client,
                outcome,
                job.error_code,
                duration_s=(finished - created).total_seconds() if finished and created else None,
                output_s=job.output_s,
                stored_bytes=job.stored_bytes,
                stage_seconds=job.stage_seconds,
                encode_speed=job.encode_speed,
            )
            count += 1
        return count
