"""The user's real path: ``reelflow run`` as a whole process vs the bare commands, side by side.

Measures, on the embedded default (a fresh REELFLOW_HOME, no PREFECT_API_URL):
  1. ``reelflow run`` of a file that does not exist (the refusal: before Prefect is imported);
  2. the first ``reelflow run samples/sample.md`` (it starts the local Prefect server once);
  3. the next runs (the server found running), median of ``--rounds``;
  4. the bare espeak-ng + ffmpeg commands for the same outputs (benchmarks/render_vs_bare.py's
     ``bare``: TTS per slide, one encode into the ladder + thumbnail, one HLS cut), same preset;
and prints the ratio of (3) to (4) (issue 10's target: <= 1.5x).

    .venv/bin/python benchmarks/cli_run_vs_bare.py [--rounds 3] [--preset hd]
"""

from __future__ import annotations

import argparse
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
    bare_times: list[float] = []
    try:
        refusal = statistics.median(
            _timed([str(REELFLOW), "run", str(tmp / "missing.md")], env, expect=2) for _ in range(3)
        )
        first = _timed(run, env)
        for i in range(args.rounds):  # interleaved, so both sides meet the same machine load
            later.append(_timed(run, env))
            bare_times.append(bare(script, tmp / f"bare{i}", args.preset, settings))
    finally:
        subprocess.run([str(REELFLOW), "server", "stop"], env=env, check=False, capture_output=True)

    second, plain = statistics.median(later), statistics.median(bare_times)
    print(f"\npreset={args.preset} rounds={args.rounds} cores={os.cpu_count()} {args.sample}")
    print(f"refusal of a missing file (whole process, median of 3): {refusal:.2f} s")
    print(f"first run (starts the local Prefect server):            {first:.2f} s")
    print(f"later runs (server running), median:                    {second:.2f} s")
    print(f"bare espeak-ng + ffmpeg commands, median:               {plain:.2f} s")
    print(f"ratio later run / bare:                                  {second / plain:.2f}x")


if __name__ == "__main__":
    main()
