"""Scripts from real documents: whole source sentences, speakable, in order, never repeated,
one slide per section, in the detected language, summarised to the limit when long."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.documents import Document, ListBlock, Paragraph, QuoteBlock, TableBlock, read_document
from infra.documents.sentences import is_sentence_end
from infra.jobs.models import Script
from infra.media.tts import synthesize
from infra.settings import ScriptSettings
from tasks.script.extractive import validate_script
from tasks.script.language import choose_language, estimate_duration_s, profile, voice_for
from tasks.script.slides import build_script
from tasks.script.speakable import speakable, table_sentence
from tests.support.narration_docs import (
    ARABIC_MARKDOWN,
    NOTE,
    REPORT_SECTIONS,
    RICH_MARKDOWN,
    RUSSIAN_TEXT,
    long_report,
    make_structured_pdf,
)

CFG = ScriptSettings()


def _read(path: Path, doc_type: str) -> Document:
    return read_document(path, doc_type, max_chars=CFG.max_words * 200, max_pages=200)


def _script(doc: Document, language: str | None = None) -> Script:
    language = choose_language(doc.text, language)
    script = build_script(
        doc,
        language,
        max_words=CFG.max_words,
        max_slides=CFG.max_slides,
        max_bullets=CFG.max_bullets,
    )
    return validate_script(script, CFG)


def _spoken_units(doc: Document, language: str) -> list[str]:
    """What the narration may say: each source sentence, list item or table, spoken."""
    units: list[str] = []
    for section in doc.sections:
        for block in section.blocks:
            if isinstance(block, Paragraph | QuoteBlock):
                units += [speakable(s, language) for s in block.sentences]
            elif isinstance(block, ListBlock):
                units += [
                    speakable(i if is_sentence_end(i) else i + ".", language) for i in block.items
                ]
            elif isinstance(block, TableBlock):
                units.append(table_sentence(block, language))
    return [u for u in units if u]


def _segments(narration: str, units: list[str]) -> list[int]:
    """Indexes of the source units the narration is made of, in its order; fails if any part of
    the narration is not a whole unit (a cut or invented sentence)."""
    found: list[int] = []
    rest = narration
    while rest:
        match = max(
            (
                i
                for i, u in enumerate(units)
                if rest.startswith(u) and rest[len(u) : len(u) + 1] in ("", " ")
            ),
            key=lambda i: len(units[i]),
            default=None,
        )
        assert match is not None, f"not a whole source sentence: {rest[:80]!r}"
        found.append(match)
        rest = rest[len(units[match]) :].lstrip()
    return found


def _check(script: Script, doc: Document) -> list[list[int]]:
    """The invariants every script keeps; returns the source units of each slide."""
    units = _spoken_units(doc, script.language)
    per_slide = []
    for slide in script.slides:
        assert slide.narration and is_sentence_end(slide.narration)
        per_slide.append(_segments(slide.narration, units))
        for syntax in ("http", "www.", "://", "|", "`", "**", "](", "<", ">", "#", "{", "```"):
            assert syntax not in slide.narration, (syntax, slide.narration)
        assert slide.title and not slide.title.endswith(".")
    flat = [i for slide in per_slide for i in slide]
    assert len(flat) == len(set(flat)), "a sentence is narrated twice"
    assert flat == sorted(flat), "the narration leaves document order"
    return per_slide


def test_pdf_slides_follow_its_sections_and_start_on_a_sentence(tmp_path: Path):
    doc = _read(make_structured_pdf(tmp_path / "report.pdf"), "pdf")
    script = _script(doc)
    _check(script, doc)
    assert (script.language, script.voice) == ("en", "en-us")
    assert [s.title for s in script.slides] == [
        "Section 1. Chunked encoding",
        "Section 2. Seamless joins (1/2)",
        "Section 2. Seamless joins (2/2)",
        "What operators see",
        "Section 3. Operating it",
    ]
    # The first caption is the first sentence of section 1, not a wrapped fragment.
    assert script.slides[0].narration.startswith(REPORT_SECTIONS[0][1][0])
    # A short document is not summarised: every sentence is said.
    said = " ".join(s.narration for s in script.slides)
    for _, sentences in REPORT_SECTIONS:
        for sentence in sentences:
            assert speakable(sentence, "en") in said
    assert script.slides[-1].bullets[-3:] == [
        "Start a job from the UI",
        "Watch its progress bar",
        "Download the outputs",
    ]
    for slide in script.slides:
        for bullet in slide.bullets:
            assert len(bullet.split()) <= 14


def test_markdown_tables_links_code_numbers_and_emoji(tmp_path: Path):
    path = tmp_path / "report.md"
    path.write_text(RICH_MARKDOWN)
    doc = _read(path, "markdown")
    script = _script(doc)
    _check(script, doc)
    assert [s.title for s in script.slides] == [
        "Encoding report",
        "Where the time goes",
        "Running it",
    ]
    first, table_slide, running = script.slides
    assert "a link to docs dot example dot org" in first.narration
    assert table_slide.table is not None
    assert table_slide.table.header == ["stage", "share", "note"]
    assert table_slide.table.rows[0] == ["encode", "62%", "x264, 3 renditions"]
    assert table_slide.narration.startswith("A table shows stage, share and note in three rows.")
    assert "sixty-two percent" in table_slide.narration
    assert "two hundred and fifty milliseconds" in table_slide.narration
    said = " ".join(s.narration for s in script.slides)
    for unspoken in ("62", "%", "→", "≤", "&", "$", "submit", "diagram", "Raw HTML"):
        assert unspoken not in said
    everything = said + " ".join(t for s in script.slides for t in [s.title, *s.bullets])
    assert not any(ord(c) >= 0x1F000 or 0x2600 <= ord(c) <= 0x27BF for c in everything)
    assert running.bullets[:2] == ["Install the worker image", "Pass the CA bundle to pip"]


@pytest.mark.parametrize(
    ("text", "suffix", "language", "voice", "rtl"),
    [
        (ARABIC_MARKDOWN, ".md", "ar", "ar", True),
        (RUSSIAN_TEXT, ".txt", "ru", "ru", False),
    ],
    ids=["arabic", "russian"],
)
def test_non_latin_documents_get_their_language_and_voice(
    tmp_path: Path, text: str, suffix: str, language: str, voice: str, rtl: bool
):
    path = tmp_path / f"doc{suffix}"
    path.write_text(text)
    doc = _read(path, "markdown" if suffix == ".md" else "text")
    script = _script(doc)
    assert (script.language, script.voice, profile(language).rtl) == (language, voice, rtl)
    assert len(script.slides) == 2
    _check(script, doc)


def test_a_two_sentence_note_is_a_short_valid_script(tmp_path: Path):
    path = tmp_path / "note.txt"
    path.write_text(NOTE)
    doc = _read(path, "text")
    script = _script(doc)
    _check(script, doc)
    assert len(script.slides) == 1
    slide = script.slides[0]
    assert slide.title == "Backups finished at midnight"
    assert slide.narration == "Backups finished at midnight. The next run starts tomorrow at six."
    assert script.word_count == 11 and script.estimated_duration_s < 10


def test_a_5000_word_report_is_summarised_to_the_limit_in_order(tmp_path: Path):
    text, sections = long_report(5000)
    assert 4900 <= len(text.split()) <= 5300
    path = tmp_path / "report.txt"
    path.write_text(text)
    doc = _read(path, "text")
    script = _script(doc)
    per_slide = _check(script, doc)
    longest = max(len(s.split()) for section in sections for s in section)
    assert CFG.max_words - longest < script.word_count <= CFG.max_words
    assert len(script.slides) == len(sections)  # every section keeps its slide
    assert all(ids for ids in per_slide)  # ... with its best sentences, taking turns
    kept = sum(len(ids) for ids in per_slide)
    assert len(sections) < kept < sum(len(s) for s in sections) / 4


def test_long_section_is_split_at_sentence_boundaries():
    doc = Document(
        doc_type="text",
        sections=[
            {  # type: ignore[list-item]
                "title": "One long section",
                "blocks": [
                    {
                        "kind": "paragraph",
                        "sentences": [f"Sentence {i} has six words." for i in range(40)],
                    }
                ],
            }
        ],
    )
    script = _script(doc, "en")
    _check(script, doc)
    assert len(script.slides) == 3
    assert [s.title for s in script.slides][0] == "One long section (1/3)"
    assert all(len(s.narration.split()) <= 90 for s in script.slides)


@pytest.mark.media
def test_every_voice_is_one_espeak_ng_lists():
    from tasks.script.language import LANGUAGES

    listed = subprocess.run(
        ["espeak-ng", "--voices"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    for language in LANGUAGES:
        assert voice_for(language) in listed, language


@pytest.mark.media
@pytest.mark.parametrize("language", ["en", "ar"])
def test_estimated_duration_is_within_15_percent_of_espeak(tmp_path: Path, language: str):
    if language == "en":
        doc = _read(make_structured_pdf(tmp_path / "r.pdf"), "pdf")
    else:
        (tmp_path / "a.md").write_text(ARABIC_MARKDOWN)
        doc = _read(tmp_path / "a.md", "markdown")
    script = _script(doc)
    assert script.language == language
    narration = " ".join(s.narration for s in script.slides)
    real = synthesize(
        narration,
        tmp_path / "speech.wav",
        voice=script.voice or "",
        rate_wpm=profile(language).espeak_speed,
        timeout_s=120,
    )
    estimate = estimate_duration_s(narration, language)
    assert abs(estimate - real) <= 0.15 * real, (estimate, real)
