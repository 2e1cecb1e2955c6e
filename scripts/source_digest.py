"""Print the digest of everything the worker image is built from.

build-image.sh stamps it on the image as the label ``reelflow.source-digest``; the Docker tests
compare it with the checkout's and refuse to run a stale image ("run make image"). Stdlib only:
it runs with the host's python3 before any virtualenv exists.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What infra/deploy/docker/Dockerfile copies, and the files that decide how it builds.
INPUTS = ("pyproject.toml", "prefect.yaml", "README.md", "cli", "flows", "tasks", "infra")
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def source_digest(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        base = root / name
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for path in files:
            if (
                not path.exists()
                or SKIP_PARTS & set(path.parts)
                or path.suffix == ".pyc"
                or path.name == ".env"
                or path.name.startswith(".env.")
            ):  # what the image build ignores (Dockerfile.dockerignore), secrets included
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    print(source_digest(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
