"""Length policy: which sentences of a document the narration keeps.

- A document whose sentences fit the word budget keeps all of them: a short document (even one
  real sentence) gives a short video, nothing is padded.
- A longer one is summarised, extractively: sentences are scored by how informative their words
  are (frequency in the document x rarity across sections, TF-IDF, divided by the square root of
  the sentence length so long sentences do not win by size; a section's first sentence gets a
  small lead bonus). Sections take turns: each kept section gets its best sentence, then its second
  best, ..., while sentences still fit the budget. Kept sentences stay in document order and are
  never cut; a sentence longer than the whole budget is skipped.
- More sections than slides: the sections whose best sentence scores highest are kept.

Pure functions over lists; O(n log n) in the number of sentences.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

__all__ = ["Candidate", "select_sentences", "sentence_scores"]

LEAD_BONUS = 1.2
MIN_WORD_CHARS = 3


@dataclass(frozen=True)
class Candidate:
    """A sentence that may be narrated; ``required`` ones (a table's sentence) go first."""

    text: str
    words: int
    required: bool = False


def _terms(text: str) -> list[str]:
    return [
        w
        for w in ("".join(c if c.isalnum() else " " for c in text.lower())).split()
        if len(w) >= MIN_WORD_CHARS and not w.isdigit()
    ]


def sentence_scores(sections: list[list[Candidate]]) -> list[list[float]]:
    """An informativeness score per sentence (see the module docstring)."""
    terms = [[_terms(c.text) for c in section] for section in sections]
    tf: Counter[str] = Counter()
    df: Counter[str] = Counter()
    for section in terms:
        seen: set[str] = set()
        for sentence in section:
            tf.update(sentence)
            seen.update(sentence)
        df.update(seen)
    n = max(1, len(sections))
    weight = {t: math.log1p(tf[t]) * math.log1p(n / df[t]) for t in tf}
    scores: list[list[float]] = []
    for section in terms:
        row = []
        for index, sentence in enumerate(section):
            unique = set(sentence)
            score = sum(weight[t] for t in unique) / math.sqrt(max(1, len(sentence)))
            row.append(score * (LEAD_BONUS if index == 0 else 1.0))
        scores.append(row)
    return scores


def select_sentences(
    sections: list[list[Candidate]], max_words: int, max_sections: int
) -> list[list[int]]:
    """Indexes of the kept sentences of each section, in order (empty for a dropped section)."""
    total = sum(c.words for section in sections for c in section)
    nonempty = [i for i, section in enumerate(sections) if section]
    if total <= max_words and len(nonempty) <= max_sections:
        return [list(range(len(section))) for section in sections]
    scores = sentence_scores(sections)
    if len(nonempty) > max_sections:
        best = sorted(nonempty, key=lambda i: (-max(scores[i]), i))[:max_sections]
        kept_sections = sorted(best)
    else:
        kept_sections = nonempty
    ranked: dict[int, list[int]] = {}
    for i in kept_sections:
        order = {
            j: (not sections[i][j].required, -scores[i][j], j) for j in range(len(sections[i]))
        }
        ranked[i] = sorted(order, key=order.__getitem__)
    chosen: dict[int, list[int]] = {i: [] for i in kept_sections}
    budget = max_words
    depth = 0
    while budget > 0 and any(depth < len(ranked[i]) for i in kept_sections):
        for i in kept_sections:
            if depth < len(ranked[i]):
                j = ranked[i][depth]
                if sections[i][j].words <= budget:
                    chosen[i].append(j)
                    budget -= sections[i][j].words
        depth += 1
    return [sorted(chosen.get(i, [])) for i in range(len(sections))]
