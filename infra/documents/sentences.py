"""Sentence splitting and line re-joining shared by the readers; linear time on any input.

A boundary is a run of terminal punctuation (``. ! ? ؟ 。 ！ ？ । …``), optionally closed by quotes
or brackets, followed by white space and something that can start a sentence (a capital, a digit, an
opening quote, or a letter of a script without case) or by the end of the text. A full stop after a
known abbreviation, a single letter (an initial) or a dotted token (``U.S.``, ``e.g.``) is not one.
"""

from __future__ import annotations

import re

__all__ = ["join_wrapped_lines", "split_sentences", "is_sentence_end"]

_TERMINAL = ".!?؟。！？।…"
_CLOSERS = "\"'”’)]»"
_OPENERS = "\"'“‘([«¿¡"
# One character class then one optional closer class: no nested quantifiers, so no backtracking.
_BOUNDARY = re.compile(r"[.!?؟。！？।…]+[\"'”’)\]»]*")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf fig figs no nos approx dept est inc ltd co "
    "jan feb mar apr jun jul aug sep sept oct nov dec vol pp p ed eds al min max resp".split()
)
_NO_SPACE_SCRIPTS = "。！？"  # CJK full stops end a sentence without a following space


def _starts_sentence(char: str) -> bool:
    if char.isdigit() or char in _OPENERS:
        return True
    if char.isalpha():
        return char.isupper() or char.lower() == char.upper()  # capital, or a caseless script
    return False


def _abbreviation_before(text: str, dot: int) -> bool:
    """Whether the full stop at ``dot`` closes an abbreviation, an initial or a dotted token."""
    start = dot
    while start > 0 and not text[start - 1].isspace() and dot - start < 12:
        start -= 1
    word = text[start:dot].lstrip(_OPENERS).lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    return word in _ABBREVIATIONS or ("." in word and all(p.isalpha() for p in word.split(".")))


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (white space collapsed); pieces without a letter or digit are
    attached to the sentence before them."""
    flat = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(flat):
        end = match.end()
        punct = flat[match.start() : match.end()]
        if end < len(flat):
            if flat[end] != " ":
                if not (punct[-1] in _NO_SPACE_SCRIPTS or punct[0] in _NO_SPACE_SCRIPTS):
                    continue
                nxt = flat[end]
            else:
                nxt = flat[end + 1] if end + 1 < len(flat) else ""
                if not _starts_sentence(nxt):
                    continue
        if punct == "." and _abbreviation_before(flat, match.start()):
            continue
        piece = flat[start:end].strip()
        if piece:
            _append(sentences, piece)
        start = end
    rest = flat[start:].strip()
    if rest:
        _append(sentences, rest)
    return sentences


def _append(sentences: list[str], piece: str) -> None:
    if sentences and not any(c.isalnum() for c in piece):
        sentences[-1] += " " + piece
    else:
        sentences.append(piece)


def is_sentence_end(text: str) -> bool:
    """Whether ``text`` ends with terminal punctuation (closers allowed after it)."""
    stripped = text.rstrip().rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _TERMINAL


def join_wrapped_lines(lines: list[str]) -> str:
    """Re-join lines a layout wrapped: ``hy-`` + ``phenated`` -> ``hyphenated`` (a hyphen before a
    lower-case continuation is a wrap; before a capital or a digit it is part of the word)."""
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if (
            out.endswith("-")
            and len(out) > 1
            and out[-2].isalpha()
            and line[0].isalpha()
            and line[0].islower()
        ):
            out = out[:-1] + line
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[0].isalnum():
            out += line  # "Anglo-" + "Saxon": a real hyphen, no space
        elif out.endswith("\u00ad"):  # a soft hyphen the layout made visible
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out
