"""BoundedCall: answers within the deadline, never piles up threads on a hung source."""

from __future__ import annotations

import threading

import pytest

from infra.metrics import BoundedCall, SourceTimeout


def test_returns_the_result_and_reraises_the_error():
    assert BoundedCall(lambda: 42, 5.0, "answer")() == 42

    def broken() -> int:
        raise ConnectionRefusedError("no server")

    with pytest.raises(ConnectionRefusedError, match="no server"):
        BoundedCall(broken, 5.0, "broken")()


def test_a_hung_source_times_out_and_is_not_called_again_until_it_returns():
    release = threading.Event()
    calls: list[int] = []

    def hung() -> str:
        calls.append(1)
        release.wait(30)
        return "late"

    bounded = BoundedCall(hung, 0.05, "hung")
    with pytest.raises(SourceTimeout, match="no answer within"):
        bounded()
    with pytest.raises(SourceTimeout, match="still running"):
        bounded()
    assert len(calls) == 1  # the second scrape did not start a second read
    release.set()
    assert bounded.wait_idle(10)
    assert bounded() == "late"  # once the hung read ended, the next call reads again
    assert len(calls) == 2
