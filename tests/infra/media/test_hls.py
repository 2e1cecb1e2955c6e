"""HLS argv, master playlists and the strict playlist parser (pure)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from infra.media.hls import (
    PlaylistError,
    aac_codec_string,
    hls_argv,
    master_playlist,
    parse_master_playlist,
    parse_media_playlist,
    subtitle_media_playlist,
)
from infra.media.storyboard import storyboard_layout, storyboard_vtt
from infra.media.subtitles import SubtitleTrack, subtitle_argv, track_key, with_timestamp_map

MP4S = [Path("top.mp4"), Path("low.mp4")]
PLAYLISTS = [Path("hls/720p/index.m3u8"), Path("hls/480p/index.m3u8")]


def _maps(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-map"]


def test_hls_argv_maps_for_each_job_kind():
    assert _maps(hls_argv("ffmpeg", MP4S, PLAYLISTS, 6)) == ["0:v", "0:a", "1:v", "1:a"]
    assert _maps(hls_argv("ffmpeg", MP4S, PLAYLISTS, 6, audio="top")) == [
        "0:v",
        "0:a",
        "1:v",
        "0:a",
    ]
    assert _maps(hls_argv("ffmpeg", MP4S, PLAYLISTS, 6, audio="none")) == ["0:v", "1:v"]
    audio_only = hls_argv("ffmpeg", MP4S[:1], PLAYLISTS[:1], 6, video=False)
    assert _maps(audio_only) == ["0:a"]
    argv = hls_argv("ffmpeg", [Path("a b/'q' é.mp4")], PLAYLISTS[:1], 6)
    assert "a b/'q' é.mp4" in argv and argv[argv.index("a b/'q' é.mp4") - 1] == "-i"


def test_master_playlist_for_video_only_audio_only_and_subtitles():
    video_only = master_playlist(
        [
            {
                "uri": "720p/index.m3u8",
                "bandwidth": 900,
                "average": 800,
                "width": 1280,
                "height": 720,
                "fps": 29.97,
                "codecs": "avc1.64001f",
            }
        ],
        [{"uri": "subs_0_en/index.m3u8", "name": 'Eng "CC"', "language": "en"}],
    )
    parsed = parse_master_playlist(video_only)
    attrs, uri = parsed.variants[0]
    assert uri == "720p/index.m3u8" and attrs["CODECS"] == "avc1.64001f"
    assert attrs["FRAME-RATE"] == "29.970" and attrs["SUBTITLES"] == "subs"
    assert parsed.media[0]["NAME"] == "Eng 'CC'" and parsed.media[0]["DEFAULT"] == "YES"
    audio_only = master_playlist(
        [{"uri": "audio/index.m3u8", "bandwidth": 130000, "average": 128000, "codecs": "mp4a.40.2"}]
    )
    assert "RESOLUTION" not in audio_only and "FRAME-RATE" not in audio_only
    assert aac_codec_string("LC") == "mp4a.40.2" and aac_codec_string("HE-AAC") == "mp4a.40.5"


def test_media_playlist_parser_is_strict():
    good = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\na.ts\n"
        "#EXTINF:1.5,\nb.ts\n#EXT-X-ENDLIST\n"
    )
    playlist = parse_media_playlist(good)
    assert playlist.endlist and playlist.duration_s == 3.5 and playlist.segments[1] == (1.5, "b.ts")
    assert not parse_media_playlist(good.replace("#EXT-X-ENDLIST\n", "")).endlist
    for bad in (
        good.replace("#EXTM3U\n", ""),
        good.replace("#EXT-X-TARGETDURATION:2\n", ""),
        good.replace("#EXTINF:2.000,\n", ""),
        good.replace("2.000", "4.000"),
    ):
        with pytest.raises(PlaylistError):
            parse_media_playlist(bad)
    sub = parse_media_playlist(subtitle_media_playlist("0_en.vtt", 12.3))
    assert sub.endlist and sub.segments == [(12.3, "0_en.vtt")] and sub.target_duration == 13


def test_storyboard_layout_and_track():
    layout = storyboard_layout(
        frames=250,
        fps=Fraction(25),
        width=256,
        height=144,
        interval_s=2.0,
        tile_width=64,
        columns=2,
        rows=2,
    )
    assert (layout.count, layout.tile_height, layout.sheets) == (5, 36, 2)
    vtt = storyboard_vtt(layout, 10.0)
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:08.000 --> 00:00:10.000\nsheet_001.jpg#xywh=0,0,64,36" in vtt
    assert "00:00:06.000 --> 00:00:08.000\nsheet_000.jpg#xywh=64,36,64,36" in vtt


def test_subtitle_helpers(tmp_path: Path):
    srt = tmp_path / "a b 'c'.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    argv = subtitle_argv("ffmpeg", srt, tmp_path / "out.vtt")
    assert argv[argv.index(str(srt)) - 3 : argv.index(str(srt))] == ["-f", "srt", "-i"]
    vtt = tmp_path / "x.vtt"
    vtt.write_text("\ufeffWEBVTT\n\n00:00.000 --> 00:01.000\nHi\n")
    webvtt = subtitle_argv("ffmpeg", vtt, tmp_path / "o.vtt")
    assert webvtt[webvtt.index(str(vtt)) - 3 : webvtt.index(str(vtt)) - 1] == ["-f", "webvtt"]
    mapped = with_timestamp_map("WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n", 126000)
    assert mapped.splitlines()[:2] == ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000"]
    assert track_key(SubtitleTrack(path=srt, language="../../x"), 2) == "2_und"
    assert track_key(SubtitleTrack(path=srt, language="pt-BR"), 0) == "0_pt-BR"
