"""A newcomer's first command on a busy machine: `reelflow run` with empty REELFLOW_HOME and
PREFECT_HOME, no Prefect server, and two CPU-bound processes beside it (issue 10).

The first run failed with Prefect's 20 s ephemeral start-up timeout (its database is created and
migrated on first use). Now the CLI starts the local Prefect server once, waiting as long as
REELFLOW_PREFECT__SERVER_STARTUP_TIMEOUT_S, and the second run finds it running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.tools import ROOT, free_port

pytestmark = [pytest.mark.media, pytest.mark.slow, pytest.mark.timeout(600)]


def _reelflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("reelflow")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
        cwd=ROOT,
    )


def test_first_run_on_an_empty_home_of_a_busy_machine(tmp_path: Path, record_property):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REELFLOW_"))}
    env.update(
        REELFLOW_HOME=str(tmp_path / "reelflow"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        REELFLOW_PREFECT__LOCAL_SERVER_PORT=str(free_port()),
    )
    hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
    try:
        started = time.monotonic()
        first = _reelflow("run", str(ROOT / "samples" / "sample.md"), "--preset", "tiny", env=env)
        record_property("first_run_s", round(time.monotonic() - started, 1))
        assert first.returncode == 0, first.stdout + first.stderr
        assert "state SUCCEEDED" in first.stdout
        status = json.loads(_reelflow("server", "status", env=env).stdout)
        assert status["running"] and status["healthy"]
        started = time.monotonic()
        second = _reelflow("run", str(ROOT / "samples" / "sample.md"), "--preset", "tiny", env=env)
        record_property("second_run_s", round(time.monotonic() - started, 1))
        assert second.returncode == 0, second.stdout + second.stderr
        assert json.loads(_reelflow("server", "status", env=env).stdout)["pid"] == status["pid"]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        _reelflow("server", "stop", env=env)
    assert not json.loads(_reelflow("server", "status", env=env).stdout)["running"]
