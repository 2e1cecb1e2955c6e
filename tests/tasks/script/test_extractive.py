"""The script generators (extractive; the LLM provider through its HTTP double) and validation."""

from __future__ import annotations

import pytest

from infra.errors import ScriptInvalid
from infra.jobs.models import DocumentInput
from infra.settings import ScriptSettings, Settings
from tasks.script.extractive import (
    alnum_ratio,
    count_words,
    estimate_duration_s,
    generate_script,
    validate_script,
    write_script,
)
from tests.support.llm_double import GOOD_SLIDES, LLMDouble

CFG = ScriptSettings()


def _doc(sections: list[tuple[str, str]]) -> DocumentInput:
    return DocumentInput(
        path="x", doc_type="text", sha256="0" * 64, size=1, text="", sections=sections
    )


SECTIONS = [
    (f"Section {i}", " ".join(f"Sentence {i}.{j} has exactly six words." for j in range(8)))
    for i in range(6)
]


def test_deterministic_and_within_budget():
    first = generate_script(_doc(SECTIONS), "en", CFG)
    second = generate_script(_doc(SECTIONS), "en", CFG)
    assert first == second
    assert len(first.slides) == 6
    assert all(1 <= len(s.bullets) <= CFG.max_bullets for s in first.slides)
    assert CFG.min_words <= first.word_count <= CFG.max_words
    # Round-robin: every slide gets sentences before any slide gets many.
    counts = [s.narration.count("Sentence") for s in first.slides]
    assert max(counts) - min(counts) <= 1
    assert validate_script(first, CFG) is first


def test_duration_estimate_by_language():
    assert estimate_duration_s(150, "en", CFG) == 60.0
    assert estimate_duration_s(120, "ar", CFG) == 60.0


def test_word_cap_is_script_invalid():
    run_on = "word " * 450  # one sentence the generator cannot split
    with pytest.raises(ScriptInvalid, match="450 words; the limit is 400"):
        validate_script(generate_script(_doc([("Long", run_on)]), "en", CFG), CFG)


def test_too_few_words_is_script_invalid():
    with pytest.raises(ScriptInvalid, match="at least 50"):
        validate_script(generate_script(_doc([("Short", "Only a few words.")]), "en", CFG), CFG)


def test_gibberish_is_script_invalid_but_arabic_is_not():
    noise = "@@## $$%% ^^&& **(( ))__ ++== {{}} ||\\\\ ;;:: <<>> ?? !!" * 20
    with pytest.raises(ScriptInvalid, match="gibberish"):
        validate_script(generate_script(_doc([("", noise)]), "en", CFG), CFG)
    arabic = " ".join(["هذا نص عربي طويل بما يكفي لاختبار التحقق من الكلمات."] * 8)
    script = validate_script(generate_script(_doc([("مقدمة", arabic)]), "ar", CFG), CFG)
    assert alnum_ratio(script.slides[0].narration) > 0.7
    assert count_words(script.slides[0].narration) >= 50


def test_slide_cap():
    many = [(f"T{i}", f"Body {i} sentence here.") for i in range(40)]
    script = generate_script(_doc(many), "en", CFG)
    assert len(script.slides) == CFG.max_slides


def test_extractive_is_the_default_provider(settings: Settings, llm_double: LLMDouble):
    assert settings.script.provider == "extractive"
    script = write_script(_doc(SECTIONS), "en", settings.script)
    assert script == generate_script(_doc(SECTIONS), "en", settings.script)
    assert llm_double.calls == 0


def test_llm_provider_script_is_counted(llm_settings: Settings, llm_double: LLMDouble):
    cfg = llm_settings.script.model_copy(update={"min_words": 10})
    script = write_script(_doc(SECTIONS), "en", cfg)
    assert [s.title for s in script.slides] == [s["title"] for s in GOOD_SLIDES]
    words = sum(count_words(s["narration"]) for s in GOOD_SLIDES)
    assert script.word_count == words
    assert script.estimated_duration_s == estimate_duration_s(words, "en", cfg)
    assert llm_double.calls == 1


def test_llm_script_is_validated_like_any_other(llm_settings: Settings):
    with pytest.raises(ScriptInvalid, match="at least 50"):  # the double's script is short
        write_script(_doc(SECTIONS), "en", llm_settings.script)
