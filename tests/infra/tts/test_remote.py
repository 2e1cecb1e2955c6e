"""The remote /v1/audio/speech provider against an HTTP double on 127.0.0.1 that answers real audio
(espeak-ng, MP3 through ffmpeg): speech arrives as the render's WAV; errors map to their codes;
429/5xx are retried; the SSRF rules apply to the provider's URL."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.errors import ConfigError, ReelflowError, TTSFailed, TTSUnavailable, UrlRefused
from infra.process.runner import Deadlines
from infra.settings import Settings
from infra.settings.tts import TTSSettings
from infra.tts import SPEECH_RATE_HZ, speak_remote
from tests.support.speech_double import SpeechDouble, SpeechReply

pytestmark = pytest.mark.media

KEY = "sk-speech-test-0123456789"
TEXT = "Every job runs as a Prefect flow and writes its manifest last."


@pytest.fixture()
def speech() -> Iterator[SpeechDouble]:
    double = SpeechDouble()
    try:
        yield double
    finally:
        double.stop()


def _cfg(double: SpeechDouble, **changes: object) -> TTSSettings:
    base = TTSSettings(
        remote_base_url=double.url,
        remote_api_key=SecretStr(KEY),
        remote_backoff_s=0.01,
        remote_timeout_s=30,
    )
    return base.model_copy(update=changes)


def _speak(settings: Settings, cfg: TTSSettings, wav: Path) -> float:
    settings.net.allow_hosts = ["127.0.0.1"]
    return speak_remote(
        TEXT,
        wav,
        voice="nova",
        cfg=cfg,
        net=settings.net,
        ffmpeg="ffmpeg",
        rate_hz=SPEECH_RATE_HZ,
        deadlines=Deadlines(60.0, startup_s=30.0, stall_s=30.0),
    )


@pytest.mark.parametrize("audio_format", ["wav", "mp3"])
def test_speech_arrives_as_the_renders_wav(
    settings: Settings, speech: SpeechDouble, tmp_path: Path, audio_format: str
):
    wav = tmp_path / "slide_000.wav"
    seconds = _speak(settings, _cfg(speech, remote_format=audio_format), wav)
    with wave.open(str(wav), "rb") as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (
            1,
            2,
            SPEECH_RATE_HZ,
        )
    assert 2.0 < seconds < 10.0  # 12 words of speech
    assert speech.requests == [
        {"model": "tts-1", "input": TEXT, "voice": "nova", "response_format": audio_format}
    ]
    assert speech.bearers == [KEY]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slide_000.wav"]


def test_429_and_500_are_retried_then_succeed(
    settings: Settings, speech: SpeechDouble, tmp_path: Path
):
    speech.respond(SpeechReply(429, b"slow down", {"Retry-After": "0"}), SpeechReply(503))
    assert _speak(settings, _cfg(speech), tmp_path / "a.wav") > 0
    assert speech.calls == 3


@pytest.mark.parametrize(
    ("reply", "error", "code", "calls"),
    [
        (SpeechReply(503, b"down"), TTSUnavailable, "tts_unavailable", 3),
        (SpeechReply(429, b"quota"), TTSUnavailable, "tts_unavailable", 3),
        (
            SpeechReply(401, b'{"error": "bad key ' + KEY.encode() + b'"}'),
            ConfigError,
            "config_error",
            1,
        ),
        (SpeechReply(404, b"no such model"), ConfigError, "config_error", 1),
        (SpeechReply(400, b'{"error": "input too long"}'), TTSFailed, "tts_failed", 1),
        (SpeechReply(200, b"this is not audio at all"), TTSFailed, "tts_failed", 1),
    ],
    ids=["503", "429", "401", "404", "400-input", "200-garbage"],
)
def test_errors_map_to_their_codes(
    settings: Settings,
    speech: SpeechDouble,
    tmp_path: Path,
    reply: SpeechReply,
    error: type[ReelflowError],
    code: str,
    calls: int,
):
    speech.respond(*[reply] * 3)
    with pytest.raises(error) as caught:
        _speak(settings, _cfg(speech), tmp_path / "a.wav")
    assert caught.value.code == code
    assert caught.value.retryable == (code == "tts_unavailable")
    assert KEY not in str(caught.value)
    assert speech.calls == calls
    assert not (tmp_path / "a.wav").exists()


def test_an_unreachable_provider_is_tts_unavailable(settings: Settings, tmp_path: Path):
    from tests.support.tools import free_port

    cfg = TTSSettings(
        remote_base_url=f"http://127.0.0.1:{free_port()}/v1",
        remote_retries=1,
        remote_backoff_s=0.01,
    )
    settings.net.allow_hosts = ["127.0.0.1"]
    with pytest.raises(TTSUnavailable, match="cannot reach"):
        speak_remote(
            TEXT,
            tmp_path / "a.wav",
            voice="nova",
            cfg=cfg,
            net=settings.net,
            ffmpeg="ffmpeg",
            rate_hz=SPEECH_RATE_HZ,
            deadlines=Deadlines(30.0),
        )


def test_the_ssrf_rules_apply_to_the_providers_url(
    settings: Settings, speech: SpeechDouble, tmp_path: Path
):
    settings.net.allow_hosts = []  # loopback not allowed
    with pytest.raises(UrlRefused):
        speak_remote(
            TEXT,
            tmp_path / "a.wav",
            voice="nova",
            cfg=_cfg(speech),
            net=settings.net,
            ffmpeg="ffmpeg",
            rate_hz=SPEECH_RATE_HZ,
            deadlines=Deadlines(30.0),
        )
    assert speech.calls == 0


def test_production_refuses_the_placeholder_key_when_remote_is_the_default(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from infra.settings import get_settings

    monkeypatch.setenv("REELFLOW_ENV", "production")
    monkeypatch.setenv("REELFLOW_TTS__DEFAULT_ENGINE", "remote")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="REELFLOW_TTS__REMOTE_API_KEY"):
        get_settings()
    monkeypatch.setenv("REELFLOW_TTS__REMOTE_API_KEY", "sk-a-real-key")
    get_settings.cache_clear()
    assert get_settings().tts.default_engine == "remote"
