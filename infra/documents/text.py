"""Plain text -> ``Document``: paragraphs at blank lines, headings by layout heuristics.

A heading is a short line (at most ``MAX_HEADING_CHARS``) without sentence punctuation at its end
that stands alone, or opens a paragraph while clearly shorter than the next line (a wrapped line is
not), or a line underlined with ``===``/``---``. Lines that start
with a bullet (``-``, ``*``, ``•``, ``1.``, ``a)``) form lists. Wrapped lines are re-joined (with
hyphenation repaired) before sentences are split. One pass over the lines: linear time.
"""

from __future__ import annotations

from infra.documents.model import Block, Document, ListBlock, Paragraph, Section
from infra.documents.sentences import is_sentence_end, join_wrapped_lines, split_sentences

__all__ = ["list_marker_end", "parse_text"]

MAX_HEADING_CHARS = 80
MAX_HEADING_WORDS = 12
_BULLETS = "-*•‣◦–—+·●○▪■\x7f\uf0b7"  # \x7f and U+F0B7: bullets as some PDF fonts encode them


def list_marker_end(line: str) -> int:
    """Index where an item's text starts if ``line`` opens a list item, else 0."""
    if len(line) >= 2 and line[0] in _BULLETS and line[1] == " ":
        return 2
    digits = 0
    while digits < len(line) and digits < 3 and line[digits].isdigit():
        digits += 1
    if digits and line[digits : digits + 2] in (". ", ") "):
        return digits + 2
    if len(line) >= 3 and line[0].isalpha() and line[0].islower() and line[1:3] == ") ":
        return 3
    return 0


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(line) <= MAX_HEADING_CHARS
        and len(words) <= MAX_HEADING_WORDS
        and any(c.isalpha() for c in line)
        and not is_sentence_end(line)
        and line[-1] not in ",;:"
        and not list_marker_end(line)
    )


def _opens_block(lines: list[str]) -> bool:
    """Whether the first of several lines is a heading over them rather than a wrapped line: it
    holds no sentence boundary and is clearly shorter than the line after it, or a list follows."""
    first, second = lines[0], lines[1]
    if len(split_sentences(first)) > 1:
        return False
    return bool(list_marker_end(second)) or len(first) <= 0.6 * len(second)


def _underline(line: str) -> int:
    """1 for ``===``, 2 for ``---`` under a heading, else 0."""
    if len(line) >= 3 and set(line) == {"="}:
        return 1
    if len(line) >= 3 and set(line) == {"-"}:
        return 2
    return 0


def _blocks(lines: list[str]) -> list[Block]:
    """A paragraph's lines as a paragraph or a list (a paragraph may end in a list)."""
    blocks: list[Block] = []
    prose: list[str] = []
    items: list[str] = []
    for line in lines:
        cut = list_marker_end(line)
        if cut:
            if prose:
                blocks.append(Paragraph(sentences=split_sentences(join_wrapped_lines(prose))))
                prose = []
            items.append(line[cut:].strip())
        elif items and line[:1].islower():
            items[-1] = join_wrapped_lines([items[-1], line])  # a wrapped item
        else:
            if items:
                blocks.append(ListBlock(items=items, depths=[0] * len(items)))
                items = []
            prose.append(line)
    if items:
        blocks.append(ListBlock(items=items, depths=[0] * len(items)))
    if prose:
        blocks.append(Paragraph(sentences=split_sentences(join_wrapped_lines(prose))))
    return [b for b in blocks if not isinstance(b, Paragraph) or b.sentences]


def parse_text(text: str) -> Document:
    """The sections of a plain-text document."""
    paragraphs: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    sections: list[Section] = []

    def current() -> Section:
        if not sections:
            sections.append(Section(title="", level=0))
        return sections[-1]

    for lines in paragraphs:
        if not lines:
            continue
        if len(lines) >= 2 and _underline(lines[1]) and _looks_like_heading(lines[0]):
            sections.append(Section(title=lines[0], level=_underline(lines[1])))
            lines = lines[2:]
        elif _looks_like_heading(lines[0]) and (len(lines) == 1 or _opens_block(lines)):
            sections.append(Section(title=lines[0], level=1))
            lines = lines[1:]
        if lines:
            current().blocks.extend(_blocks(lines))
    return Document(doc_type="text", sections=[s for s in sections if s.title or s.blocks])
