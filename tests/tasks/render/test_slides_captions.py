"""Slide layout never overflows the frame; captions follow the narration timing."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from infra.jobs.models import Slide
from infra.media.hls import avc_codec_string, master_playlist
from infra.media.slideshow import concat_list
from infra.settings import RenderSettings
from tasks.render.captions import build_vtt, split_cues, vtt_timestamp
from tasks.render.slides import BACKGROUND, layout_slide, render_slide

FONT = str(RenderSettings().font_path)
LONG = Slide(
    title="An extraordinarily long title that would never fit on a single line of a slide " * 3,
    bullets=["Supercalifragilisticexpialidocious" * 4] + ["many words in a bullet " * 12] * 5,
    narration="x",
)


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (640, 360)])
def test_text_stays_inside_the_margins(tmp_path: Path, width: int, height: int):
    path = render_slide(LONG, tmp_path / "s.png", width, height, FONT)
    image = Image.open(path).convert("RGB")
    assert image.size == (width, height)
    margin = int(width * 0.07)
    px = image.load()
    # Only the background may appear in the outer band of half the margin.
    band = margin // 2
    for x in range(0, width, 3):
        for y in list(range(0, band, 3)) + list(range(height - band, height, 3)):
            assert px[x, y] == BACKGROUND, (x, y)
    for y in range(0, height, 3):
        for x in list(range(0, band, 3)) + list(range(width - band, width, 3)):
            assert px[x, y] == BACKGROUND, (x, y)


def test_layout_shrinks_then_truncates():
    layout = layout_slide(LONG, 640, 360, FONT)
    assert layout.height <= 360 - 2 * int(640 * 0.07)
    flat = [line for bullet in layout.bullet_lines for line in bullet]
    assert any(line.endswith("…") for line in flat + layout.title_lines)
    short = layout_slide(Slide(title="Hi", bullets=["One"], narration="x"), 640, 360, FONT)
    assert short.title_size > layout.title_size


def test_captions_split_and_end_with_the_audio():
    narrations = ["First sentence here. Second one follows, with a clause.", "Last slide."]
    vtt = build_vtt(narrations, [4.0, 2.5])
    assert vtt.startswith("WEBVTT\n")
    times = [line for line in vtt.splitlines() if "-->" in line]
    assert times[0].startswith("00:00:00.000 -->")
    assert times[-1] == "00:00:04.000 --> 00:00:06.500"
    assert vtt_timestamp(3725.5) == "01:02:05.500"
    assert all(len(c.split()) <= 14 for c in split_cues("word " * 40))


def test_encode_helpers():
    assert avc_codec_string("High", 40) == "avc1.640028"
    assert avc_codec_string("Constrained Baseline", 30) == "avc1.42e01e"
    text = concat_list([Path("a.png"), Path("b.png")], [1.5, 2.25])
    assert text.splitlines() == [
        "ffconcat version 1.0",
        "file 'a.png'",
        "duration 1.500",
        "file 'b.png'",
        "duration 2.250",
        "file 'b.png'",
    ]
    master = master_playlist(
        [
            {
                "uri": "720p/index.m3u8",
                "bandwidth": 10,
                "average": 8,
                "width": 1280,
                "height": 720,
                "fps": 2,
                "codecs": "avc1.64001f,mp4a.40.2",
            },
        ]
    )
    assert "RESOLUTION=1280x720" in master and master.endswith("720p/index.m3u8\n")


def test_an_unbroken_2000_character_heading_is_laid_out_quickly_and_capped():
    """Attack (issue 9, #10): a 2,000-character heading took 63 s of slide layout (cubic wrap).

    Counted, not timed: the wrap measures text widths O(log n) times per line, and the title is
    capped before layout.
    """
    from tasks.render import slides

    calls = 0
    real = slides._width

    def counting(font, text):
        nonlocal calls
        calls += 1
        return real(font, text)

    slide = Slide(title="W" * 2000, bullets=["x" * 5000], narration="n")
    slides._width = counting
    try:
        layout = layout_slide(slide, 1920, 1080, FONT)
    finally:
        slides._width = real
    assert "".join(layout.title_lines).endswith("…")
    assert sum(len(line) for line in layout.title_lines) <= 160
    assert calls < 5_000  # the character-by-character scan made ~2 million


def test_cue_text_is_escaped():
    """Attack (issue 9, #12): narration with "-->" or "<" broke the captions file."""
    vtt = build_vtt(["Use a --> b & <c> now."], [3.0])
    cue = vtt.split("\n")[4]
    assert cue == "Use a --&gt; b &amp; &lt;c&gt; now."
    assert vtt.count("-->") == 1  # only the timing line
