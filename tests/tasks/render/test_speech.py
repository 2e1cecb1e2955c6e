"""The render's speech path (tasks/render/speech.py) with real engines: the script's estimated
duration is within 15 % of the speech the job really gets, for English (espeak-ng and Piper) and
Arabic (espeak-ng at its measured speed); Piper chosen per job speaks, and a language without a
packaged Piper voice falls back to espeak-ng."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.documents import read_document
from infra.jobs.models import JobRequest, Script
from infra.process.runner import Deadlines
from infra.settings import ScriptSettings, Settings
from tasks.render.speech import choose_voicing, speak_slides
from tasks.script.language import choose_language
from tasks.script.slides import build_script
from tests.support.narration_docs import ARABIC_MARKDOWN, make_structured_pdf

pytestmark = pytest.mark.media

CFG = ScriptSettings()
DEADLINES = Deadlines(600.0, startup_s=120.0, stall_s=120.0)


def _script(tmp_path: Path, language: str) -> Script:
    if language == "en":
        doc = read_document(
            make_structured_pdf(tmp_path / "r.pdf"), "pdf", max_chars=80_000, max_pages=200
        )
    else:
        (tmp_path / "a.md").write_text(ARABIC_MARKDOWN)
        doc = read_document(tmp_path / "a.md", "markdown", max_chars=80_000, max_pages=200)
    return build_script(
        doc,
        choose_language(doc.text, None),
        max_words=CFG.max_words,
        max_slides=CFG.max_slides,
        max_bullets=CFG.max_bullets,
    )


def _speak(script: Script, request: JobRequest, settings: Settings, tmp_path: Path):
    audio = tmp_path / "audio"
    audio.mkdir()
    voicing = choose_voicing(request, script, settings)
    return speak_slides(script, audio, voicing, settings, None, DEADLINES)


@pytest.mark.parametrize(
    ("language", "engine"), [("en", "espeak"), ("en", "piper"), ("ar", "espeak"), ("ar", "piper")]
)
def test_estimate_is_within_15_percent_of_the_jobs_real_speech(
    settings: Settings, tmp_path: Path, language: str, engine: str
):
    script = _script(tmp_path, language)
    assert script.language == language
    request = JobRequest(source="/x.md", engine=engine)  # type: ignore[arg-type]
    durations, spoke = _speak(script, request, settings, tmp_path)
    # Arabic has no packaged Piper voice: espeak-ng speaks it.
    assert spoke.engine == ("piper" if (engine, language) == ("piper", "en") else "espeak")
    assert spoke.requested == engine
    real = sum(durations)
    assert abs(script.estimated_duration_s - real) <= 0.15 * real, (
        script.estimated_duration_s,
        real,
    )
    assert len(durations) == len(script.slides)


def test_parallel_speech_is_bounded_by_the_setting_the_cpus_and_the_cpu_limit(settings: Settings):
    from tasks.render.speech import parallel_slots

    settings.tts.max_parallel = 8
    workers, cpus = parallel_slots(settings, slides=20)
    assert workers == min(8, cpus) and cpus >= 1
    assert parallel_slots(settings, slides=1)[0] == 1
    assert parallel_slots(settings, slides=20, cpu_percent=100) == (1, 1)
    settings.tts.max_parallel = 1
    assert parallel_slots(settings, slides=20)[0] == 1
