"""Slides and narration from a document's structure (the extractive writer's core).

One slide per section that has something to say; a section whose kept narration is longer
than ``max_slide_words`` is split at sentence boundaries into "Title (1/2)", "Title (2/2)" while
the slide limit allows. On each slide:

- the title is the section's heading, whole (emoji dropped); an untitled section gets its first
  sentence when that is short, else its first clause, else a label ("Introduction");
- bullets are the section's list items, else its sentences, each whole or shortened to its first
  clause (cut with "…" only when no clause is short enough);
- a table is drawn as a table (``Slide.table``) and narrated as one sentence;
- the narration is the speakable form of whole source sentences, in document order, chosen by
  :mod:`tasks.script.summarize`; no sentence is narrated twice in a script; code and images are
  not narrated.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.documents import Document, ListBlock, Paragraph, QuoteBlock, Section, TableBlock
from infra.documents.sentences import is_sentence_end
from infra.errors import ScriptInvalid
from infra.jobs.models import Script, Slide, SlideTable
from infra.settings.narration import NarrationSettings
from tasks.script.language import count_spoken_words, estimate_duration_s, voice_for
from tasks.script.speakable import speakable, strip_emoji, table_sentence
from tasks.script.summarize import Candidate, select_sentences

__all__ = ["build_script", "bullet_text", "section_title"]

TITLE_WORDS = 12
_LABELS = {
    "en": ("Introduction", "Part {n}"),
    "ar": ("مقدمة", "الجزء {n}"),
    "ru": ("Введение", "Часть {n}"),
    "fr": ("Introduction", "Partie {n}"),
    "de": ("Einleitung", "Teil {n}"),
    "es": ("Introducción", "Parte {n}"),
}
_CLAUSE_MARKS = (", ", "; ", ": ", " – ", " — ", " - ", "، ", "؛ ")


@dataclass
class _Unit:
    source: str  # as in the document (bullets are made from it)
    to_speak: str  # the source as a sentence (a list item gets its full stop)
    words: int  # of ``spoken`` once set, of ``to_speak`` before
    kind: str  # sentence | item | table
    table: TableBlock | None = None
    spoken: str | None = None

    def speak(self, language: str) -> str:
        if self.spoken is None:
            self.spoken = (
                speakable(self.to_speak, language) if self.kind != "table" else self.to_speak
            )
            self.words = count_spoken_words(self.spoken)
        return self.spoken


def _strip_end(text: str) -> str:
    return text.rstrip().rstrip(".。؟?!;:").rstrip()


def _first_clause(text: str, max_words: int) -> str | None:
    cut = len(text)
    for mark in _CLAUSE_MARKS:
        at = text.find(mark)
        if 0 < at < cut:
            cut = at
    clause = text[:cut].strip()
    words = len(clause.split())
    return clause if cut < len(text) and 2 <= words <= max_words else None


def bullet_text(sentence: str, max_words: int) -> str:
    """A sentence as a bullet: whole when short, else without parentheses, else its first clause,
    else its first ``max_words - 2`` words and "…"."""
    text = _strip_end(strip_emoji(sentence))
    if len(text.split()) <= max_words:
        return text
    plain = []
    depth = 0
    for char in text:  # parenthetical remarks go first
        depth += char == "("
        if not depth:
            plain.append(char)
        depth -= char == ")" and depth > 0
    text = " ".join("".join(plain).split())
    if len(text.split()) <= max_words:
        return text
    clause = _first_clause(text, max_words)
    if clause:
        return clause
    return " ".join(text.split()[: max_words - 2]).rstrip(",;:") + "…"


def section_title(section: Section, first_sentence: str, language: str, index: int) -> str:
    """A whole phrase for the slide title (see the module docstring)."""
    title = " ".join(strip_emoji(section.title).split())
    if title:
        if len(title.split()) > TITLE_WORDS:
            title = _first_clause(title, TITLE_WORDS) or title
        return title
    sentence = _strip_end(strip_emoji(first_sentence))
    if sentence and len(sentence.split()) <= 8:
        return sentence
    clause = _first_clause(sentence, 8) if sentence else None
    if clause:
        return clause
    intro, part = _LABELS.get(language.split("-")[0], ("", ""))
    return intro if index == 0 else part.format(n=index + 1)


def _normalized(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def _units(section: Section, language: str, seen: set[str]) -> list[_Unit]:
    """The narratable units of a section, each said once per script (``seen``)."""
    units: list[_Unit] = []

    def add(
        source: str, kind: str, to_speak: str | None = None, table: TableBlock | None = None
    ) -> None:
        text = to_speak if to_speak is not None else source
        key = _normalized(text)
        if not any(c.isalpha() for c in key) or key in seen:
            return
        seen.add(key)
        units.append(_Unit(source, text, count_spoken_words(text), kind, table=table))

    for block in section.blocks:
        if isinstance(block, Paragraph | QuoteBlock):
            for sentence in block.sentences:
                add(sentence, "sentence")
        elif isinstance(block, ListBlock):
            for item in block.items:
                spoken_item = item if is_sentence_end(item) else f"{item.rstrip(',;:')}."
                add(item, "item", spoken_item)
        elif isinstance(block, TableBlock):
            sentence = table_sentence(block, language)
            if sentence:
                add(sentence, "table", table=block)
            else:  # no sentence in this language: the table is still drawn
                units.append(_Unit("", "", 0, "table", table=block, spoken=""))
    return units


def _pieces(words: list[int], max_slide_words: int, spare_slides: int) -> list[int]:
    """How many slides each section gets: long ones are split while slides are left."""
    pieces = [1 if w else 0 for w in words]
    while spare_slides > 0:
        best = max(range(len(words)), key=lambda i: words[i] / max(1, pieces[i]), default=None)
        if best is None or not pieces[best] or words[best] / pieces[best] <= max_slide_words:
            break
        pieces[best] += 1
        spare_slides -= 1
    return pieces


def _chunks(units: list[_Unit], pieces: int) -> list[list[_Unit]]:
    total = sum(u.words for u in units)
    target = total / pieces if pieces else total
    chunks: list[list[_Unit]] = [[]]
    words = 0
    for unit in units:
        if chunks[-1] and words + unit.words / 2 > target * len(chunks) and len(chunks) < pieces:
            chunks.append([])
        chunks[-1].append(unit)
        words += unit.words
    return chunks


def _slide_table(table: TableBlock, cfg: NarrationSettings) -> SlideTable:
    cols = cfg.table_max_columns
    return SlideTable(
        header=[strip_emoji(c) for c in table.header[:cols]],
        rows=[[strip_emoji(c) for c in row[:cols]] for row in table.rows[: cfg.table_max_rows]],
    )


def _slide(title: str, units: list[_Unit], max_bullets: int, cfg: NarrationSettings) -> Slide:
    table = next((u.table for u in units if u.table is not None), None)
    items = [u for u in units if u.kind == "item"]
    source = items or [u for u in units if u.kind == "sentence"]
    limit = max(1, max_bullets - 2) if table is not None else max_bullets
    bullets = [bullet_text(u.source, cfg.max_bullet_words) for u in source[:limit]]
    return Slide(
        title=title,
        bullets=[b for b in bullets if b],
        narration=" ".join(u.spoken for u in units if u.spoken),
        table=_slide_table(table, cfg) if table is not None else None,
    )


PRESELECT_FACTOR = 3  # documents over 3x the budget are pre-selected on written words
PRESELECT_SLACK = 1.5  # numbers and links grow when spoken: pre-select half as much again


def _select(units: list[list[_Unit]], max_words: int, max_slides: int) -> list[list[int]]:
    candidates = [
        [Candidate(u.spoken or u.to_speak, u.words, required=u.kind == "table") for u in section]
        for section in units
    ]
    return select_sentences(candidates, max_words, max_slides)


def build_script(
    document: Document,
    language: str,
    *,
    max_words: int,
    max_slides: int,
    max_bullets: int,
    cfg: NarrationSettings | None = None,
) -> Script:
    """The script of ``document`` narrated in ``language`` (see the module docstring).

    Raises ScriptInvalid when the document has sentences but none fits ``max_words``.
    """
    cfg = cfg or NarrationSettings()
    seen: set[str] = set()
    sections = [s for s in document.sections if s.blocks]
    units = [_units(section, language, seen) for section in sections]
    if sum(u.words for section in units for u in section) > PRESELECT_FACTOR * max_words:
        # A long document: pre-select on the written words (cheap), so only the sentences that
        # may be said go through the speakable transform; the final pass counts spoken words.
        preselected = _select(units, int(max_words * PRESELECT_SLACK), max_slides)
        units = [[group[j] for j in preselected[i]] for i, group in enumerate(units)]
    for group in units:
        for unit in group:
            unit.speak(language)
    kept = _select(units, max_words, max_slides)
    if any(units) and not any(kept):
        raise ScriptInvalid(
            f"every sentence of the document is longer than the narration limit of {max_words} "
            "words (REELFLOW_SCRIPT__MAX_WORDS); split its sentences"
        )
    chosen = [[group[j] for j in kept[i]] for i, group in enumerate(units)]
    words = [sum(u.words for u in group) for group in chosen]
    used = sum(1 for w in words if w)
    pieces = _pieces(words, cfg.max_slide_words, max_slides - used)
    slides: list[Slide] = []
    for i, section in enumerate(sections):
        if not chosen[i] or not pieces[i]:
            continue
        prose = section.sentences()
        title = section_title(section, prose[0] if prose else "", language, len(slides))
        parts = _chunks(chosen[i], pieces[i])
        for n, part in enumerate(parts, start=1):
            label = f"{title} ({n}/{len(parts)})" if len(parts) > 1 else title
            slide = _slide(label, part, max_bullets, cfg)
            if slide.narration:  # a table alone, in a language without a table sentence
                slides.append(slide)
    narration = " ".join(s.narration for s in slides)
    return Script(
        language=language,
        voice=voice_for(language),
        slides=slides,
        word_count=count_spoken_words(narration),
        estimated_duration_s=estimate_duration_s(narration, language),
    )
