"""``reelflow webhooks``: the outbox of signed callbacks (list, replay, deliver now)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import coded, console, print_json, service, settings_for_cli

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(help="Webhook callbacks: the delivery log, replays.")


@webhooks_app.command("list")
@coded
def list_deliveries(
    job: Annotated[
        str | None, typer.Option(help="Only this job's deliveries, with attempts.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, delivered, failed or disabled.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 50,
) -> None:
    """Recent deliveries (or one job's, with every attempt)."""
    settings = settings_for_cli()
    with service(settings) as jobs:
        outbox = jobs.ledger.outbox
        print_json(outbox.for_job(job) if job else outbox.list_recent(limit, status))


@webhooks_app.command("replay")
@coded
def replay(event_id: Annotated[str, typer.Argument(help="The event id to deliver again.")]) -> None:
    """Deliver an event again to its endpoints (a disabled endpoint stays disabled)."""
    settings = settings_for_cli()
    with service(settings) as jobs:
        count = jobs.ledger.outbox.replay(event_id)
    console.print(f"{event_id}: {count} deliveries queued again", markup=False)


@webhooks_app.command("deliver")
@coded
def deliver_now() -> None:
    """Send every due delivery once, now (what the deliver-webhooks flow does)."""
    from infra.webhooks.delivery import deliver_due

    settings = settings_for_cli()
    with service(settings) as jobs:
        print_json(deliver_due(jobs.ledger, jobs.store, settings))
