"""Alembic environment for the ledger: runs on the connection ``infra.store.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from infra.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
