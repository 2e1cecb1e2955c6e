"""Small helpers the tests share: the Prefect CLI as a subprocess, tiny lavfi clips."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Collection, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_cli(*args: str, api_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m prefect ARGS`` from the project root against ``api_url``."""
    return subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env={**os.environ, "PREFECT_API_URL": api_url, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def make_clip(path: Path, size: str = "160x90", seconds: float = 1, audio: bool = False) -> Path:
    """A real H.264 (+ AAC) clip from ffmpeg's test sources; the container follows the suffix."""
    argv = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=10",
    ]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440", "-c:a", "aac", "-shortest"]
    argv += ["-t", str(seconds), "-c:v", "libx264", str(path)]
    subprocess.run(argv, check=True, timeout=60)
    return path


LONG_DOC = "\n".join(
    f"# Part {i}\n\nReelflow renders narrated slides from documents with clear stages and "
    "strict limits, so operators know what happened.\n"
    for i in range(20)
)


PROCESS_POOL = "reelflow-process"
PROCESS_DEPLOYMENT = "video-job-process"


def deploy_to_pool(
    api_url: str, pool: str, kind: str, deployment: str, *, create_pool: bool = True
) -> None:
    """Create work pool ``pool`` of type ``kind`` (unless ``create_pool`` is False) and deploy
    ``deployment`` from prefect.yaml to it, through the Prefect CLI as an operator would."""
    steps = [("work-pool", "create", pool, "--type", kind, "--overwrite")] if create_pool else []
    for args in [*steps, ("--no-prompt", "deploy", "--name", deployment)]:
        done = prefect_cli(*args, api_url=api_url)
        assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def pool_worker(
    api_url: str,
    pool: str,
    kind: str,
    deployment: str,
    *,
    log: Path | None = None,
    create_pool: bool = True,
    deploy: bool = True,
    limit: int | None = None,
    **env: str,
) -> Iterator[subprocess.Popen]:
    """Work pool ``pool`` of type ``kind`` (unless ``create_pool`` is False: the caller made it),
    ``deployment`` from prefect.yaml (unless ``deploy`` is False: deployed already), and one
    worker polling every second (its output goes to ``log`` when given) taking at most ``limit``
    runs at once (default: 2 on a Docker pool, 1 on a process pool)."""
    if create_pool or deploy:
        deploy_to_pool(api_url, pool, kind, deployment, create_pool=create_pool)
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", kind]
        + ["--limit", str(limit or (2 if kind == "docker" else 1))],
        cwd=ROOT,
        env={**os.environ, "PREFECT_API_URL": api_url, "PREFECT_WORKER_QUERY_SECONDS": "1", **env},
        stdout=out,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never leave a worker polling behind a failed run
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        if log is not None:
            out.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def process_worker(api_url: str, reelflow_home: Path, **env: str) -> Iterator[subprocess.Popen]:
    """A worker polling every second on the process work pool, whose video-job-process
    deployment the session's ``process_pool`` fixture made (request it with this helper)."""
    with pool_worker(
        api_url,
        PROCESS_POOL,
        "process",
        PROCESS_DEPLOYMENT,
        create_pool=False,
        deploy=False,
        REELFLOW_HOME=str(reelflow_home),
        **env,
    ) as worker:
        yield worker


def encoder_of(job_id: str):
    """The running ffmpeg encode (the one with a filter graph) of a job, if any."""
    import psutil

    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if (
            proc.info["name"] == "ffmpeg"
            and any(job_id in a for a in cmdline)
            and "-filter_complex" in cmdline
        ):
            return proc
    return None


def start_long_job(source: Path):
    """Queue a 20-slide hd job on video-job-process; wait until its encode runs.

    Returns (flow run id, the ffmpeg encoder process).
    """
    from prefect.deployments import run_deployment

    from tests.support.waiting import wait_until

    source.write_text(LONG_DOC)
    run = run_deployment(
        "video-job/video-job-process",
        parameters={"request": {"source": str(source), "preset": "hd"}},
        timeout=0,
    )
    encoder = wait_until(lambda: encoder_of(str(run.id)), 90, "the job's encode")
    return run.id, encoder


def stage_run_count(flow_run_id: object, stage: str) -> int:
    """How often a flow run's ``stage`` task ran (first try plus retries), says Prefect."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sum(r.run_count for r in runs if r.name.startswith(stage))


def wait_for_run(
    flow_run_id: object, timeout_s: float, names: Collection[str] = (), poll_s: float = 0.1
):
    """The flow run's state once it is in one of ``names`` or final (fails after ``timeout_s``)."""
    from prefect.client.orchestration import get_client

    from tests.support.waiting import wait_until

    with get_client(sync_client=True) as client:

        def reached():
            state = client.read_flow_run(flow_run_id).state  # type: ignore[arg-type]
            if state is not None and (state.name in names or state.is_final()):
                return state
            return None

        what = f"flow run {flow_run_id} in {set(names)} or final"
        return wait_until(reached, timeout_s, what, poll=poll_s)
