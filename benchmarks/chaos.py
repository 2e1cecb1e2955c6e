"""Chaos run: many small jobs through a real Prefect server and process worker, with random
cancels and SIGKILLs; then the reaper and the sweeper; then the invariants.

At the end: every ledger job is terminal, every work directory is gone, no uncommitted prefix is
left, and every committed job has all its objects with matching checksums. Prints the counts and
exits non-zero if an invariant fails. Also the load-test harness for later issues.

    .venv/bin/python benchmarks/chaos.py [--jobs 50] [--cancel 0.2] [--kill 0.1] [--seed 7]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--cancel", type=float, default=0.2)
    parser.add_argument("--kill", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    home = Path(tempfile.mkdtemp(prefix="reelflow-chaos-"))
    os.environ["REELFLOW_HOME"] = str(home / "home")
    os.environ["REELFLOW_MAINTENANCE__REAPER_STALE_S"] = "3"
    os.environ["REELFLOW_MAINTENANCE__SWEEP_GRACE_S"] = "0"

    import psutil
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from infra.prefect.client import cancel_job
    from infra.settings import get_settings
    from infra.store.artifacts import open_store
    from tasks.maintenance import reap_jobs, sweep
    from tests.support.documents import SAMPLE_MARKDOWN
    from tests.support.ledgers import ledger
    from tests.support.tools import process_worker

    source = home / "doc.md"
    source.write_text(SAMPLE_MARKDOWN)
    actions: Counter[str] = Counter()
    started = time.monotonic()
    with prefect_test_harness(server_startup_timeout=120):
        api = str(PREFECT_API_URL.value())
        with process_worker(api, home / "home"):
            runs = [
                str(
                    run_deployment(
                        "video-job/video-job-process",
                        parameters={"request": {"source": str(source), "preset": "tiny"}},
                        timeout=0,
                    ).id
                )
                for _ in range(args.jobs)
            ]
            fate = {run: rng.random() for run in runs}
            pending = set(runs)
            with get_client(sync_client=True) as client:
                while pending and time.monotonic() - started < 1800:
                    for run_id in sorted(pending):
                        state = client.read_flow_run(run_id).state
                        if state is not None and state.is_final():
                            pending.discard(run_id)
                            continue
                        job = ledger().get(run_id)
                        if job is None or job.status != "RUNNING":
                            continue
                        if fate[run_id] < args.cancel:
                            cancel_job(run_id, ledger())
                            actions["canceled"] += 1
                            fate[run_id] = 1.0
                        elif fate[run_id] < args.cancel + args.kill:
                            for proc in psutil.process_iter(["cmdline"]):
                                cmd = " ".join(proc.info["cmdline"] or [])
                                if "prefect" in cmd and "engine" in cmd and proc.pid != os.getpid():
                                    env = proc.environ() if proc.is_running() else {}
                                    if env.get("PREFECT__FLOW_RUN_ID") == run_id:
                                        os.kill(proc.pid, signal.SIGKILL)
                                        actions["killed"] += 1
                            fate[run_id] = 1.0
                    time.sleep(0.2)
        settings = get_settings()
        time.sleep(4)
        reaped = reap_jobs(ledger(), settings)
        swept = sweep(ledger(), open_store(settings), settings, execute=True)

    settings = get_settings()
    store = open_store(settings)
    jobs = ledger().list_jobs(limit=10_000)
    statuses = Counter(job.status for job in jobs)
    problems = []
    problems += [
        f"{j.id} not terminal ({j.status})" for j in jobs if j.status in {"QUEUED", "RUNNING"}
    ]
    leftover_dirs = (
        sorted(p.name for p in settings.work_dir_root.glob("*"))
        if settings.work_dir_root.exists()
        else []
    )
    problems += [f"work dir left: {d}" for d in leftover_dirs]
    committed = 0
    for job in jobs:
        keys = store.list_keys(f"jobs/{job.id}/")
        if job.status == "SUCCEEDED":
            manifest = json.loads(store.get_bytes(f"jobs/{job.id}/manifest.json"))
            for obj in manifest["objects"]:
                if hashlib.sha256(store.get_bytes(obj["key"])).hexdigest() != obj["sha256"]:
                    problems.append(f"checksum mismatch {obj['key']}")
            committed += 1
        elif keys:
            problems.append(f"{job.id} is {job.status} but has {len(keys)} objects")
    print(f"\njobs submitted {args.jobs}, in ledger {len(jobs)}: {dict(statuses)}")
    print(
        f"actions: {dict(actions)}; reaped {len(reaped['failed'])} failed, "
        f"{len(reaped['canceled'])} canceled; swept dirs {len(swept.get('work_dirs', []))}, "
        f"uncommitted {len(swept.get('uncommitted', []))}"
    )
    print(
        f"committed jobs verified: {committed}; problems: {len(problems)}; "
        f"wall {time.monotonic() - started:.0f} s"
    )
    for problem in problems[:20]:
        print("  ", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
