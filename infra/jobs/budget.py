"""Per-client LLM budgets: a job whose LLM call would take its client past the budget is refused.

A client's budget is its API key's ``budget_usd`` when set, else ``REELFLOW_SCRIPT__BUDGET_USD``;
none means no budget. What it has spent is the sum of ``jobs.cost_usd`` (each job's
``usage.cost_usd``) of its jobs created within the last ``REELFLOW_SCRIPT__BUDGET_WINDOW_DAYS``.
The check runs before each LLM call (a cache hit costs nothing and is never refused) and raises
``BudgetExceeded`` (``budget_exceeded``).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.errors import BudgetExceeded
from infra.settings import ScriptSettings
from infra.store.ledger import JobLedger
from infra.store.schema import ApiKey, Job, utcnow

__all__ = ["budget_for", "check_budget", "spent_usd"]


def budget_for(ledger: JobLedger, client: str | None, cfg: ScriptSettings) -> float | None:
    """The client's budget in USD, or None when it has none."""
    if client is None:
        return cfg.budget_usd

    def op(session: Session) -> float | None:
        key = session.scalars(select(ApiKey).where(ApiKey.name == client)).first()
        return key.budget_usd if key is not None else None

    own = ledger.read(op, "budget")
    return own if own is not None else cfg.budget_usd


def spent_usd(ledger: JobLedger, client: str | None, cfg: ScriptSettings) -> float:
    """The LLM cost of the client's jobs created within the budget window."""
    since = utcnow() - timedelta(days=cfg.budget_window_days)

    def op(session: Session) -> float:
        total = session.scalar(
            select(func.coalesce(func.sum(Job.cost_usd), 0.0)).where(
                Job.client.is_(None) if client is None else Job.client == client,
                Job.created_at >= since,
            )
        )
        return float(total or 0.0)

    return ledger.read(op, "budget")


def check_budget(
    ledger: JobLedger, client: str | None, cfg: ScriptSettings, estimate_usd: float
) -> None:
    """Raise BudgetExceeded when ``estimate_usd`` more would take the client past its budget."""
    budget = budget_for(ledger, client, cfg)
    if budget is None:
        return
    spent = spent_usd(ledger, client, cfg)
    if spent + estimate_usd > budget:
        who = f"client {client!r}" if client else "jobs without a client"
        raise BudgetExceeded(
            f"the LLM budget of {who} is ${budget:.2f} per {cfg.budget_window_days} days; "
            f"${spent:.4f} is spent and this job would cost about ${estimate_usd:.4f}. Raise the "
            "budget (the API key's, or REELFLOW_SCRIPT__BUDGET_USD) or use the extractive provider"
        )
