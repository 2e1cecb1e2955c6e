"""A real Prometheus scrapes a real gateway while jobs run, and the NoWorkerOnline alert of
rules.yml fires when the process worker stops and resolves when it comes back.

Everything real on 127.0.0.1: Prefect's test server, a process worker of the
``video-job-process`` deployment, ``reelflow serve`` (PostgreSQL ledger, local store) and Debian's
Prometheus. The alert's expression is the real rule's; only its ``for:`` is shortened (from 1m to
5s) in a rule file written for the test, and scrapes and evaluations are a few seconds apart. The
worker sends a heartbeat every 2 s, so the gateway sees it gone after 3 missed ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.store.api_keys import ApiKeyStore
from infra.store.ledger import JobLedger
from tests.infra.api.jobs import wait_terminal
from tests.infra.deploy.monitoring import RULES, alerts
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.gateway import gateway_process
from tests.support.prometheus import PrometheusServer, running_prometheus
from tests.support.tools import process_worker

pytestmark = [
    pytest.mark.api,
    pytest.mark.prefect,
    pytest.mark.postgres,
    pytest.mark.media,
    pytest.mark.prometheus,
    pytest.mark.timeout(900),
]

ALERT = "NoWorkerOnline"
POOL = "reelflow-process"
JOBS = 2
WORKER_ENV = {"PREFECT_WORKER_HEARTBEAT_SECONDS": "2"}


def short_rule_file(tmp: Path) -> Path:
    """rules.yml's NoWorkerOnline with ``for: 5s``: the same expression and labels."""
    rule = dict(alerts()[ALERT])
    assert rule["for"] == "1m"  # the real rule; the test shortens only this
    rule["for"] = "5s"
    path = tmp / "rules-live.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "live", "rules": [rule]}]}))
    return path


def pool_alerts(prom: PrometheusServer, state: str | None = None) -> list[dict[str, Any]]:
    return [
        a
        for a in prom.alerts(ALERT)
        if a["labels"].get("pool") == POOL and (state is None or a["state"] == state)
    ]


def scalar(prom: PrometheusServer, expr: str) -> float | None:
    found = prom.query(expr)
    return float(found[0]["value"][1]) if found else None


def test_no_worker_alert_fires_when_the_worker_stops_and_resolves_when_it_returns(
    tmp_path: Path, own_prefect_server: str, pg_url: str
):
    assert RULES.exists()
    worker_env = {
        "REELFLOW_INPUT__ROOTS": str(tmp_path / "inputs"),
        "REELFLOW_LEDGER__URL": pg_url,
        **WORKER_ENV,
    }
    env = {**worker_env, "REELFLOW_HOME": str(tmp_path / "home")}
    ledger = JobLedger(pg_url)
    try:
        _, key = ApiKeyStore(ledger).create("alerts", rate_per_min=600, max_active=10)
        gateway_env = {**env, "PREFECT_API_URL": own_prefect_server}
        with (
            gateway_process(gateway_env, tmp_path / "gateway.log") as gateway,
            running_prometheus(
                {"reelflow-gateway": [gateway.url.removeprefix("http://")]},
                rule_files=[short_rule_file(tmp_path)],
                scrape_interval="3s",
            ) as prom,
        ):
            with process_worker(own_prefect_server, tmp_path / "home", **worker_env):
                prom.wait_for_targets("reelflow-gateway", timeout_s=60)
                online = f'reelflow_workers_online{{pool="{POOL}"}}'
                prom.wait_until(
                    "the worker online", lambda: scalar(prom, online) == 1.0, timeout_s=120
                )
                # Jobs run while Prometheus scrapes; its counters end equal to the ledger's.
                with gateway.client(key) as client:
                    ids = []
                    for _ in range(JOBS):
                        answer = client.post(
                            "/v1/jobs",
                            files={"file": ("notes.md", SAMPLE_MARKDOWN.encode())},
                            data={"preset": "tiny"},
                        )
                        assert answer.status_code == 202, answer.text
                        ids.append(answer.json()["id"])
                    done = [wait_terminal(client, job_id)["status"] for job_id in ids]
                assert done == ["SUCCEEDED"] * JOBS
                finished = 'sum(reelflow_jobs_finished_total{outcome="succeeded"})'
                prom.wait_until(
                    f"{JOBS} succeeded jobs scraped",
                    lambda: scalar(prom, finished) == float(JOBS),
                    timeout_s=120,
                )
                assert scalar(prom, "sum(reelflow_jobs_submitted_total)") == float(JOBS)
                assert scalar(prom, 'reelflow_jobs{state="SUCCEEDED"}') == float(JOBS)
                assert not pool_alerts(prom)
            # The worker is stopped: its heartbeats end, the alert goes pending, then fires.
            prom.wait_until(
                "the worker offline", lambda: scalar(prom, online) == 0.0, timeout_s=120
            )
            prom.wait_until(
                f"{ALERT} firing for {POOL}",
                lambda: bool(pool_alerts(prom, "firing")),
                timeout_s=120,
            )
            fired = pool_alerts(prom, "firing")[0]
            assert fired["labels"]["severity"] == "critical"
            assert fired["annotations"]["runbook_url"] == "docs/RUNBOOKS.md#noworkeronline"
            with process_worker(own_prefect_server, tmp_path / "home", **worker_env):
                prom.wait_until(
                    f"{ALERT} resolved for {POOL}",
                    lambda: not pool_alerts(prom),
                    timeout_s=120,
                )
                assert scalar(prom, online) == 1.0
    finally:
        ledger.dispose()


def test_the_short_rule_keeps_the_real_expression(tmp_path: Path):
    written = yaml.safe_load(short_rule_file(tmp_path).read_text())["groups"][0]["rules"][0]
    real = alerts()[ALERT]
    assert written["expr"] == real["expr"] and written["labels"] == real["labels"]
