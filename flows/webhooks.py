"""``deliver-webhooks``: send the outbox's due callbacks.

Started by the automation `reelflow bootstrap` creates on each job outcome event (seconds after a
job ends) and by its deployment's schedule (a sweep every minute), so a delivery never depends on
one process staying up: the outbox row was written with the outcome, and any later run sends it.
"""

from __future__ import annotations

from prefect import flow

from tasks.webhooks import deliver_task

__all__ = ["deliver_webhooks"]


@flow(name="deliver-webhooks")
def deliver_webhooks() -> dict[str, int]:
    return deliver_task()
