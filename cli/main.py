"""``reelflow``: the command line (see ``reelflow --help``).

Exit codes: 0 done; 1 the job ran and failed (its code is printed); 2 refused before any work
(``[code] message``: bad input, unknown job, configuration) or a usage error.
"""

from __future__ import annotations

import sys

import typer

from cli import admin, jobs, keys, loadtest, serve
from cli.common import err_console
from cli.webhooks import webhooks_app
from infra.errors import ReelflowError

__all__ = ["app", "main"]

app = typer.Typer(
    help="reelflow: documents and media to delivery-ready video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
jobs.register(app)
admin.register(app)
app.add_typer(webhooks_app, name="webhooks")
keys.register(app)
serve.register(app)
loadtest.register(app)


def main() -> None:  # pragma: no cover - console entry point
    try:
        app(standalone_mode=True)
    except ReelflowError as exc:  # raised outside a command (settings at start-up)
        err_console.print(f"[red]{exc.code}[/red]: ", end="")
        err_console.print(exc.message, markup=False)
        sys.exit(2)
