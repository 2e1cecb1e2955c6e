"""Webhook delivery as a Prefect task: the outbox's due rows, sent once (infra/webhooks)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.settings import get_settings
from infra.store.artifacts import open_store
from infra.store.ledger import JobLedger
from infra.webhooks.delivery import deliver_due

__all__ = ["deliver_task"]


@task(name="deliver", cache_policy=NO_CACHE)
def deliver_task() -> dict[str, int]:
    settings = get_settings()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        return deliver_due(ledger, open_store(settings), settings)
    finally:
        ledger.dispose()
