"""Script stage: document sections -> slides (title + bullets) + narration, then validation.

``REELFLOW_SCRIPT__PROVIDER`` picks the writer: ``extractive`` (below) or ``llm`` (infra/llm.py, an
OpenAI-compatible endpoint); both scripts go through the same ``validate_script``.

The default generator is offline and extractive, and deterministic: the same document always gives
the same script. Each section becomes a slide whose narration starts with the section's first
sentence; further sentences are added round-robin while the word budget (``max_words``) lasts.
A script that still breaks the limits (a run-on sentence, too many sections) is ``script_invalid``
with a message that says what to change.
"""

from __future__ import annotations

import re

from infra.errors import ScriptInvalid
from infra.jobs.models import DocumentInput, Script, Slide
from infra.llm.client import request_slides
from infra.settings import ScriptSettings

__all__ = [
    "alnum_ratio",
    "count_words",
    "estimate_duration_s",
    "generate_script",
    "script_of",
    "split_sentences",
    "validate_script",
    "write_script",
]

_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s+")
_WORD = re.compile(r"\w+", re.UNICODE)
BULLET_WORDS = 12


def split_sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [s.strip() for s in _SENTENCE_END.split(flat) if _WORD.search(s)]


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def alnum_ratio(text: str) -> float:
    """Share of letters and digits (any script) among the visible characters."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 0.0
    return sum(c.isalnum() for c in visible) / len(visible)


def estimate_duration_s(words: int, language: str, cfg: ScriptSettings) -> float:
    wpm = cfg.words_per_minute_ar if language.startswith("ar") else cfg.words_per_minute_en
    return round(words / wpm * 60.0, 1)


def _shorten(sentence: str, words: int = BULLET_WORDS) -> str:
    parts = sentence.split()
    if len(parts) <= words:
        return sentence.rstrip(".")
    return " ".join(parts[:words]).rstrip(",;:") + "…"


def _speakable(body: str) -> str:
    """Body text as sentences: list items lose their marker and end with a full stop."""
    lines = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("- "):
            line = line[2:].strip()
            if line and not re.search(r"[.!?؟:;]$", line):
                line += "."
        lines.append(line)
    return " ".join(lines)


def _bullets(body: str, sentences: list[str], limit: int) -> list[str]:
    items = [ln[2:].strip() for ln in body.splitlines() if ln.startswith("- ") and ln[2:].strip()]
    source = items or sentences
    return [_shorten(s) for s in source[:limit]]


def generate_script(doc: DocumentInput, language: str, cfg: ScriptSettings) -> Script:
    """Extractive script from ``doc.sections``; see the module docstring for the rules."""
    sections = [(t.strip(), b) for t, b in doc.sections if t.strip() or b.strip()]
    sections = sections[: cfg.max_slides]
    sentence_lists = [split_sentences(_speakable(body)) for _, body in sections]
    chosen: list[list[str]] = [
        s[:1] if s else [t] for (t, _), s in zip(sections, sentence_lists, strict=True)
    ]
    budget = cfg.max_words - sum(count_words(" ".join(c)) for c in chosen)
    depth = 1
    while budget > 0 and any(len(s) > depth for s in sentence_lists):
        for i, sentences in enumerate(sentence_lists):
            if len(sentences) > depth:
                words = count_words(sentences[depth])
                if words <= budget:
                    chosen[i].append(sentences[depth])
                    budget -= words
        depth += 1
    slides = [
        Slide(
            title=title or _shorten(chosen[i][0], 6),
            bullets=_bullets(body, sentence_lists[i], cfg.max_bullets),
            narration=" ".join(chosen[i]),
        )
        for i, (title, body) in enumerate(sections)
    ]
    return script_of(slides, language, cfg)


def script_of(slides: list[Slide], language: str, cfg: ScriptSettings) -> Script:
    """A script of ``slides`` with its word count and duration estimate (not yet validated)."""
    words = sum(count_words(s.narration) for s in slides)
    return Script(
        language=language,
        slides=slides,
        word_count=words,
        estimated_duration_s=estimate_duration_s(words, language, cfg),
    )


def write_script(doc: DocumentInput, language: str, cfg: ScriptSettings) -> Script:
    """The validated script of ``doc`` from the configured provider (extractive by default)."""
    if cfg.provider == "llm":
        script = script_of(request_slides(doc, language, cfg), language, cfg)
    else:
        script = generate_script(doc, language, cfg)
    return validate_script(script, cfg)


def validate_script(script: Script, cfg: ScriptSettings) -> Script:
    """Raise ScriptInvalid unless the script is speakable and within the limits."""
    if not script.slides or not any(s.narration.strip() for s in script.slides):
        raise ScriptInvalid("the document has no sections to turn into slides")
    narration = " ".join(s.narration for s in script.slides)
    ratio = alnum_ratio(narration)
    if ratio < cfg.min_alnum_ratio:
        raise ScriptInvalid(
            f"the text looks like gibberish: only {ratio:.0%} of its characters are letters or "
            f"digits (at least {cfg.min_alnum_ratio:.0%} needed); check the file's encoding"
        )
    if script.word_count < cfg.min_words:
        raise ScriptInvalid(
            f"the narration has {script.word_count} words; at least {cfg.min_words} are needed "
            "(REELFLOW_SCRIPT__MIN_WORDS): give the document more text"
        )
    if script.word_count > cfg.max_words:
        raise ScriptInvalid(
            f"the narration has {script.word_count} words; the limit is {cfg.max_words} "
            "(REELFLOW_SCRIPT__MAX_WORDS): split long sentences or sections, or raise the limit"
        )
    return script
