"""Piper through the process runner: the packaged voice speaks, slides in parallel processes, and
only packaged voices are usable; the engine choice per job."""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path

import pytest

from infra.errors import ConfigError, InputInvalid
from infra.process.runner import Deadlines
from infra.settings import Settings
from infra.settings.tts import TTSSettings
from infra.tts import PIPER_VOICES, SPEECH_RATE_HZ, piper_voice_for, synthesize_piper
from infra.tts.choice import check_engine_voice, engine_for
from infra.tts.piper import PiperVoiceSpec

pytestmark = pytest.mark.media

TEXTS = [
    "Reelflow turns documents into narrated videos.",
    "Every job runs as a Prefect flow and writes its manifest last.",
    "Nothing is uploaded after a cancel.",
]


def _rms(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def test_the_packaged_voice_speaks_each_slide(tmp_path: Path):
    wavs = [tmp_path / f"slide_{i}.wav" for i in range(len(TEXTS))]
    durations = synthesize_piper(
        TEXTS,
        wavs,
        PIPER_VOICES["en_US-joe-medium"],
        TTSSettings(),
        deadlines=Deadlines(300.0, startup_s=120.0, stall_s=120.0),
        workers=2,
        cpus=2,
    )
    for text, wav, seconds in zip(TEXTS, wavs, durations, strict=True):
        with wave.open(str(wav), "rb") as audio:
            assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
            assert audio.getframerate() == SPEECH_RATE_HZ
        words = len(text.split())
        # Speech, not silence or noise: between 80 and 260 words per minute, and audible.
        assert words / 260 * 60 < seconds < words / 80 * 60, (text, seconds)
        assert _rms(wav) > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(w.name for w in wavs)


def test_a_missing_voice_package_is_a_config_error(tmp_path: Path):
    ghost = PiperVoiceSpec("xx_XX-ghost-low", "xx", "no_such_voice_package")
    with pytest.raises(ConfigError, match="not installed"):
        synthesize_piper(
            ["Hello there."],
            [tmp_path / "a.wav"],
            ghost,
            TTSSettings(),
            deadlines=Deadlines(60.0),
            workers=1,
            cpus=1,
        )


def test_engine_follows_the_request_then_the_voice_then_the_setting(settings: Settings):
    cfg = settings.tts
    assert engine_for("piper", None, cfg) == "piper"
    assert engine_for(None, "en_US-joe-medium", cfg) == "piper"
    assert engine_for(None, "alloy", cfg) == "remote"
    assert engine_for(None, "en-gb", cfg) == "espeak"
    assert engine_for(None, None, cfg) == cfg.default_engine
    assert piper_voice_for("en", cfg) is PIPER_VOICES["en_US-joe-medium"]
    assert piper_voice_for("ar", cfg) is None  # espeak-ng speaks Arabic


@pytest.mark.parametrize(
    ("engine", "voice"),
    [("piper", "en-us"), ("piper", "../../model"), ("remote", "en_US-joe-medium"), (None, "zz")],
)
def test_a_voice_outside_the_engines_allowlist_is_refused(
    settings: Settings, engine: str | None, voice: str
):
    with pytest.raises(InputInvalid):
        check_engine_voice(engine, voice, settings.tts)  # type: ignore[arg-type]
