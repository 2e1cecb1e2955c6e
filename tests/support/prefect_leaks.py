"""The one kind of leak the suite tolerates: Prefect's own.

The suite turns every warning into an error (pyproject's ``filterwarnings``), ResourceWarnings and
unraisable exceptions included, with two exceptions narrowed to Prefect:

- an unclosed socket to a Prefect API server the tests started: Prefect's clients (its artifact
  and state calls inside a flow run) leave their httpx connections to the garbage collector,
  which reports them from whatever code it interrupts, so the filter cannot name Prefect's
  modules; it names the servers' ports instead (:func:`register` for every server a fixture
  starts; ``tests/conftest.py`` installs :func:`ignore_prefect_sockets` for every test);
- an exception ignored in a finalizer whose traceback runs through Prefect's package (pyproject).

Any other leak (a socket to moto's S3 server, a file, a subprocess left running) fails the test
that is running when the collector finds it.
"""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

__all__ = ["ignore_prefect_sockets", "register"]

_PORTS: set[int] = set()


def register(api_url: str) -> None:
    """A Prefect API server this test process talks to (its port)."""
    port = urlsplit(api_url).port
    if port is not None:
        _PORTS.add(port)


def ignore_prefect_sockets() -> None:
    """Ignore, for the current test, unclosed sockets to a registered Prefect server."""
    if _PORTS:
        ports = "|".join(str(p) for p in sorted(_PORTS))
        warnings.filterwarnings(
            "ignore",
            message=rf"unclosed <socket\.socket [^>]*raddr=\('127\.0\.0\.1', (?:{ports})\)>",
            category=ResourceWarning,
        )
