"""``reelflow serve`` with nothing configured (the embedded default) accepts a job over HTTP and
runs it to SUCCEEDED: it starts the local Prefect server, registers the process deployments, runs
a job worker and a maintenance worker (the job's callback arrives) and stops both when it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.infra.api.jobs import wait_terminal
from tests.support.documents import SAMPLE_MARKDOWN
from tests.support.tools import ROOT, free_port
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.api, pytest.mark.prefect, pytest.mark.media, pytest.mark.timeout(900)]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_serve_runs_a_job_to_success_with_nothing_configured(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELFLOW_", "PREFECT_"))}
    port = free_port()
    env.update(
        PYTHONPATH=str(ROOT),
        HOME=str(tmp_path),  # ~/.reelflow and ~/.prefect of this test only
        REELFLOW_PREFECT__LOCAL_SERVER_PORT=str(free_port()),
        REELFLOW_NET__ALLOW_HOSTS="127.0.0.1",  # only so the callback may reach this test
    )
    receiver = WebhookReceiver(secrets=[])
    created = _cli(env, "keys", "create", "embedded")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    log = (tmp_path / "serve.log").open("ab")
    serve = subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 420, "reelflow serve's /readyz", poll=1)
        workers = [
            p
            for p in psutil.Process(serve.pid).children(recursive=True)
            if "worker" in " ".join(p.cmdline())
        ]
        pools = {p.cmdline()[p.cmdline().index("--pool") + 1] for p in workers}
        assert pools == {"reelflow-process", "reelflow-maintenance"}, pools
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
            answer = client.post(
                "/v1/jobs",
                files={"file": ("notes.md", SAMPLE_MARKDOWN.encode())},
                data={"preset": "tiny", "callback_url": receiver.url},
                timeout=60,
            )
            assert answer.status_code == 202, answer.text
            done = wait_terminal(client, answer.json()["id"], timeout_s=400)
        assert done["status"] == "SUCCEEDED", done
        video = Path(done["outputs"]["video"].removeprefix("file://"))
        assert video.is_file() and video.is_relative_to(tmp_path / ".reelflow" / "artifacts")
        # The local store cannot presign over HTTP: the gateway streams the segments itself
        # under the playback token, so a player still needs only links.playback.
        played = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", done["links"]["playback"]]
            + ["-map", "0", "-c", "copy", "-f", "null", "-"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert played.returncode == 0, played.stderr
        # The job's outcome reaches its callback through the automation and the maintenance
        # worker's deliver-webhooks run.
        wait_until(
            lambda: any(r.json["type"] == "job.succeeded" for r in receiver.received),
            180,
            "the job.succeeded callback",
            poll=0.5,
        )
    finally:
        receiver.stop()
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=60)
        log.close()
        _cli(env, "server", "stop")
    assert all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers)
