"""``reelflow keys``: job API clients (create shows the key once; only its hash is stored)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import coded, console, print_json, settings_for_cli

__all__ = ["register"]

keys_app = typer.Typer(help="API keys of the job API (reelflow serve).")


def _rate(value: str | None) -> int | None:
    if value is None:
        return None
    number = value.removesuffix("/min")
    if not number.isdigit() or int(number) < 1:
        raise typer.BadParameter(f"{value!r}: give requests per minute, e.g. 60 or 60/min")
    return int(number)


@keys_app.command("create")
@coded
def create(
    name: Annotated[str, typer.Argument(help="Client name (recorded on each of its jobs).")],
    rate: Annotated[
        str | None, typer.Option(help="Requests per minute, e.g. 60/min (default from settings).")
    ] = None,
    max_active: Annotated[
        int | None, typer.Option(help="Active jobs at once (default from settings).")
    ] = None,
    priority: Annotated[
        str, typer.Option(help="Default priority of its jobs: high, normal or low.")
    ] = "normal",
    budget_usd: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="LLM budget in USD over REELFLOW_SCRIPT__BUDGET_WINDOW_DAYS (default: setting).",
        ),
    ] = None,
) -> None:
    """Create a key and print it: it is shown this once."""
    from infra.store.api_keys import ApiKeyStore
    from infra.store.ledger import JobLedger

    settings = settings_for_cli()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        client, key = ApiKeyStore(ledger).create(
            name,
            rate_per_min=_rate(rate) or settings.api.key_rate_per_min,
            max_active=max_active or settings.api.key_max_active,
            priority=priority,
            budget_usd=budget_usd,
        )
    finally:
        ledger.dispose()
    console.print(key, markup=False)
    err = typer.get_text_stream("stderr")
    err.write(
        f"key for {client.name} ({client.rate_per_min}/min, {client.max_active} active jobs): "
        "store it now, it is not shown again\n"
        f"its webhook signing secret (docs/WEBHOOKS.md): {client.webhook_secret}\n"
    )


@keys_app.command("list")
@coded
def list_keys() -> None:
    """The keys (never the keys themselves): name, id, limits, created, revoked."""
    from infra.store.api_keys import ApiKeyStore
    from infra.store.ledger import JobLedger

    settings = settings_for_cli()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        rows = ApiKeyStore(ledger).list()
    finally:
        ledger.dispose()
    print_json(
        [
            {
                "name": client.name,
                "id": client.id,
                "rate_per_min": client.rate_per_min,
                "max_active": client.max_active,
                "priority": client.priority,
                "created_at": row.created_at,
                "revoked_at": row.revoked_at,
            }
            for client, row in rows
        ]
    )


@keys_app.command("rotate-secret")
@coded
def rotate_secret(name: Annotated[str, typer.Argument(help="Client name.")]) -> None:
    """A new webhook signing secret for a client, printed; the old one stays valid until the next
    rotation (callbacks carry one signature per valid secret)."""
    from infra.store.api_keys import rotate_webhook_secret
    from infra.store.ledger import JobLedger

    settings = settings_for_cli()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        console.print(rotate_webhook_secret(ledger, name), markup=False)
    finally:
        ledger.dispose()


@keys_app.command("revoke")
@coded
def revoke(name: Annotated[str, typer.Argument(help="Client name.")]) -> None:
    """Revoke a key: its next request is 401. Idempotent."""
    from infra.store.api_keys import ApiKeyStore
    from infra.store.ledger import JobLedger

    settings = settings_for_cli()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        changed = ApiKeyStore(ledger).revoke(name)
    finally:
        ledger.dispose()
    console.print(f"{name}: revoked" + ("" if changed else " (already)"), markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
