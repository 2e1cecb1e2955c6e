"""The LLM script cache, a table of the job ledger (``script_cache``), so every worker shares it.

A script is cached under :func:`cache_key`: the sha256 of the document's sha256, the model, the
provider's URL, the prompt version, the language and every option that shapes the answer (word,
slide and bullet limits). A second identical job reads it and makes no LLM call. The table is
bounded: after each insert, the oldest entries beyond ``max_entries`` are deleted. Only validated
scripts are stored; an entry can be marked invalid (``valid``) and is then ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.store.ledger import JobLedger
from infra.store.schema import ScriptCacheEntry, utcnow

__all__ = ["CachedScript", "ScriptCache", "cache_key"]

log = logging.getLogger("reelflow.script_cache")


def cache_key(
    *,
    document_sha256: str,
    model: str,
    base_url: str,
    prompt_version: str,
    language: str,
    options: dict[str, Any],
) -> str:
    """The cache key of one LLM script request (a sha256 hex digest)."""
    parts = {
        "document": document_sha256,
        "model": model,
        "endpoint": base_url.rstrip("/"),
        "prompt": prompt_version,
        "language": language,
        "options": options,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class CachedScript:
    def __init__(self, script: dict[str, Any], usage: dict[str, Any] | None) -> None:
        self.script = script
        self.usage = usage or {}


class ScriptCache:
    """Reads and writes of ``script_cache`` through the job ledger's sessions."""

    def __init__(self, ledger: JobLedger, max_entries: int) -> None:
        self.ledger = ledger
        self.max_entries = max_entries

    def get(self, key: str) -> CachedScript | None:
        """The cached script under ``key`` (its hit counted), or None."""

        def op(session: Session) -> CachedScript | None:
            entry = session.get(ScriptCacheEntry, key)
            if entry is None or not entry.valid:
                return None
            session.execute(
                update(ScriptCacheEntry)
                .where(ScriptCacheEntry.key == key)
                .values(hits=ScriptCacheEntry.hits + 1)
            )
            return CachedScript(dict(entry.script), dict(entry.usage or {}))

        return self.ledger.write(op, "script cache read")

    def put(self, key: str, script: dict[str, Any], usage: dict[str, Any]) -> None:
        """Store a validated script; a concurrent writer of the same key wins (same answer)."""

        def op(session: Session) -> None:
            session.add(
                ScriptCacheEntry(
                    key=key, script=script, usage=usage, created_at=utcnow(), hits=0, valid=True
                )
            )
            session.flush()
            keep = (
                select(ScriptCacheEntry.key)
                .order_by(ScriptCacheEntry.created_at.desc(), ScriptCacheEntry.key)
                .limit(self.max_entries)
            )
            kept = set(session.scalars(keep))
            stale = [k for k in session.scalars(select(ScriptCacheEntry.key)) if k not in kept]
            if stale:
                session.execute(delete(ScriptCacheEntry).where(ScriptCacheEntry.key.in_(stale)))

        try:
            self.ledger.write(op, "script cache write")
        except IntegrityError:
            log.info("script cache entry %s was written by another job meanwhile", key[:12])

    def count(self) -> int:
        def op(session: Session) -> int:
            return len(list(session.scalars(select(ScriptCacheEntry.key))))

        return self.ledger.read(op, "script cache count")
