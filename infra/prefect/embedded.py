"""The embedded default's Prefect side for ``reelflow serve``: deployments and a process worker.

With nothing configured, ``reelflow serve`` must run a job to SUCCEEDED on one machine: after the
local server is up (:mod:`infra.prefect.server`), ``bootstrap`` makes the pools and registers the
process-pool deployments named here (``prefect deploy`` in a subprocess from the project root:
the gateway process itself never imports a flow); this module runs a process worker for the
job pool and one for the maintenance pool (reaper, sweeper, retention, webhook delivery) that
live and die with the gateway (its own process group, PR_SET_PDEATHSIG via ``setpriv`` when
available, TERM then KILL on exit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["MAINTENANCE_POOL", "PROCESS_POOL", "process_deployments", "process_worker"]

log = logging.getLogger("reelflow.prefect.embedded")

PROCESS_POOL = "reelflow-process"
# The reaper, sweeper, retention and webhook deliverer: without them an embedded install would
# never deliver a callback, crash a stuck run or remove an expired job.
MAINTENANCE_POOL = "reelflow-maintenance"


def process_deployments(
    project_root: Path, pools: Sequence[str] = (PROCESS_POOL, MAINTENANCE_POOL)
) -> list[str]:
    """Names of the deployments in ``prefect.yaml`` that run on ``pools`` (process pools)."""
    import yaml

    spec = yaml.safe_load((project_root / "prefect.yaml").read_text())
    return [
        d["name"]
        for d in spec.get("deployments") or []
        if (d.get("work_pool") or {}).get("name") in pools
    ]


@contextlib.contextmanager
def process_worker(
    project_root: Path,
    api_url: str,
    *,
    log_file: Path,
    limit: int,
    pool: str = PROCESS_POOL,
) -> Iterator[subprocess.Popen[bytes]]:
    """A ``prefect worker start --pool POOL --limit N`` child for the duration of the block
    (``limit``: flow runs at once; more wait in the queue)."""
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type"]
    argv += ["process", "--limit", str(limit)]
    setpriv = shutil.which("setpriv")
    if setpriv is not None:  # dies with the gateway even when the gateway is SIGKILLed
        argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
    env = {**os.environ, "PREFECT_API_URL": api_url}
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        worker = subprocess.Popen(
            argv,
            cwd=project_root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    log.info("process worker %s started for pool %s (log: %s)", worker.pid, pool, log_file)
    try:
        yield worker
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        log.info("process worker %s stopped", worker.pid)
