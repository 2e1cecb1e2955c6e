"""The job API under load, on the embedded default (`reelflow serve` with nothing configured:
local Prefect server, process worker, SQLite ledger, local store).

1. N concurrent clients (threads) each upload one tiny Markdown job and poll it to its end:
   submit latency p50/p95/p99, poll latency, end-to-end time, gateway RSS (sampled every 0.2 s).
2. One media-sized upload (an MP4 header and padding, 200 MB by default) streamed to the gateway:
   its RSS before, peak during and after (target: growth under 50 MB, i.e. streaming).

Loopback only, bounded in count and time; everything lives in a temporary HOME that is removed.

    .venv/bin/python benchmarks/api_load.py [--clients 20] [--upload-mb 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.documents import SAMPLE_MARKDOWN  # noqa: E402
from tests.support.tools import free_port  # noqa: E402

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED"}
MB = 1024 * 1024


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip()


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self.rss())

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def serve_process(env: dict[str, str], port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``reelflow serve --port PORT`` in its own session, its output appended to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_client(url: str, key: str, out: dict[str, list[float]], deadline: float) -> None:
    try:
        _client(url, key, out, deadline)
    except httpx.HTTPError as exc:
        out["error"].append(1)
        print(f"  client error: {type(exc).__name__}: {exc}")


def _client(url: str, key: str, out: dict[str, list[float]], deadline: float) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=900) as c:
        started = time.perf_counter()
        answer = c.post(
            "/v1/jobs",
            files={"file": ("notes.md", SAMPLE_MARKDOWN.encode())},
            data={"preset": "tiny"},
        )
        out["submit"].append(time.perf_counter() - started)
        if answer.status_code != 202:
            out["refused"].append(f"{answer.status_code} {answer.json()['error']['code']}")
            return
        job_id = answer.json()["id"]
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            doc = c.get(f"/v1/jobs/{job_id}").json()
            out["poll"].append(time.perf_counter() - t0)
            if doc["status"] in TERMINAL:
                out["e2e"].append(time.perf_counter() - started)
                out[doc["status"]].append(1)
                return
            time.sleep(1.0)
        out["lost"].append(1)


def media_body(size: int) -> Iterator[bytes]:
    """An MP4 signature then zeros: sniffed as media, never held whole in this process."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    boundary = "benchboundary"
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nmedia\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"'
        "\r\nContent-Type: video/mp4\r\n\r\n"
    ).encode() + head
    left = size - len(head)
    chunk = b"\x00" * MB
    while left > 0:
        yield chunk[: min(MB, left)]
        left -= MB
    yield f"\r\n--{boundary}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--timeout-s", type=float, default=1200)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="reelflow-api-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELFLOW_", "PREFECT_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        HOME=str(home),
        REELFLOW_PREFECT__LOCAL_SERVER_PORT=str(free_port()),
        REELFLOW_INPUT__MAX_MEDIA_BYTES=str((args.upload_mb + 10) * MB),
        # The big upload is zeros behind an MP4 header: the document deployment's probe refuses
        # it at once (a media job would spend a probe on it); the upload is what is measured.
        REELFLOW_PREFECT__MEDIA_DEPLOYMENT="video-job/video-job-process",
    )
    key = cli(env, "keys", "create", "bench", "--rate", "100000/min", "--max-active", "1000")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "serve.log").open("ab")
    serve = serve_process(env, port, log)
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if serve.poll() is not None or time.monotonic() - t0 > 600:
                raise SystemExit(f"serve did not start; see {home / 'serve.log'}")
            time.sleep(1)
        print(f"embedded serve ready in {time.monotonic() - t0:.0f} s (server, deploy, worker)")

        out: dict[str, list[float]] = {
            k: [] for k in ("submit", "poll", "e2e", "refused", "lost", "error", *TERMINAL)
        }
        deadline = time.monotonic() + args.timeout_s
        with RssSampler(serve.pid) as rss:
            idle = rss.rss()
            threads = [
                threading.Thread(target=run_client, args=(url, key, out, deadline))
                for _ in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            busy_peak = rss.peak
        ms = [s * 1000 for s in out["submit"]]
        polls = [s * 1000 for s in out["poll"]]
        print(f"\n{args.clients} clients, one tiny job each (worker limit 4, 2 cores)")
        print(
            f"  submit latency ms: p50 {pct(ms, 50):.0f}  p95 {pct(ms, 95):.0f}  "
            f"p99 {pct(ms, 99):.0f}  (n={len(ms)})"
        )
        print(
            f"  poll latency ms:   p50 {pct(polls, 50):.1f}  p95 {pct(polls, 95):.1f}  "
            f"p99 {pct(polls, 99):.1f}  (n={len(polls)})"
        )
        print(
            f"  end to end s:      p50 {statistics.median(out['e2e']):.1f}  "
            f"p95 {pct(out['e2e'], 95):.1f}"
        )
        print(
            f"  outcomes: succeeded {len(out['SUCCEEDED'])}, failed {len(out['FAILED'])}, "
            f"canceled {len(out['CANCELED'])}, refused {out['refused']}, lost {len(out['lost'])}"
        )
        print(f"  gateway RSS: idle {idle / MB:.0f} MB, peak {busy_peak / MB:.0f} MB")

        size = args.upload_mb * MB
        with RssSampler(serve.pid) as rss, httpx.Client(base_url=url, timeout=600) as c:
            before = rss.rss()
            t1 = time.perf_counter()
            answer = c.post(
                "/v1/jobs",
                content=media_body(size),
                headers={
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "multipart/form-data; boundary=benchboundary",
                },
            )
            took = time.perf_counter() - t1
            after = rss.rss()
            peak = rss.peak
            if answer.status_code == 202:
                c.post(
                    f"/v1/jobs/{answer.json()['id']}/cancel",
                    headers={"Authorization": f"Bearer {key}"},
                )
        print(
            f"\n{args.upload_mb} MB media upload: HTTP {answer.status_code} in {took:.1f} s "
            f"({args.upload_mb / took:.0f} MB/s)"
        )
        print(
            f"  gateway RSS: before {before / MB:.0f} MB, peak {peak / MB:.0f} MB, after "
            f"{after / MB:.0f} MB; growth {(peak - before) / MB:.1f} MB (target < 50 MB)"
        )
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=60)
        log.close()
        subprocess.run(
            [sys.executable, "-c", "from cli.main import main; main()", "server", "stop"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        subprocess.run(["rm", "-rf", str(home)], check=False)


if __name__ == "__main__":
    main()
