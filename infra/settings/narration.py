"""Narration settings: ``ScriptSettings.narration`` (``REELFLOW_SCRIPT__NARRATION__*``).

The length policy: a document with ``min_sentences`` real sentences is valid however short (a
short document gets a short video); a long one is summarised to ``REELFLOW_SCRIPT__MAX_WORDS``.
Speaking rates are per language in ``tasks/script/language.py`` (measured, not configurable).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["NarrationSettings"]


class NarrationSettings(BaseModel):
    min_sentences: int = Field(
        1, ge=1, description="Fewest real sentences a narration may have (a short note is fine)."
    )
    min_sentence_words: int = Field(
        3, ge=1, description="Words (with letters) that make a sentence real rather than a label."
    )
    max_slide_words: int = Field(
        90, ge=10, description="Most narration words per slide; longer sections are split."
    )
    max_bullet_words: int = Field(
        14,
        ge=4,
        description="Longer sentences are shortened (a clause, else cut with …) as bullets.",
    )
    table_max_rows: int = Field(6, ge=1, description="Most table rows drawn on a slide.")
    table_max_columns: int = Field(5, ge=1, description="Most table columns drawn on a slide.")
    default_language: str = Field(
        "en", description="Narration language when the job names none and detection is unsure."
    )
