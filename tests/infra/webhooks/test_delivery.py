"""Outbound webhooks: the outbox written with the outcome, signed deliveries, retries, 410.

Receivers are real HTTP servers on 127.0.0.1 (allowlisted for http:// in these tests); the
deliverer is the code the deliver-webhooks flow runs, called directly so each attempt is observed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra.settings import Settings, get_settings
from infra.store.artifacts import open_store
from infra.store.schema import ApiKey, utcnow
from infra.webhooks.delivery import deliver_due
from infra.webhooks.signing import signature_header, verify
from tests.support.ledgers import ledger
from tests.support.webhook_receiver import WebhookReceiver

SECRET = "whsec-current-0123456789"
OLD_SECRET = "whsec-previous-0123456789"


@pytest.fixture()
def hooked(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REELFLOW_NET__ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("REELFLOW_WEBHOOKS__RETRY_BASE_S", "0.2")
    monkeypatch.setenv("REELFLOW_WEBHOOKS__RETRY_JITTER", "0")
    get_settings.cache_clear()
    receiver = WebhookReceiver(secrets=[SECRET])
    jobs = ledger()
    jobs.write(
        lambda s: s.add(
            ApiKey(
                id="k1",
                name="acme",
                key_hash="x" * 64,
                rate_per_min=60,
                max_active=2,
                priority=0,
                webhook_secret=SECRET,
                previous_webhook_secret=OLD_SECRET,
            )
        )
    )
    yield get_settings(), receiver
    receiver.stop()


def _finish(job_id: str, url: str, outcome: str = "succeeded") -> None:
    jobs = ledger()
    jobs.claim_job(job_id, flow_run_id=None, client="acme", callback_url=url)
    jobs.mark_running(job_id, "render")
    if outcome == "succeeded":
        jobs.mark_succeeded(job_id, {"video": f"jobs/{job_id}/video.mp4"})
    else:
        jobs.mark_failed(job_id, "ffmpeg_failed", "[ffmpeg_failed] boom")


def _deliver_until(settings: Settings, done, rounds: int = 60) -> list[dict[str, int]]:
    """Run the deliverer as its sweep would, jumping the clock to each retry's due time."""
    reports = []
    for _ in range(rounds):
        reports.append(
            deliver_due(ledger(), open_store(settings), settings, utcnow() + timedelta(hours=1))
        )
        if done():
            break
    return reports


def test_the_outbox_is_written_with_the_outcome_and_delivered_signed(hooked):
    settings, receiver = hooked
    _finish("j-ok", receiver.url)
    pending = ledger().outbox.for_job("j-ok")
    assert [d["event_type"] for d in pending] == ["job.started", "job.succeeded"]
    assert all(d["status"] == "pending" for d in pending)
    report = deliver_due(ledger(), open_store(settings), settings)
    assert report["delivered"] == 2
    assert [r.headers["Reelflow-Event-Type"] for r in receiver.received] == [
        "job.started",
        "job.succeeded",
    ]
    assert all(r.signed for r in receiver.received)
    body = receiver.received[1].json
    assert body["type"] == "job.succeeded" and body["job"]["id"] == "j-ok"
    assert body["job"]["status"] == "SUCCEEDED" and body["job"]["outputs"]["video"]
    assert body["job"]["outputs_expire_at"]
    # Both secrets sign during a rotation: a receiver still on the old one verifies too.
    assert verify(
        receiver.received[1].headers["Reelflow-Signature"], receiver.received[1].body, [OLD_SECRET]
    )
    assert all(d["status"] == "delivered" for d in ledger().outbox.for_job("j-ok"))
    assert deliver_due(ledger(), open_store(settings), settings)["delivered"] == 0  # once


def test_a_receiver_failing_three_times_gets_it_on_the_fourth_with_growing_delays(hooked):
    settings, receiver = hooked
    receiver.answers = [500, 500, 500]
    jobs = ledger()
    jobs.claim_job("j-retry", flow_run_id=None, client="acme", callback_url=receiver.url)
    jobs.mark_failed("j-retry", "ffmpeg_failed", "[ffmpeg_failed] boom")  # one event
    _deliver_until(settings, lambda: ledger().outbox.for_job("j-retry")[0]["status"] == "delivered")
    (delivery,) = ledger().outbox.for_job("j-retry")
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["log"]] == [500, 500, 500, 200]
    assert delivery["log"][0]["response_head"] == "ok"
    assert len(receiver.received) == 4 and all(r.signed for r in receiver.received)


def test_growing_delays_between_attempts(hooked):
    from infra.webhooks.delivery import backoff_s

    settings, _ = hooked
    delays = [backoff_s(n, settings) for n in (1, 2, 3, 4)]
    assert delays == sorted(delays) and delays[3] == pytest.approx(8 * delays[0])


def test_410_disables_the_endpoint_and_stops_the_attempts(hooked):
    settings, receiver = hooked
    receiver.answers = [410]
    _finish("j-gone", receiver.url, "failed")
    _deliver_until(
        settings, lambda: all(d["status"] != "pending" for d in ledger().outbox.for_job("j-gone"))
    )
    deliveries = ledger().outbox.for_job("j-gone")
    assert [d["status"] for d in deliveries] == ["disabled", "disabled"]
    assert len(receiver.received) == 1  # the second event was never sent
    _finish("j-after", receiver.url, "failed")  # later events skip the disabled endpoint
    assert ledger().outbox.for_job("j-after") == []


def test_a_receiver_down_gets_everything_once_it_is_back(hooked):
    """Down while the deliverer runs (and restarts: every call is a fresh deliverer); once back,
    each event is delivered exactly once, one delivery row each, marked delivered."""
    settings, receiver = hooked
    url = receiver.url
    receiver.stop()
    _finish("j-down", url)
    for _ in range(3):
        deliver_due(ledger(), open_store(settings), settings, utcnow() + timedelta(hours=1))
    assert all(
        d["status"] == "pending" and d["attempts"] >= 1 for d in ledger().outbox.for_job("j-down")
    )
    back = WebhookReceiver(secrets=[SECRET])
    try:
        with ledger().engine.begin() as conn:  # the same address, as a restarted receiver
            conn.exec_driver_sql(
                "UPDATE webhook_deliveries SET url = ? WHERE job_id = 'j-down'", (back.url,)
            )
        _deliver_until(
            settings,
            lambda: all(d["status"] == "delivered" for d in ledger().outbox.for_job("j-down")),
        )
        deliveries = ledger().outbox.for_job("j-down")
        assert [d["status"] for d in deliveries] == ["delivered", "delivered"]
        assert len(back.received) == 2
        assert len({r.headers["Reelflow-Event-Id"] for r in back.received}) == 2
    finally:
        back.stop()


def test_a_callback_url_resolving_to_a_refused_address_is_never_contacted(settings: Settings):
    """Not allowlisted: the deliverer refuses 127.0.0.1 at every attempt (SSRF rules)."""
    receiver = WebhookReceiver(secrets=[SECRET])
    try:
        jobs = ledger()
        jobs.claim_job(
            "j-ssrf", flow_run_id=None, callback_url=receiver.url.replace("http:", "https:")
        )
        jobs.mark_failed("j-ssrf", "ffmpeg_failed", "x")
        settings.webhooks.signing_secret = type(settings.webhooks.signing_secret)(SECRET)
        deliver_due(jobs, open_store(settings), settings)
        (delivery,) = jobs.outbox.for_job("j-ssrf")
        assert delivery["status"] == "pending" and "loopback" in (delivery["last_error"] or "")
        assert receiver.received == []
    finally:
        receiver.stop()


def test_signature_scheme():
    body = b'{"a":1}'
    header = signature_header([SECRET], body, timestamp=1_700_000_000)
    assert verify(header, body, [SECRET], now=1_700_000_100)
    assert not verify(header, body + b" ", [SECRET], now=1_700_000_100)  # tampered body
    assert not verify(header, body, ["other"], now=1_700_000_100)  # wrong secret
    assert not verify(header, body, [SECRET], now=1_700_000_000 + 301)  # stale
