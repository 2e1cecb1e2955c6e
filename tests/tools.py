"""Small helpers the tests share: the Prefect CLI as a subprocess, tiny lavfi clips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
