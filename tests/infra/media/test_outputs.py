"""Store-safe names for user-given file names."""

from __future__ import annotations

import re

import pytest

from infra.media.outputs import safe_key_name

SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@pytest.mark.parametrize(
    "original",
    [
        "my clip 'final' \"v2\" — ünïcødé 日本.MP4",
        "../../etc/passwd",
        ".hidden.mov",
        "日本語.mkv",
        "a" * 300 + ".mp4",
        "no extension",
        "C:\\Users\\me\\clip.mp4",
    ],
)
def test_names_are_safe_and_keep_the_extension(original: str):
    name = safe_key_name(original)
    assert SAFE.match(name), name
    assert "/" not in name and ".." not in name and len(name) <= 96
    if original.lower().endswith((".mp4", ".mkv", ".mov")):
        assert name.endswith(original.rsplit(".", 1)[1].lower())


def test_clean_names_stay_and_different_originals_never_collide():
    assert safe_key_name("clip_01.mp4") == "clip_01.mp4"
    assert safe_key_name("a b.mp4") != safe_key_name("a_b.mp4")
    assert safe_key_name("a b.mp4") != safe_key_name("a  b.mp4")
    assert safe_key_name("été.mp4").startswith("ete")
