"""Ledger migrations (Alembic): ``reelflow db upgrade``, and the automatic check every entry point
runs when it opens the ledger.

The check is one query (the ``alembic_version`` row against :data:`HEAD`); only a ledger that is
behind loads Alembic and upgrades. Concurrent upgrades (many workers starting at once) are
serialised: a PostgreSQL advisory lock, or a lock file beside a SQLite database.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

__all__ = ["HEAD", "MIGRATIONS", "current_revision", "ensure_current", "upgrade"]

log = logging.getLogger("reelflow.migrate")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0005"  # the newest revision in migrations/versions (a test keeps them equal)
_PG_LOCK_KEY = 0x7265656C  # "reel"


def current_revision(engine: Engine) -> str | None:
    """The ledger's revision; None for an empty database or one from before migrations."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


@contextlib.contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    else:
        yield


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the ledger to ``target``; returns (revision before, revision after)."""
    from alembic import command
    from alembic.config import Config

    with _exclusive(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        before = _revision_on(conn)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, target)
        after = _revision_on(conn)
    if before != after:
        log.info("ledger migrated from %s to %s", before or "an unversioned schema", after)
    return before, after


def _revision_on(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def ensure_current(engine: Engine) -> None:
    """Upgrade the ledger when it is behind :data:`HEAD` (a single query when it is not)."""
    if current_revision(engine) != HEAD:
        upgrade(engine)
