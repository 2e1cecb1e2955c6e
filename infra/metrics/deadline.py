"""Call a data source with a deadline, so a slow ledger or Prefect API never holds up a scrape.

The call runs in a daemon thread; the scrape waits at most ``deadline_s`` for it. A call that is
still running when the next scrape comes is not started a second time (no pile-up of threads on a
hung dependency): that scrape fails fast with :class:`SourceTimeout` too. The thread itself ends
when the source's own timeout (HTTP client, database driver) gives up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BoundedCall", "SourceTimeout"]

T = TypeVar("T")


class SourceTimeout(Exception):
    """A metrics data source did not answer within its deadline (reported as ``*_up 0``)."""


class _Call(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class BoundedCall(Generic[T]):
    """``call()`` returns ``fn()``'s result, re-raises its exception, or raises SourceTimeout."""

    def __init__(self, fn: Callable[[], T], deadline_s: float, name: str) -> None:
        self._fn = fn
        self._deadline_s = deadline_s
        self._name = name
        self._lock = threading.Lock()
        self._running: _Call[T] | None = None

    def _run(self, call: _Call[T]) -> None:
        try:
            call.result = self._fn()
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            call.error = exc
        finally:
            call.done.set()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no read runs (shutdown, tests); False if one still runs after timeout_s."""
        with self._lock:
            running = self._running
        return running is None or running.done.wait(timeout_s)

    def __call__(self) -> T:
        with self._lock:
            running = self._running
            if running is not None and not running.done.is_set():
                raise SourceTimeout(f"{self._name}: the previous read is still running")
            call: _Call[T] = _Call()
            self._running = call
            threading.Thread(
                target=self._run, args=(call,), name=f"metrics-{self._name}", daemon=True
            ).start()
        if not call.done.wait(self._deadline_s):
            raise SourceTimeout(f"{self._name}: no answer within {self._deadline_s:g} s")
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]
