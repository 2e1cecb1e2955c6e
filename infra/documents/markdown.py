"""Markdown -> ``Document`` through markdown-it-py's token stream (CommonMark + GFM tables).

No regex reads Markdown here: headings, lists (nested ones flattened in order, with their depth),
tables, code fences, block quotes, links (their text kept; an autolink keeps its URL for the
speakable step to say), images (alt text) and emphasis (markers dropped) come from the parser.
Raw HTML is dropped: markup is never narrated.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from infra.documents.model import (
    CodeBlock,
    Document,
    ImageBlock,
    ListBlock,
    Paragraph,
    QuoteBlock,
    Section,
    TableBlock,
)
from infra.documents.sentences import split_sentences

__all__ = ["parse_markdown"]

MAX_TABLE_ROWS = 200
MAX_TABLE_COLUMNS = 20


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _inline_text(token: Token, images: list[str] | None = None) -> str:
    """The visible text of an inline token: markers, HTML and images left out."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            if images is not None and child.content.strip():
                images.append(child.content.strip())
    return " ".join("".join(parts).split())


class _Builder:
    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.list_items: list[str] = []
        self.list_depths: list[int] = []
        self.list_ordered = False
        self.list_depth = -1
        self.item_parts: list[list[str]] = []
        self.quote_depth = 0
        self.quote_sentences: list[str] = []
        self.table: list[list[str]] | None = None
        self.table_header_rows = 0
        self.in_thead = False
        self.item_slots: list[int] = []  # where each open item's text goes in list_items

    def section(self) -> Section:
        if not self.sections:
            self.sections.append(Section(title="", level=0))
        return self.sections[-1]

    def add(self, block: object) -> None:
        self.section().blocks.append(block)  # type: ignore[arg-type]

    def paragraph(self, inline: Token) -> None:
        images: list[str] = []
        text = _inline_text(inline, images)
        if self.item_parts:
            self.item_parts[-1].append(text)
        elif self.quote_depth:
            self.quote_sentences += split_sentences(text)
        elif text:
            self.add(Paragraph(sentences=split_sentences(text)))
        for alt in images:
            self.add(ImageBlock(alt=alt))

    def close_item(self) -> None:
        # An item is listed before its nested children: its slot was reserved when it opened.
        parts = self.item_parts.pop()
        self.list_items[self.item_slots.pop()] = " ".join(p for p in parts if p)


def parse_markdown(text: str) -> Document:
    """The sections of a Markdown text; text before the first heading is an untitled section."""
    tokens = _parser().parse(text)
    b = _Builder()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.type
        if kind == "heading_open":
            title = _inline_text(tokens[i + 1])
            b.sections.append(Section(title=title, level=int(tok.tag[1:])))
            i += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            b.list_depth += 1
            if b.list_depth == 0:
                b.list_items, b.list_depths = [], []
                b.list_ordered = kind == "ordered_list_open"
        elif kind in ("bullet_list_close", "ordered_list_close"):
            b.list_depth -= 1
            if b.list_depth < 0:
                items = [(t, d) for t, d in zip(b.list_items, b.list_depths, strict=True) if t]
                if items:
                    b.add(
                        ListBlock(
                            items=[t for t, _ in items],
                            depths=[d for _, d in items],
                            ordered=b.list_ordered,
                        )
                    )
        elif kind == "list_item_open":
            b.item_parts.append([])
            b.item_slots.append(len(b.list_items))
            b.list_items.append("")
            b.list_depths.append(max(0, b.list_depth))
        elif kind == "list_item_close":
            b.close_item()
        elif kind == "blockquote_open":
            b.quote_depth += 1
        elif kind == "blockquote_close":
            b.quote_depth -= 1
            if b.quote_depth == 0 and b.quote_sentences:
                b.add(QuoteBlock(sentences=b.quote_sentences))
                b.quote_sentences = []
        elif kind == "paragraph_open":
            b.paragraph(tokens[i + 1])
            i += 3
            continue
        elif kind in ("fence", "code_block"):
            b.add(CodeBlock(text=tok.content, language=(tok.info or "").split(" ")[0]))
        elif kind == "table_open":
            b.table, b.table_header_rows = [], 0
        elif kind == "thead_open":
            b.in_thead = True
        elif kind == "thead_close":
            b.in_thead = False
        elif kind == "tr_open" and b.table is not None:
            b.table.append([])
            if b.in_thead:
                b.table_header_rows += 1
        elif kind == "inline" and b.table is not None and b.table:
            if len(b.table[-1]) < MAX_TABLE_COLUMNS:
                b.table[-1].append(_inline_text(tok))
        elif kind == "table_close" and b.table is not None:
            rows = b.table
            header = rows[0] if b.table_header_rows else []
            body = rows[1 if b.table_header_rows else 0 :][:MAX_TABLE_ROWS]
            if header or body:
                b.add(TableBlock(header=header, rows=body))
            b.table = None
        i += 1
    sections = [s for s in b.sections if s.title or s.blocks]
    return Document(doc_type="markdown", sections=sections)
