"""A job's LLM cost in its own column, so a client's budget is one indexed SUM
(infra/jobs/budget.py) rather than a scan of every usage document; existing rows take it from
``usage.cost_usd``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("cost_usd", sa.Float()))
    op.create_index("ix_jobs_client_created_at", "jobs", ["client", "created_at"])
    conn = op.get_bind()
    jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("usage", sa.JSON))
    for job_id, usage in conn.execute(sa.select(jobs.c.id, jobs.c.usage)).all():
        if isinstance(usage, str):
            usage = json.loads(usage)
        cost = (usage or {}).get("cost_usd") if isinstance(usage, dict) else None
        if cost:
            conn.execute(
                sa.text("UPDATE jobs SET cost_usd = :cost WHERE id = :id"),
                {"cost": float(cost), "id": job_id},
            )


def downgrade() -> None:
    op.drop_index("ix_jobs_client_created_at", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cost_usd")
