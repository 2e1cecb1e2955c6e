"""rules.yml: valid (promtool check rules), unit-tested (promtool test rules), complete.

Every alert has a severity and a runbook anchor, and rules_test.yml shows each one firing and
not firing; every recording rule is evaluated there; every metric the rules read exists.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml
from prometheus_client.utils import floatToGoString

from infra.metrics import METRIC_NAMES, SLO_TARGET_S_PER_OUTPUT_MINUTE
from tests.infra.deploy.monitoring import (
    PROMETHEUS_CONFIG,
    PROMETHEUS_DIR,
    RULES,
    RULES_TEST,
    alerts,
    records,
    rules,
    tool,
    unknown_names,
)

REQUIRED_ALERTS = {
    "GatewayDown",
    "PrefectServerDown",
    "NoWorkerOnline",
    "JobFailureRateHigh",
    "QueueDepthGrowing",
    "JobRunningPastLimit",
    "LedgerLatencyHigh",
    "LedgerErrors",
    "StoreLatencyHigh",
    "StoreErrors",
    "WorkDiskLow",
    "WebhookBacklog",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool", "prometheus"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_promtool_check_rules():
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_test_rules():
    done = promtool("test", "rules", RULES_TEST.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_check_config():
    """The compose stack's prometheus.yml, with the rule file it loads."""
    done = promtool("check", "config", PROMETHEUS_CONFIG.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_required_alerts_exist():
    assert REQUIRED_ALERTS <= set(alerts())


def test_every_alert_has_severity_runbook_and_text():
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"] == f"docs/RUNBOOKS.md#{name.lower()}", name


def _unit_tests() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES_TEST.read_text())["tests"]


def test_every_alert_is_tested_firing_and_quiet():
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _unit_tests():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert set(alerts()) - firing == set(), "alerts never shown firing"
    assert set(alerts()) - quiet == set(), "alerts never shown not firing"


def test_every_recording_rule_is_evaluated():
    evaluated = {
        check["expr"] for case in _unit_tests() for check in case.get("promql_expr_test", [])
    }
    assert records() - evaluated == set()


def test_rules_read_only_reelflow_metrics_that_exist():
    for rule in rules():
        assert unknown_names(rule["expr"], METRIC_NAMES) == set(), rule.get(
            "alert", rule.get("record")
        )


def test_slo_rules_read_the_target_bucket():
    """The SLO reads the histogram bucket of SLO_TARGET_S_PER_OUTPUT_MINUTE, as exposed."""
    bucket = floatToGoString(SLO_TARGET_S_PER_OUTPUT_MINUTE)
    slo_rules = [r for r in rules() if "reelflow_job_seconds_per_output_minute_bucket" in r["expr"]]
    assert slo_rules
    for rule in slo_rules:
        assert set(re.findall(r'le="([^"]+)"', rule["expr"])) == {bucket}, rule["record"]
