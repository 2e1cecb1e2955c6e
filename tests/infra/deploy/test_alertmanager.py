"""alertmanager.yml: valid for amtool, routes by severity, inhibits only alerts that exist."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.infra.deploy.monitoring import ALERTMANAGER_CONFIG, alerts, tool


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("amtool", "prometheus-alertmanager"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_amtool_check_config():
    done = amtool("check-config", str(ALERTMANAGER_CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=GatewayDown"], "pager"),
        (["severity=warning", "alertname=FlowRunsLate"], "team"),
        (["alertname=SomethingWithoutSeverity"], "team"),
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str):
    done = amtool("config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == [receiver]


def test_every_severity_in_the_rules_has_a_route():
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    routed = {
        m.split("=", 1)[1].strip('"')
        for route in config["route"]["routes"]
        for m in route["matchers"]
        if m.startswith("severity=")
    }
    assert {rule["labels"]["severity"] for rule in alerts().values()} <= routed


def test_inhibit_rules_name_existing_alerts():
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    named: set[str] = set()
    for rule in config["inhibit_rules"]:
        for matcher in rule.get("source_matchers", []) + rule.get("target_matchers", []):
            match = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            if match:
                named.update(match.group(1).split("|"))
    assert named
    assert named - set(alerts()) == set()


def test_receivers_stay_on_loopback():
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    urls = [hook["url"] for r in config["receivers"] for hook in r.get("webhook_configs", [])]
    assert urls
    assert all(url.startswith("http://127.0.0.1:") for url in urls)
