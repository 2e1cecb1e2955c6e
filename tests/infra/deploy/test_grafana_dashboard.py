"""The Grafana dashboard: well-formed, on the provisioned data source, and every panel's query
evaluated without error by a real Prometheus scraping a sample of every reelflow series.

Grafana itself is not packaged here; what breaks a dashboard silently is a query Prometheus
refuses or a metric name that does not exist, and both are checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.metrics import METRIC_NAMES
from tests.infra.deploy.monitoring import (
    DASHBOARD,
    DATASOURCES,
    RULES,
    records,
    unknown_names,
)
from tests.support.prometheus import running_prometheus, serving_metrics
from tests.support.sample_metrics import populated_metrics

# What Grafana puts in place of its variables; "All" of a multi-value variable is allValue.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}
AREAS = {"Gateway", "Jobs", "Workers and Prefect", "Dependencies"}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables replaced) of every target."""
    variables = dict(GRAFANA_VARIABLES)
    for var in dashboard()["templating"]["list"]:
        variables[f"${var['name']}"] = var["allValue"]
    found = []
    for panel in panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for name in sorted(variables, key=len, reverse=True):
                expr = expr.replace(name, variables[name])
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            found.append((panel["title"], expr))
    return found


def test_layout_and_data_source():
    board = dashboard()
    assert board["uid"] == "reelflow"
    rows = {p["title"] for p in board["panels"] if p["type"] == "row"}
    assert rows == AREAS
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
    for var in board["templating"]["list"]:
        assert var["datasource"]["uid"] == uid


def test_every_metric_family_has_a_panel():
    used = " ".join(expr for _, expr in queries())
    shown = {name for name in METRIC_NAMES if re.search(rf"\b{name}(_bucket|_total)?\b", used)}
    assert METRIC_NAMES - shown == set()


def test_panels_read_only_metrics_that_exist():
    for title, expr in queries():
        assert unknown_names(expr, METRIC_NAMES) == set(), title
    # The recording rules the dashboard reads are defined.
    used = {n for _, e in queries() for n in re.findall(r"\b[a-z_]+:[a-z0-9_:]+", e)}
    assert used and used <= records()


@pytest.mark.prometheus
def test_every_panel_query_runs_on_a_real_prometheus(tmp_path: Path):
    metrics = populated_metrics(tmp_path)
    with (
        serving_metrics(metrics.render) as target,
        running_prometheus({"reelflow-gateway": [target]}, rule_files=[RULES]) as prom,
    ):
        prom.wait_for_targets("reelflow-gateway", scrapes=3)

        # Every rule group evaluated at least once, without error.
        def rules_evaluated() -> bool:
            groups = prom.api("rules")["groups"]
            return bool(groups) and all(  # a rule never evaluated shows Go's zero time
                not rule.get("lastEvaluation", "0001").startswith("0001")
                for group in groups
                for rule in group["rules"]
            )

        prom.wait_until("every rule evaluated", rules_evaluated, timeout_s=30)
        prom.wait_until(
            "the SLO recording rules have samples",
            lambda: bool(prom.query("kind:reelflow_jobs_within_target:ratio_rate1h")),
            timeout_s=30,
        )
        for group in prom.api("rules")["groups"]:
            for rule in group["rules"]:
                assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

        empty = []
        for title, expr in queries():
            if not prom.query(expr):  # fails the test on any query error
                empty.append((title, expr))
        assert empty == [], "panels without data on a sample of every series"
