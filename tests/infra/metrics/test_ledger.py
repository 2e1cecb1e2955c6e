"""Ledger-derived metrics: state gauges at scrape time, and job events counted exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from infra.metrics import (
    JOB_STATES,
    JobEventFeed,
    JobRecord,
    LedgerSnapshot,
    ReelflowMetrics,
    follow_jobs,
    watch_ledger,
)
from tests.infra.metrics.scrape import scrape, value

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
JOBS = "reelflow_jobs_finished_total"


@pytest.fixture()
def metrics() -> ReelflowMetrics:
    return ReelflowMetrics()


def test_snapshot_becomes_gauges(metrics: ReelflowMetrics):
    snap = LedgerSnapshot(
        jobs_by_state={"QUEUED": 7, "RUNNING": 2, "FAILED": 1},
        queue_depth=7,
        oldest_running_age_s=310.5,
        running_over_limit=1,
        webhook_deliveries={"pending": 4, "failed": 2},
    )
    watch_ledger(lambda: snap, metrics=metrics)
    series = scrape(metrics)
    assert value(series, "reelflow_ledger_up") == 1
    assert value(series, "reelflow_jobs", state="QUEUED") == 7
    assert value(series, "reelflow_jobs", state="RUNNING") == 2
    assert value(series, "reelflow_jobs", state="SUCCEEDED") == 0  # every state, even at 0
    assert {dict(k[1])["state"] for k in series if k[0] == "reelflow_jobs"} == set(JOB_STATES)
    assert value(series, "reelflow_queue_depth") == 7
    assert value(series, "reelflow_oldest_running_job_age_seconds") == 310.5
    assert value(series, "reelflow_running_job_over_limit") == 1
    assert value(series, "reelflow_webhook_deliveries", state="pending") == 4
    assert value(series, "reelflow_webhook_deliveries", state="failed") == 2
    assert value(series, "reelflow_webhook_deliveries", state="delivered") == 0
    assert value(series, "reelflow_ledger_operation_seconds_count", op="snapshot") == 1


def test_snapshot_is_read_at_each_scrape(metrics: ReelflowMetrics):
    depth = iter([1, 5])
    watch_ledger(lambda: LedgerSnapshot({}, next(depth)), metrics=metrics)
    assert value(scrape(metrics), "reelflow_queue_depth") == 1
    assert value(scrape(metrics), "reelflow_queue_depth") == 5


def test_failing_snapshot_reports_down_and_counts_an_error(metrics: ReelflowMetrics):
    def broken() -> LedgerSnapshot:
        raise ConnectionError("database is gone")

    watch_ledger(broken, metrics=metrics)
    series = scrape(metrics)
    assert value(series, "reelflow_ledger_up") == 0
    assert value(series, "reelflow_queue_depth") is None  # no stale numbers
    assert value(series, "reelflow_ledger_errors_total", op="snapshot") == 1


def test_slow_snapshot_does_not_hold_the_scrape(metrics: ReelflowMetrics):
    release = threading.Event()

    def hung() -> LedgerSnapshot:
        release.wait(30)
        return LedgerSnapshot({}, 3)

    watch_ledger(hung, deadline_s=0.05, metrics=metrics)
    try:
        series = scrape(metrics)
        assert value(series, "reelflow_ledger_up") == 0
        assert value(series, "reelflow_ledger_errors_total", op="snapshot") == 1
        assert value(series, "reelflow_http_refused_total", reason="overloaded") == 0
    finally:
        release.set()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Ledger:
    """Rows as ``read_changes(since)`` would return them, recording each ``since``."""

    def __init__(self) -> None:
        self.rows: dict[str, JobRecord] = {}
        self.since: list[datetime] = []

    def put(self, job: JobRecord) -> None:
        self.rows[job.job_id] = job

    def read_changes(self, since: datetime) -> list[JobRecord]:
        self.since.append(since)
        return [
            job
            for job in self.rows.values()
            if any(
                t is not None and t >= since
                for t in (job.created_at, job.started_at, job.finished_at)
            )
        ]


def job(job_id: str, status: str = "QUEUED", **fields) -> JobRecord:
    base = {"kind": "document", "preset": "hd", "client": "acme", "created_at": T0}
    return JobRecord(job_id=job_id, status=status, **{**base, **fields})


def test_feed_counts_each_event_once(metrics: ReelflowMetrics):
    clock, ledger = Clock(T0 - timedelta(seconds=1)), Ledger()
    feed = JobEventFeed(metrics, ledger.read_changes, lag_s=120, clock=clock)
    labels = {"kind": "document", "preset": "hd", "client": "acme"}

    ledger.put(job("a"))
    clock.now = T0 + timedelta(seconds=10)
    assert feed.poll() == 1
    ledger.put(job("a", "RUNNING", started_at=T0 + timedelta(seconds=15)))
    clock.now = T0 + timedelta(seconds=20)
    assert feed.poll() == 1  # started; the submission within the overlap is not counted again
    ledger.put(
        job(
            "a",
            "SUCCEEDED",
            started_at=T0 + timedelta(seconds=15),
            finished_at=T0 + timedelta(seconds=75),
            output_s=120.0,
            stored_bytes=1000,
            stage_seconds={"render": 50.0},
            encode_speed=8.0,
        )
    )
    clock.now = T0 + timedelta(seconds=80)
    assert feed.poll() == 1
    assert feed.poll() == 0
    series = scrape(metrics)
    assert value(series, "reelflow_jobs_submitted_total", **labels) == 1
    assert value(series, JOBS, outcome="succeeded", error_code="none", **labels) == 1
    assert value(series, "reelflow_job_queue_wait_seconds_sum", kind="document") == 15
    assert value(series, "reelflow_job_duration_seconds_sum", kind="document") == 75
    # 75 s for 2 minutes of output: 37.5 s per output minute.
    assert value(series, "reelflow_job_seconds_per_output_minute_sum", kind="document") == 37.5
    assert value(series, "reelflow_stored_bytes_total", kind="document") == 1000
    assert value(series, "reelflow_stage_duration_seconds_sum", kind="document", stage="render")
    # Each read overlaps the previous one by lag_s.
    assert ledger.since[-1] == T0 + timedelta(seconds=80) - timedelta(seconds=120)


def test_feed_counts_a_long_job_once_when_scrapes_are_rare(metrics: ReelflowMetrics):
    """A job submitted more than lag_s before a scrape and finished after it is read again by
    the next scrape (its finish is new); its submission must not be counted twice. Found by the
    110-job capacity run: /metrics said 136 submitted, the ledger 110."""
    clock, ledger = Clock(T0 - timedelta(seconds=1)), Ledger()
    feed = JobEventFeed(metrics, ledger.read_changes, lag_s=120, clock=clock)
    labels = {"kind": "document", "preset": "hd", "client": "acme"}
    ledger.put(job("slow"))
    clock.now = T0 + timedelta(seconds=300)  # the first scrape in five minutes
    assert feed.poll() == 1
    ledger.put(
        job("slow", "SUCCEEDED", started_at=T0 + timedelta(seconds=350),
            finished_at=T0 + timedelta(seconds=400))
    )  # fmt: skip
    clock.now = T0 + timedelta(seconds=600)
    assert feed.poll() == 2  # started and finished; not submitted again
    series = scrape(metrics)
    assert value(series, "reelflow_jobs_submitted_total", **labels) == 1
    assert value(series, JOBS, outcome="succeeded", error_code="none", **labels) == 1


def test_feed_counts_a_late_commit_within_the_lag(metrics: ReelflowMetrics):
    """A row stamped before the last read but committed after it (another host, a slow
    transaction) is still counted, once."""
    clock, ledger = Clock(T0), Ledger()
    feed = JobEventFeed(metrics, ledger.read_changes, lag_s=60, clock=clock)
    clock.now = T0 + timedelta(seconds=30)
    feed.poll()
    ledger.put(
        job(
            "late",
            "FAILED",
            created_at=T0 + timedelta(seconds=20),
            finished_at=T0 + timedelta(seconds=25),
            error_code="storage_unavailable",
        )
    )
    clock.now = T0 + timedelta(seconds=45)
    assert feed.poll() == 2
    clock.now = T0 + timedelta(seconds=60)
    assert feed.poll() == 0
    labels = {"kind": "document", "preset": "hd", "client": "acme"}
    series = scrape(metrics)
    assert value(series, JOBS, outcome="failed", error_code="storage_unavailable", **labels) == 1


def test_feed_ignores_what_happened_before_it_started(metrics: ReelflowMetrics):
    clock, ledger = Clock(T0), Ledger()
    ledger.put(
        job(
            "old",
            "SUCCEEDED",
            created_at=T0 - timedelta(seconds=50),
            finished_at=T0 - timedelta(seconds=10),
        )
    )
    feed = JobEventFeed(metrics, ledger.read_changes, lag_s=120, clock=clock)
    clock.now = T0 + timedelta(seconds=5)
    assert feed.poll() == 0
    series = scrape(metrics)
    assert (
        value(series, "reelflow_jobs_submitted_total", kind="document", preset="hd", client="acme")
        is None
    )


def test_feed_takes_naive_timestamps_as_utc(metrics: ReelflowMetrics):
    clock = Clock(T0)
    naive = (T0 + timedelta(seconds=1)).replace(tzinfo=None)
    feed = JobEventFeed(metrics, lambda _since: [job("n", created_at=naive)], clock=clock)
    clock.now = T0 + timedelta(seconds=5)
    assert feed.poll() == 1


def test_feed_read_failure_is_a_ledger_error_and_is_retried(metrics: ReelflowMetrics):
    clock, ledger = Clock(T0), Ledger()
    failures = [ConnectionError("ledger down")]

    def flaky(since: datetime) -> list[JobRecord]:
        if failures:
            raise failures.pop()
        return ledger.read_changes(since)

    feed = JobEventFeed(metrics, flaky, clock=clock)
    ledger.put(job("x", created_at=T0 + timedelta(seconds=1)))
    clock.now = T0 + timedelta(seconds=2)
    assert feed.poll() == 0
    assert value(scrape(metrics), "reelflow_ledger_errors_total", op="feed") == 1
    clock.now = T0 + timedelta(seconds=3)
    assert feed.poll() == 1  # read again from the same point
    assert ledger.since == [T0 - timedelta(seconds=120)]


def test_follow_jobs_polls_before_every_scrape(metrics: ReelflowMetrics):
    rows: list[JobRecord] = []
    follow_jobs(lambda since: [r for r in rows if r.created_at >= since], metrics=metrics)
    assert (
        value(
            scrape(metrics),
            "reelflow_jobs_submitted_total",
            kind="media",
            preset="sd",
            client="beta",
        )
        is None
    )
    rows.append(
        job(
            "m",
            kind="media",
            preset="sd",
            client="beta",
            created_at=datetime.now(UTC) + timedelta(seconds=1),
        )
    )
    series = scrape(metrics)
    assert (
        value(series, "reelflow_jobs_submitted_total", kind="media", preset="sd", client="beta")
        == 1
    )
