"""The ledger of the current test settings, opened once per URL and closed after each test."""

from __future__ import annotations

from infra.settings import get_settings
from infra.store.ledger import JobLedger

__all__ = ["close_ledgers", "ledger"]

_OPEN: dict[str, JobLedger] = {}


def ledger() -> JobLedger:
    """The ledger the current settings name (what a flow of this test writes to)."""
    url = get_settings().ledger.url
    assert url is not None
    found = _OPEN.get(url)
    if found is None:
        found = _OPEN[url] = JobLedger.from_settings(get_settings().ledger)
    return found


def close_ledgers(matching: str = "") -> None:
    for url in [u for u in _OPEN if matching in u]:
        _OPEN.pop(url).dispose()
