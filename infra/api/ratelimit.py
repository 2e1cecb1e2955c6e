"""Token buckets for the gateway's rate limits: in Redis (shared by replicas) or in memory.

A bucket holds ``capacity`` tokens and refills at ``capacity / window_s`` per second; a request
takes one. :class:`RedisBuckets` runs the whole read-refill-take in one Lua script on the server's
clock (``TIME``), so any number of gateway replicas share one budget atomically and their clocks
never matter. :class:`MemoryBuckets` is the same arithmetic for one process.

Redis unreachable: the request passes (a log line says the limits are off) rather than the API
going down with its rate limiter; the per-key concurrency limit and the admission limit still hold.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Buckets", "MemoryBuckets", "RedisBuckets", "Verdict", "open_buckets"]

log = logging.getLogger("reelflow.api")

_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True)
class Verdict:
    """One take from a bucket, as the ``X-RateLimit-*`` headers and ``Retry-After`` say it."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int  # seconds until one token is there (0 when allowed)

    @classmethod
    def of(cls, allowed: bool, tokens: float, capacity: int, rate: float) -> Verdict:
        return cls(
            allowed=allowed,
            limit=capacity,
            remaining=max(0, math.floor(tokens)),
            reset_s=math.ceil(max(0.0, capacity - tokens) / rate),
            retry_after_s=0 if allowed else max(1, math.ceil((1 - tokens) / rate)),
        )

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_s),
        }


class Buckets(Protocol):
    def take(self, key: str, capacity: int, window_s: float) -> Verdict:
        """Take one token from bucket ``key`` (created full)."""
        ...


class MemoryBuckets:
    """Buckets of one process (the embedded default): a dict under a lock, a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, capacity: int, window_s: float) -> Verdict:
        rate = capacity / window_s
        with self._lock:
            now = self._clock()
            tokens, at = self._state.get(key, (float(capacity), now))
            tokens = min(float(capacity), tokens + max(0.0, now - at) * rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            if len(self._state) >= self._max_keys and key not in self._state:
                self._forget_full(now)
            self._state[key] = (tokens, now)
        return Verdict.of(allowed, tokens, capacity, rate)

    def _forget_full(self, now: float) -> None:
        """Drop buckets idle long enough to be full again (they read the same as new ones)."""
        self._state = {k: v for k, v in self._state.items() if now - v[1] < 3600}


class RedisBuckets:
    """Buckets in Redis, shared by every gateway replica using the same URL and prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script: Any = self._client.register_script(_TAKE)
        self._prefix = prefix
        self._was_up = True

    def take(self, key: str, capacity: int, window_s: float) -> Verdict:
        import redis

        rate = capacity / window_s
        try:
            allowed, tokens = self._script(keys=[self._prefix + key], args=[capacity, rate])
        except redis.RedisError as exc:
            if self._was_up:
                log.warning("rate limits are off: Redis is unreachable (%s)", exc)
            self._was_up = False
            return Verdict.of(True, float(capacity), capacity, rate)
        if not self._was_up:
            log.info("rate limits are on again: Redis answers")
        self._was_up = True
        return Verdict.of(bool(int(allowed)), float(tokens), capacity, rate)

    def ping(self) -> bool:
        return bool(self._client.ping())


def open_buckets(redis_url: str | None, prefix: str) -> Buckets:
    """Redis buckets when a URL is configured, else this process's memory."""
    if redis_url:
        return RedisBuckets(redis_url, prefix)
    return MemoryBuckets()
