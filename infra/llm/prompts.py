"""The script prompts: what the LLM is asked for, and how a bad answer is sent back once.

``PROMPT_VERSION`` is part of the script cache key (infra/store/script_cache.py): change it
whenever the wording or the schema below changes, so no cached answer to an older prompt is
reused.
"""

from __future__ import annotations

from infra.jobs.models import DocumentInput
from infra.settings import ScriptSettings

__all__ = ["PROMPT_VERSION", "SCHEMA_HINT", "build_messages", "repair_messages"]

PROMPT_VERSION = "2"
SCHEMA_HINT = '{"slides": [{"title": "...", "bullets": ["..."], "narration": "..."}]}'
REPAIR_QUOTE_CHARS = 4000  # the bad answer quoted back to the model


def build_messages(doc: DocumentInput, language: str, cfg: ScriptSettings) -> list[dict[str, str]]:
    """The chat messages that ask for a script of ``doc``'s sections within the limits."""
    system = (
        "You turn documents into narrated slide videos. Answer with one JSON object only, of the "
        f"form {SCHEMA_HINT}. "
        f"Use at most {cfg.max_slides} slides, one per section of the document, and at most "
        f"{cfg.max_bullets} short bullets per slide. Each title is a whole phrase. The narration "
        f"of all slides together has at most {cfg.max_words} words, is plain speakable prose "
        "(whole sentences; no markup, lists, URLs or code; numbers and symbols written as words) "
        f"and says only what the document says. Write in the language with code {language!r}."
    )
    sections = [
        f"## {title.strip() or 'Untitled'}\n{body.strip()}"
        for title, body in doc.sections
        if title.strip() or body.strip()
    ]
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n\n".join(sections) or doc.text},
    ]


def repair_messages(
    messages: list[dict[str, str]], answer: str, problem: str
) -> list[dict[str, str]]:
    """``messages`` followed by the invalid ``answer`` and what is wrong with it: one retry."""
    return [
        *messages,
        {"role": "assistant", "content": answer[:REPAIR_QUOTE_CHARS]},
        {
            "role": "user",
            "content": (
                f"That answer cannot be used: {problem}. Answer again with one JSON object "
                f"only, of the form {SCHEMA_HINT}, within the limits given."
            ),
        },
    ]
