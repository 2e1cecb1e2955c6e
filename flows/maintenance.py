"""Scheduled maintenance flows (deployed with schedules from prefect.yaml).

- ``reelflow-reaper``: jobs whose runs died become FAILED ``worker_timeout`` in the ledger.
- ``reelflow-sweeper``: work dirs of finished/dead jobs, uncommitted and orphaned objects, stale
  multipart uploads; ledger rows whose objects are gone are reported (fixed unless dry run).
- ``reelflow-retention``: finished jobs older than N days, objects and rows (dry run by default).
- ``reelflow-ledger-maintenance``: WAL checkpoint + VACUUM on SQLite, ANALYZE on PostgreSQL.
"""

from __future__ import annotations

from prefect import flow

from tasks.maintenance import (
    ledger_maintenance_task,
    reap_task,
    retention_task,
    sweep_task,
)

__all__ = ["ledger_maintenance", "reaper", "retention", "sweeper"]


@flow(name="reelflow-reaper")
def reaper() -> dict[str, list[str]]:
    return reap_task()


@flow(name="reelflow-sweeper")
def sweeper(dry_run: bool = False) -> dict[str, list[str]]:
    return sweep_task(execute=not dry_run)


@flow(name="reelflow-retention")
def retention(days: int | None = None, dry_run: bool = True) -> dict[str, list[str]]:
    return retention_task(days, execute=not dry_run)


@flow(name="reelflow-ledger-maintenance")
def ledger_maintenance() -> str:
    return ledger_maintenance_task()
