"""Speech per slide with the job's engine: espeak-ng, Piper or the remote provider.

The engine is the job's (infra/tts/choice.py). Piper speaks only languages it has a packaged voice
for; any other language, and a Piper that is not installed or fails on a slide, falls back to
espeak-ng (logged, and recorded in script.json as the engine that spoke). The remote provider has
no fallback: its errors are the job's (``tts_unavailable`` is retried by the stage policy).
Slides are spoken in parallel, at most ``REELFLOW_TTS__MAX_PARALLEL`` at once and never more
than the CPUs the job may use.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ConfigError, TTSFailed
from infra.jobs.models import JobRequest, Script
from infra.media.tts import synthesize
from infra.process.runner import Deadlines, ProcessGuard
from infra.settings import Settings
from infra.settings.tts import EngineName
from infra.tts import SPEECH_RATE_HZ, piper_voice_for, speak_remote, synthesize_piper
from infra.tts.choice import engine_for
from infra.tts.piper import PIPER_VOICES
from tasks.script.language import NOMINAL_SPEED, profile

__all__ = ["Voicing", "choose_voicing", "espeak_speed", "parallel_slots", "speak_slides"]

log = logging.getLogger("reelflow.render.speech")
ESPEAK_VOICES = {"en": "en-us", "ar": "ar"}


@dataclass(frozen=True)
class Voicing:
    engine: EngineName  # what speaks the job
    voice: str
    espeak_voice: str  # the fallback's voice
    requested: EngineName  # what the job asked for (differs after a fallback)


def _espeak_voice(request: JobRequest, script: Script, settings: Settings) -> str:
    if request.voice is not None and engine_for(request.engine, request.voice, settings.tts) == (
        "espeak"
    ):
        return request.voice
    base = script.language.split("-")[0]
    if base == "en":
        return settings.render.default_voice
    return script.voice or ESPEAK_VOICES.get(base, base)


def choose_voicing(request: JobRequest, script: Script, settings: Settings) -> Voicing:
    """The engine and voice for ``script`` (see the module docstring)."""
    cfg = settings.tts
    requested = engine_for(request.engine, request.voice, cfg)
    espeak_voice = _espeak_voice(request, script, settings)
    if requested == "piper":
        spec = PIPER_VOICES.get(request.voice or "") or piper_voice_for(script.language, cfg)
        if spec is not None and spec.language == script.language.split("-")[0]:
            return Voicing("piper", spec.name, espeak_voice, requested)
        log.info("no packaged Piper voice for %r: espeak-ng speaks it", script.language)
        return Voicing("espeak", espeak_voice, espeak_voice, requested)
    if requested == "remote":
        voice = request.voice if request.voice in cfg.remote_voices else cfg.remote_voice
        return Voicing("remote", voice or cfg.remote_voice, espeak_voice, requested)
    return Voicing("espeak", espeak_voice, espeak_voice, requested)


def espeak_speed(language: str, settings: Settings) -> int:
    """espeak-ng's ``-s`` for ``language``: the measured speed its duration estimate assumes
    (tasks/script/language.py), scaled by REELFLOW_RENDER__SPEECH_RATE_WPM / 160."""
    return round(profile(language).espeak_speed * settings.render.speech_rate_wpm / NOMINAL_SPEED)


def parallel_slots(
    settings: Settings, slides: int, cpu_percent: int | None = None
) -> tuple[int, int]:
    """(processes at once, CPUs the job may use) for speaking ``slides`` slides: the CPUs this
    process may run on, fewer when the job's CPU limit (percent of one core) is lower."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = max(1, cpus or 1)
    if cpu_percent is not None:
        cpus = max(1, min(cpus, -(-cpu_percent // 100)))
    return max(1, min(settings.tts.max_parallel, cpus, slides)), cpus


def speak_slides(
    script: Script,
    audio_dir: Path,
    voicing: Voicing,
    settings: Settings,
    guard: ProcessGuard | None,
    deadlines: Deadlines,
    cpu_percent: int | None = None,
) -> tuple[list[float], Voicing]:
    """Speak every slide into ``audio_dir/slide_NNN.wav``; (durations, the voicing that spoke).
    ``cpu_percent``: the job's CPU limit, which bounds the parallelism too."""
    texts = [slide.narration for slide in script.slides]
    wavs = [audio_dir / f"slide_{i:03d}.wav" for i in range(len(texts))]
    workers, cpus = parallel_slots(settings, len(texts), cpu_percent)
    if voicing.engine == "piper":
        try:
            durations = synthesize_piper(
                texts,
                wavs,
                PIPER_VOICES[voicing.voice],
                settings.tts,
                deadlines=deadlines,
                workers=workers,
                cpus=cpus,
                guard=guard,
            )
            return durations, voicing
        except (ConfigError, TTSFailed) as exc:
            log.warning("Piper failed (%s): espeak-ng speaks this job", exc)
            voicing = Voicing("espeak", voicing.espeak_voice, voicing.espeak_voice, "piper")
    cfg = settings.render
    with ThreadPoolExecutor(max_workers=workers) as pool:
        if voicing.engine == "remote":
            futures = [
                pool.submit(
                    speak_remote,
                    text,
                    wav,
                    voice=voicing.voice,
                    cfg=settings.tts,
                    net=settings.net,
                    ffmpeg=cfg.ffmpeg_bin,
                    rate_hz=SPEECH_RATE_HZ,
                    deadlines=deadlines,
                    guard=guard,
                )
                for text, wav in zip(texts, wavs, strict=True)
            ]
        else:
            futures = [
                pool.submit(
                    synthesize,
                    text,
                    wav,
                    voice=voicing.voice,
                    rate_wpm=espeak_speed(script.language, settings),
                    espeak=cfg.espeak_bin,
                    timeout_s=min(cfg.process_timeout_s, 300),
                    guard=guard,
                )
                for text, wav in zip(texts, wavs, strict=True)
            ]
        return [f.result() for f in futures], voicing
