"""Chunk claims: the parent of a chunked media job and its chunk runs claim each chunk before
encoding it, so a chunk no worker has taken yet is encoded by the parent instead of waiting.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunk_claims",
        sa.Column("run_key", sa.String(255), primary_key=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chunk_claims_job_id", "chunk_claims", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_chunk_claims_job_id", "chunk_claims")
    op.drop_table("chunk_claims")
