"""Script stage: document -> slides (title, bullets, table) + narration, then validation.

``REELFLOW_SCRIPT__PROVIDER`` picks the writer: ``extractive`` (tasks/script/slides.py over the
document's structure) or ``llm`` (infra/llm, an OpenAI-compatible endpoint); both scripts go
through the same ``validate_script``. The narration language is the job's, or detected from the
text when the job names none (``None``/``auto``); the voice follows it (tasks/script/language.py).

The extractive writer is offline and deterministic: the same document always gives the same
script. Its length policy (a short document -> a short video, a long one summarised to
``max_words``) is in tasks/script/summarize.py.
"""

from __future__ import annotations

from infra.documents import Document, ListBlock, Paragraph, Section
from infra.documents.sentences import split_sentences
from infra.errors import ScriptInvalid
from infra.jobs.models import DocumentInput, Script, Slide
from infra.settings import ScriptSettings
from infra.settings.narration import NarrationSettings
from infra.store.script_cache import ScriptCache
from tasks.script.language import (
    choose_language,
    count_spoken_words,
    estimate_duration_s,
    voice_for,
)
from tasks.script.llm import BudgetCheck, UsageSink, llm_script
from tasks.script.slides import build_script

__all__ = [
    "alnum_ratio",
    "count_words",
    "document_of",
    "generate_script",
    "real_sentences",
    "script_of",
    "split_sentences",
    "validate_script",
    "write_script",
]


def count_words(text: str) -> int:
    return count_spoken_words(text)


def alnum_ratio(text: str) -> float:
    """Share of letters and digits (any script) among the visible characters."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 0.0
    return sum(c.isalnum() for c in visible) / len(visible)


def document_of(doc: DocumentInput) -> Document:
    """``doc.document``, or one rebuilt from the (title, body) sections of an older probe."""
    if doc.document is not None:
        return doc.document
    sections = []
    for title, body in doc.sections:
        blocks: list[Paragraph | ListBlock] = []
        for part in body.split("\n\n"):
            lines = [ln.strip() for ln in part.splitlines() if ln.strip()]
            items = [ln[2:].strip() for ln in lines if ln.startswith("- ")]
            prose = " ".join(ln for ln in lines if not ln.startswith("- "))
            if prose:
                blocks.append(Paragraph(sentences=split_sentences(prose)))
            if items:
                blocks.append(ListBlock(items=items, depths=[0] * len(items)))
        sections.append(Section(title=title.strip(), level=1, blocks=list(blocks)))
    doc_type = doc.doc_type if doc.doc_type in ("pdf", "markdown", "text") else "text"
    return Document(doc_type=doc_type, pages=doc.pages, sections=sections)


def generate_script(
    doc: DocumentInput,
    language: str,
    cfg: ScriptSettings,
    narration: NarrationSettings | None = None,
) -> Script:
    """The extractive script of ``doc`` in ``language`` (tasks/script/slides.py)."""
    return build_script(
        document_of(doc),
        language,
        max_words=cfg.max_words,
        max_slides=cfg.max_slides,
        max_bullets=cfg.max_bullets,
        cfg=narration or cfg.narration,
    )


def script_of(slides: list[Slide], language: str, cfg: ScriptSettings) -> Script:
    """A script of ``slides`` with its word count and duration estimate (not yet validated)."""
    del cfg  # the speaking rate is the language's (tasks/script/language.py)
    narration = " ".join(s.narration for s in slides)
    return Script(
        language=language,
        voice=voice_for(language),
        slides=slides,
        word_count=count_spoken_words(narration),
        estimated_duration_s=estimate_duration_s(narration, language),
    )


def write_script(
    doc: DocumentInput,
    language: str | None,
    cfg: ScriptSettings,
    narration: NarrationSettings | None = None,
    *,
    cache: ScriptCache | None = None,
    budget: BudgetCheck | None = None,
    on_usage: UsageSink | None = None,
) -> Script:
    """The validated script of ``doc`` from the configured provider (extractive by default).

    ``language`` ``None`` or ``"auto"`` means: detect it from the document's text. ``cache``,
    ``budget`` and ``on_usage`` serve the LLM provider (tasks/script/llm.py).
    """
    narration = narration or cfg.narration
    language = choose_language(
        doc.text or document_of(doc).text, language, narration.default_language
    )
    checked = narration
    if cfg.provider == "llm":
        return llm_script(
            doc,
            language,
            cfg,
            checked,
            to_script=lambda slides: script_of(slides, language, cfg),
            validate=lambda script: validate_script(script, cfg, checked),
            cache=cache,
            budget=budget,
            on_usage=on_usage,
        )
    return validate_script(generate_script(doc, language, cfg, narration), cfg, narration)


def real_sentences(text: str, min_words: int) -> int:
    """Sentences of ``text`` with at least ``min_words`` words that contain a letter."""
    return sum(
        1
        for sentence in split_sentences(text)
        if sum(1 for w in sentence.split() if any(c.isalpha() for c in w)) >= min_words
    )


def validate_script(
    script: Script, cfg: ScriptSettings, narration: NarrationSettings | None = None
) -> Script:
    """Raise ScriptInvalid unless the script is speakable and within the limits.

    Checks, in order: slides exist; the narration is not empty; it is not gibberish (share of
    letters/digits); it has ``min_sentences`` real sentences; it is within ``max_words``.
    """
    narration = narration or cfg.narration
    if not script.slides:
        raise ScriptInvalid("the document has no sections to turn into slides")
    text = " ".join(s.narration for s in script.slides)
    if not any(c.isalnum() for c in text):
        raise ScriptInvalid("the script has slides but nothing to say: the narration is empty")
    ratio = alnum_ratio(text)
    if ratio < cfg.min_alnum_ratio:
        raise ScriptInvalid(
            f"the text looks like gibberish: only {ratio:.0%} of its characters are letters or "
            f"digits (at least {cfg.min_alnum_ratio:.0%} needed); check the file's encoding"
        )
    found = real_sentences(text, narration.min_sentence_words)
    if found < narration.min_sentences:
        raise ScriptInvalid(
            f"the narration has {found} sentence(s) of real text (at least "
            f"{narration.min_sentences} of {narration.min_sentence_words}+ words needed): "
            "give the document some prose"
        )
    if script.word_count > cfg.max_words:
        raise ScriptInvalid(
            f"the narration has {script.word_count} words; the limit is {cfg.max_words} "
            "(REELFLOW_SCRIPT__MAX_WORDS): split long sentences or sections, or raise the limit"
        )
    return script
