"""The /metrics body: it parses, carries every documented family, and passes promtool's lint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.metrics import METRIC_NAMES
from tests.support.sample_metrics import populated_metrics


def test_every_family_parses_and_is_documented(tmp_path: Path):
    body, _ = populated_metrics(tmp_path).render()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert set(families) == METRIC_NAMES
    for family in families.values():
        assert family.documentation, family.name
        assert family.samples, f"{family.name} has no sample in the sample data"


def test_promtool_lints_the_exposition(tmp_path: Path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is required: apt-get install --no-install-recommends prometheus")
    body, _ = populated_metrics(tmp_path).render()
    done = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
