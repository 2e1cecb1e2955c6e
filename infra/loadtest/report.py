"""The load test's numbers from a finished :class:`~infra.loadtest.driver.LoadRun`, written as
JSON (for tools and docs/CAPACITY.md) and Markdown (for people)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.loadtest.driver import LoadRun

__all__ = ["LoadReport", "percentile", "write_reports"]

MB = 1024 * 1024


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _growth(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class LoadReport:
    profile: str
    url: str
    started_at: str
    wall_s: float
    planned: int
    submitted: int
    not_submitted: int
    succeeded: int
    failed: int
    failed_by_code: dict[str, int]
    canceled: int
    lost: int
    lost_ids: list[str]
    refusals_by_code: dict[str, int]
    throughput_jobs_per_min: float | None
    submit_latency_ms: dict[str, float | None]
    end_to_end_s: dict[str, float | None]
    queue_wait_s: dict[str, float | None]
    idle_clients: int
    idle_healthz_ms: dict[str, float | None]
    idle_errors: int
    peak_rss_mb: dict[str, float]
    ledger_bytes: dict[str, int | None]
    prefect_db_bytes: dict[str, int | None]
    load_average: dict[str, list[float]]
    cpus: int
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_run(cls, run: LoadRun) -> LoadReport:
        jobs = list(run.jobs.values())
        done = [j for j in jobs if j.status in ("SUCCEEDED", "FAILED", "CANCELED")]
        succeeded = [j for j in done if j.status == "SUCCEEDED"]
        failed = Counter(j.error_code or "unknown" for j in done if j.status == "FAILED")
        e2e = [s for j in done if (s := _seconds(j.created_at, j.finished_at)) is not None]
        waits = [s for j in done if (s := _seconds(j.created_at, j.started_at)) is not None]
        throughput = None
        stamps = [
            (datetime.fromisoformat(j.created_at), datetime.fromisoformat(j.finished_at))
            for j in succeeded
            if j.created_at and j.finished_at
        ]
        if stamps:
            span = (max(e for _, e in stamps) - min(s for s, _ in stamps)).total_seconds()
            if span > 0:
                throughput = len(stamps) / span * 60
        submit_ms = [s * 1000 for s in run.submit_latencies_s]
        idle_ms = [s * 1000 for s in run.idle_latencies_s]
        lost = sorted(j.job_id for j in jobs if j not in done)

        def pcts(values: list[float], *qs: int) -> dict[str, float | None]:
            return {f"p{q}": _r(percentile(values, q)) for q in qs}

        return cls(
            profile=run.profile.name,
            url=run.url,
            started_at=run.started_at,
            wall_s=round(run.wall_s, 1),
            planned=run.profile.jobs,
            submitted=len(jobs),
            not_submitted=run.not_submitted,
            succeeded=len(succeeded),
            failed=sum(failed.values()),
            failed_by_code=dict(sorted(failed.items())),
            canceled=sum(j.status == "CANCELED" for j in done),
            lost=len(lost),
            lost_ids=lost[:20],
            refusals_by_code=dict(sorted(run.refusals.items())),
            throughput_jobs_per_min=_r(throughput, 2),
            submit_latency_ms=pcts(submit_ms, 50, 95, 99),
            end_to_end_s=pcts(e2e, 50, 95),
            queue_wait_s=pcts(waits, 50, 95),
            idle_clients=run.profile.idle_clients,
            idle_healthz_ms=pcts(idle_ms, 50, 99),
            idle_errors=run.idle_errors,
            peak_rss_mb={k: round(v / MB, 1) for k, v in run.peak_rss.items()},
            ledger_bytes={
                "before": run.ledger_bytes[0],
                "after": run.ledger_bytes[1],
                "growth": _growth(*run.ledger_bytes),
            },
            prefect_db_bytes={
                "before": run.prefect_db_bytes[0],
                "after": run.prefect_db_bytes[1],
                "growth": _growth(*run.prefect_db_bytes),
            },
            load_average={"start": list(run.load_start), "end": list(run.load_end)},
            cpus=run.cpus,
            notes=list(run.notes),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    def to_markdown(self) -> str:
        def fmt(d: dict[str, Any], unit: str) -> str:
            return " / ".join(f"{k} {'—' if v is None else f'{v:g}'}{unit}" for k, v in d.items())

        def size(d: dict[str, int | None]) -> str:
            if d["growth"] is None:
                return "unknown"
            return (
                f"{d['before'] / MB:.1f} MB → {d['after'] / MB:.1f} MB (+{d['growth'] / MB:.2f} MB)"  # type: ignore[operator]
            )

        failed = ", ".join(f"{c}: {n}" for c, n in self.failed_by_code.items()) or "none"
        refused = ", ".join(f"{c}: {n}" for c, n in self.refusals_by_code.items()) or "none"
        rss = ", ".join(f"{k} {v:g} MB" for k, v in self.peak_rss_mb.items()) or "not sampled"
        counts = f"{self.planned} / {self.submitted} / {self.not_submitted}"
        idle = f"{self.idle_clients} (healthz {fmt(self.idle_healthz_ms, ' ms')})"
        load = f"{self.load_average['start']} / {self.load_average['end']} on {self.cpus} CPUs"
        rows = [
            ("profile", f"`{self.profile}` against {self.url}"),
            ("started / wall", f"{self.started_at} / {self.wall_s:g} s"),
            ("planned / submitted / not submitted", counts),
            ("succeeded", str(self.succeeded)),
            ("failed (by code)", f"{self.failed} ({failed})"),
            ("canceled", str(self.canceled)),
            ("**lost**", f"**{self.lost}**"),
            ("refusals answered (retried)", refused),
            ("throughput", f"{self.throughput_jobs_per_min} jobs/min"),
            ("submit latency", fmt(self.submit_latency_ms, " ms")),
            ("end to end", fmt(self.end_to_end_s, " s")),
            ("queue wait", fmt(self.queue_wait_s, " s")),
            ("idle clients", f"{idle}, errors {self.idle_errors}"),
            ("peak RSS", rss),
            ("ledger size", size(self.ledger_bytes)),
            ("Prefect database size", size(self.prefect_db_bytes)),
            ("load average start / end", load),
        ]
        lines = [f"# reelflow load test: {self.profile}", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        if self.lost_ids:
            lines += ["", "Lost jobs: " + ", ".join(self.lost_ids)]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def write_reports(report: LoadReport, out_dir: Path) -> tuple[Path, Path]:
    """``loadtest-<profile>.json`` and ``.md`` in ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"loadtest-{report.profile}.json"
    md_path = out_dir / f"loadtest-{report.profile}.md"
    json_path.write_text(report.to_json() + "\n")
    md_path.write_text(report.to_markdown())
    return json_path, md_path
