"""infra/deploy/docker-compose.monitoring.yml, rendered over docker-compose.yml by Compose itself.

Prometheus, Alertmanager and Grafana join the stack with the same rules as the rest of it: host
networking, every port on 127.0.0.1, pinned images, the admin password from the env file, and
rotated logs; the files they mount are the ones tested beside this file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.deploy.monitoring import (
    ALERTMANAGER_CONFIG,
    DASHBOARD,
    GRAFANA_DIR,
    PROMETHEUS_CONFIG,
    RULES,
)
from tests.infra.deploy.test_compose import (
    COMPOSE_FILE,
    command,
    compose_command,
    environment,
    mounts,
    rotated_logs,
    sentinel_env,
    write_env,
)

pytestmark = pytest.mark.docker

MONITORING_FILE = COMPOSE_FILE.parent / "docker-compose.monitoring.yml"
MONITORING = {"prometheus", "alertmanager", "grafana"}
GRAFANA_PASSWORD = "s3ntinelgrafana"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    env = {**sentinel_env(), "GRAFANA_ADMIN_PASSWORD": GRAFANA_PASSWORD}
    env_file = write_env(tmp_path_factory.mktemp("compose") / "env", env)
    done = subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE)]
        + ["-f", str(MONITORING_FILE), "config"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_monitoring_services_join_the_stack(rendered: dict[str, Any]):
    services = rendered["services"]
    assert MONITORING <= set(services)
    for name in MONITORING:
        service = services[name]
        assert service["network_mode"] == "host", name
        assert not service.get("ports"), name
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), image
        driver, size, files = rotated_logs(service)
        assert driver == "json-file" and size > 0 and files > 1, name
        assert service["restart"] == "unless-stopped", name


def test_everything_listens_on_loopback(rendered: dict[str, Any]):
    services = rendered["services"]
    assert "--web.listen-address=127.0.0.1:9090" in command(services["prometheus"])
    alertmanager = command(services["alertmanager"])
    assert "--web.listen-address=127.0.0.1:9093" in alertmanager
    assert "--cluster.listen-address=" in alertmanager.split()
    assert environment(services["grafana"])["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    # prometheus.yml's targets are where these listen.
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = [
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    assert all(t.startswith("127.0.0.1:") for t in targets)
    # Prometheus scrapes the gateway where the compose stack's gateway listens.
    gateway = command(services["gateway"]).split()
    port = gateway[gateway.index("--port") + 1]
    gateway_job = next(j for j in config["scrape_configs"] if j["job_name"] == "reelflow-gateway")
    assert gateway_job["static_configs"][0]["targets"] == [f"127.0.0.1:{port}"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]


def test_mounted_files_are_the_tested_ones(rendered: dict[str, Any]):
    services = rendered["services"]

    def source(service: str, target: str) -> Path:
        return Path(mounts(services[service])[target]).resolve()

    assert source("prometheus", "/etc/prometheus/prometheus.yml") == PROMETHEUS_CONFIG
    assert source("prometheus", "/etc/prometheus/rules.yml") == RULES
    assert source("alertmanager", "/etc/alertmanager/alertmanager.yml") == ALERTMANAGER_CONFIG
    assert source("grafana", "/etc/grafana/provisioning") == GRAFANA_DIR / "provisioning"
    assert source("grafana", "/var/lib/grafana/dashboards/reelflow.json") == DASHBOARD
    provider = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "reelflow.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_grafana_password_comes_from_the_env_file(rendered: dict[str, Any]):
    env = environment(rendered["services"]["grafana"])
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == GRAFANA_PASSWORD
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
