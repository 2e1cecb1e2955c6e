"""Baseline: the ``jobs`` table as the first milestone shipped it.

A ledger written by that milestone has this table but no ``alembic_version``: the table is kept
and any baseline column an even earlier build lacked is added (its rows are kept), so every
existing ledger upgrades in place.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column]:
    when = sa.DateTime(timezone=True)
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("flow_run_id", sa.String(64), index=True),
        sa.Column("status", sa.String(16), index=True),
        sa.Column("stage", sa.String(32)),
        sa.Column("progress", sa.Float()),
        sa.Column("kind", sa.String(16)),
        sa.Column("source", sa.Text()),
        sa.Column("preset", sa.String(32)),
        sa.Column("input_sha256", sa.String(64)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text()),
        sa.Column("artifacts", sa.JSON()),
        sa.Column("created_at", when),
        sa.Column("updated_at", when),
        sa.Column("started_at", when),
        sa.Column("finished_at", when),
        sa.Column("heartbeat_at", when, index=True),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table("jobs"):
        op.create_table("jobs", *_columns())
        return
    present = {c["name"] for c in inspector.get_columns("jobs")}
    indexed = {tuple(i["column_names"]) for i in inspector.get_indexes("jobs")}
    for column in _columns():
        if column.name not in present:
            op.add_column("jobs", sa.Column(column.name, column.type))
        if column.index and (column.name,) not in indexed:
            op.create_index(f"ix_jobs_{column.name}", "jobs", [column.name])


def downgrade() -> None:
    op.drop_table("jobs")
