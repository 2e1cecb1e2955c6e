"""The structure of a document, as every reader returns it and the script stage consumes it.

A ``Document`` is a list of ``Section``s (a heading and what follows it, up to the next heading);
each section holds typed blocks. Text in a block is already clean: no Markdown markup, no PDF
line-wrap artefacts, sentences whole. The models are pydantic so they travel between Prefect tasks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

__all__ = [
    "Block",
    "CodeBlock",
    "Document",
    "ImageBlock",
    "ListBlock",
    "Paragraph",
    "QuoteBlock",
    "Section",
    "TableBlock",
]


class Paragraph(BaseModel):
    kind: Literal["paragraph"] = "paragraph"
    sentences: list[str]


class ListBlock(BaseModel):
    """Items in document order; nested items follow their parent (``depths`` gives the level)."""

    kind: Literal["list"] = "list"
    items: list[str]
    depths: list[int] = Field(default_factory=list)
    ordered: bool = False


class TableBlock(BaseModel):
    kind: Literal["table"] = "table"
    header: list[str]
    rows: list[list[str]]


class CodeBlock(BaseModel):
    kind: Literal["code"] = "code"
    text: str
    language: str = ""


class ImageBlock(BaseModel):
    kind: Literal["image"] = "image"
    alt: str


class QuoteBlock(BaseModel):
    kind: Literal["quote"] = "quote"
    sentences: list[str]


Block = Annotated[
    Paragraph | ListBlock | TableBlock | CodeBlock | ImageBlock | QuoteBlock,
    Field(discriminator="kind"),
]


class Section(BaseModel):
    """A heading (``title``, ``level`` 1-6; ``""``/0 for text before the first heading)."""

    title: str
    level: int = 0
    blocks: list[Block] = Field(default_factory=list)

    def sentences(self) -> list[str]:
        """The section's prose: paragraph and quote sentences, list items (code, tables and
        images are not prose)."""
        out: list[str] = []
        for block in self.blocks:
            if isinstance(block, Paragraph | QuoteBlock):
                out += block.sentences
            elif isinstance(block, ListBlock):
                out += block.items
        return out

    def body_text(self) -> str:
        """The section as plain text (list items as ``- item`` lines), for text-only consumers."""
        parts: list[str] = []
        for block in self.blocks:
            if isinstance(block, Paragraph | QuoteBlock):
                parts.append(" ".join(block.sentences))
            elif isinstance(block, ListBlock):
                parts.append("\n".join(f"- {item}" for item in block.items))
            elif isinstance(block, TableBlock):
                rows = [block.header, *block.rows]
                parts.append("\n".join(" | ".join(row) for row in rows))
        return "\n\n".join(p for p in parts if p)


class Document(BaseModel):
    """A parsed document. ``truncated`` says text past ``max_chars`` was left out."""

    doc_type: Literal["pdf", "markdown", "text"]
    pages: int | None = None
    sections: list[Section] = Field(default_factory=list)
    truncated: bool = False

    @property
    def text(self) -> str:
        """Plain text of the whole document (titles and bodies), for detection and limits."""
        parts: list[str] = []
        for section in self.sections:
            if section.title:
                parts.append(section.title)
            body = section.body_text()
            if body:
                parts.append(body)
        return "\n\n".join(parts)

    def title_body_pairs(self) -> list[tuple[str, str]]:
        """``(title, body)`` per section: the shape ``DocumentInput.sections`` had before."""
        return [(s.title, s.body_text()) for s in self.sections if s.title or s.blocks]
