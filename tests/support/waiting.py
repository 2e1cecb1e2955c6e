"""Waiting for something to become true, the one way the tests poll.

``wait_until`` polls a condition until it returns a truthy value and hands that value back, or fails
the test naming what never happened. A generous ``timeout`` is a bound against hanging, never a
measurement: tests that care how long something took record it as a property instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, *, poll: float = 0.05) -> T:
    """The first truthy value of ``condition()``; fails the test once ``timeout`` seconds passed.

    The condition is asked once more after the deadline, so a slow last poll is not a failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            value = condition()
            if value:
                return value
            pytest.fail(f"waited {timeout:g} s for {what}; it never happened")
        time.sleep(poll)
