"""Which engine speaks a job, and whether the voice it names is one that engine may use.

An explicit ``engine`` wins. Without one, a voice names its engine (a packaged Piper voice ->
piper, a voice of ``REELFLOW_TTS__REMOTE_VOICES`` -> remote, anything else -> espeak-ng, so older
requests that name an espeak-ng voice keep working); with neither, ``REELFLOW_TTS__DEFAULT_ENGINE``.
Voices come from allowlists only: espeak-ng's own list, ``PIPER_VOICES``, the remote allowlist.
"""

from __future__ import annotations

from infra.errors import InputInvalid
from infra.media.voices import check_voice
from infra.settings.tts import EngineName, TTSSettings
from infra.tts.piper import PIPER_VOICES

__all__ = ["check_engine_voice", "engine_for"]


def engine_for(engine: EngineName | None, voice: str | None, cfg: TTSSettings) -> EngineName:
    if engine is not None:
        return engine
    if voice is None:
        return cfg.default_engine
    if voice in PIPER_VOICES:
        return "piper"
    if voice in cfg.remote_voices:
        return "remote"
    return "espeak"


def check_engine_voice(
    engine: EngineName | None, voice: str | None, cfg: TTSSettings, espeak: str = "espeak-ng"
) -> EngineName:
    """The job's engine; InputInvalid when ``voice`` is not one that engine may use."""
    chosen = engine_for(engine, voice, cfg)
    if voice is None:
        return chosen
    if chosen == "piper" and voice not in PIPER_VOICES:
        raise InputInvalid(
            f"voice {voice[:60]!r} is not a packaged Piper voice; choose one of "
            f"{', '.join(sorted(PIPER_VOICES))}"
        )
    if chosen == "remote" and voice not in cfg.remote_voices:
        raise InputInvalid(
            f"voice {voice[:60]!r} is not an allowed remote voice (REELFLOW_TTS__REMOTE_VOICES: "
            f"{', '.join(cfg.remote_voices)})"
        )
    if chosen == "espeak":
        check_voice(voice, espeak)
    return chosen
