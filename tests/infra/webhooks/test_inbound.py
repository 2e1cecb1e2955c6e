"""MinIO notifications and generic hook events, parsed and identified (no server needed)."""

from __future__ import annotations

from infra.settings.webhooks import WatchRule
from infra.webhooks.inbound import (
    HOOK_EVENT,
    SOURCE_EVENT,
    hook_event,
    source_event,
    uploaded_objects,
)

RULES = [WatchRule(name="uploads", prefix="uploads/", preset="tiny")]


def notification(key: str, event: str = "s3:ObjectCreated:Put", etag: str = "e1") -> dict:
    """The shape MinIO posts (S3 event JSON); the key is URL-encoded as S3 events do."""
    return {
        "EventName": event,
        "Key": f"reelflow/{key}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "eventName": event,
                "s3": {
                    "bucket": {"name": "reelflow"},
                    "object": {"key": key, "size": 12, "eTag": etag, "sequencer": "17A0"},
                },
            }
        ],
    }


def test_created_objects_under_a_watched_prefix_become_events():
    (obj,) = uploaded_objects(notification("uploads/My+Talk%28final%29.pdf"), RULES, "reelflow")
    assert obj.key == "uploads/My Talk(final).pdf" and obj.rule.name == "uploads"
    event = source_event(obj)
    assert event["event"] == SOURCE_EVENT
    assert event["resource"]["reelflow.key"] == "uploads/My Talk(final).pdf"
    assert event["resource"]["reelflow.job-id"] == str(event["id"])


def test_a_redelivered_notification_is_the_same_event_and_job():
    first = source_event(uploaded_objects(notification("uploads/a.pdf"), RULES, "reelflow")[0])
    again = source_event(uploaded_objects(notification("uploads/a.pdf"), RULES, "reelflow")[0])
    other = source_event(
        uploaded_objects(notification("uploads/a.pdf", etag="e2"), RULES, "reelflow")[0]
    )
    assert first["id"] == again["id"] and first["id"] != other["id"]


def test_other_events_prefixes_buckets_and_traversals_are_ignored():
    assert (
        uploaded_objects(
            notification("uploads/a.pdf", "s3:ObjectRemoved:Delete"), RULES, "reelflow"
        )
        == []
    )
    assert uploaded_objects(notification("elsewhere/a.pdf"), RULES, "reelflow") == []
    assert uploaded_objects(notification("uploads/../jobs/x/video.mp4"), RULES, "reelflow") == []
    assert uploaded_objects(notification("uploads/a.pdf"), RULES, "another-bucket") == []
    assert uploaded_objects({"Records": "nope"}, RULES, "reelflow") == []


def test_a_hook_request_gets_its_job_id_and_client_from_the_event():
    event = hook_event("billing", "t=1,v1=abc", {"source": "s3://reelflow/uploads/a.pdf"})
    assert event["event"] == HOOK_EVENT
    request = event["payload"]["request"]
    assert request["job_id"] == str(event["id"]) and request["client"] == "hook:billing"
