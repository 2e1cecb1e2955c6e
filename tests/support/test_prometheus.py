"""The test Prometheus helper leaves nothing behind, even when the test using it fails."""

from __future__ import annotations

import pytest

from tests.support.prometheus import running_prometheus

pytestmark = pytest.mark.prometheus


def test_stopped_and_removed_even_when_the_test_fails():
    with (
        pytest.raises(RuntimeError, match="the test failed"),
        running_prometheus({"nothing": ["127.0.0.1:9"]}) as prom,
    ):
        assert prom.query("vector(1)")[0]["value"][1] == "1"
        root = prom.log.parent
        assert (root / "data").is_dir()
        raise RuntimeError("the test failed")
    assert prom.process.poll() is not None  # stopped and reaped
    assert not root.exists()  # config, TSDB and log removed
