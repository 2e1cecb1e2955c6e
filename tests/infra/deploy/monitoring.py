"""The monitoring files under infra/deploy, parsed once for the tests that check them."""

from __future__ import annotations

import functools
import re
import shutil
from typing import Any

import pytest
import yaml

from tests.support.tools import ROOT

PROMETHEUS_DIR = ROOT / "infra" / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = PROMETHEUS_DIR / "alertmanager.yml"
GRAFANA_DIR = ROOT / "infra" / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "reelflow.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"

# A metric or recording-rule name inside a PromQL expression.
METRIC_IN_EXPR = re.compile(r"\b([a-z_]+:[a-z0-9_:]+|reelflow_[a-z0-9_]+)")
SERIES_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def tool(name: str, package: str) -> str:
    """Path of a Debian tool; the test fails (never skips) without it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is required: apt-get install --no-install-recommends {package} "
            "(scripts/setup.sh --test installs it)"
        )
    return found


@functools.cache
def rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def records() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def family_of(series: str) -> str:
    """The metric family a series name belongs to (``x_bucket`` -> ``x``, ``y_total`` -> ``y``)."""
    for suffix in SERIES_SUFFIXES:
        if series.endswith(suffix):
            return series[: -len(suffix)]
    return series


def unknown_names(expr: str, known_families: set[str] | frozenset[str]) -> set[str]:
    """Names in ``expr`` that are neither a reelflow metric family nor a recording rule."""
    unknown = set()
    for name in METRIC_IN_EXPR.findall(expr):
        if ":" in name:
            if name not in records():
                unknown.add(name)
        elif name not in known_families and family_of(name) not in known_families:
            unknown.add(name)
    return unknown
