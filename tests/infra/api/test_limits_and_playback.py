"""The pure parts: token-bucket arithmetic (memory and Redis's Lua script), playback tokens,
and the playlist rewrite."""

from __future__ import annotations

import uuid

import pytest

from infra.api.playback import PlaybackTokens, rewrite_playlist, safe_hls_path
from infra.api.ratelimit import MemoryBuckets, RedisBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_bucket_counts_down_refills_and_says_when():
    clock = Clock()
    buckets = MemoryBuckets(clock)
    taken = [buckets.take("k", 3, 60.0) for _ in range(4)]
    assert [v.allowed for v in taken] == [True, True, True, False]
    assert [v.remaining for v in taken] == [2, 1, 0, 0]
    assert taken[-1].retry_after_s == 20 and taken[-1].reset_s == 60
    clock.now += 20  # one token back (3 per 60 s)
    assert buckets.take("k", 3, 60.0).allowed
    assert buckets.take("other", 3, 60.0).remaining == 2


@pytest.mark.redis
def test_redis_bucket_is_the_same_arithmetic_shared_by_two_clients():
    prefix = f"test:{uuid.uuid4().hex}:"
    first = RedisBuckets("redis://127.0.0.1:6379/0", prefix)
    second = RedisBuckets("redis://127.0.0.1:6379/0", prefix)
    assert first.ping()
    taken = [(first if i % 2 else second).take("k", 4, 60.0) for i in range(5)]
    assert [v.remaining for v in taken] == [3, 2, 1, 0, 0]
    assert [v.allowed for v in taken] == [True] * 4 + [False]
    assert 1 <= taken[-1].retry_after_s <= 15


def test_redis_down_lets_requests_pass():
    buckets = RedisBuckets("redis://127.0.0.1:9/0", "x:")  # nothing listens on port 9
    verdict = buckets.take("k", 5, 60.0)
    assert verdict.allowed and verdict.remaining == 5


def test_playback_tokens_are_per_job_and_expire():
    clock = Clock()
    tokens = PlaybackTokens(b"secret", 60, clock)
    token = tokens.mint("job1")
    assert tokens.valid("job1", token)
    assert not tokens.valid("job2", token)
    assert not PlaybackTokens(b"other", 60, clock).valid("job1", token)
    assert not tokens.valid("job1", "9999999999." + token.split(".")[1])
    clock.now += 61
    assert not tokens.valid("job1", token)


MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=100,RESOLUTION=160x90
160p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=200
../../other-job/hls/index.m3u8
#EXT-X-MEDIA:TYPE=SUBTITLES,URI="subs/index.m3u8"
"""
VARIANT = "#EXTM3U\n#EXTINF:2.0,\nseg_0000.ts\n#EXTINF:1.0,\nseg_0001.ts\n#EXT-X-ENDLIST\n"


def test_rewrite_signs_every_uri_and_drops_what_leaves_the_folder():
    signed = rewrite_playlist(MASTER, "", lambda path: f"https://signed/{path}?sig")
    assert "https://signed/160p/index.m3u8?sig" in signed
    assert 'URI="https://signed/subs/index.m3u8?sig"' in signed
    assert "other-job" not in signed and signed.count("#EXT-X-STREAM-INF") == 1
    variant = rewrite_playlist(VARIANT, "160p", lambda path: f"S({path})")
    assert variant.splitlines()[2:5] == [
        "S(160p/seg_0000.ts)",
        "#EXTINF:1.0,",
        "S(160p/seg_0001.ts)",
    ]
    assert safe_hls_path("160p/index.m3u8") and safe_hls_path("master.m3u8")
    for bad in ("../x.m3u8", "a/../../b.m3u8", "/etc/passwd", "a.sh", ".hidden.m3u8", ""):
        assert safe_hls_path(bad) is None, bad
