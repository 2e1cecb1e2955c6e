"""The script writers (extractive; the LLM provider through its HTTP double) and validation."""

from __future__ import annotations

import pytest

from infra.errors import ScriptInvalid
from infra.jobs.models import DocumentInput, Script, Slide
from infra.settings import ScriptSettings, Settings
from tasks.script.extractive import (
    alnum_ratio,
    count_words,
    generate_script,
    validate_script,
    write_script,
)
from tasks.script.language import estimate_duration_s
from tests.support.llm_double import GOOD_SLIDES, LLMDouble, script_reply

CFG = ScriptSettings()


def _doc(sections: list[tuple[str, str]]) -> DocumentInput:
    return DocumentInput(
        path="x", doc_type="text", sha256="0" * 64, size=1, text="", sections=sections
    )


SECTIONS = [
    (
        f"Section {i}",
        " ".join(f"Finding {i}.{j} has exactly six words here." for j in range(12)),
    )
    for i in range(6)
]


def test_deterministic_summarised_and_fair():
    first = generate_script(_doc(SECTIONS), "en", CFG)
    second = generate_script(_doc(SECTIONS), "en", CFG)
    assert first == second
    assert [s.title for s in first.slides] == [t for t, _ in SECTIONS]
    assert all(1 <= len(s.bullets) <= CFG.max_bullets for s in first.slides)
    # 6 x 12 sentences of 8 spoken words do not fit 400 words: every section gets its share.
    assert CFG.max_words - 8 < first.word_count <= CFG.max_words
    counts = [s.narration.count("Finding") for s in first.slides]
    assert max(counts) - min(counts) <= 1
    assert validate_script(first, CFG) is first


def test_duration_estimate_follows_the_language():
    assert estimate_duration_s(" ".join(["word"] * 155), "en") == 60.0
    assert estimate_duration_s(" ".join(["كلمة"] * 120), "ar") == 60.0
    assert estimate_duration_s(" ".join(["слово"] * 145), "ru-RU") == 60.0


def test_a_run_on_sentence_longer_than_the_limit_is_script_invalid():
    run_on = "word " * 450  # one sentence the generator cannot split or summarise
    with pytest.raises(ScriptInvalid, match="longer than the narration limit of 400"):
        generate_script(_doc([("Long", run_on)]), "en", CFG)


def test_a_short_real_document_is_valid():
    script = validate_script(
        generate_script(_doc([("Short", "Only a few words here.")]), "en", CFG), CFG
    )
    assert [s.narration for s in script.slides] == ["Only a few words here."]


def test_labels_without_a_sentence_are_script_invalid():
    with pytest.raises(ScriptInvalid, match="0 sentence"):
        validate_script(generate_script(_doc([("Short", "Hello there")]), "en", CFG), CFG)


def test_no_sections_is_reachable_and_empty_scripts_are_refused():
    empty = Script(language="en", slides=[], word_count=0, estimated_duration_s=0)
    with pytest.raises(ScriptInvalid, match="no sections"):
        validate_script(empty, CFG)
    silent = empty.model_copy(update={"slides": [Slide(title="T", bullets=[], narration=" ")]})
    with pytest.raises(ScriptInvalid, match="narration is empty"):
        validate_script(silent, CFG)


def test_gibberish_is_script_invalid_but_arabic_is_not():
    noise = "@@## $$%% ^^&& **(( ))__ ++== {{}} ||\\\\ ;;:: <<>> ?? !!" * 20 + " ab."
    slides = [Slide(title="", bullets=[], narration=noise)]
    with pytest.raises(ScriptInvalid, match="gibberish"):
        validate_script(
            Script(language="en", slides=slides, word_count=3, estimated_duration_s=1), CFG
        )
    arabic = " ".join(["هذا نص عربي طويل بما يكفي لاختبار التحقق من الكلمات."] * 3)
    script = validate_script(generate_script(_doc([("مقدمة", arabic)]), "ar", CFG), CFG)
    assert alnum_ratio(script.slides[0].narration) > 0.7
    # The three identical sentences are said once: a script never repeats itself.
    assert count_words(script.slides[0].narration) == 10


def test_slide_cap():
    many = [(f"T{i}", f"Body {i} has one sentence here.") for i in range(40)]
    script = generate_script(_doc(many), "en", CFG)
    assert len(script.slides) == CFG.max_slides


def test_extractive_is_the_default_provider(settings: Settings, llm_double: LLMDouble):
    assert settings.script.provider == "extractive"
    script = write_script(_doc(SECTIONS), "en", settings.script)
    assert script == generate_script(_doc(SECTIONS), "en", settings.script)
    assert llm_double.calls == 0


def test_language_is_detected_when_the_job_names_none(settings: Settings):
    doc = _doc([("Отчёт", "Система превращает документы в видео. Каждая задача идёт по этапам.")])
    script = write_script(doc, None, settings.script)
    assert (script.language, script.voice) == ("ru", "ru")
    assert write_script(doc, "en", settings.script).language == "en"  # --language wins


def test_llm_provider_script_is_counted(llm_settings: Settings, llm_double: LLMDouble):
    script = write_script(_doc(SECTIONS), "en", llm_settings.script)
    assert [s.title for s in script.slides] == [s["title"] for s in GOOD_SLIDES]
    words = sum(count_words(s["narration"]) for s in GOOD_SLIDES)
    assert script.word_count == words
    narration = " ".join(s["narration"] for s in GOOD_SLIDES)
    assert script.estimated_duration_s == estimate_duration_s(narration, "en")
    assert script.voice == "en-us"
    assert llm_double.calls == 1


def test_llm_script_is_validated_like_any_other(llm_settings: Settings, llm_double: LLMDouble):
    bad = script_reply([{"title": "T", "bullets": [], "narration": "#### |||| ok"}])
    llm_double.respond(bad, bad)  # the answer and the answer to the one repair request
    with pytest.raises(ScriptInvalid, match="gibberish"):
        write_script(_doc(SECTIONS), "en", llm_settings.script)
