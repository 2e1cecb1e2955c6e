"""The user's real path: ``reelflow run`` as a whole process vs the bare commands, side by side.

Measures, on the embedded default (a fresh REELFLOW_HOME, no PREFECT_API_URL):
  1. ``reelflow run`` of a file that does not exist (the refusal: before Prefect is imported);
  2. the first ``reelflow run samples/sample.md`` (it starts the local Prefect server once);
  3. the next runs (the server found running, the warm runner of cli/warm.py ready: what a
     user's second command meets), median of ``--rounds``;
  4. the same runs with the warm runner off (``REELFLOW_PREFECT__WARM_RUNNER=false``: each run
     imports Prefect and the flows itself and waits for Prefect's teardown);
  5. the bare espeak-ng + ffmpeg commands for the same outputs (benchmarks/render_vs_bare.py's
     ``bare``: TTS per slide, one encode into the ladder + thumbnail, one HLS cut), same preset;
and prints the ratios of (3) and (4) to (5) (issue 10's target: <= 1.5x).

    .venv/bin/python benchmarks/cli_run_vs_bare.py [--rounds 3] [--preset hd]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

REELFLOW = Path(sys.executable).with_name("reelflow")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(args: list[str], env: dict[str, str], expect: int = 0) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def _runner(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [str(REELFLOW), "server", "status"], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout)["warm_runner"])


def _wait_for_runner(env: dict[str, str], timeout_s: float = 120) -> None:
    """The runner the first run started, ready (as it is when a user types the next command)."""
    deadline = time.monotonic() + timeout_s
    while not _runner(env).get("running"):
        if time.monotonic() > deadline:
            raise SystemExit("the warm runner did not start; see <home>/warm-runner.log")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="hd")
    parser.add_argument("--sample", default=str(ROOT / "samples" / "sample.md"))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="reelflow-cli-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REELFLOW_"))}
    env.update(
        REELFLOW_HOME=str(tmp / "home"),
        PREFECT_HOME=str(tmp / "prefect"),
        REELFLOW_PREFECT__LOCAL_SERVER_PORT=str(_free_port()),
    )
    run = [str(REELFLOW), "run", args.sample, "--preset", args.preset]
    os.environ.update({k: v for k, v in env.items() if k.startswith("REELFLOW_")})
    os.environ["REELFLOW_INPUT__ROOTS"] = str(Path(args.sample).parent)
    from render_vs_bare import bare

    from infra.settings import get_settings
    from tasks.probe import inspect_document
    from tasks.script.extractive import write_script

    settings = get_settings()
    script = write_script(inspect_document(Path(args.sample), settings), "en", settings.script)
    later: list[float] = []
    cold: list[float] = []
    bare_times: list[float] = []
    off = {**env, "REELFLOW_PREFECT__WARM_RUNNER": "false"}
    try:
        refusal = statistics.median(
            _timed([str(REELFLOW), "run", str(tmp / "missing.md")], env, expect=2) for _ in range(3)
        )
        first = _timed(run, env)
        _wait_for_runner(env)
        for i in range(args.rounds):  # interleaved, so every side meets the same machine load
            later.append(_timed(run, env))
            cold.append(_timed(run, off))
            bare_times.append(bare(script, tmp / f"bare{i}", args.preset, settings))
        served = _runner(env)["served"]
    finally:
        subprocess.run([str(REELFLOW), "server", "stop"], env=env, check=False, capture_output=True)

    second, plain = statistics.median(later), statistics.median(bare_times)
    in_process = statistics.median(cold)
    print(f"\npreset={args.preset} rounds={args.rounds} cores={os.cpu_count()} {args.sample}")
    print(f"refusal of a missing file (whole process, median of 3): {refusal:.2f} s")
    print(f"first run (starts the local Prefect server):            {first:.2f} s")
    print(f"later runs (warm runner, {served} served), median:        {second:.2f} s")
    print(f"later runs without the warm runner, median:             {in_process:.2f} s")
    print(f"bare espeak-ng + ffmpeg commands, median:               {plain:.2f} s")
    print(f"ratio later run / bare:                                  {second / plain:.2f}x")
    print(f"ratio later run without the warm runner / bare:          {in_process / plain:.2f}x")


if __name__ == "__main__":
    main()
