"""In-process listeners for a job's final outcome.

``reelflow run`` calls a flow in its own process. The flow's state hooks run as soon as Prefect has
recorded the final state, before the flow engine's teardown (it joins its heartbeat thread, which
sleeps in 1-second steps, and drains its events). A listener registered here for the job lets the
command report the outcome at that moment; the warm runner's caller then returns while the
teardown finishes out of sight (cli/warm.py). Hooks running in a worker, where nobody listens,
do nothing here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["listen", "notify"]

log = logging.getLogger("reelflow.outcome")

_listeners: dict[str, Callable[[Any], None]] = {}


@contextlib.contextmanager
def listen(job_id: str, listener: Callable[[Any], None]) -> Iterator[None]:
    """Call ``listener(state)`` when the job's flow run reaches its final state, in this block."""
    _listeners[job_id] = listener
    try:
        yield
    finally:
        _listeners.pop(job_id, None)


def notify(job_id: str, state: Any) -> None:
    """Called by the flows' state hooks once the outcome is recorded; never raises."""
    listener = _listeners.get(job_id)
    if listener is None:
        return
    try:
        listener(state)
    except Exception:
        log.exception("the outcome listener of job %s failed", job_id)
