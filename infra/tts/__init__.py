"""Voice engines beside espeak-ng (infra/media/tts.py): Piper, neural and offline, run as its own
process through the process runner (``piper.py``, ``piper_speak.py``); and a remote
OpenAI-compatible ``/v1/audio/speech`` provider under the SSRF rules (``remote.py``).

Contract: every engine writes a mono 16-bit WAV at ``SPEECH_RATE_HZ`` per slide (the render joins
them without re-encoding) and raises ``tts_failed`` (bad text or audio), ``tts_unavailable``
(retryable outage) or ``config_error``.
"""

from __future__ import annotations

from infra.tts.piper import PIPER_VOICES, piper_voice_for, synthesize_piper
from infra.tts.remote import speak_remote

__all__ = ["PIPER_VOICES", "SPEECH_RATE_HZ", "piper_voice_for", "speak_remote", "synthesize_piper"]

SPEECH_RATE_HZ = 22050  # espeak-ng's and the packaged Piper voices' rate
