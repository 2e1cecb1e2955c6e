"""The ladder plan, from facts alone (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from infra.errors import InputInvalid
from infra.media.facts import AudioFacts, MediaFacts, VideoFacts
from infra.media.plan import MediaPlan, h264_level, output_fps, plan_media
from infra.media.presets import MEDIA_PRESETS, PRESETS
from infra.settings.media import MediaSettings

SETTINGS = MediaSettings()


def _facts(
    width=1920,
    height=1080,
    *,
    display=None,
    fps="30/1",
    audio=True,
    channels=2,
    rotation=0,
    **video,
) -> MediaFacts:
    dw, dh = display or (width, height)
    return MediaFacts(
        container="mov,mp4",
        duration_s=10.0,
        video=VideoFacts(
            index=0,
            codec="h264",
            width=width,
            height=height,
            rotation=rotation,
            display_width=dw,
            display_height=dh,
            fps=fps,
            duration_s=10.0,
            **video,
        ),
        audio=AudioFacts(index=1, codec="aac", channels=channels, sample_rate=44100)
        if audio
        else None,
    )


def _plan(facts: MediaFacts, preset: str = "hd") -> MediaPlan:
    return plan_media(facts, MEDIA_PRESETS[preset], name="in.mp4", segment_s=6, settings=SETTINGS)


def test_hd_source_gets_the_whole_ladder_with_levels_and_rates():
    plan = _plan(_facts())
    assert [(r.name, r.width, r.height) for r in plan.rungs] == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
    ]
    assert [r.level for r in plan.rungs] == [40, 31, 31]  # 854x480@30: 48600 MB/s > 3.0
    rates = [r.maxrate_kbps for r in plan.rungs]
    assert rates == sorted(rates, reverse=True) and 4000 < rates[0] < 6000
    assert plan.frames == 300 and plan.fps == "30/1" and plan.duration_s == 10.0
    assert plan.audio is not None and plan.audio.channels == 2 and plan.audio.sample_rate == 48000
    assert MediaPlan.model_validate_json(plan.model_dump_json()) == plan


def test_never_upscale_and_small_sources_get_one_rung_of_their_own_size():
    assert [r.name for r in _plan(_facts(1280, 720)).rungs] == ["720p", "480p"]
    tiny = _plan(_facts(321, 181, display=(320, 181), audio=False), "sd").rungs
    assert [(r.width, r.height) for r in tiny] == [(318, 180)]  # 320:181, even
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in tiny)


def test_portrait_and_anamorphic_keep_their_display_aspect():
    portrait = _plan(_facts(1920, 1080, display=(1080, 1920), rotation=90), "sd")
    assert [(r.width, r.height) for r in portrait.rungs] == [(720, 1280), (480, 854), (360, 640)]
    # DV NTSC widescreen: 720x480 stored, SAR 32:27 -> 853x480 displayed.
    dv = _plan(_facts(720, 480, display=(853, 480), sar="32:27", fps="30000/1001"), "sd")
    assert [(r.width, r.height) for r in dv.rungs] == [(852, 480), (640, 360)]


@pytest.mark.parametrize(
    ("nominal", "expected"),
    [("120/1", "60/1"), ("100/1", "50/1"), ("60000/1001", "60000/1001"), ("144/1", "48/1")],
)
def test_frame_rate_is_divided_down_to_the_cap(nominal: str, expected: str):
    assert output_fps(Fraction(nominal), 60.0) == Fraction(expected)
    assert _plan(_facts(fps=nominal)).fps == expected


def test_fixes_are_planned_from_the_facts():
    plan = _plan(
        _facts(
            bit_depth=10,
            hdr=True,
            color_transfer="smpte2084",
            color_primaries="bt2020",
            color_space="bt2020nc",
            interlaced=True,
            field_order="tt",
            start_s=0.5,
        )
    )
    source = plan.sources[0]
    assert source.hdr_transfer == "smpte2084" and source.deinterlace
    assert source.origin_frame == 15  # the video's first frame at 0.5 s, on the 30 fps grid


def test_surround_audio_only_and_video_only_plans():
    audio_only = MediaFacts(
        container="mov,mp4",
        duration_s=4.0,
        audio=AudioFacts(index=0, codec="aac", channels=6, layout="5.1", sample_rate=48000),
    )
    plan = _plan(audio_only)
    assert plan.kind == "audio" and plan.rungs == [] and plan.fps is None
    assert plan.audio is not None and plan.audio.channels == 2
    assert plan.audio.loudness_lufs == SETTINGS.loudness_lufs
    silent = _plan(_facts(audio=False))
    assert silent.kind == "video" and silent.audio is None
    with pytest.raises(InputInvalid):
        _plan(MediaFacts(container="x", duration_s=1.0))


def test_segment_starts_and_levels():
    plan = _plan(_facts(fps="30000/1001"))
    assert [plan.segment_start_frame(i) for i in range(4)] == [0, 180, 360, 540]
    assert h264_level(1920, 1080, Fraction(60), 5000, 10000) == 42
    assert h264_level(3840, 2160, Fraction(30), 20000, 40000) == 51


def test_document_presets_are_untouched():
    assert list(PRESETS) == ["hd", "sd", "tiny"]
    assert PRESETS["hd"].top.width == 1920
