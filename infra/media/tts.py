"""Text to speech with espeak-ng through the process runner; durations are measured."""

from __future__ import annotations

import wave
from pathlib import Path

from infra.errors import ReelflowError, TTSFailed
from infra.process.runner import Deadlines, ProcessGuard, atomic_outputs, run_process

__all__ = ["espeak_argv", "synthesize", "wav_duration"]


def espeak_argv(espeak: str, text_file: Path, wav: Path, *, voice: str, rate_wpm: int) -> list[str]:
    return [espeak, "-v", voice, "-s", str(rate_wpm), "-w", str(wav), "-f", str(text_file)]


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def synthesize(
    text: str,
    wav: Path,
    *,
    voice: str,
    rate_wpm: int = 160,
    espeak: str = "espeak-ng",
    timeout_s: float = 120.0,
    guard: ProcessGuard | None = None,
) -> float:
    """Speak ``text`` into ``wav``; returns its duration in seconds. Raises TTSFailed."""
    text_file = wav.with_suffix(".txt")
    text_file.write_text(text, encoding="utf-8")
    try:
        with atomic_outputs(wav) as (tmp,):
            run_process(
                espeak_argv(espeak, text_file, tmp, voice=voice, rate_wpm=rate_wpm),
                deadlines=Deadlines(timeout_s),
                error=TTSFailed,
                guard=guard,
            )
            duration = wav_duration(tmp)
    except TTSFailed:
        raise
    except (wave.Error, EOFError) as exc:
        raise TTSFailed(f"espeak-ng wrote an unreadable WAV for voice {voice!r}") from exc
    except ReelflowError as exc:
        if exc.code in {"ffmpeg_timeout", "ffmpeg_stalled"}:
            raise TTSFailed(f"espeak-ng timed out after {timeout_s:.0f} s") from exc
        raise
    finally:
        text_file.unlink(missing_ok=True)
    if duration <= 0:
        raise TTSFailed(f"espeak-ng produced no audio for voice {voice!r}")
    return duration
