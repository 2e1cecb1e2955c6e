"""The job service: clients, idempotency, audit, error detail, usage; API keys and webhooks.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
JOB_COLUMNS: list[sa.Column] = [
    sa.Column("client", sa.String(128)),
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("request_digest", sa.String(64)),
    sa.Column("error_detail", sa.Text()),
    sa.Column("deployment", sa.String(128)),
    sa.Column("priority", sa.Integer()),
    sa.Column("client_metadata", sa.JSON()),
    sa.Column("callback_url", sa.Text()),
    sa.Column("usage", sa.JSON()),
    sa.Column("output_duration_s", sa.Float()),
    sa.Column("deleted_at", WHEN),
    sa.Column("deleted_by", sa.String(128)),
]


def upgrade() -> None:
    for column in JOB_COLUMNS:
        op.add_column("jobs", column)
    op.create_index("ix_jobs_client", "jobs", ["client"])
    op.create_index(
        "uq_jobs_client_idempotency_key", "jobs", ["client", "idempotency_key"], unique=True
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("rate_per_min", sa.Integer(), nullable=False),
        sa.Column("max_active", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("callback_url", sa.Text()),
        sa.Column("webhook_secret", sa.String(128)),
        sa.Column("previous_webhook_secret", sa.String(128)),
        sa.Column("budget_usd", sa.Float()),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, index=True),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False, index=True),
        sa.Column("client", sa.String(128)),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("event_id", "url", name="uq_delivery_event_url"),
    )
    op.create_index("ix_delivery_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.Integer(),
            sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("latency_ms", sa.Float()),
        sa.Column("response_head", sa.Text()),
        sa.Column("error", sa.Text()),
    )
    op.create_table(
        "disabled_endpoints",
        sa.Column("url", sa.String(2048), primary_key=True),
        sa.Column("disabled_at", WHEN, nullable=False),
        sa.Column("reason", sa.Text()),
    )
    op.create_table(
        "seen_signatures",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("seen_at", WHEN, nullable=False, index=True),
    )
    op.create_table(
        "script_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("script", sa.JSON(), nullable=False),
        sa.Column("usage", sa.JSON()),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "script_cache",
        "seen_signatures",
        "disabled_endpoints",
        "delivery_attempts",
        "webhook_deliveries",
        "api_keys",
    ):
        op.drop_table(table)
    op.drop_index("uq_jobs_client_idempotency_key", "jobs")
    op.drop_index("ix_jobs_client", "jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in JOB_COLUMNS:
            batch.drop_column(column.name)
