"""Capacity of one installation, measured: a whole stack on 127.0.0.1 under `reelflow loadtest`.

Starts, in a temporary folder that is removed afterwards:
- Prefect server(s) (`prefect server start --no-ui`) on SQLite or PostgreSQL; with
  `--api-servers 2`, two API processes (`--no-services`) plus one `prefect server services start`,
  all sharing PostgreSQL and Redis messaging (`prefect-redis`);
- the work pool `reelflow-process`, the `video-job-process` deployment and N process workers
  (`--limit` each), spread round-robin over the API servers;
- `reelflow serve --no-worker` (the gateway) on SQLite or PostgreSQL ledger, local store;
then runs a load profile through the API (infra/loadtest), optionally SIGKILLs the second API
server mid-run (and restarts it after `--restart-after` s, as a supervisor would), and prints one
JSON line: the load report, CPU seconds per job by component (workers with their flow runs and
ffmpeg, Prefect servers, gateway, PostgreSQL), and the gateway's /metrics job counters next to
the ledger's counts.

    .venv/bin/python benchmarks/capacity.py --prefect sqlite --ledger sqlite --workers 1 --jobs 20
    .venv/bin/python benchmarks/capacity.py --prefect postgres --ledger postgres --workers 4
    .venv/bin/python benchmarks/capacity.py --api-servers 2 --workers 2 --kill-api-at 25 --reap
    .venv/bin/python benchmarks/capacity.py --api-servers 2 --balancer --workers 2 --kill-api-at 25
    .venv/bin/python benchmarks/capacity.py --prefect postgres --ledger postgres --workers 2 \
        --jobs 1000 --rate 0.5            # the 1,000-job run of docs/CAPACITY.md

Loopback only; PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 as in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.loadtest import PROFILES, measure_load, write_reports  # noqa: E402
from infra.store.api_keys import ApiKeyStore  # noqa: E402
from infra.store.ledger import JobLedger  # noqa: E402
from tests.support.tools import free_port  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 dbname=postgres user=postgres"
POOL = "reelflow-process"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED"}


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELFLOW_", "PREFECT_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        PREFECT_HOME=str(home / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_TO_API_ENABLED="false",
    )
    return env


@contextlib.contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


class Procs:
    """Child processes in their own groups, stopped (TERM, then KILL) in reverse order."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc)


def direct_engine_template(home: Path) -> Path:
    """The process pool's default template with its command set: the worker then starts
    ``python -m prefect.engine`` itself, without Prefect 3.8's workspace supervisor (a second
    Python process per flow run that imports Prefect to prepare a uv workspace reelflow does not
    use)."""
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    command = f"{sys.executable} -m prefect.engine"
    template["variables"]["properties"]["command"]["default"] = command
    path = home / "process-pool-template.json"
    path.write_text(json.dumps(template))
    return path


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited ({proc.returncode}) before {url} answered")
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer in {timeout_s:g} s")
        time.sleep(1)


def prefect(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"prefect {' '.join(args)} failed: {done.stdout}{done.stderr}")


def wait_workers_online(api: str, count: int, timeout_s: float = 300) -> None:
    """Until Prefect reports ``count`` ONLINE workers in the pool (their first poll is done)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = httpx.post(f"{api}/work_pools/{POOL}/workers/filter", json={}, timeout=30)
        online = [w for w in answer.json() if w.get("status") == "ONLINE"]
        if len(online) >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(online)} of {count} workers online after {timeout_s:g} s")
        time.sleep(1)


def tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds of processes and every child they reaped (flow runs, ffmpeg)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = proc.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
    return total


def postgres_pids() -> list[int]:
    """The PostgreSQL postmaster(s): their tree holds every backend, live or reaped. The server is
    shared with other programs on this machine, so its figure is an upper bound of ours."""
    found = []
    for proc in psutil.process_iter(["name", "ppid"]):
        if not (proc.info["name"] or "").startswith("postgres"):
            continue
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(proc.info["ppid"]).name()
            if not parent.startswith("postgres"):
                found.append(proc.pid)
    return found


class CpuMeter:
    """CPU seconds by component between start() and stop(); a killed process keeps what it had
    used when last sampled (every 2 s)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[str, float]:
        return {name: tree_cpu_s(pids) for name, pids in self.groups.items()}

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            for name, value in self._sample().items():
                self.last[name] = max(self.last.get(name, 0.0), value)

    def start(self) -> None:
        self.first = self._sample()
        self.last = dict(self.first)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        for name, value in self._sample().items():
            self.last[name] = max(self.last.get(name, 0.0), value)
        return {name: round(self.last[name] - self.first[name], 1) for name in self.groups}


def metrics_counts(gateway_url: str) -> dict[str, float]:
    """reelflow_jobs_finished_total by outcome and reelflow_jobs_submitted_total, from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    body = httpx.get(f"{gateway_url}/metrics", timeout=30).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "reelflow_jobs_finished_total":
                key = sample.labels["outcome"]
                counts[key] = counts.get(key, 0.0) + sample.value
            elif sample.name == "reelflow_jobs_submitted_total":
                counts["submitted"] = counts.get("submitted", 0.0) + sample.value
    return counts


def ledger_counts(ledger_url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from infra.store.schema import Job

    ledger = JobLedger(ledger_url)
    try:
        rows = ledger.read(
            lambda s: s.execute(select(Job.status, func.count()).group_by(Job.status)).all()
        )
    finally:
        ledger.dispose()
    return {str(getattr(k, "value", k)).lower(): int(v) for k, v in rows}


def matching_metrics(gateway_url: str, ledger_url: str, timeout_s: float = 60) -> dict:
    """Scrape until /metrics' finished counters equal the ledger's terminal counts."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = metrics_counts(gateway_url)
        ledger = ledger_counts(ledger_url)
        equal = all(
            seen.get(o, 0.0) == ledger.get(o, 0) for o in ("succeeded", "failed", "canceled")
        ) and seen.get("submitted", 0.0) == sum(ledger.values())
        if equal or time.monotonic() > deadline:
            return {"metrics": seen, "ledger": ledger, "equal": equal}
        time.sleep(3)


def reap_lost(
    api: str, ledger_url: str, gateway_url: str, key: str, lost: list[str]
) -> dict[str, object]:
    """What the scheduled `reaper` flow does, run once after the drain with its default settings:
    a job silent for 120 s whose flow run is final becomes terminal. Returns each lost job's
    status (and error code) afterwards, as the API reports it."""
    os.environ["PREFECT_API_URL"] = api  # before Prefect is imported by the reaper's module
    from prefect.context import refresh_global_settings_context

    from infra.settings import LedgerSettings, Settings
    from tasks.maintenance import reap_jobs

    refresh_global_settings_context()  # in case Prefect was imported before the URL was set

    ledger = JobLedger(ledger_url)
    try:
        settings = Settings(ledger=LedgerSettings(url=ledger_url))
        reap = reap_jobs(ledger, settings)
    finally:
        ledger.dispose()
    after = {}
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}) as c:
        for job_id in lost:
            doc = c.get(f"/v1/jobs/{job_id}", timeout=30).json()
            after[job_id] = f"{doc['status']} {(doc.get('error') or {}).get('code') or ''}".strip()
    return {"reaped": {k: len(v) for k, v in reap.items()}, "jobs": after}


def haproxy_config(listen_port: int, api_ports: list[int]) -> str:
    """HAProxy in front of the Prefect API processes: health-checked, a refused connection is
    retried on the other process, websockets (Prefect's event stream) pass through."""
    servers = "\n".join(
        f"    server api{i} 127.0.0.1:{port} check inter 1s fall 2 rise 2"
        for i, port in enumerate(api_ports)
    )
    return f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout tunnel 1h
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout 502 503
frontend prefect
    bind 127.0.0.1:{listen_port}
    default_backend apis
backend apis
    balance roundrobin
    option httpchk GET /api/health
{servers}
"""


def run(args: argparse.Namespace) -> dict:
    home = Path(tempfile.mkdtemp(prefix="reelflow-capacity-"))
    logs = home / "logs"
    logs.mkdir()
    procs = Procs(logs)
    env = base_env(home)
    stack = contextlib.ExitStack()
    try:
        ha = args.api_servers > 1
        prefect_db_url: str
        if args.prefect == "postgres" or ha:
            name = stack.enter_context(pg_database("capacity_prefect"))
            prefect_db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        else:
            prefect_db_url = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
        if args.ledger == "postgres":
            name = stack.enter_context(pg_database("capacity_ledger"))
            ledger_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        else:
            ledger_url = f"sqlite:///{home / 'ledger.db'}"
        server_env = {**env, "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db_url}
        if ha:
            server_env.update(
                PREFECT_MESSAGING_BROKER="prefect_redis.messaging",
                PREFECT_MESSAGING_CACHE="prefect_redis.messaging",
                PREFECT_SERVER_EVENTS_CAUSAL_ORDERING="prefect_redis.ordering",
                PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE="prefect_redis.lease_storage",
                PREFECT_REDIS_MESSAGING_HOST="127.0.0.1",
                PREFECT_REDIS_MESSAGING_PORT="6379",
                PREFECT_REDIS_MESSAGING_DB=str(args.redis_db),
            )
        ports = [free_port() for _ in range(args.api_servers)]
        servers: list[subprocess.Popen[bytes]] = []

        def start_server(i: int) -> subprocess.Popen[bytes]:
            argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
            argv += ["--port", str(ports[i]), "--no-ui"]
            if ha:
                argv.append("--no-services")
            return procs.start(f"prefect-api-{i}", argv, server_env)

        for i in range(args.api_servers):
            servers.append(start_server(i))
            wait_http(f"http://127.0.0.1:{ports[i]}/api/health", servers[i])
        services = []
        if ha:
            argv = [sys.executable, "-m", "prefect", "server", "services", "start"]
            services.append(procs.start("prefect-services", argv, server_env))
        apis = [f"http://127.0.0.1:{p}/api" for p in ports]
        if args.balancer:
            lb_port = free_port()
            config = home / "haproxy.cfg"
            config.write_text(haproxy_config(lb_port, ports))
            lb = procs.start("haproxy", ["haproxy", "-db", "-f", str(config)], env)
            apis = [f"http://127.0.0.1:{lb_port}/api"]
            wait_http(f"{apis[0]}/health", lb)
        client_env = {**env, "PREFECT_API_URL": apis[0]}
        pool_args = ["work-pool", "create", POOL, "--type", "process", "--overwrite"]
        if args.engine_command == "direct":
            pool_args += ["--base-job-template", str(direct_engine_template(home))]
        prefect(client_env, *pool_args)
        prefect(client_env, "--no-prompt", "deploy", "--name", "video-job-process")

        reelflow_env = {
            **env,
            "REELFLOW_HOME": str(home / "home"),
            "REELFLOW_INPUT__ROOTS": str(home / "inputs"),
            "REELFLOW_LEDGER__URL": ledger_url,
            # The load is one client: its own IP limit would measure the limiter, not capacity.
            "REELFLOW_API__IP_RATE_PER_MIN": "100000",
            "REELFLOW_API__MAX_QUEUE_DEPTH": str(args.max_queue_depth),
        }
        workers = []
        for i in range(args.workers):
            worker_env = {
                **reelflow_env,
                "PREFECT_API_URL": apis[i % len(apis)],
                "PREFECT_WORKER_QUERY_SECONDS": "2",
            }
            argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
            argv += ["--type", "process", "--limit", str(args.worker_limit)]
            argv += ["--name", f"capacity-{i}"]
            workers.append(procs.start(f"worker-{i}", argv, worker_env))
        gw_port = free_port()
        argv = [sys.executable, "-c", "from cli.main import main; main()", "serve"]
        argv += ["--host", "127.0.0.1", "--port", str(gw_port), "--no-worker"]
        gateway = procs.start("gateway", argv, {**reelflow_env, "PREFECT_API_URL": apis[0]})
        gateway_url = f"http://127.0.0.1:{gw_port}"
        wait_http(f"{gateway_url}/readyz", gateway)
        wait_workers_online(apis[0], args.workers)

        ledger = JobLedger(ledger_url)
        try:
            _, key = ApiKeyStore(ledger).create(
                "capacity", rate_per_min=100_000, max_active=100_000
            )
        finally:
            ledger.dispose()
        profile = PROFILES[args.profile]
        overrides = {
            k: v
            for k, v in {
                "jobs": args.jobs,
                "clients": args.clients,
                "rate_per_s": args.rate,
                "idle_clients": args.idle_clients,
                "submit_budget_s": args.submit_budget_s,
                "drain_s": args.drain_s,
            }.items()
            if v is not None
        }
        if overrides:
            profile = dataclasses.replace(profile, name=f"{profile.name}-custom", **overrides)
        meter = CpuMeter(
            {
                "workers": [w.pid for w in workers],
                "prefect": [s.pid for s in servers + services],
                "gateway": [gateway.pid],
                "postgres": postgres_pids(),
            }
        )
        kill_report: dict[str, object] = {}
        if args.kill_api_at is not None and ha:

            def kill_and_restart() -> None:
                time.sleep(args.kill_api_at)
                victim = servers[-1]
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait(timeout=30)
                kill_report["killed_at_s"] = args.kill_api_at
                time.sleep(args.restart_after)
                servers[-1] = start_server(len(servers) - 1)
                kill_report["restarted_after_s"] = args.restart_after

            threading.Thread(target=kill_and_restart, daemon=True).start()
        meter.start()
        report = measure_load(
            gateway_url,
            key,
            profile,
            ledger_url=ledger_url,
            prefect_db_url=prefect_db_url,
            gateways=[gateway.pid],
            workers=[w.pid for w in workers],
        )
        cpu = meter.stop()
        reaped: dict[str, object] = {}
        if args.reap and report.lost:
            try:
                reaped = reap_lost(apis[0], ledger_url, gateway_url, key, report.lost_ids)
            except Exception as exc:  # the load's own numbers still get printed
                reaped = {"error": repr(exc), "jobs": {}}
        if args.out:
            write_reports(report, Path(args.out))
        done = max(1, report.succeeded + report.failed + report.canceled)
        return {
            "setup": {
                "prefect": "postgres" if ha else args.prefect,
                "ledger": args.ledger,
                "api_servers": args.api_servers,
                "redis_messaging": ha,
                "balancer": bool(args.balancer),
                "workers": args.workers,
                "worker_limit": args.worker_limit,
                "profile": dataclasses.asdict(profile),
            },
            "report": dataclasses.asdict(report),
            "cpu_s": cpu,
            "cpu_s_per_job": {k: round(v / done, 2) for k, v in cpu.items()},
            "metrics_vs_ledger": matching_metrics(gateway_url, ledger_url),
            "api_kill": kill_report,
            "after_reaper": reaped,
        }
    finally:
        procs.stop_all()
        stack.close()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(home)], check=False)
        else:
            print(f"kept {home}", file=sys.stderr)


TABLE_HEADER = (
    "| run | prefect | ledger | API procs | workers x limit | jobs | ok | failed | lost "
    "| jobs/min | submit p50/p95/p99 ms | e2e p50/p95 s | queue wait p50/p95 s "
    "| CPU s/job workers/prefect/gateway/pg | peak RSS gateway/workers MB "
    "| ledger / Prefect DB growth MB | metrics = ledger | load avg |\n"
    "|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---|---|---|---|---|---|---|"
)


def table_row(name: str, result: dict) -> str:
    """One Markdown row of docs/CAPACITY.md from a run's JSON line."""
    setup, r, cpu = result["setup"], result["report"], result["cpu_s_per_job"]

    def ms(d: dict) -> str:
        return "/".join("-" if v is None else f"{v:.0f}" for v in d.values())

    def mb(d: dict) -> str:
        return "-" if d["growth"] is None else f"{d['growth'] / 2**20:.1f}"

    load = r["load_average"]
    api = f"{setup['api_servers']}{' + HAProxy' if setup.get('balancer') else ''}"
    lost = str(r["lost"])
    if result.get("after_reaper"):
        left = [s for s in result["after_reaper"]["jobs"].values() if s.split()[0] not in TERMINAL]
        lost += f" → {len(left)} after the reaper"
    return (
        f"| {name} | {setup['prefect']} | {setup['ledger']} | {api} "
        f"| {setup['workers']} x {setup['worker_limit']} | {r['submitted']} | {r['succeeded']} "
        f"| {r['failed']} | **{lost}** | {r['throughput_jobs_per_min']} "
        f"| {ms(r['submit_latency_ms'])} | {ms(r['end_to_end_s'])} | {ms(r['queue_wait_s'])} "
        f"| {cpu['workers']}/{cpu['prefect']}/{cpu['gateway']}/{cpu['postgres']} "
        f"| {r['peak_rss_mb'].get('gateway')}/{r['peak_rss_mb'].get('workers')} "
        f"| {mb(r['ledger_bytes'])} / {mb(r['prefect_db_bytes'])} "
        f"| {'yes' if result['metrics_vs_ledger']['equal'] else 'NO'} "
        f"| {load['start'][0]} → {load['end'][0]} |"
    )


def main() -> None:
    if sys.argv[1:2] == ["table"]:  # capacity.py table RUN.json ...: the rows of CAPACITY.md
        print(TABLE_HEADER)
        for path in sys.argv[2:]:
            print(table_row(Path(path).stem, json.loads(Path(path).read_text())))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefect", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--ledger", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-limit", type=int, default=2, help="flow runs per worker")
    parser.add_argument("--api-servers", type=int, default=1, choices=[1, 2])
    parser.add_argument("--kill-api-at", type=float, default=None, help="s after the start")
    parser.add_argument("--restart-after", type=float, default=5.0)
    parser.add_argument("--redis-db", type=int, default=7)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="standard")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--rate", type=float, help="submissions per second")
    parser.add_argument("--idle-clients", type=int)
    parser.add_argument("--submit-budget-s", type=float, help="stop submitting after this")
    parser.add_argument("--drain-s", type=float, help="then wait this long for the rest")
    parser.add_argument("--max-queue-depth", type=int, default=200)
    parser.add_argument(
        "--engine-command",
        choices=["prefect", "direct"],
        default="prefect",
        help="how the process worker starts a flow run: Prefect's workspace supervisor (its "
        "default) or `python -m prefect.engine` directly (the pool's command set)",
    )
    parser.add_argument(
        "--balancer",
        action="store_true",
        help="HAProxy in front of the API processes; every client talks to it",
    )
    parser.add_argument(
        "--reap", action="store_true", help="after the drain, run the reaper on lost jobs"
    )
    parser.add_argument("--out", help="also write the Markdown/JSON load reports here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    result = run(parser.parse_args())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
