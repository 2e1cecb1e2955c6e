"""The webhook outbox keeps each event's payload as it was when the outcome was recorded; jobs get
indexes on the times the metrics and the reaper read.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("payload", sa.JSON()))
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_finished_at", "jobs")
    op.drop_index("ix_jobs_created_at", "jobs")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("payload")
