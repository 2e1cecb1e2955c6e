"""``reelflow-supervise CMD...``: run a job container's command and report a kernel OOM kill.

Why: in a Docker work pool the kernel enforces the job's memory limit. When the job process is
too big, the OOM killer SIGKILLs it: no ``finally``, no state hook runs, and Prefect's worker
only sees exit code 137 and marks the run Crashed with no code. This supervisor is the image's
entrypoint (under tini): it runs the command as its child, forwards signals to it, and when the
cgroup's OOM counter rose while the child ran, it sets the flow run Failed with
``[resource_limit_exceeded]`` and the limit, through Prefect's REST API. The ledger follows from
that state (the reaper copies the code). It exits with the child's status either way.

Contract: stdlib only and small (~18 MB resident), so it survives in the limit its child broke;
the child's ``oom_score_adj`` is raised to 1000 so the kernel always picks the job, never the
supervisor. Everything comes from the environment the worker sets (``PREFECT__FLOW_RUN_ID``,
``PREFECT_API_URL``, ``PREFECT_API_KEY``/``PREFECT_API_AUTH_STRING``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from infra.process.cgroup import memory_limit_bytes, oom_kills, oom_message

__all__ = ["main", "report_oom", "supervise"]

log = logging.getLogger("reelflow.supervise")
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)


def _raise_oom_score() -> None:  # runs in the child between fork and exec
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass


def _request(url: str, body: Mapping[str, object], env: Mapping[str, str]) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if env.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {env['PREFECT_API_KEY']}"
    elif env.get("PREFECT_API_AUTH_STRING"):
        token = base64.b64encode(env["PREFECT_API_AUTH_STRING"].encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the configured API
        return dict(json.loads(resp.read() or b"{}"))


def report_oom(env: Mapping[str, str], message: str, attempts: int = 3) -> bool:
    """Set the flow run Failed with ``message``; True when Prefect accepted it."""
    api, run_id = env.get("PREFECT_API_URL"), env.get("PREFECT__FLOW_RUN_ID")
    if not api or not run_id:
        log.warning("OOM kill, but no PREFECT_API_URL/PREFECT__FLOW_RUN_ID to report it to")
        return False
    body = {"state": {"type": "FAILED", "name": "Failed", "message": message}, "force": False}
    for attempt in range(attempts):
        try:
            result = _request(f"{api.rstrip('/')}/flow_runs/{run_id}/set_state", body, env)
            log.warning("flow run %s: OOM reported (%s)", run_id, result.get("status"))
            return result.get("status") == "ACCEPT"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("could not report the OOM kill (attempt %d): %s", attempt + 1, exc)
            time.sleep(1 + attempt)
    return False


def supervise(argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run ``argv``; report an OOM kill in its container; return its exit status the shell way.

    The counter decides, not the exit status: Prefect's executor survives an OOM kill of its
    engine child, marks the run Crashed and exits 0 (the crash hook then records the code); only
    when the executor itself is killed is nobody else left to tell. A report on a run that is
    already final is refused by Prefect and changes nothing.
    """
    env = os.environ if env is None else env
    before = oom_kills()
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if child is None:
            pending.append(signum)  # arrived before the child existed: delivered once it does
        elif child.poll() is None:
            child.send_signal(signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    child = subprocess.Popen(list(argv), preexec_fn=_raise_oom_score)  # noqa: PLW1509
    for early in pending:
        child.send_signal(early)
    returncode = child.wait()
    after = oom_kills()
    if before is not None and after is not None and after > before:
        report_oom(env, oom_message(memory_limit_bytes(), after - before))
    return 128 - returncode if returncode < 0 else returncode


def main() -> None:  # pragma: no cover - console entry point, exercised in the image
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.stderr.write("usage: reelflow-supervise [--] COMMAND [ARG...]\n")
        raise SystemExit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        raise SystemExit(supervise(args))
    except FileNotFoundError as exc:
        sys.stderr.write(f"reelflow-supervise: {exc}\n")
        raise SystemExit(127) from exc
