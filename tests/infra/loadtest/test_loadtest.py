"""``reelflow loadtest``: the quick profile against a real gateway (Prefect's test server, a
process worker, a PostgreSQL ledger, the local store), its report checked against the ledger;
and the loopback rule, checked before any connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from infra.errors import UrlRefused
from infra.loadtest import PROFILES, require_loopback
from infra.loadtest.report import percentile
from infra.store.ledger import JobLedger
from infra.store.schema import Job
from tests.conftest import OwnPrefect
from tests.support.gateway import gateway_process
from tests.support.tools import ROOT, process_worker


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:8080", "http://93.184.216.34", "ftp://127.0.0.1/", "http:///x"]
)
def test_only_loopback_is_a_target(url: str):
    with pytest.raises(UrlRefused):
        require_loopback(url)


def test_loopback_names_pass():
    assert require_loopback("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert require_loopback("http://[::1]:9") == "http://[::1]:9"


def test_the_cli_refuses_a_remote_url_before_any_work(tmp_path: Path):
    done = _cli({"REELFLOW_HOME": str(tmp_path)}, "loadtest", "--url", "http://10.1.2.3:8080")
    assert done.returncode == 2
    assert "url_refused" in done.stderr
    assert not (tmp_path / "ledger.db").exists()  # no key was created


def test_profiles_are_bounded():
    assert set(PROFILES) == {"quick", "standard", "stress", "scale"}
    for profile in PROFILES.values():
        assert 0 < profile.jobs <= 1000 and profile.submit_budget_s > 0 and profile.drain_s > 0
    assert PROFILES["scale"].idle_clients > 0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([], 99) is None


@pytest.mark.api
@pytest.mark.prefect
@pytest.mark.postgres
@pytest.mark.media
@pytest.mark.timeout(900)
def test_quick_profile_report_matches_the_ledger(
    tmp_path: Path, own_prefect_server: OwnPrefect, pg_url: str
):
    prefect_db = own_prefect_server.database_url
    env = {
        "REELFLOW_INPUT__ROOTS": str(tmp_path / "inputs"),
        "REELFLOW_LEDGER__URL": pg_url,
    }
    home = tmp_path / "home"
    with (
        process_worker(own_prefect_server, home, **env),
        gateway_process(
            {**env, "REELFLOW_HOME": str(home), "PREFECT_API_URL": own_prefect_server},
            tmp_path / "gateway.log",
        ) as gateway,
    ):
        done = _cli(
            {**env, "REELFLOW_HOME": str(home), "PREFECT_API_URL": own_prefect_server},
            "loadtest",
            "--profile",
            "quick",
            "--url",
            gateway.url,
            "--out",
            str(tmp_path / "reports"),
            "--prefect-db",
            prefect_db,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "reports" / "loadtest-quick.json").read_text())
    markdown = (tmp_path / "reports" / "loadtest-quick.md").read_text()
    assert "| **lost** | **0** |" in markdown

    quick = PROFILES["quick"]
    assert report["submitted"] == quick.jobs and report["not_submitted"] == 0
    assert report["lost"] == 0
    assert report["succeeded"] + report["failed"] + report["canceled"] == quick.jobs

    ledger = JobLedger(pg_url)
    try:
        rows = ledger.read(
            lambda s: dict(
                s.execute(
                    select(Job.status, func.count())
                    .where(Job.client.like("loadtest-%"))
                    .group_by(Job.status)
                ).all()
            )
        )
        codes = ledger.read(
            lambda s: dict(
                s.execute(
                    select(Job.error_code, func.count())
                    .where(Job.client.like("loadtest-%"), Job.status == "FAILED")
                    .group_by(Job.error_code)
                ).all()
            )
        )
    finally:
        ledger.dispose()
    by_state = {str(getattr(k, "value", k)): v for k, v in rows.items()}
    assert by_state.get("SUCCEEDED", 0) == report["succeeded"]
    assert by_state.get("FAILED", 0) == report["failed"]
    assert by_state.get("CANCELED", 0) == report["canceled"]
    assert sum(by_state.values()) == report["submitted"]
    assert {str(k): v for k, v in codes.items()} == report["failed_by_code"]
    assert report["succeeded"] == quick.jobs  # tiny documents on a healthy stack all succeed
    assert report["throughput_jobs_per_min"] > 0
    assert all(report["submit_latency_ms"][p] is not None for p in ("p50", "p95", "p99"))
    assert report["end_to_end_s"]["p50"] > 0 and report["queue_wait_s"]["p50"] >= 0
    assert report["peak_rss_mb"]["gateway"] > 0 and report["peak_rss_mb"]["workers"] > 0
    assert report["ledger_bytes"]["growth"] is not None
    assert report["prefect_db_bytes"]["growth"] is not None
