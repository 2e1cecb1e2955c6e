"""Docker work pool vs process work pool, side by side: start-up, total time and cancel latency.

The same small document job (preset tiny) runs alternately on the process pool and the Docker
pool, through one real Prefect server (test harness), moto's S3 server and a PostgreSQL ledger on
127.0.0.1; both workers poll every second. Then one 20-slide hd job per pool is canceled with
``reelflow cancel``'s code during its encode. Prints medians and Docker/process ratios, and the
image's size. Needs the engine and a current image (``make image``).

    .venv/bin/python benchmarks/docker_pool.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _wait(run_id, names: set[str], start: float, timeout_s: float = 300) -> tuple[float, str]:
    """Seconds since ``start`` until the run is in one of ``names`` (or final), and its state."""
    from tests.support.tools import wait_for_run

    state = wait_for_run(run_id, timeout_s, names, poll_s=0.05)
    return time.monotonic() - start, state.name


class PeakMemory(threading.Thread):
    """Peak working set (usage minus inactive file cache, as `docker stats` counts it) of the
    flow run's container, sampled every 0.1 s from its cgroup v1 memory files on this host."""

    def __init__(self, run_id: object) -> None:
        super().__init__(daemon=True)
        self.run_id, self.peak, self.done = run_id, 0, threading.Event()
        self.start()

    def run(self) -> None:
        from tests.support.docker_pool import docker

        folder = None
        while folder is None and not self.done.wait(0.1):
            found = docker(
                "ps", "-q", "--no-trunc", "--filter", f"label=io.prefect.flow-run-id={self.run_id}"
            )
            if found.stdout.strip():
                folder = Path("/sys/fs/cgroup/memory/docker") / found.stdout.split()[0]
        while folder is not None and not self.done.wait(0.1):
            try:
                usage = int((folder / "memory.usage_in_bytes").read_text())
                stat = dict(
                    line.split() for line in (folder / "memory.stat").read_text().splitlines()
                )
            except (OSError, ValueError):
                return  # the container is gone
            self.peak = max(self.peak, usage - int(stat.get("total_inactive_file", 0)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import psycopg2
    from moto.server import ThreadedMotoServer
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from infra.jobs.models import JobRequest
    from infra.prefect.client import cancel_job, submit_job
    from infra.settings import get_settings
    from infra.store.artifacts import S3Store
    from tests.support.docker_pool import IMAGE, docker, docker_job_variables, require_image
    from tests.support.documents import SAMPLE_MARKDOWN
    from tests.support.ledgers import ledger
    from tests.support.tools import LONG_DOC, encoder_of, free_port, pool_worker

    require_image()
    home = Path(tempfile.mkdtemp(prefix="reelflow-bench-docker-"))
    inbox = home / "inbox"
    inbox.mkdir()
    (inbox / "small.md").write_text(SAMPLE_MARKDOWN)
    (inbox / "long.md").write_text(LONG_DOC)
    db = f"reelflow_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect("host=127.0.0.1 dbname=postgres user=postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    pg_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
    os.environ.update(
        {
            "REELFLOW_HOME": str(home / "home"),
            "REELFLOW_STORAGE__BACKEND": "s3",
            "REELFLOW_STORAGE__S3_ENDPOINT": f"127.0.0.1:{port}",
            "REELFLOW_STORAGE__BUCKET": "bench",
            "REELFLOW_LEDGER__URL": pg_url,
        }
    )
    get_settings.cache_clear()
    settings = get_settings()
    S3Store.from_settings(settings).ensure_bucket()
    docker_vars = docker_job_variables(settings, pg_url, inbox)
    pools = {
        "process": ("video-job/video-job-process", str(inbox), {}),
        "docker": ("video-job/video-job-docker", "/input", docker_vars),
    }
    times: dict[str, dict[str, list[float]]] = {p: {"running": [], "done": []} for p in pools}
    cancel: dict[str, float] = {}
    try:
        with prefect_test_harness(server_startup_timeout=90), ExitStack() as stack:
            api = str(PREFECT_API_URL.value())
            stack.enter_context(
                pool_worker(api, "reelflow-process", "process", "video-job-process")
            )
            stack.enter_context(pool_worker(api, "reelflow-docker", "docker", "video-job-docker"))
            for round_no in range(args.rounds):
                for pool, (deployment, inbox_path, variables) in pools.items():
                    request = JobRequest(source=f"{inbox_path}/small.md", preset="tiny")
                    start = time.monotonic()
                    run_id = submit_job(request, deployment, settings, job_variables=variables)
                    running, _ = _wait(run_id, {"Running"}, start)
                    done, name = _wait(run_id, {"Completed"}, start)
                    assert name == "Completed", name
                    times[pool]["running"].append(running)
                    times[pool]["done"].append(done)
                    print(
                        f"round {round_no + 1} {pool:8s} "
                        f"running {running:5.2f} s  done {done:5.2f} s"
                    )
            peaks = {}
            for preset, name in (("tiny", "small.md"), ("hd", "long.md")):
                _, inbox_path, variables = pools["docker"]
                request = JobRequest(source=f"{inbox_path}/{name}", preset=preset)
                start = time.monotonic()
                run_id = submit_job(request, pools["docker"][0], settings, job_variables=variables)
                sampler = PeakMemory(run_id)
                assert _wait(run_id, {"Completed"}, start)[1] == "Completed"
                sampler.done.set()
                peaks[preset] = sampler.peak
                print(f"peak container memory, {preset} job: {sampler.peak / 2**20:.0f} MiB")
            for pool, (deployment, inbox_path, variables) in pools.items():
                request = JobRequest(source=f"{inbox_path}/long.md", preset="hd")
                run_id = submit_job(request, deployment, settings, job_variables=variables)
                deadline = time.monotonic() + 180
                while encoder_of(str(run_id)) is None:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{pool}: the hd job never reached its encode")
                    time.sleep(0.05)
                start = time.monotonic()
                cancel_job(str(run_id), ledger())
                cancel[pool], name = _wait(run_id, {"Cancelled"}, start, 120)
                assert name == "Cancelled", name
                print(f"cancel   {pool:8s} {cancel[pool]:5.2f} s to Cancelled")
    finally:
        s3.stop()
        ledger().dispose()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(home, ignore_errors=True)

    def med(pool: str, key: str) -> float:
        return statistics.median(times[pool][key])

    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout.strip())
    print(f"\n{IMAGE}: {size / 1e6:.0f} MB; medians of {args.rounds} alternating rounds")
    print("| measure | process pool | Docker pool | Docker/process |")
    print("|---|---:|---:|---:|")
    for key, label in (("running", "run created → Running"), ("done", "run created → Completed")):
        p, d = med("process", key), med("docker", key)
        print(f"| {label} | {p:.2f} s | {d:.2f} s | {d / p:.2f}x |")
    p, d = cancel["process"], cancel["docker"]
    print(f"| cancel → Cancelled (hd encode) | {p:.2f} s | {d:.2f} s | {d / p:.2f}x |")
    for preset, peak in peaks.items():
        print(f"peak working set of a Docker {preset} job container: {peak / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
