"""One load test with its costs measured around it: RSS sampling, database sizes, the report."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from infra.loadtest.driver import run_loadtest
from infra.loadtest.profiles import LoadProfile, require_loopback
from infra.loadtest.report import LoadReport
from infra.loadtest.resources import ProcessSampler, database_bytes, gateway_pids, worker_pids

__all__ = ["measure_load"]


def measure_load(
    url: str,
    key: str,
    profile: LoadProfile,
    *,
    ledger_url: str | None,
    prefect_db_url: str | None = None,
    gateways: Sequence[int] | None = None,
    workers: Sequence[int] | None = None,
    preset: str = "tiny",
) -> LoadReport:
    """Run ``profile`` against ``url`` while sampling the RSS of the gateway processes
    (default: whatever listens on the URL's port) and the Prefect workers (default: every
    ``prefect worker start`` on this machine, with their flow-run children)."""
    url = require_loopback(url)
    port = urlsplit(url).port or 80
    groups = {
        "gateway": list(gateways) if gateways is not None else gateway_pids(port),
        "workers": list(workers) if workers is not None else worker_pids(),
    }
    ledger_before = database_bytes(ledger_url)
    prefect_before = database_bytes(prefect_db_url)
    with ProcessSampler(groups) as sampler:
        run = run_loadtest(url, key, profile, preset=preset)
    run.peak_rss = dict(sampler.peak)
    run.ledger_bytes = (ledger_before, database_bytes(ledger_url))
    run.prefect_db_bytes = (prefect_before, database_bytes(prefect_db_url))
    if not groups["gateway"]:
        run.notes.append(f"no process listens on port {port} here: gateway RSS not sampled")
    if not groups["workers"]:
        run.notes.append("no Prefect worker process found on this machine: worker RSS not sampled")
    return LoadReport.from_run(run)
