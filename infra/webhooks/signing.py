"""The signature scheme of reelflow's webhooks, both directions (as the best-known providers do).

``Reelflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``; during a
secret rotation one ``v1=`` per valid secret. A receiver recomputes the HMAC over the exact raw
body with each secret it holds, compares in constant time, and refuses a timestamp older than its
tolerance (5 minutes) so a captured request cannot be replayed later. docs/WEBHOOKS.md shows the
few lines a receiver needs.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

__all__ = ["HEADER", "TOLERANCE_S", "parse_header", "sign", "signature_header", "verify"]

HEADER = "Reelflow-Signature"
TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={stamp}", *(f"v1={sign(s, stamp, body)}" for s in secrets if s)])


def parse_header(header: str) -> tuple[int | None, list[str]]:
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            stamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    return stamp, signatures


def verify(
    header: str,
    body: bytes,
    secrets: Sequence[str],
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` with one of ``secrets`` within the tolerance."""
    stamp, signatures = parse_header(header or "")
    if stamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance_s:
        return False
    expected = [sign(secret, stamp, body) for secret in secrets if secret]
    return any(hmac.compare_digest(e, s) for e in expected for s in signatures)
