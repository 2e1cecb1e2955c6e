"""espeak-ng through the runner: real speech, and the documented ``tts_failed`` when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import TTSFailed
from infra.media.tts import synthesize

pytestmark = pytest.mark.media


def test_speech_is_written_and_measured(tmp_path: Path):
    wav = tmp_path / "hello.wav"
    seconds = synthesize("Hello from reelflow.", wav, voice="en")
    assert wav.stat().st_size > 44 and 0.3 < seconds < 10


def test_an_unknown_voice_is_tts_failed_with_espeaks_own_words(tmp_path: Path):
    wav = tmp_path / "speech.wav"
    with pytest.raises(TTSFailed) as err:
        synthesize("Hello from reelflow.", wav, voice="xx-no-such-voice")
    assert str(err.value).startswith("[tts_failed]")
    assert not err.value.retryable
    assert "voice does not exist" in (err.value.detail or "")  # espeak-ng's stderr tail
    assert list(tmp_path.iterdir()) == []  # no WAV, no temp file, no text file left
