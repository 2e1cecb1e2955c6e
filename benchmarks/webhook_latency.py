"""Webhook latencies on the embedded default (`reelflow serve`, nothing else configured but one
generic hook and the loopback allow-list for the receiver), side by side in one run.

Per round (one job at a time, so this is latency, not throughput):
  1. a signed request to ``/v1/hooks/generic/bench`` → Prefect event → automation → flow run:
     seconds from the request to the flow run's Running state (Prefect's own start time);
  2. the same job submitted through ``POST /v1/jobs``: seconds from the request to Running;
  3. that API job's ``callback_url``: seconds from the ledger's finished_at to the receiver
     getting ``job.succeeded`` (automation on the outcome event → deliver-webhooks run).
Prints medians of ``--rounds`` (default 10) and the ratio hook path / API path.

    .venv/bin/python benchmarks/webhook_latency.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from api_load import cli, serve_process  # noqa: E402

from infra.webhooks.signing import HEADER, signature_header  # noqa: E402
from tests.support.documents import SAMPLE_MARKDOWN  # noqa: E402
from tests.support.tools import free_port  # noqa: E402
from tests.support.webhook_receiver import WebhookReceiver  # noqa: E402

SECRET = "bench-hook-secret-0123456789abcdef"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED")


def _wait(what: str, probe, timeout_s: float = 600):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def row(self, job_id: str) -> tuple[str, str | None, str | None] | None:
        if not self.path.exists():
            return None
        with sqlite3.connect(self.path, timeout=30) as conn:
            found = conn.execute(
                "SELECT status, flow_run_id, finished_at FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return tuple(found) if found else None  # type: ignore[return-value]


def _running_at(prefect: str, flow_run_id: str) -> float | None:
    run = httpx.get(f"{prefect}/flow_runs/{flow_run_id}", timeout=30).json()
    start = run.get("start_time")
    return datetime.fromisoformat(start).timestamp() if start else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="reelflow-hook-bench-"))
    inputs = home / "inputs"
    inputs.mkdir()
    prefect_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELFLOW_", "PREFECT_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        HOME=str(home),
        REELFLOW_PREFECT__LOCAL_SERVER_PORT=str(prefect_port),
        REELFLOW_INPUT__ROOTS=str(inputs),
        REELFLOW_NET__ALLOW_HOSTS="127.0.0.1",
        REELFLOW_WEBHOOKS__GENERIC_HOOKS=json.dumps(
            {"bench": {"secret": SECRET, "deployment": "video-job/video-job-process"}}
        ),
    )
    prefect = f"http://127.0.0.1:{prefect_port}/api"
    key = cli(env, "keys", "create", "bench", "--rate", "100000/min", "--max-active", "100")
    ledger = Ledger(home / ".reelflow" / "ledger.db")
    receiver = WebhookReceiver(secrets=[])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "serve.log").open("ab")
    serve = serve_process(env, port, log)
    hook_s: list[float] = []
    api_s: list[float] = []
    callback_s: list[float] = []
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                if serve.poll() is not None:
                    raise SystemExit(f"serve exited; see {home / 'serve.log'}") from None
                return False

        _wait("reelflow serve", ready)
        time.sleep(3)  # Prefect loads the hook's new automation into its trigger cache
        client = httpx.Client(base_url=url, timeout=120)
        for n in range(args.rounds):
            source = inputs / f"hook-{n}.md"
            source.write_text(SAMPLE_MARKDOWN)
            body = json.dumps({"source": str(source), "preset": "tiny"}).encode()
            sent = time.time()
            answer = client.post(
                "/v1/hooks/generic/bench",
                content=body,
                headers={HEADER: signature_header([SECRET], body)},
            )
            assert answer.status_code == 202, answer.text
            hook_job = answer.json()["event"]  # the event id is the job id
            run = _wait("the hook's flow run", lambda j=hook_job: (ledger.row(j) or (0, 0))[1])
            started = _wait("Running", lambda r=run: _running_at(prefect, r))
            hook_s.append(started - sent)
            _wait("the hook job's end", lambda j=hook_job: (ledger.row(j) or ("",))[0] in TERMINAL)

            sent = time.time()
            answer = client.post(
                "/v1/jobs",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": ("notes.md", SAMPLE_MARKDOWN.encode())},
                data={"preset": "tiny", "callback_url": receiver.url},
            )
            assert answer.status_code == 202, answer.text
            api_job = answer.json()["id"]
            run = _wait("the API job's flow run", lambda j=api_job: (ledger.row(j) or (0, 0))[1])
            started = _wait("Running", lambda r=run: _running_at(prefect, r))
            api_s.append(started - sent)

            def called(j: str = api_job) -> float | None:
                for got in receiver.received:
                    body = got.json
                    if body["type"] == "job.succeeded" and body["job"]["id"] == j:
                        return time.time()
                return None

            arrived = _wait("the callback", called)
            finished = ledger.row(api_job)[2]  # type: ignore[index]
            ended = datetime.fromisoformat(str(finished)).replace(tzinfo=UTC)
            callback_s.append(arrived - ended.timestamp())
            print(
                f"round {n + 1}: hook->Running {hook_s[-1]:.2f} s, API->Running {api_s[-1]:.2f} s,"
                f" end->callback {callback_s[-1]:.2f} s"
            )
    finally:
        serve.terminate()
        serve.wait(timeout=60)
        log.close()
        receiver.stop()
        cli(env, "server", "stop")
    hook, api, back = (statistics.median(v) for v in (hook_s, api_s, callback_s))
    print(f"\nembedded default, {args.rounds} rounds, cores={os.cpu_count()}")
    print(f"signed hook -> flow run Running, median:   {hook:.2f} s (max {max(hook_s):.2f})")
    print(f"POST /v1/jobs -> flow run Running, median: {api:.2f} s (max {max(api_s):.2f})")
    print(f"ratio hook / API:                          {hook / api:.2f}x")
    print(f"job end -> callback received, median:      {back:.2f} s (max {max(callback_s):.2f})")


if __name__ == "__main__":
    main()
