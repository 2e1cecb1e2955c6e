"""A ReelflowMetrics with a sample of every series, for exposition and dashboard tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.metrics import (
    JobRecord,
    LedgerSnapshot,
    PrefectSnapshot,
    ReelflowMetrics,
    WorkerSeen,
    follow_jobs,
    watch_ledger,
    watch_prefect,
)


def populated_metrics(work_root: Path) -> ReelflowMetrics:
    """Every metric family with data: requests, refusals, jobs (through the ledger feed), ledger
    and store operations, the ledger and Prefect snapshots, the work root."""
    metrics = ReelflowMetrics()
    metrics.observe_request("/v1/jobs", "POST", 202, 0.04)
    metrics.observe_request("/v1/jobs/{job_id}", "GET", 200, 0.01)
    metrics.observe_request("/v1/jobs", "POST", 503, 0.002)
    metrics.refused("overloaded")
    metrics.refused("rate_limited")
    with metrics.ledger_op("create_job"):
        pass
    with metrics.store_op("presign"):
        pass
    with metrics.store_op("upload"):
        pass
    metrics.watch_work_root(work_root)

    start = datetime.now(UTC) + timedelta(seconds=1)  # after the feed starts
    rows = [
        JobRecord(
            job_id="doc-1",
            kind="document",
            preset="hd",
            client="acme",
            status="SUCCEEDED",
            created_at=start,
            started_at=start + timedelta(seconds=2),
            finished_at=start + timedelta(seconds=40),
            output_s=150.0,
            stored_bytes=12_000_000,
            stage_seconds={"probe": 0.4, "script": 0.2, "render": 30.0, "upload": 2.0},
            encode_speed=13.4,
        ),
        JobRecord(
            job_id="media-1",
            kind="media",
            preset="sd",
            client="beta",
            status="FAILED",
            created_at=start,
            started_at=start + timedelta(seconds=5),
            finished_at=start + timedelta(seconds=9),
            error_code="ffmpeg_failed",
            stage_seconds={"probe": 1.0, "encode": 3.0},
        ),
    ]
    follow_jobs(lambda since: [r for r in rows if r.created_at >= since], metrics=metrics)
    watch_ledger(
        lambda: LedgerSnapshot(
            jobs_by_state={"QUEUED": 3, "RUNNING": 1, "SUCCEEDED": 10, "FAILED": 2},
            queue_depth=3,
            oldest_running_age_s=42.0,
            running_over_limit=0,
            webhook_deliveries={"pending": 1, "failed": 0, "delivered": 12},
        ),
        metrics=metrics,
    )
    watch_prefect(
        lambda: PrefectSnapshot(
            pools={"reelflow-docker": False, "reelflow-process": True},
            workers=[WorkerSeen("reelflow-docker", "docker-worker-1", True, 3.0)],
            flow_runs={"Scheduled": 1, "Late": 0, "Pending": 1, "Running": 1, "Crashed": 0},
        ),
        metrics=metrics,
    )
    return metrics
