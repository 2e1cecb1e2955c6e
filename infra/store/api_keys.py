"""Job API clients: keys created, listed, revoked and checked, in the ledger's ``api_keys`` table.

A key reads ``rf_<id>_<secret>``: the id is the row's primary key (looked up directly), only the
SHA-256 of the whole key is stored, and the check is a constant-time compare of that hash, so a
database dump or a timing probe reveals no usable key. The key itself is returned once, by
:meth:`ApiKeyStore.create`, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra.errors import InputInvalid
from infra.jobs.stages import PRIORITY_QUEUES
from infra.store.ledger import JobLedger
from infra.store.schema import ApiKey, utcnow

__all__ = ["KEY_NAME_PATTERN", "ApiKeyStore", "ClientKey", "hash_key"]

KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(KEY_NAME_PATTERN)
_KEY = re.compile(r"^rf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


# Work-queue priority numbers (infra/prefect/client.py) by name, and back.
PRIORITY_NAMES = {number: name for name, (_, number) in PRIORITY_QUEUES.items()}


def new_webhook_secret() -> str:
    """A secret that signs a client's callbacks (docs/WEBHOOKS.md)."""
    return f"whsec_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ClientKey:
    """What the gateway knows of a client once its key checked out (never the key)."""

    id: str
    name: str
    rate_per_min: int
    max_active: int
    priority: str  # high, normal or low
    webhook_secret: str | None
    revoked: bool

    @classmethod
    def of(cls, row: ApiKey) -> ClientKey:
        return cls(
            row.id,
            row.name,
            row.rate_per_min,
            row.max_active,
            PRIORITY_NAMES.get(row.priority or 2, "normal"),
            row.webhook_secret,
            row.revoked_at is not None,
        )


class ApiKeyStore:
    """Keys in the ledger's database; pass the process's ledger down."""

    def __init__(self, ledger: JobLedger) -> None:
        self.ledger = ledger

    def create(
        self,
        name: str,
        *,
        rate_per_min: int,
        max_active: int,
        priority: str = "normal",
        budget_usd: float | None = None,
    ) -> tuple[ClientKey, str]:
        """A new key for client ``name``: (its record, the key shown once).

        InputInvalid for a malformed name, a name in use (revoked keys keep theirs, so a job's
        client always names one key) or limits below 1.
        """
        if not _NAME.fullmatch(name):
            raise InputInvalid(
                f"key name {name[:80]!r} is not valid: 1-64 letters, digits, '_', '.' or '-'"
            )
        if rate_per_min < 1 or max_active < 1:
            raise InputInvalid("--rate and --max-active must be at least 1")
        if priority not in PRIORITY_QUEUES:
            raise InputInvalid(f"priority must be one of {', '.join(PRIORITY_QUEUES)}")
        key_id = secrets.token_hex(8)
        key = f"rf_{key_id}_{secrets.token_urlsafe(32)}"

        def insert(session: Session) -> ClientKey:
            taken = session.scalar(select(ApiKey.id).where(ApiKey.name == name))
            if taken is not None:
                raise InputInvalid(f"a key named {name!r} exists; choose another name")
            row = ApiKey(
                id=key_id,
                name=name,
                key_hash=hash_key(key),
                rate_per_min=rate_per_min,
                max_active=max_active,
                priority=PRIORITY_QUEUES[priority][1],
                webhook_secret=new_webhook_secret(),
                budget_usd=budget_usd,
                created_at=utcnow(),
            )
            session.add(row)
            return ClientKey.of(row)

        return self.ledger.write(insert, "create key"), key

    def list(self) -> list[tuple[ClientKey, ApiKey]]:
        rows = self.ledger.read(
            lambda s: list(s.scalars(select(ApiKey).order_by(ApiKey.created_at))), "list keys"
        )
        return [(ClientKey.of(row), row) for row in rows]

    def revoke(self, name: str) -> bool:
        """Revoke the key of ``name``; True if this call revoked it, False if it already was.
        InputInvalid when no key has that name."""

        def op(session: Session) -> bool:
            row = session.scalar(select(ApiKey).where(ApiKey.name == name))
            if row is None:
                raise InputInvalid(f"no key named {name!r}")
            result = session.execute(
                update(ApiKey)
                .where(ApiKey.id == row.id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self.ledger.write(op, "revoke key")

    def authenticate(self, key: str) -> ClientKey | None:
        """The client of a valid, unrevoked ``key``; None for anything else (no detail)."""
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        row = self.ledger.read(lambda s: s.get(ApiKey, match.group(1)), "authenticate")
        if row is None or not hmac.compare_digest(row.key_hash, hash_key(key)):
            return None
        if row.revoked_at is not None:
            return None
        return ClientKey.of(row)


def rotate_webhook_secret(ledger: JobLedger, name: str) -> str:
    """A new signing secret for client ``name``; the previous one stays valid until the next
    rotation (callbacks carry a signature for each), so receivers can switch without a gap."""
    fresh = new_webhook_secret()

    def op(session: Session) -> None:
        row = session.scalar(select(ApiKey).where(ApiKey.name == name))
        if row is None:
            raise InputInvalid(f"no key named {name!r}")
        row.previous_webhook_secret = row.webhook_secret
        row.webhook_secret = fresh

    ledger.write(op, "rotate webhook secret")
    return fresh
