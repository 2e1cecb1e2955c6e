"""The ``reelflow`` console script: a ``reelflow run`` goes to this home's warm runner when one
serves the same configuration (:mod:`cli.warm`); everything else runs :mod:`cli.main` here.

Standard library only until the hand-off is decided: a warm run must not pay for the imports it
exists to avoid.
"""

from __future__ import annotations

import sys

from cli import warm

__all__ = ["main"]


def main() -> None:  # pragma: no cover - console entry point (tests run the installed script)
    code = warm.handoff(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    warm.ENTRY = True  # this process is a user's command: it may start the runner
    from cli.main import main as run_in_process

    run_in_process()
